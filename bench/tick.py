"""Tick cost against lake size: a tick adding ~10k new events to a 100k-event lake, then to a 1M-event lake.

    .venv/bin/python bench/tick.py [--events 100000,1000000] [--new-events 10000] [--format delta|iceberg]
                                   [--ticks 2] [--late 100] [--workdir bench/out] [--keep] [--profile]
                                   [--every-test-too]

Each lake is simulated (batched layout) at one constant event rate (so the 1M lake covers 10x the hours of the
100k one, same tenants and agents), ending a day before the wall clock. Every lake ends in the same run (the
smallest lake's traffic), with its older history before it: the ticks bring the same new data, late deliveries
into that recent run's hours included, so lakes differ only in the history behind it. Per lake:

1. Full backfill (its own process, for peak memory): one bronze run + one silver run over the whole lake, the
   first graph build, then the compaction the daily `lake_maintenance` does (timed apart).
2. Warm ticks (one process): a warm-up (dbt imported, a tick on a tiny scratch lake), then `--ticks` times:
   ~`--new-events` of new traffic in the hours after the lake's end (new traces from the same agents, plus
   `--late` late deliveries into old hours), and a timed `run_bronze(now=just after it)` + `run_silver()`.
   With `--every-test-too`, every second tick runs `run_silver(every_test=True)` (every dbt test on its own,
   as before row contracts): the tick figures are the other ticks', and `*_every_test_*` these. Then 3 idle
   ticks (nothing new, each 3 minutes after the last): `*_idle_tick_work_s` is their median work.
3. Cold tick: another batch, then the wall-clock of a whole `clawtrace tick --lake ...` process (Dagster job
   in-process, ephemeral instance).

Prints one line per phase, then one JSON object with every figure on the last line.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
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

from bench.common import (  # noqa: E402
    EVENTS_PER_HOUR,
    emit,
    events_per_trace,
    in_child,
    lake_dir,
    simulate_lake,
    simulate_traffic,
)

TARGET_WORK_S = 5.0  # issue 14: tick work for ~10k new events at 1M
TARGET_COLD_S = 15.0  # issue 14: a cold `clawtrace tick` process
TARGET_RATIO = 1.1
TARGET_IDLE_WORK_S = 0.03  # issue 14: an idle tick's work
IDLE_TICKS = 3


def _hours_for(events: int) -> int:
    return max(1, round(events / EVENTS_PER_HOUR))


def _t(value: str) -> datetime:
    return datetime.fromisoformat(value)


def backfill(lake: str, table_format: str, now: str) -> dict[str, Any]:
    """Child process: the whole lake through bronze (one tick finding every file by its arrival record), then
    silver (every trace bronze queued)."""
    from clawtrace_pipelines.core.settings import Settings
    from clawtrace_pipelines.lib.bronze import run_bronze
    from clawtrace_pipelines.lib.silver import run_silver

    settings = Settings(lake=lake, table_format=table_format)
    started = time.perf_counter()
    bronze = run_bronze(settings, now=_t(now))
    bronze_s = time.perf_counter() - started
    started = time.perf_counter()
    silver = run_silver(settings)
    silver_s = time.perf_counter() - started
    # The first graph snapshot (a full build), so the ticks below measure incremental graph updates.
    from clawtrace_pipelines.lib.graph_update import run_graph_update

    started = time.perf_counter()
    run_graph_update(settings)
    graph_s = time.perf_counter() - started
    # The daily `lake_maintenance` a lake in service has had: compaction undoes the backfill's chunking
    # (a 1M backfill commits in chunks, several files per partition), so ticks meet the steady-state layout.
    from clawtrace_pipelines.core.lake import open_table
    from clawtrace_pipelines.core.tables import ALL_TABLES

    started = time.perf_counter()
    for spec in ALL_TABLES.values():
        table = open_table(spec, settings)
        if table.exists():
            table.compact()
    compact_s = time.perf_counter() - started
    return {
        "graph_s": graph_s,
        "compact_s": compact_s,
        "records_read": bronze.records_read,
        "accepted": bronze.accepted,
        "files": bronze.files,
        "bronze_s": bronze_s,
        "silver_s": silver_s,
        "traces": silver.traces,
        "events_read": silver.events_read,
        "chunks": silver.chunks,
        "stage_s": silver.stage_seconds,
        "dbt_s": silver.dbt_seconds,
        "publish_s": silver.publish_seconds,
    }


def _add_batch(lake: str, batch: dict[str, Any]) -> int:
    """Write one tick's new traffic (and late deliveries); returns the events bronze should accept."""
    new = simulate_traffic(
        lake,
        batch["events"],
        start=_t(batch["start"]),
        hours=batch["hours"],
        now=_t(batch["now"]),
        per_trace=batch["per_trace"],
        traffic_seed=batch["traffic_seed"],
    )
    expected = new["expected_events"]
    if batch["late"]:
        late = simulate_lake(
            lake,
            batch["lake_events"],
            start=_t(batch["lake_start"]),
            hours=batch["lake_hours"],
            now=_t(batch["now"]),
            per_trace=batch["per_trace"],
            late=batch["late"],
        )
        expected += late["expected_events"]
    return expected


def warm_ticks(
    lake: str,
    table_format: str,
    scratch: str,
    batches: list[dict[str, Any]],
    profile_dir: str | None,
    every_test_too: bool = False,
) -> dict[str, Any]:
    """Child process: warm up, then time each tick's bronze + silver work."""
    started = time.perf_counter()
    import dbt.cli.main  # noqa: F401

    from clawtrace_pipelines.core.settings import Settings
    from clawtrace_pipelines.lib.bronze import run_bronze
    from clawtrace_pipelines.lib.graph_update import run_graph_update
    from clawtrace_pipelines.lib.silver import run_silver

    import_s = time.perf_counter() - started
    # Warm-up: a whole tick on a tiny scratch lake (first dbt invocation, adapters, table libraries).
    started = time.perf_counter()
    first = batches[0]
    scratch_settings = Settings(lake=scratch, table_format=table_format)
    simulate_lake(
        scratch,
        300,
        start=_t(first["start"]),
        hours=2,
        now=_t(first["now"]),
        per_trace=first["per_trace"],
    )
    run_bronze(scratch_settings, now=_t(first["now"]))
    run_silver(scratch_settings)
    if every_test_too:
        run_silver(scratch_settings, full=True, every_test=True)  # its selection's first build compiles
    warmup_s = time.perf_counter() - started

    settings = Settings(lake=lake, table_format=table_format)
    ticks = []
    for i, batch in enumerate(batches):
        expected = _add_batch(lake, batch)
        profiler = cProfile.Profile() if profile_dir else None
        if profiler:
            profiler.enable()
        t0, c0 = time.perf_counter(), time.process_time()
        bronze = run_bronze(settings, now=_t(batch["now"]))
        t1 = time.perf_counter()
        every_test = every_test_too and i % 2 == 1
        silver = run_silver(settings, every_test=every_test)
        t2, c2 = time.perf_counter(), time.process_time()
        # Not part of "tick work" (the silver issue's figure): the graph step the tick job runs next.
        graph = run_graph_update(settings)
        graph_s = time.perf_counter() - t2
        if profiler:
            profiler.disable()
            path = Path(profile_dir) / f"tick-{batch['lake_size']}-{i}.prof"
            profiler.dump_stats(str(path))
        assert bronze.accepted == expected, (bronze.accepted, expected)
        ticks.append(
            {
                "every_test": every_test,
                "work_s": t2 - t0,
                # CPU time of the process (all its threads): far less bent than wall time by a busy machine.
                "work_cpu_s": c2 - c0,
                "graph_s": graph_s,
                "bronze_s": t1 - t0,
                "silver_s": t2 - t1,
                "stage_s": silver.stage_seconds,
                "dbt_s": silver.dbt_seconds,
                "publish_s": silver.publish_seconds,
                "files": bronze.files,
                "records_read": bronze.records_read,
                "accepted": bronze.accepted,
                "traces": silver.traces,
                "events_read": silver.events_read,
                "files_listed": bronze.io.get("files_listed", 0),
                "listings": bronze.io.get("listings", 0),
                "read_files": {
                    step: r.io.get("read_files_total", 0)
                    for step, r in (("bronze", bronze), ("silver", silver), ("graph", graph))
                },
                "read_bytes": {
                    step: r.io.get("read_bytes_total", 0)
                    for step, r in (("bronze", bronze), ("silver", silver), ("graph", graph))
                },
                "read_bytes_by_table": {k: v for k, v in silver.io.items() if k.startswith("read_bytes_")},
                # The gold models and their tests: their execution time inside the tick's dbt build.
                "gold_s": sum(n.seconds for n in silver.nodes.values() if n.layer == "gold"),
                "top_nodes": [
                    (n.unique_id.split(".")[-1], round(n.seconds, 2))
                    for n in sorted(silver.nodes.values(), key=lambda n: -n.seconds)[:5]
                ],
            }
        )
    # Idle ticks (nothing new since the last one), as the schedule runs them in a warm run worker.
    idle = []
    last_now = _t(batches[-1]["now"])
    for i in range(IDLE_TICKS):
        t0, c0 = time.perf_counter(), time.process_time()
        bronze = run_bronze(settings, now=last_now + timedelta(minutes=3 * (i + 1)))
        silver = run_silver(settings)
        idle.append({"work_s": time.perf_counter() - t0, "work_cpu_s": time.process_time() - c0})
        assert bronze.accepted == 0 and silver.traces == 0, (bronze.accepted, silver.traces)
    return {"import_s": import_s, "warmup_s": warmup_s, "ticks": ticks, "idle": idle}


def cold_tick(lake: str, table_format: str) -> dict[str, Any]:
    """A whole `clawtrace tick` process, timed from outside."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DAGSTER_HOME")}
    env["DO_NOT_TRACK"] = "1"
    cmd = [str(ROOT / ".venv" / "bin" / "clawtrace"), "tick", "--lake", lake, "--format", table_format]
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-4000:])
        raise SystemExit(f"clawtrace tick failed ({proc.returncode})")
    out = proc.stdout
    summary = json.loads(out[out.index("{") :])
    failed = [k for k, v in summary.items() if k.startswith("check:") and v != "passed"]
    bronze = summary.get("events_all", {})
    silver = summary.get("pg_traces", {})
    inside = float(bronze.get("seconds", 0)) + float(silver.get("seconds", 0))
    return {
        "wall_s": wall,
        "bronze_s": float(bronze.get("seconds", 0)),
        "silver_s": float(silver.get("seconds", 0)),
        "overhead_s": wall - inside,
        "accepted": bronze.get("events_accepted"),
        "failed_checks": failed,
    }


def run_lake(
    args: argparse.Namespace, root: str, events: int, recent_events: int, per_trace: float, figures: dict[str, Any]
) -> None:
    """One lake: its most recent `recent_events` (the smallest lake's traffic, the same run in every lake) and
    older history before them, so the ticks below bring byte-identical new data, late deliveries included, to
    every lake and the lakes differ only in how much history lies behind it."""
    lake = lake_dir(root, f"lake-{events}")
    hours = _hours_for(events)
    recent_hours = min(hours, _hours_for(recent_events))
    new_hours = _hours_for(args.new_events)
    gap = (args.ticks + 1) * new_hours + 24
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=gap)
    start = end - timedelta(hours=hours)
    recent_start = end - timedelta(hours=recent_hours)
    backfill_now = end + timedelta(minutes=10)

    started = time.perf_counter()
    manifest = simulate_lake(
        lake, min(events, recent_events), start=recent_start, hours=recent_hours, now=backfill_now, per_trace=per_trace
    )
    if events > recent_events:
        older = simulate_traffic(
            lake,
            events - recent_events,
            start=start,
            hours=hours - recent_hours,
            now=backfill_now,
            per_trace=per_trace,
            traffic_seed=500,
        )
        for name in ("deliveries", "traces", "files", "expected_events"):
            manifest[name] += older[name]
    sim_s = time.perf_counter() - started
    print(
        f"[{events}] simulated {manifest['deliveries']} deliveries ({manifest['traces']} traces, {manifest['files']} "
        f"files) over {hours} h in {sim_s:.1f}s",
        flush=True,
    )

    load = in_child(backfill, lake, args.format, backfill_now.isoformat())
    assert load["accepted"] == manifest["expected_events"], (load["accepted"], manifest["expected_events"])
    total_s = load["bronze_s"] + load["silver_s"]
    print(
        f"[{events}] backfill: bronze {load['records_read']} events in {load['bronze_s']:.1f}s "
        f"({load['records_read'] / load['bronze_s']:,.0f} ev/s); silver {load['traces']} traces, "
        f"{load['events_read']} events in {load['silver_s']:.1f}s (stage {load['stage_s']:.1f}, dbt "
        f"{load['dbt_s']:.1f}, publish {load['publish_s']:.1f}; {load['chunks']} chunks); "
        f"together {load['records_read'] / total_s:,.0f} ev/s; peak RSS {load['peak_rss_mb']} MB",
        flush=True,
    )

    def batch(i: int, now: datetime) -> dict[str, Any]:
        return {
            "events": args.new_events,
            "start": (end + timedelta(hours=i * new_hours)).isoformat(),
            "hours": new_hours,
            "now": now.isoformat(),
            "per_trace": per_trace,
            "traffic_seed": 1000 + i,
            "late": args.late + i if args.late else 0,
            # Late deliveries go into the recent run's hours (the late run of that same config), in every lake.
            "lake_events": min(events, recent_events),
            "lake_size": events,
            "lake_start": recent_start.isoformat(),
            "lake_hours": recent_hours,
        }

    batches = [batch(i, end + timedelta(hours=(i + 1) * new_hours, minutes=10)) for i in range(args.ticks)]
    scratch = lake_dir(root, f"scratch-{events}")
    warm = in_child(warm_ticks, lake, args.format, scratch, batches, args.profile_dir, args.every_test_too)
    shutil.rmtree(scratch, ignore_errors=True)
    for i, tick in enumerate(warm["ticks"]):
        print(
            f"[{events}] warm tick {i}{' (every test)' if tick['every_test'] else ''}: {tick['accepted']} new "
            f"events ({tick['files']} files), {tick['traces']} traces "
            f"({tick['events_read']} events read): work {tick['work_s']:.2f}s ({tick['work_cpu_s']:.2f}s CPU) = "
            f"bronze {tick['bronze_s']:.2f} + "
            f"silver {tick['silver_s']:.2f} (stage {tick['stage_s']:.2f}, dbt {tick['dbt_s']:.2f}, publish "
            f"{tick['publish_s']:.2f}; gold models {tick['gold_s']:.2f}); slowest dbt nodes {tick['top_nodes']}",
            flush=True,
        )
    idle_work = [t["work_s"] for t in warm["idle"]]
    print(f"[{events}] idle warm ticks: work {', '.join(f'{w:.3f}s' for w in idle_work)}", flush=True)
    print(
        f"[{events}] warm process: dbt import {warm['import_s']:.1f}s, warm-up tick {warm['warmup_s']:.1f}s, "
        f"peak RSS {warm['peak_rss_mb']} MB",
        flush=True,
    )

    cold_batch = batch(args.ticks, datetime.now(UTC))
    expected = _add_batch(lake, cold_batch)
    cold = cold_tick(lake, args.format)
    assert cold["accepted"] == expected, (cold["accepted"], expected)
    print(
        f"[{events}] cold `clawtrace tick`: {cold['wall_s']:.1f}s wall (bronze {cold['bronze_s']:.2f}s, silver "
        f"{cold['silver_s']:.2f}s, start-up and Dagster {cold['overhead_s']:.1f}s); failed checks: "
        f"{cold['failed_checks'] or 'none'}",
        flush=True,
    )

    ticks = [t for t in warm["ticks"] if not t["every_test"]]
    every = [t for t in warm["ticks"] if t["every_test"]]
    key = f"lake_{events}"
    if every:
        every_work = statistics.fmean(t["work_s"] for t in every)
        figures[f"{key}_every_test_tick_work_all_s"] = [round(t["work_s"], 3) for t in every]
        figures[f"{key}_every_test_tick_work_s"] = round(every_work, 3)
        figures[f"{key}_every_test_tick_dbt_s"] = round(statistics.fmean(t["dbt_s"] for t in every), 3)
        figures[f"{key}_contracts_work_ratio"] = round(statistics.fmean(t["work_s"] for t in ticks) / every_work, 3)
    mean = lambda name: round(statistics.fmean(t[name] for t in ticks), 3)  # noqa: E731
    figures.update(
        {
            f"{key}_events": load["records_read"],
            f"{key}_hours": hours,
            f"{key}_backfill_bronze_s": round(load["bronze_s"], 2),
            f"{key}_backfill_silver_s": round(load["silver_s"], 2),
            f"{key}_backfill_silver_stage_s": round(load["stage_s"], 2),
            f"{key}_backfill_silver_dbt_s": round(load["dbt_s"], 2),
            f"{key}_backfill_silver_publish_s": round(load["publish_s"], 2),
            f"{key}_backfill_bronze_events_per_s": round(load["records_read"] / load["bronze_s"]),
            f"{key}_backfill_silver_events_per_s": round(load["records_read"] / load["silver_s"]),
            f"{key}_backfill_events_per_s": round(load["records_read"] / total_s),
            f"{key}_backfill_peak_rss_mb": load["peak_rss_mb"],
            f"{key}_tick_new_events": round(statistics.fmean(t["accepted"] for t in ticks)),
            f"{key}_tick_records_read": round(statistics.fmean(t["records_read"] for t in ticks)),
            f"{key}_tick_work_s": mean("work_s"),
            f"{key}_tick_work_all_s": [round(t["work_s"], 3) for t in ticks],
            f"{key}_tick_work_cpu_s": mean("work_cpu_s"),
            f"{key}_tick_bronze_s": mean("bronze_s"),
            f"{key}_tick_silver_s": mean("silver_s"),
            f"{key}_tick_stage_s": mean("stage_s"),
            f"{key}_tick_dbt_s": mean("dbt_s"),
            f"{key}_tick_publish_s": mean("publish_s"),
            f"{key}_tick_gold_s": mean("gold_s"),
            f"{key}_tick_gold_share": round(statistics.fmean(t["gold_s"] / t["work_s"] for t in ticks), 3),
            f"{key}_tick_graph_update_s": mean("graph_s"),
            f"{key}_tick_listings": ticks[-1]["listings"],
            f"{key}_tick_files_listed": ticks[-1]["files_listed"],
            f"{key}_tick_read_files": ticks[-1]["read_files"],
            f"{key}_tick_read_bytes": ticks[-1]["read_bytes"],
            f"{key}_tick_silver_read_bytes_by_table": ticks[-1]["read_bytes_by_table"],
            f"{key}_backfill_graph_build_s": round(load["graph_s"], 2),
            f"{key}_compact_s": round(load["compact_s"], 2),
            f"{key}_tick_peak_rss_mb": warm["peak_rss_mb"],
            f"{key}_idle_tick_work_s": round(statistics.median(idle_work), 4),
            f"{key}_idle_tick_work_cpu_s": round(statistics.median(t["work_cpu_s"] for t in warm["idle"]), 4),
            f"{key}_warm_import_s": round(warm["import_s"], 2),
            f"{key}_cold_tick_s": round(cold["wall_s"], 2),
            f"{key}_cold_tick_work_s": round(cold["bronze_s"] + cold["silver_s"], 2),
            f"{key}_cold_tick_overhead_s": round(cold["overhead_s"], 2),
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", default="100000,1000000", help="Lake sizes, comma-separated, smallest first")
    parser.add_argument("--new-events", type=int, default=10_000, help="New events per measured tick")
    parser.add_argument("--format", default="delta", choices=["delta", "iceberg"])
    parser.add_argument("--ticks", type=int, default=2, help="Warm ticks per lake (the mean is reported)")
    parser.add_argument("--late", type=int, default=100, help="Late deliveries into old hours per tick (0: none)")
    parser.add_argument(
        "--workdir",
        default=str(Path(__file__).parent / "out"),
        help="Where the temporary lakes go (the machine's /tmp can be slow to create files in)",
    )
    parser.add_argument("--keep", action="store_true", help="Keep the lakes (their folder is printed)")
    parser.add_argument("--profile", action="store_true", help="cProfile each warm tick into <workdir>/*.prof")
    parser.add_argument(
        "--every-test-too", action="store_true", help="Every second warm tick builds every dbt test on its own"
    )
    args = parser.parse_args()
    sizes = [int(s) for s in args.events.split(",") if s.strip()]
    Path(args.workdir).mkdir(parents=True, exist_ok=True)
    args.profile_dir = str(Path(args.workdir).resolve()) if args.profile else None
    figures: dict[str, Any] = {"name": "tick", "format": args.format, "new_events": args.new_events}
    root = tempfile.mkdtemp(prefix="bench-tick-", dir=args.workdir)
    try:
        per_trace = events_per_trace(root)
        for events in sizes:
            run_lake(args, root, events, sizes[0], per_trace, figures)
            if not args.keep:
                shutil.rmtree(Path(root) / f"lake-{events}", ignore_errors=True)
    finally:
        if args.keep:
            print(f"lakes kept in {root}", flush=True)
        else:
            shutil.rmtree(root, ignore_errors=True)

    small, big = f"lake_{sizes[0]}", f"lake_{sizes[-1]}"
    work = figures[f"{big}_tick_work_s"]
    ratio = round(work / figures[f"{small}_tick_work_s"], 3)
    cpu_ratio = round(figures[f"{big}_tick_work_cpu_s"] / figures[f"{small}_tick_work_cpu_s"], 3)
    cold = figures[f"{big}_cold_tick_s"]
    figures.update(
        {
            "lake_events": [figures[f"lake_{n}_events"] for n in sizes],
            "tick_work_s": [figures[f"lake_{n}_tick_work_s"] for n in sizes],
            "work_ratio": ratio,
            "gold_share_of_tick": [figures[f"lake_{n}_tick_gold_share"] for n in sizes],
            "tick_work_cpu_s": [figures[f"lake_{n}_tick_work_cpu_s"] for n in sizes],
            "work_cpu_ratio": cpu_ratio,
            "load_average_1m": round(os.getloadavg()[0], 2),
            "cold_tick_s": [figures[f"lake_{n}_cold_tick_s"] for n in sizes],
            "backfill_events_per_s": figures[f"{big}_backfill_events_per_s"],
            "backfill_bronze_events_per_s": figures[f"{big}_backfill_bronze_events_per_s"],
            "backfill_silver_events_per_s": figures[f"{big}_backfill_silver_events_per_s"],
            "peak_rss_mb": max(v for k, v in figures.items() if k.endswith("peak_rss_mb")),
            "backfill_peak_rss_mb": figures[f"{big}_backfill_peak_rss_mb"],
            "target_tick_work_met": work < TARGET_WORK_S,
            "target_cold_tick_met": cold < TARGET_COLD_S,
            "target_ratio_met": ratio <= TARGET_RATIO if len(sizes) > 1 else None,
            "idle_tick_work_s": [figures[f"lake_{n}_idle_tick_work_s"] for n in sizes],
            "target_idle_tick_met": max(figures[f"lake_{n}_idle_tick_work_s"] for n in sizes) < TARGET_IDLE_WORK_S,
        }
    )
    print(
        f"tick work {work:.2f}s at {sizes[-1]} (target < {TARGET_WORK_S}s), ratio {ratio} (target <= "
        f"{TARGET_RATIO}; CPU time ratio {cpu_ratio}), cold tick {cold:.1f}s (target < {TARGET_COLD_S:.0f}s)",
        flush=True,
    )
    emit(figures)


if __name__ == "__main__":
    main()
