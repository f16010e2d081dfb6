"""Does a tick's dbt build get faster with more dbt threads? (issue 14's "more dbt threads" option, measured.)

One tick's work database (the staged inputs of about `--events` new events, as `run_silver` writes them) is
built with `dbt build --threads N` for each N in `--threads`, interleaved for `--rounds` rounds so a noisy host
bends every N alike. Reported per N: the median wall time of the build and the median sum of the nodes' own
times (with N > 1 the nodes overlap, so that sum grows when they only wait on each other: the GIL, DuckDB's
own threads on a small machine), and each N's median as a ratio of N = 1 in the same run; for N = 1 also the
medians of the model nodes, the test nodes, and the wall time outside any node (dbt's start-up, graph, results).

    .venv/bin/python bench/tick_threads.py [--events 10000] [--threads 1,2,4] [--rounds 3]

The file is not named dbt_*: dbt imports every top-level module of that prefix as a plugin, this script too.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from common import emit, simulate_lake


def staged_work_database(root: Path, events: int) -> Path:
    """A work database as one tick's build sees it, kept by `run_silver(keep_workdir=...)` after its build."""
    from clawtrace_pipelines.core.settings import Settings
    from clawtrace_pipelines.lib.bronze import run_bronze
    from clawtrace_pipelines.lib.silver import run_silver

    lake = str(root / "lake")
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=30)
    now = end + timedelta(minutes=10)
    simulate_lake(lake, events, start=end - timedelta(hours=2), hours=2, now=now, per_trace=40.0)
    settings = Settings(lake=lake)
    run_bronze(settings, now=now)
    report = run_silver(settings, keep_workdir=root / "work")
    print(f"staged {report.events_read} events of {report.traces} traces ({report.chunks} chunk)", flush=True)
    return root / "work" / "silver.duckdb"


def build_once(staged: Path, threads: int) -> tuple[float, dict[str, float], int]:
    """(wall seconds, node seconds by resource type, nodes) of one `dbt build --threads <threads>` on a copy of
    `staged`."""
    from clawtrace_pipelines.lib.dbt_runner import invoke_dbt, work_database
    from clawtrace_pipelines.lib.silver_chunk import DBT_BUILD

    with work_database() as database:
        shutil.copy(staged, database)
        started = time.perf_counter()
        result = invoke_dbt([*DBT_BUILD, "--threads", str(threads)], database=database)
        wall = time.perf_counter() - started
    if not result.success:
        raise SystemExit(f"dbt build --threads {threads} failed")
    by_type: dict[str, float] = {}
    for node in result.result:
        kind = node.node.unique_id.split(".")[0]  # model, test, ...
        by_type[kind] = by_type.get(kind, 0.0) + node.execution_time
    return wall, by_type, len(result.result)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=10_000, help="New events in the tick's build")
    parser.add_argument("--threads", default="1,2,4", help="dbt thread counts, comma-separated (1 is added)")
    parser.add_argument("--rounds", type=int, default=3, help="Builds per thread count, interleaved")
    parser.add_argument("--workdir", default=str(Path(__file__).parent / "out"), help="Where the temporary lake goes")
    args = parser.parse_args()
    counts = sorted({1, *(int(t) for t in args.threads.split(",") if t.strip())})
    Path(args.workdir).mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="bench-tick-threads-", dir=args.workdir))
    walls: dict[int, list[float]] = {n: [] for n in counts}
    node_sums: dict[int, list[float]] = {n: [] for n in counts}
    type_sums: dict[str, list[float]] = {}
    try:
        staged = staged_work_database(root, args.events)
        build_once(staged, 1)  # warm-up: the first build in a process parses the project
        nodes = 0
        for round_ in range(args.rounds):
            for n in counts:
                wall, by_type, nodes = build_once(staged, n)
                node_sum = sum(by_type.values())
                walls[n].append(wall)
                if n == 1:
                    for kind, seconds in by_type.items():
                        type_sums.setdefault(kind, []).append(seconds)
                node_sums[n].append(node_sum)
                print(f"round {round_}: threads {n}: {wall:.2f}s wall, {node_sum:.2f}s in nodes", flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    base = statistics.median(walls[1])
    figures: dict[str, Any] = {
        "name": "tick_threads",
        "events": args.events,
        "nodes": nodes,
        "rounds": args.rounds,
        "cpus": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 2),
    }
    # Where a one-thread build's time goes: the nodes by type, and dbt's own work around them.
    for kind, seconds in sorted(type_sums.items()):
        figures[f"threads_1_{kind}_nodes_s"] = round(statistics.median(seconds), 2)
    figures["threads_1_outside_nodes_s"] = round(base - statistics.median(node_sums[1]), 2)
    for n in counts:
        median = statistics.median(walls[n])
        figures[f"threads_{n}_build_s"] = round(median, 2)
        figures[f"threads_{n}_node_sum_s"] = round(statistics.median(node_sums[n]), 2)
        figures[f"threads_{n}_ratio"] = round(median / base, 3)
        print(f"threads {n}: median {median:.2f}s, {median / base:.2f}x of threads 1", flush=True)
    emit(figures)


if __name__ == "__main__":
    main()
