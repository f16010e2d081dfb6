"""The API's figures in one run: ingest throughput (bench/api_ingest.py) and read latency (bench/api_reads.py).

    .venv/bin/python bench/api.py [--ingest-seconds 8] [--spans 1000000] [--iterations 200]

Each part runs in its own process, one after the other (they would compete for the 2 cores otherwise); each
prints its own JSON line, and this prints both under one object on its last line.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _run(script: str, *args: str) -> dict[str, object]:
    proc = subprocess.run([sys.executable, str(HERE / script), *args], check=True, capture_output=True, text=True)
    sys.stderr.write(proc.stderr)
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    for line in lines[:-1]:
        print(line, flush=True)
    result: dict[str, object] = json.loads(lines[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ingest-seconds", type=float, default=8.0)
    parser.add_argument("--spans", type=int, default=1_000_000)
    parser.add_argument("--iterations", type=int, default=200)
    args = parser.parse_args()
    ingest = _run("api_ingest.py", "--seconds", str(args.ingest_seconds))
    reads = _run("api_reads.py", "--spans", str(args.spans), "--iterations", str(args.iterations))
    print(json.dumps({"bench": "api", "ingest": ingest, "reads": reads}))


if __name__ == "__main__":
    main()
