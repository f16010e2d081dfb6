"""Catalog query latency on the embedded graph next to DuckDB SQL over the lake, graph rebuild and update cost.

    .venv/bin/python bench/graph.py [--spans 1000000] [--events N] [--iterations 200] [--sql-iterations 50]
                                    [--updates 2] [--new-events 10000] [--format delta|iceberg]
                                    [--budget-s 60] [--seed 7] [--workdir bench/out] [--keep]

1. Sizing: unless `--events` is given, a tiny probe lake goes through bronze + silver to measure silver spans
   per event, and the lake gets `--spans / ratio` events.
2. The lake is simulated (batched layout) at bench/tick.py's constant event rate, ending a day before the wall
   clock, then loaded in a child process: one bronze run + one silver run over everything.
3. Graph build (child): `run_graph_update` with no snapshot yet, i.e. `EmbeddedGraph.rebuild()` that also
   acknowledges the queue silver filled (so the later updates see only their own traces). Seconds, split,
   the snapshot's size on disk, peak RSS of the writer.
4. Parameters: drawn with a seeded RNG from the lake (DuckDB): random tenants, agents, traces, parent spans and
   sessions; windows of a day, a week or the whole lake ending at a random time; pages of 50 traces, first
   pages and pages further back. Every query gets `--iterations` cases (a quarter of them for the tenant-wide
   span scans), plus separate warm-up cases.
5. Graph latency (child: "the API process holding the graph"): `EmbeddedClient` with the API's default
   options, a warm-up over every query, then each case timed around `queries.run`. Peak RSS (VmHWM) of that
   process is the memory figure.
6. SQL latency (another child): `run_sql` over `table_sources` (`delta_scan`/`iceberg_scan` of the silver
   tables, what the lake answers without a graph) for the first `--sql-iterations` cases of each query; the
   row counts of both engines are compared on those cases.
7. Incremental updates, `--updates` times: ~`--new-events` of new traffic after the lake's end, bronze + silver
   (child), then `run_graph_update` timed alone in a fresh child (read/copy/write split, peak RSS).

Prints one line per phase and per query, then one JSON object with every figure on the last line.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import shutil
import statistics
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
    in_child_checked,
    lake_dir,
    simulate_lake,
    simulate_traffic,
)

TARGET_TRACE_SPANS_P95_MS = 20.0
TARGET_TRACE_PAGE_P95_MS = 50.0
TARGET_UPDATE_S = 5.0
TARGET_API_RSS_MB = 1024.0

DAY_MS = 86_400_000
PAGE_LIMIT = 50
# Tenant-wide scans of spans: fewer cases (they are the slow ones on both engines).
HEAVY = {"agents_of_tenant", "most_expensive_spans", "slowest_tools", "tools_by_failure_rate"}
WARMUP_CASES = 3
MIN_TIMED = 20


def _hours_for(events: int) -> int:
    return max(1, round(events / EVENTS_PER_HOUR))


def _t(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _settings(lake: str, table_format: str) -> Any:
    from clawtrace_pipelines.core.settings import Settings

    return Settings(lake=lake, table_format=table_format)


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def _mb(path: Path) -> float:
    if path.is_file():
        return round(path.stat().st_size / 2**20, 1)
    return round(sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20, 1)


def _pct(values: list[float], q: float) -> float | None:
    """The q-quantile (0..1) by linear interpolation between closest ranks."""
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return round(ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo), 2)


# --- Children ---------------------------------------------------------------------------------------------


def load(lake: str, table_format: str, now: str) -> dict[str, Any]:
    """Child: bronze + silver over everything new, and the silver row counts."""
    from clawtrace_pipelines.core.lake import open_table
    from clawtrace_pipelines.core.tables import PG_SPANS, PG_TRACES
    from clawtrace_pipelines.lib.bronze import run_bronze
    from clawtrace_pipelines.lib.silver import run_silver

    settings = _settings(lake, table_format)
    t0 = time.perf_counter()
    bronze = run_bronze(settings, now=_t(now))
    t1 = time.perf_counter()
    silver = run_silver(settings)
    t2 = time.perf_counter()
    return {
        "accepted": bronze.accepted,
        "bronze_s": t1 - t0,
        "silver_s": t2 - t1,
        "silver_traces": silver.traces,
        "spans": open_table(PG_SPANS, settings).read(columns=["span_id"]).num_rows,
        "traces": open_table(PG_TRACES, settings).read(columns=["trace_id"]).num_rows,
    }


def graph_step(lake: str, table_format: str) -> dict[str, Any]:
    """Child: one `run_graph_update` (a rebuild when there is no snapshot yet), timed alone."""
    import ladybug  # noqa: F401  (the import is not the update's cost)

    from clawtrace_pipelines.lib.graph_update import run_graph_update

    settings = _settings(lake, table_format)
    t0 = time.perf_counter()
    report = run_graph_update(settings)
    wall = time.perf_counter() - t0
    return {
        "mode": report.mode,
        "traces": report.traces,
        "wall_s": wall,
        "seconds": report.seconds,
        "read_s": report.read_seconds,
        "copy_s": report.copy_seconds,
        "write_s": report.write_seconds,
        "vertices": report.vertices,
        "edges": report.edges,
        "dropped": report.dropped,
        "snapshots": [str(p) for p in report.snapshots.values()],
        "tenants_written": report.tenants_written,
        "bytes_copied": report.bytes_copied,
    }


def _timed(fn: Any, cases: list[dict[str, Any]], limit: int, budget_s: float) -> dict[str, Any]:
    times, rows, errors = [], [], []
    deadline = time.perf_counter() + budget_s
    for params in cases[:limit]:
        t0 = time.perf_counter()
        try:
            n = len(fn(**params))
        except Exception as exc:  # noqa: BLE001  (a failed case is reported, not fatal)
            n = None
            errors.append(f"{type(exc).__name__}: {str(exc)[:200]}")
        times.append((time.perf_counter() - t0) * 1000)
        rows.append(n)
        if time.perf_counter() > deadline and len(times) >= MIN_TIMED:
            break
    return {"ms": times, "rows": rows, "errors": errors}


def graph_queries(
    lake: str, table_format: str, cases: dict[str, list[dict]], warm: dict[str, list[dict]], budget_s: float
) -> dict[str, Any]:
    """Child, the API process: open the graph, warm up, time every case of every catalog query."""
    from clawtrace_pipelines.core.graph.embedded_client import EmbeddedClient
    from clawtrace_pipelines.core.graph.queries import run

    rss_start = _rss_mb()
    client = EmbeddedClient(_settings(lake, table_format))
    t0 = time.perf_counter()
    first = next(iter(warm))
    run(client, first, **warm[first][0])
    open_ms = (time.perf_counter() - t0) * 1000
    t0 = time.perf_counter()
    warm_errors = 0
    for name, params_list in warm.items():
        for params in params_list:
            try:
                run(client, name, **params)
            except Exception:  # noqa: BLE001  (counted here; the timed cases report them per query)
                warm_errors += 1
    warmup_s = time.perf_counter() - t0
    rss_warm = _rss_mb()
    results = {
        name: _timed(lambda n=name, **p: run(client, n, **p), params_list, len(params_list), budget_s)
        for name, params_list in cases.items()
    }
    rss_end = _rss_mb()
    client.close()
    return {
        "open_ms": open_ms,
        "warmup_s": warmup_s,
        "warmup_errors": warm_errors,
        "rss_start_mb": rss_start,
        "rss_warm_mb": rss_warm,
        "rss_end_mb": rss_end,
        "results": results,
    }


def sql_queries(
    lake: str, table_format: str, cases: dict[str, list[dict]], warm: dict[str, list[dict]], limit: int, budget_s: float
) -> dict[str, Any]:
    """Child: the SQL twins over the lake tables, same parameters (the first `limit` cases of each query)."""
    from clawtrace_pipelines.core.graph.queries_sql import run_sql, table_sources
    from clawtrace_pipelines.core.lake.duck import connect

    settings = _settings(lake, table_format)
    con = connect(settings)
    sources = table_sources(settings)
    t0 = time.perf_counter()
    for name, params_list in warm.items():
        with contextlib.suppress(Exception):
            run_sql(con, sources, name, **params_list[0])
    warmup_s = time.perf_counter() - t0
    results = {
        name: _timed(lambda n=name, **p: run_sql(con, sources, n, **p), params_list, limit, budget_s)
        for name, params_list in cases.items()
    }
    con.close()
    return {"warmup_s": warmup_s, "results": results}


# --- Parameters -------------------------------------------------------------------------------------------


def draw_cases(
    lake: str, table_format: str, iterations: int, seed: int
) -> tuple[dict[str, list[dict]], dict[str, list[dict]]]:
    """Timed and warm-up parameters for every catalog query, drawn from the lake with a seeded RNG."""
    from clawtrace_pipelines.core.graph.queries import QUERIES
    from clawtrace_pipelines.core.graph.queries_sql import table_sources
    from clawtrace_pipelines.core.lake.duck import connect

    settings = _settings(lake, table_format)
    con = connect(settings)
    src = table_sources(settings)
    rng = random.Random(seed)
    traces = con.execute(
        f"SELECT tenant_id, agent_id, trace_id, session_key FROM {src['pg_traces']} ORDER BY tenant_id, trace_id"
    ).fetchall()
    agents = con.execute(
        f"""SELECT tenant_id, agent_id, min(trace_start_ts_ms), max(trace_start_ts_ms) + 1 FROM {src["pg_traces"]}
            GROUP BY ALL ORDER BY 1, 2"""
    ).fetchall()
    tenants = con.execute(
        f"""SELECT tenant_id, min(span_start_ts_ms), max(span_start_ts_ms) + 1 FROM {src["pg_spans"]}
            GROUP BY ALL ORDER BY 1"""
    ).fetchall()
    parents = con.execute(
        f"""SELECT tenant_id, trace_id, parent_span_id FROM {src["pg_child_of_edges"]}
            GROUP BY ALL ORDER BY ALL"""
    ).fetchall()
    sessions = sorted({(t, s) for t, _, _, s in traces if s is not None})
    con.close()

    def window(lo: int, hi: int) -> tuple[int, int]:
        span = rng.choice([DAY_MS, 7 * DAY_MS, hi - lo])
        if span >= hi - lo:
            return lo, hi
        end = rng.randint(lo + span, hi)
        return end - span, end

    def values() -> dict[str, Any]:
        tenant, agent, trace, _ = rng.choice(traces)
        a_tenant, a_agent, a_lo, a_hi = rng.choice(agents)
        a_from, a_to = window(a_lo, a_hi)
        # First pages mostly, some pages further back in the window.
        before = a_to if rng.random() < 0.7 else rng.randint(a_from, a_to)
        t_tenant, t_lo, t_hi = rng.choice(tenants)
        t_from, t_to = window(t_lo, t_hi)
        p_tenant, p_trace, p_span = rng.choice(parents)
        s_tenant, session = rng.choice(sessions)
        return {
            "trace_meta": {"tenant_id": tenant, "trace_id": trace},
            "trace_spans": {"tenant_id": tenant, "trace_id": trace},
            "trace_call_graph_actors": {"tenant_id": tenant, "trace_id": trace},
            "trace_call_graph_edges": {"tenant_id": tenant, "trace_id": trace},
            "span_children": {"tenant_id": p_tenant, "trace_id": p_trace, "span_id": p_span},
            # The first page (the API's limit) of a session's calls from a point in the tenant's window.
            "session_token_growth": {"tenant_id": s_tenant, "session_key": session, "from_ms": t_from, "limit": 500},
            "agents_of_tenant": {"tenant_id": t_tenant},
            **{
                name: {"tenant_id": a_tenant, "agent_id": a_agent, "from_ms": a_from, "to_ms": a_to}
                for name in ("agent_trace_count", "agent_trace_metrics", "agent_trace_trends")
            },
            "agent_traces_page": {
                "tenant_id": a_tenant,
                "agent_id": a_agent,
                "from_ms": a_from,
                "to_ms": a_to,
                "before_ms": before,
                "limit": PAGE_LIMIT,
            },
            **{
                name: {"tenant_id": t_tenant, "from_ms": t_from, "to_ms": t_to, "limit": PAGE_LIMIT}
                for name in ("most_expensive_spans", "slowest_tools", "tools_by_failure_rate")
            },
        }

    drawn = [values() for _ in range(iterations + WARMUP_CASES)]
    # The API's read queries (queries_reads.py) are measured through the API by bench/api_reads.py.
    assert set(drawn[0]) <= set(QUERIES), set(drawn[0]) - set(QUERIES)
    cases, warm = {}, {}
    for name in drawn[0]:
        n = max(MIN_TIMED, iterations // 4) if name in HEAVY else iterations
        warm[name] = [d[name] for d in drawn[:WARMUP_CASES]]
        cases[name] = [d[name] for d in drawn[WARMUP_CASES : WARMUP_CASES + n]]
    return cases, warm


# --- Main -------------------------------------------------------------------------------------------------


def size_events(root: str, table_format: str, spans: int, per_trace: float) -> tuple[int, float]:
    """Events giving about `spans` silver spans: the spans per event of a tiny probe lake."""
    probe = lake_dir(root, "probe")
    start = datetime(2026, 1, 1, tzinfo=UTC)
    simulate_lake(probe, 4000, start=start, hours=2, now=start + timedelta(hours=3), per_trace=per_trace, seed=5)
    out = in_child_checked(load, probe, table_format, (start + timedelta(hours=3)).isoformat())
    shutil.rmtree(probe, ignore_errors=True)
    ratio = out["spans"] / out["accepted"]
    return max(200, round(spans / ratio)), ratio


def build_read_lake(root: str, table_format: str, spans: int, events: int = 0) -> dict[str, Any]:
    """A lake of about `spans` silver spans (or `events` events) ending a day before the wall clock, loaded
    through bronze + silver and the embedded graph, as the read benches use it: its path, tenants, counts."""
    per_trace = events_per_trace(root)
    if not events:
        events, ratio = size_events(root, table_format, spans, per_trace)
        print(f"probe: {ratio:.3f} silver spans per event -> {events} events for {spans} spans", flush=True)
    lake = lake_dir(root, "lake")
    hours = _hours_for(events)
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=24)
    start = end - timedelta(hours=hours)
    now = end + timedelta(minutes=10)
    t0 = time.perf_counter()
    manifest = simulate_lake(lake, events, start=start, hours=hours, now=now, per_trace=per_trace)
    loaded = in_child_checked(load, lake, table_format, now.isoformat())
    built = in_child_checked(graph_step, lake, table_format)
    print(f"lake: {loaded['spans']} spans, {loaded['traces']} traces; graph {built['mode']}", flush=True)
    return {
        "lake": lake,
        "tenant_ids": manifest["tenant_ids"],
        "spans": loaded["spans"],
        "traces": loaded["traces"],
        "build_s": time.perf_counter() - t0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spans", type=int, default=1_000_000, help="Silver spans the lake should hold")
    parser.add_argument("--events", type=int, default=0, help="Lake events (skips the spans-per-event probe)")
    parser.add_argument("--iterations", type=int, default=200, help="Timed graph cases per query (heavy: 1/4)")
    parser.add_argument("--sql-iterations", type=int, default=50, help="Timed SQL cases per query (<= graph's)")
    parser.add_argument("--budget-s", type=float, default=60.0, help="Time cap per query and engine (>= 20 cases)")
    parser.add_argument("--updates", type=int, default=2, help="Incremental graph updates measured (mean reported)")
    parser.add_argument("--new-events", type=int, default=10_000, help="New events per incremental update")
    parser.add_argument("--format", default="delta", choices=["delta", "iceberg"])
    parser.add_argument("--seed", type=int, default=7, help="Seed of the parameter draws")
    parser.add_argument(
        "--workdir",
        default=str(Path(__file__).parent / "out"),
        help="Where the temporary lake goes (the machine's /tmp can be slow to create files in)",
    )
    parser.add_argument("--keep", action="store_true", help="Keep the lake (its folder is printed)")
    args = parser.parse_args()
    Path(args.workdir).mkdir(parents=True, exist_ok=True)
    root = tempfile.mkdtemp(prefix="bench-graph-", dir=args.workdir)
    figures: dict[str, Any] = {"name": "graph", "format": args.format}
    try:
        run_bench(args, root, figures)
    finally:
        if args.keep:
            print(f"lake kept in {root}", flush=True)
        else:
            shutil.rmtree(root, ignore_errors=True)
    emit(figures)


def run_bench(args: argparse.Namespace, root: str, figures: dict[str, Any]) -> None:
    per_trace = events_per_trace(root)
    ratio = None
    events = args.events
    if not events:
        events, ratio = size_events(root, args.format, args.spans, per_trace)
        print(f"probe: {ratio:.3f} silver spans per event -> {events} events for {args.spans} spans", flush=True)

    lake = lake_dir(root, "lake")
    hours = _hours_for(events)
    new_hours = _hours_for(args.new_events)
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(
        hours=(args.updates + 1) * new_hours + 24
    )
    start = end - timedelta(hours=hours)
    backfill_now = end + timedelta(minutes=10)
    t0 = time.perf_counter()
    manifest = simulate_lake(lake, events, start=start, hours=hours, now=backfill_now, per_trace=per_trace)
    print(
        f"simulated {manifest['deliveries']} deliveries ({manifest['traces']} traces) over {hours} h in "
        f"{time.perf_counter() - t0:.1f}s",
        flush=True,
    )
    loaded = in_child_checked(load, lake, args.format, backfill_now.isoformat())
    print(
        f"backfill: bronze {loaded['accepted']} events in {loaded['bronze_s']:.1f}s, silver {loaded['traces']} traces "
        f"/ {loaded['spans']} spans in {loaded['silver_s']:.1f}s; peak RSS {loaded['peak_rss_mb']} MB",
        flush=True,
    )

    built = in_child_checked(graph_step, lake, args.format)
    assert built["mode"] == "rebuild", built["mode"]
    # One snapshot per tenant: the figure is their sum.
    snapshot_mb = round(sum(_mb(Path(p)) for p in built["snapshots"]), 1)
    print(
        f"graph rebuild: {built['seconds']:.1f}s (read {built['read_s']:.1f}, write {built['write_s']:.1f}); "
        f"vertices {built['vertices']}, edges {built['edges']}, dropped {built['dropped']}; snapshot "
        f"{snapshot_mb} MB; writer peak RSS {built['peak_rss_mb']} MB",
        flush=True,
    )

    t0 = time.perf_counter()
    cases, warm = draw_cases(lake, args.format, args.iterations, args.seed)
    print(f"parameters drawn in {time.perf_counter() - t0:.1f}s", flush=True)
    graph = in_child_checked(graph_queries, lake, args.format, cases, warm, args.budget_s)
    print(
        f"graph client: first query (open) {graph['open_ms']:.0f} ms, warm-up {graph['warmup_s']:.1f}s "
        f"({graph['warmup_errors']} errors); RSS start "
        f"{graph['rss_start_mb']} MB, after warm-up {graph['rss_warm_mb']} MB, end {graph['rss_end_mb']} MB, "
        f"peak {graph['peak_rss_mb']} MB",
        flush=True,
    )
    sql = in_child_checked(sql_queries, lake, args.format, cases, warm, args.sql_iterations, args.budget_s)

    queries: dict[str, Any] = {}
    mismatches = 0
    print(f"{'query':26} {'graph p50':>10} {'p95':>8} {'n':>4} {'SQL p50':>9} {'p95':>8} {'n':>3}  rows", flush=True)
    for name in cases:
        g, s = graph["results"][name], sql["results"][name]
        # Row counts compared where both engines answered (a failed case is counted as an error instead).
        differ = sum(1 for a, b in zip(g["rows"], s["rows"], strict=False) if None not in (a, b) and a != b)
        mismatches += differ
        rows = [r for r in g["rows"] if r is not None]
        entry = {
            "graph_p50_ms": _pct(g["ms"], 0.5),
            "graph_p95_ms": _pct(g["ms"], 0.95),
            "graph_max_ms": round(max(g["ms"]), 2),
            "graph_n": len(g["ms"]),
            "sql_p50_ms": _pct(s["ms"], 0.5),
            "sql_p95_ms": _pct(s["ms"], 0.95),
            "sql_n": len(s["ms"]),
            "rows_mean": round(statistics.fmean(rows), 1) if rows else None,
            "rows_max": max(rows) if rows else None,
            "row_count_mismatches": differ,
            "sql_rows_max": max((r for r in s["rows"] if r is not None), default=None),
            "graph_errors": len(g["errors"]),
            "graph_error": g["errors"][0] if g["errors"] else None,
            "sql_errors": len(s["errors"]),
        }
        queries[name] = entry
        print(
            f"{name:26} {entry['graph_p50_ms']:>10} {entry['graph_p95_ms']:>8} {entry['graph_n']:>4} "
            f"{entry['sql_p50_ms']:>9} {entry['sql_p95_ms']:>8} {entry['sql_n']:>3}  mean {entry['rows_mean']} max "
            f"{entry['rows_max']}"
            + (f"  MISMATCH {differ}" if differ else "")
            + (f"  graph errors {entry['graph_errors']}/{entry['graph_n']}" if entry["graph_errors"] else ""),
            flush=True,
        )
        for err in (g["errors"] + s["errors"])[:2]:
            print(f"    error: {err}", flush=True)

    updates = []
    for i in range(args.updates):
        now = end + timedelta(hours=(i + 1) * new_hours, minutes=10)
        simulate_traffic(
            lake,
            args.new_events,
            start=end + timedelta(hours=i * new_hours),
            hours=new_hours,
            now=now,
            per_trace=per_trace,
            traffic_seed=1000 + i,
        )
        tick = in_child_checked(load, lake, args.format, now.isoformat())
        upd = in_child_checked(graph_step, lake, args.format)
        assert upd["mode"] == "update", upd["mode"]
        upd.update({"new_events": tick["accepted"], "pipeline_s": tick["bronze_s"] + tick["silver_s"]})
        upd["snapshot_mb"] = round(sum(_mb(Path(p)) for p in upd["snapshots"]), 1)
        updates.append(upd)
        print(
            f"update {i}: {tick['accepted']} new events ({upd['traces']} traces; bronze+silver "
            f"{upd['pipeline_s']:.1f}s): graph update {upd['seconds']:.2f}s (read {upd['read_s']:.2f}, copy "
            f"{upd['copy_s']:.2f}, write {upd['write_s']:.2f}); wall in process {upd['wall_s']:.2f}s; "
            f"{upd['tenants_written']} tenant snapshots, {upd['snapshot_mb']} MB, {upd['bytes_copied']} bytes "
            f"copied; peak RSS {upd['peak_rss_mb']} MB",
            flush=True,
        )
    if args.keep:
        print(f"graph home: {Path(built['snapshots'][0]).parents[4]}", flush=True)

    mean = lambda key: round(statistics.fmean(u[key] for u in updates), 3) if updates else None  # noqa: E731
    update_s = mean("seconds")
    spans_p95 = queries["trace_spans"]["graph_p95_ms"]
    page_p95 = queries["agent_traces_page"]["graph_p95_ms"]
    figures.update(
        {
            "spans": loaded["spans"],
            "traces": loaded["traces"],
            "events": loaded["accepted"],
            "lake_hours": hours,
            "spans_per_event_probe": round(ratio, 4) if ratio else None,
            "backfill_bronze_s": round(loaded["bronze_s"], 2),
            "backfill_silver_s": round(loaded["silver_s"], 2),
            "rebuild_s": round(built["seconds"], 2),
            "rebuild_read_s": round(built["read_s"], 2),
            "rebuild_write_s": round(built["write_s"], 2),
            "rebuild_peak_rss_mb": built["peak_rss_mb"],
            "snapshot_mb": snapshot_mb,
            "iterations": args.iterations,
            "sql_iterations": args.sql_iterations,
            "queries": queries,
            "row_count_mismatches": mismatches,
            "client_open_ms": round(graph["open_ms"], 1),
            "api_rss_warm_mb": graph["rss_warm_mb"],
            "api_rss_end_mb": graph["rss_end_mb"],
            "api_peak_rss_mb": graph["peak_rss_mb"],
            "sql_peak_rss_mb": sql["peak_rss_mb"],
            "update_new_events": [u["new_events"] for u in updates],
            "update_traces": [u["traces"] for u in updates],
            "update_s": update_s,
            "update_all_s": [round(u["seconds"], 3) for u in updates],
            "update_read_s": mean("read_s"),
            "update_copy_s": mean("copy_s"),
            "update_write_s": mean("write_s"),
            "update_peak_rss_mb": max((u["peak_rss_mb"] for u in updates), default=None),
            "target_trace_spans_p95_met": spans_p95 is not None and spans_p95 < TARGET_TRACE_SPANS_P95_MS,
            "target_trace_page_p95_met": page_p95 is not None and page_p95 < TARGET_TRACE_PAGE_P95_MS,
            "target_update_met": update_s is not None and update_s < TARGET_UPDATE_S,
            "target_api_rss_met": graph["peak_rss_mb"] < TARGET_API_RSS_MB,
        }
    )
    print(
        f"trace_spans p95 {spans_p95} ms (target < {TARGET_TRACE_SPANS_P95_MS:.0f}), agent_traces_page p95 "
        f"{page_p95} ms (target < {TARGET_TRACE_PAGE_P95_MS:.0f}), update {update_s}s for ~{args.new_events} events "
        f"(target < {TARGET_UPDATE_S:.0f}), API peak RSS {graph['peak_rss_mb']} MB (target < 1024)",
        flush=True,
    )


if __name__ == "__main__":
    os.environ.setdefault("DO_NOT_TRACK", "1")
    main()
