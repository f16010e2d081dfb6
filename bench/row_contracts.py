"""A tick's dbt build with each model's single-model tests in its row contract, against every test on its own.

One tick's work database (the staged inputs of about `--events` new events, as `run_silver` writes them) is
built with the tick's build (`DBT_BUILD`: row contracts) and with the daily one (`DBT_BUILD_EVERY_TEST`),
interleaved for `--rounds` rounds so a noisy host bends both alike. Reported per build: the median wall time,
its nodes by type (models, tests) and their median seconds, dbt's time outside any node, and the contracts'
build as a ratio of the other in the same run.

    .venv/bin/python bench/row_contracts.py [--events 10000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from common import emit
from tick_threads import staged_work_database

BUILDS = ("contracts", "every_test")


def build_once(staged: Path, args: list[str]) -> tuple[float, dict[str, float], dict[str, int]]:
    """(wall seconds, node seconds by type, node count by type) of one build on a copy of `staged`."""
    from clawtrace_pipelines.lib.dbt_runner import invoke_dbt, work_database

    with work_database() as database:
        shutil.copy(staged, database)
        started = time.perf_counter()
        result = invoke_dbt(args, database=database)
        wall = time.perf_counter() - started
    if not result.success:
        raise SystemExit(f"dbt {' '.join(args)} failed")
    seconds: dict[str, float] = {}
    counts: dict[str, int] = {}
    for node in result.result:
        kind = node.node.unique_id.split(".")[0]  # model, test, ...
        seconds[kind] = seconds.get(kind, 0.0) + node.execution_time
        counts[kind] = counts.get(kind, 0) + 1
    return wall, seconds, counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=10_000, help="New events in the tick's build")
    parser.add_argument("--rounds", type=int, default=5, help="Builds of each kind, interleaved")
    parser.add_argument("--workdir", default=str(Path(__file__).parent / "out"), help="Where the temporary lake goes")
    args = parser.parse_args()
    from clawtrace_pipelines.lib.silver_chunk import DBT_BUILD, DBT_BUILD_EVERY_TEST

    commands = {"contracts": DBT_BUILD, "every_test": DBT_BUILD_EVERY_TEST}
    Path(args.workdir).mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="bench-row-contracts-", dir=args.workdir))
    walls: dict[str, list[float]] = {b: [] for b in BUILDS}
    by_type: dict[str, dict[str, list[float]]] = {b: {} for b in BUILDS}
    counts: dict[str, dict[str, int]] = {}
    try:
        staged = staged_work_database(root, args.events)
        for build in BUILDS:
            build_once(staged, commands[build])  # warm-up: the first build of a selection parses and compiles
        for round_ in range(args.rounds):
            for build in BUILDS:
                wall, seconds, counts[build] = build_once(staged, commands[build])
                walls[build].append(wall)
                for kind, value in seconds.items():
                    by_type[build].setdefault(kind, []).append(value)
                print(f"round {round_}: {build}: {wall:.2f}s wall, {sum(seconds.values()):.2f}s in nodes", flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    figures: dict[str, Any] = {
        "name": "row_contracts",
        "events": args.events,
        "rounds": args.rounds,
        "cpus": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 2),
    }
    for build in BUILDS:
        median = statistics.median(walls[build])
        figures[f"{build}_build_s"] = round(median, 2)
        inside = 0.0
        for kind, values in sorted(by_type[build].items()):
            figures[f"{build}_{kind}_nodes"] = counts[build][kind]
            figures[f"{build}_{kind}_s"] = round(statistics.median(values), 2)
            inside += statistics.median(values)
        figures[f"{build}_outside_nodes_s"] = round(median - inside, 2)
    figures["contracts_ratio"] = round(figures["contracts_build_s"] / figures["every_test_build_s"], 3)
    emit(figures)


if __name__ == "__main__":
    main()
