"""`clawtrace sql` on a lake of about 1M events: a group-by over `pg_spans` by model, cold process included.

    .venv/bin/python bench/sql.py [--events 1000000] [--format delta|iceberg] [--runs 5]
                                  [--lake PATH] [--workdir bench/out] [--keep]

1. Unless `--lake` names an existing lake, one is simulated (batched layout, bench/tick.py's constant event
   rate, ending a day before the wall clock) and loaded in a child process: one bronze run and one silver run
   over everything (bench/graph.py's `load`).
2. `clawtrace --help` is timed `--runs` times: the interpreter and CLI start-up alone.
3. `clawtrace sql "<group-by>" --format csv` is timed `--runs` times, each a new process (views over every lake
   table, the query, the output); the first run follows the build, later ones find the files in the page cache.

Target: every cold `clawtrace sql` run under 2 s. Prints one line per run, then one JSON object on the last line.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import EVENTS_PER_HOUR, emit, events_per_trace, in_child_checked, lake_dir, simulate_lake  # noqa: E402
from bench.graph import load  # noqa: E402

TARGET_S = 2.0
QUERY = (
    "SELECT model, count(*) AS spans, sum(total_tokens) AS tokens, sum(cost_usd) AS usd "
    "FROM pg_spans GROUP BY model ORDER BY spans DESC"
)


def _clawtrace() -> list[str]:
    script = Path(sys.executable).parent / "clawtrace"
    return [str(script)] if script.exists() else [sys.executable, "-m", "clawtrace_pipelines.cli"]


def _timed_runs(args: list[str], runs: int) -> tuple[list[float], str]:
    times, out = [], ""
    for _ in range(runs):
        t0 = time.perf_counter()
        done = subprocess.run(args, capture_output=True, text=True, check=False)
        times.append(round(time.perf_counter() - t0, 3))
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(args[:2])} failed ({done.returncode}): {done.stderr[-2000:]}")
        out = done.stdout
    return times, out


def build_lake(root: str, events: int, table_format: str) -> tuple[str, dict[str, Any]]:
    """A simulated lake of about `events` events through bronze and silver."""
    per_trace = events_per_trace(root)
    lake = lake_dir(root, "lake")
    hours = max(1, round(events / EVENTS_PER_HOUR))
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=24)
    start = end - timedelta(hours=hours)
    now = end + timedelta(minutes=10)
    t0 = time.perf_counter()
    manifest = simulate_lake(lake, events, start=start, hours=hours, now=now, per_trace=per_trace)
    simulate_s = time.perf_counter() - t0
    print(f"simulated {manifest['deliveries']} deliveries over {hours} h in {simulate_s:.1f}s", flush=True)
    loaded = in_child_checked(load, lake, table_format, now.isoformat())
    print(
        f"loaded: bronze {loaded['accepted']} events in {loaded['bronze_s']:.1f}s, silver {loaded['spans']} spans "
        f"in {loaded['silver_s']:.1f}s",
        flush=True,
    )
    return lake, {"simulate_s": round(simulate_s, 1), **{k: v for k, v in loaded.items() if k != "peak_rss_mb"}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000, help="Events of the simulated lake")
    parser.add_argument("--format", default="delta", choices=["delta", "iceberg"])
    parser.add_argument("--runs", type=int, default=5, help="Timed processes of each kind")
    parser.add_argument("--lake", default=None, help="Query this existing lake instead of building one")
    parser.add_argument("--workdir", default=str(Path(__file__).parent / "out"), help="Where the lake is built")
    parser.add_argument("--keep", action="store_true", help="Keep the built lake (its folder is printed)")
    args = parser.parse_args()
    figures: dict[str, Any] = {"name": "sql", "format": args.format, "query": QUERY, "target_s": TARGET_S}
    root = None
    try:
        if args.lake:
            lake = args.lake
        else:
            Path(args.workdir).mkdir(parents=True, exist_ok=True)
            root = tempfile.mkdtemp(prefix="bench-sql-", dir=args.workdir)
            lake, figures["lake"] = build_lake(root, args.events, args.format)
        startup, _ = _timed_runs([*_clawtrace(), "--help"], args.runs)
        print(f"clawtrace --help: {startup} s", flush=True)
        command = [*_clawtrace(), "sql", QUERY, "--lake", lake, "--table-format", args.format, "--format", "csv"]
        runs, out = _timed_runs(command, args.runs)
        print(f"clawtrace sql (cold process): {runs} s", flush=True)
        print(out, flush=True)
        figures.update(
            {
                "startup_s": {"median": statistics.median(startup), "runs": startup},
                "sql_cold_process_s": {"first": runs[0], "median": statistics.median(runs), "max": max(runs)},
                "sql_runs_s": runs,
                "models": len(out.splitlines()) - 1,
                "under_target": max(runs) < TARGET_S,
            }
        )
    finally:
        if root is not None:
            if args.keep:
                print(f"lake kept in {root}", flush=True)
            else:
                shutil.rmtree(root, ignore_errors=True)
    emit(figures)


if __name__ == "__main__":
    main()
