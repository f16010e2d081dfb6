"""The Cypher guard's parse (tokenize, checks, graphglot parse) with and without the memos of cypher_memo.py.

    .venv/bin/python bench/cypher_parse_memo.py [--iterations 40]

bench/cypher_guard.py's six queries, each as written (`same`) and with its variables, aliases and numbers
renamed per iteration (`novel`: a text whose names the flat memo has not seen), parsed with the memos on and off
in turn, in one process. Times are the process's CPU time (the host is shared: wall-clock figures at a load
average of 15 say little), p50 / p95 in ms. Prints one JSON object on the last line.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import emit  # noqa: E402
from bench.cypher_guard import QUERIES  # noqa: E402


def novel(query: str, i: int) -> str:
    for alias in re.findall(r"\bAS (\w+)", query):
        query = re.sub(rf"\b{alias}\b", f"{alias}_{i}", query)
    query = re.sub(r"\b([a-z])\b", lambda m: f"{m.group(1)}{i}", query)
    return re.sub(r"\b(\d+)\b", lambda m: str(int(m.group(1)) + i), query)


def main() -> None:
    from clawtrace_pipelines.core.graph.cypher_parse import read

    parser = argparse.ArgumentParser()
    parser.add_argument("--iterations", type=int, default=40)
    args = parser.parse_args()
    figures: dict[str, object] = {"name": "cypher_parse_memo", "iterations": args.iterations}
    figures["load_average_before"] = [round(x, 2) for x in os.getloadavg()]
    times: dict[str, list[float]] = {f"{k}_{m}": [] for k in ("same", "novel") for m in ("memo", "off")}
    for i in range(3 + args.iterations):
        for _, query, _ in QUERIES.values():
            for kind, text in (("same", query), ("novel", novel(query, 1000 + i))):
                for memo in (True, False):
                    t0 = time.process_time()
                    read(text, 64, 50_000, memoize=memo)
                    if i >= 3:
                        times[f"{kind}_{'memo' if memo else 'off'}"].append((time.process_time() - t0) * 1000)
    for key, values in times.items():
        values.sort()
        figures[key] = {
            "p50_ms": round(statistics.median(values), 2),
            "p95_ms": round(values[len(values) * 95 // 100], 2),
        }
    figures["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    emit(figures)


if __name__ == "__main__":
    main()
