"""Read API latency on a lake of ~1M spans: p50/p95 of every read endpoint over HTTP, and the API's RSS.

    .venv/bin/python bench/api_reads.py [--spans 1000000] [--events N] [--iterations 200] [--seed 7]
                                        [--format delta|iceberg] [--workdir bench/out] [--keep]

1. The lake is built as bench/graph.py builds it: a probe sizes the events for `--spans`, the simulator
   writes them (batched layout) ending a day before the wall clock, bronze + silver load them in a child, and
   `run_graph_update` builds the embedded graph (another child).
2. Every simulated tenant is adopted in a fresh API database with a read key each.
3. `python -m clawtrace_api.serve` (one uvicorn worker, what `clawtrace serve` runs) serves the lake.
4. Parameters drawn with a seeded RNG from the lake (DuckDB): traces, spans, sessions of random tenants;
   first pages of trace lists over the whole lake (per agent, all agents, by model); cost groupings.
5. One client (httpx, keep-alive) warms every endpoint up, then times `--iterations` requests of each; any
   answer other than 200 is counted as an error. The API's RSS (VmRSS) and peak (VmHWM) come from /proc.

Prints one line per endpoint, then one JSON object with every figure on the last line.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import emit, serve_api  # noqa: E402
from bench.graph import _pct, build_read_lake  # noqa: E402

TARGETS_P95_MS = {"trace_detail": 50.0, "trace_tree": 50.0, "trace_timeline": 50.0, "trace_list": 100.0}
WARMUP = 5


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _proc_mb(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def draw(lake: str, table_format: str, n: int, seed: int) -> dict[str, list[tuple[str, str, dict[str, Any]]]]:
    """(tenant, path, params) cases per endpoint."""
    from clawtrace_pipelines.core.graph.queries_sql import table_sources
    from clawtrace_pipelines.core.lake.duck import connect
    from clawtrace_pipelines.core.settings import Settings

    settings = Settings(lake=lake, table_format=table_format)
    con = connect(settings)
    src = table_sources(settings)
    rng = random.Random(seed)
    traces = con.execute(
        f"SELECT tenant_id, agent_id, trace_id, session_key FROM {src['pg_traces']} ORDER BY tenant_id, trace_id"
    ).fetchall()
    picked = rng.sample(traces, min(len(traces), n + WARMUP))
    span_rows = []
    for tenant, _, trace, _ in picked:
        sid = con.execute(
            f"SELECT span_id FROM {src['pg_spans']} WHERE tenant_id = $t AND trace_id = $r ORDER BY span_id LIMIT 1",
            {"t": tenant, "r": trace},
        ).fetchone()
        span_rows.append((tenant, trace, sid[0]))
    models = [
        r[0]
        for r in con.execute(
            f"SELECT DISTINCT model FROM {src['pg_spans']} WHERE model IS NOT NULL ORDER BY 1"
        ).fetchall()
    ]
    con.close()
    window = {"from_ms": 0, "to_ms": 2**52}
    cases: dict[str, list[tuple[str, str, dict[str, Any]]]] = {
        "trace_detail": [(t, f"/v1/traces/{r}", {}) for t, _, r, _ in picked],
        "trace_tree": [(t, f"/v1/traces/{r}/tree", {}) for t, _, r, _ in picked],
        "trace_timeline": [(t, f"/v1/traces/{r}/timeline", {}) for t, _, r, _ in picked],
        "trace_graph": [(t, f"/v1/traces/{r}/graph", {}) for t, _, r, _ in picked],
        "span_detail": [(t, f"/v1/spans/{s}", {"trace_id": r}) for t, r, s in span_rows],
        "trace_list": [
            (t, "/v1/traces", {**window, "agent_id": a, "limit": 50, "sort": rng.choice(["start", "cost", "duration"])})
            for t, a, _, _ in picked
        ],
        "trace_list_all_agents": [(t, "/v1/traces", {**window, "limit": 50}) for t, _, _, _ in picked],
        "trace_list_by_model": [
            (t, "/v1/traces", {**window, "limit": 50, "model": rng.choice(models)}) for t, _, _, _ in picked
        ],
        "agents": [(t, "/v1/agents", {}) for t, _, _, _ in picked],
        "sessions": [(t, "/v1/sessions", {**window, "agent_id": a}) for t, a, _, _ in picked],
        "session_detail": [(t, f"/v1/sessions/{k}", {}) for t, _, _, k in picked if k],
        "costs": [
            (
                t,
                "/v1/costs",
                {**window, "group_by": rng.choice(["model", "tool", "agent", "session", "day", "category"])},
            )
            for t, _, _, _ in picked
        ],
    }
    return cases


def run_bench(args: argparse.Namespace, root: str, figures: dict[str, Any]) -> None:
    import httpx2 as httpx

    from clawtrace_api.accounts import Accounts
    from clawtrace_api.db.engine import make_engine
    from clawtrace_pipelines.core.settings import Settings

    built = build_read_lake(root, args.format, args.spans, args.events)
    lake = built["lake"]
    manifest = {"tenant_ids": built["tenant_ids"]}
    figures.update(
        spans=built["spans"], traces=built["traces"], tenants=len(built["tenant_ids"]), build_s=built["build_s"]
    )

    db = f"sqlite:///{root}/api.db"
    settings = Settings(lake=lake, table_format=args.format, db=db)
    engine = make_engine(settings)
    accounts = Accounts(engine)
    keys = {}
    for tenant in manifest["tenant_ids"]:
        accounts.create_tenant(f"bench-{tenant[:8]}", tenant_id=tenant)
        keys[tenant] = accounts.create_key(tenant, "read")["key"]
    engine.dispose()

    cases = draw(lake, args.format, args.iterations, args.seed)
    port = _port()
    env = {**os.environ, "CLAWTRACE_LAKE": lake, "CLAWTRACE_TABLE_FORMAT": args.format, "CLAWTRACE_DB": db}
    with serve_api(env, port) as proc:
        base = f"http://127.0.0.1:{port}"
        figures["api_rss_idle_mb"] = _proc_mb(proc.pid, "VmRSS")
        clients = {t: httpx.Client(base_url=base, headers={"authorization": f"Bearer {k}"}) for t, k in keys.items()}
        endpoints: dict[str, Any] = {}
        print(f"{'endpoint':24} {'p50 ms':>8} {'p95 ms':>8} {'max':>8} {'n':>4} errors", flush=True)
        for name, items in cases.items():
            for tenant, path, params in items[:WARMUP]:
                clients[tenant].get(path, params=params)
            times, errors, first_error = [], 0, None
            for tenant, path, params in items[WARMUP : WARMUP + args.iterations]:
                t1 = time.perf_counter()
                r = clients[tenant].get(path, params=params)
                times.append((time.perf_counter() - t1) * 1000)
                if r.status_code != 200:
                    errors += 1
                    first_error = first_error or f"{r.status_code}: {r.text[:300]}"
            entry = {
                "p50_ms": _pct(times, 0.5),
                "p95_ms": _pct(times, 0.95),
                "max_ms": round(max(times), 2) if times else None,
                "n": len(times),
                "errors": errors,
            }
            if first_error:
                entry["first_error"] = first_error
            if name in TARGETS_P95_MS:
                entry["target_p95_ms"] = TARGETS_P95_MS[name]
                entry["meets_target"] = entry["p95_ms"] is not None and entry["p95_ms"] < TARGETS_P95_MS[name]
            endpoints[name] = entry
            print(
                f"{name:24} {entry['p50_ms']:>8} {entry['p95_ms']:>8} {entry['max_ms']:>8} {entry['n']:>4} {errors}",
                flush=True,
            )
        figures["endpoints"] = endpoints
        figures["api_rss_mb"] = _proc_mb(proc.pid, "VmRSS")
        figures["api_peak_rss_mb"] = _proc_mb(proc.pid, "VmHWM")
        for c in clients.values():
            c.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spans", type=int, default=1_000_000, help="Silver spans the lake should hold")
    parser.add_argument("--events", type=int, default=0, help="Lake events (skips the spans-per-event probe)")
    parser.add_argument("--iterations", type=int, default=200, help="Timed requests per endpoint")
    parser.add_argument("--format", default="delta", choices=["delta", "iceberg"])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workdir", default=str(Path(__file__).parent / "out"))
    parser.add_argument("--keep", action="store_true", help="Keep the lake (its folder is printed)")
    args = parser.parse_args()
    Path(args.workdir).mkdir(parents=True, exist_ok=True)
    root = tempfile.mkdtemp(prefix="bench-api-reads-", dir=args.workdir)
    figures: dict[str, Any] = {"name": "api_reads", "format": args.format}
    try:
        run_bench(args, root, figures)
    finally:
        if args.keep:
            print(f"lake kept in {root}", flush=True)
        else:
            shutil.rmtree(root, ignore_errors=True)
    emit(figures)


if __name__ == "__main__":
    main()
