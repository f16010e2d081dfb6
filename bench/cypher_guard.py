"""What the Cypher guard adds to a query, on a lake of ~1M spans (embedded engine).

    .venv/bin/python bench/cypher_guard.py [--spans 1000000] [--events N] [--iterations 50]
                                           [--format delta|iceberg] [--workdir bench/out] [--keep]
    .venv/bin/python bench/cypher_guard.py --guard-only [--iterations 50]

1. The lake is built as bench/api_reads.py builds it (bench/graph.py's probe, simulator, bronze + silver and
   `run_graph_update` in children).
2. Typical analyst queries (tools by failures, cost per trace, CHILD_OF descendants of any length, models by
   cost, an agent's traces, one trace's spans) for the busiest tenant, its busiest agent and biggest trace.
3. Per iteration, interleaved: `confine` on a text it has not seen (cache cleared: tokenize, graphglot parse,
   checks, rewrite), `confine` on the same text again (its plan cache), the confined text run, and the same
   query run directly (unguarded, catalog style). The guard adds `guard + (confined - direct)` for a new text
   and `cached + (confined - direct)` for a repeated one; p50/p95 of each, per query and over all.
   `shape` is `confine` on the text with new literals and names (its strings and numbers other than a LIMIT's
   changed and its variables and aliases renamed per iteration) after its shape was planned, with the text cache
   cleared: what a model sending the same query with other ids, thresholds and names pays (`cypher_shapes.py`);
   `added_shape` is `shape + (confined - direct)`.

`--guard-only` builds no lake and times only step 3's `confine` on new texts (the parse) and by shape.

The host is shared: the figures come with the load average before and after, and medians and ratios are the
ones to compare. Prints one line per query, then one JSON object with every figure on the last line.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import emit  # noqa: E402
from bench.graph import _pct, build_read_lake  # noqa: E402

TARGET_ADDED_P95_MS = 5.0
WARMUP = 3

# name -> (scope, query as a model writes it, the same query written directly with the tenant on every node)
QUERIES: dict[str, tuple[str, str, str]] = {
    "tools_by_failures": (
        "tenant",
        "MATCH (s:Span) WHERE s.actor_type = 'tool_call' RETURN s.tool_name AS tool, sum(s.has_error) AS failures,"
        " count(*) AS calls ORDER BY failures DESC, calls DESC, tool LIMIT 20",
        "MATCH (s:Span {tenant_id: $tenant_id}) WHERE s.actor_type = 'tool_call' RETURN s.tool_name AS tool,"
        " sum(s.has_error) AS failures, count(*) AS calls ORDER BY failures DESC, calls DESC, tool LIMIT 20",
    ),
    "cost_per_trace": (
        "agent",
        "MATCH (t:Trace)-[:HAS_SPAN]->(s:Span) RETURN t.trace_id AS trace, sum(s.cost_usd) AS cost"
        " ORDER BY cost DESC, trace LIMIT 10",
        "MATCH (t:Trace {tenant_id: $tenant_id, agent_id: $agent})-[:HAS_SPAN]->(s:Span {tenant_id: $tenant_id})"
        " RETURN t.trace_id AS trace, sum(s.cost_usd) AS cost ORDER BY cost DESC, trace LIMIT 10",
    ),
    "child_of_descendants": (
        "trace",
        "MATCH (c:Span)-[:CHILD_OF*1..10]->(r:Span) RETURN r.span_id AS span, count(c) AS below"
        " ORDER BY below DESC, span LIMIT 10",
        "MATCH (c:Span {tenant_id: $tenant_id, trace_id: $trace})-[:CHILD_OF*1..10]->"
        "(r:Span {tenant_id: $tenant_id, trace_id: $trace}) RETURN r.span_id AS span, count(c) AS below"
        " ORDER BY below DESC, span LIMIT 10",
    ),
    "models_by_cost": (
        "tenant",
        "MATCH (s:Span) WHERE s.actor_type = 'llm_call' RETURN s.model AS model, count(*) AS calls,"
        " sum(s.cost_usd) AS cost ORDER BY cost DESC, model",
        "MATCH (s:Span {tenant_id: $tenant_id}) WHERE s.actor_type = 'llm_call' RETURN s.model AS model,"
        " count(*) AS calls, sum(s.cost_usd) AS cost ORDER BY cost DESC, model",
    ),
    "agent_traces": (
        "agent",
        "MATCH (a:Agent)-[:OWNS]->(t:Trace) WHERE t.has_error = 1 RETURN t.trace_id AS trace,"
        " t.error_count AS errors ORDER BY errors DESC, trace LIMIT 25",
        "MATCH (a:Agent {tenant_id: $tenant_id, agent_id: $agent})-[:OWNS]->(t:Trace {tenant_id: $tenant_id})"
        " WHERE t.has_error = 1 RETURN t.trace_id AS trace, t.error_count AS errors ORDER BY errors DESC, trace"
        " LIMIT 25",
    ),
    "trace_spans": (
        "trace",
        "MATCH (t:Trace)-[:HAS_SPAN]->(s:Span) RETURN s.span_id AS span, s.actor_type AS kind,"
        " s.duration_ms AS ms ORDER BY span",
        "MATCH (t:Trace {tenant_id: $tenant_id, trace_id: $trace})-[:HAS_SPAN]->(s:Span {tenant_id: $tenant_id})"
        " RETURN s.span_id AS span, s.actor_type AS kind, s.duration_ms AS ms ORDER BY span",
    ),
}


def _busiest(lake: str, table_format: str) -> tuple[str, str, str]:
    """The tenant with most spans, its agent with most spans, its trace with most spans."""
    from clawtrace_pipelines.core.graph.queries_sql import table_sources
    from clawtrace_pipelines.core.lake.duck import connect
    from clawtrace_pipelines.core.settings import Settings

    settings = Settings(lake=lake, table_format=table_format)
    con = connect(settings)
    src = table_sources(settings)
    row = con.execute(
        f"""WITH t AS (SELECT tenant_id FROM {src["pg_spans"]} GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1)
            SELECT s.tenant_id, arg_max(s.agent_id, n_agent), arg_max(s.trace_id, n_trace) FROM (
              SELECT tenant_id, agent_id, trace_id, count(*) OVER (PARTITION BY agent_id) AS n_agent,
                     count(*) OVER (PARTITION BY trace_id) AS n_trace
              FROM {src["pg_spans"]} WHERE tenant_id = (SELECT tenant_id FROM t)) s GROUP BY 1"""
    ).fetchone()
    con.close()
    assert row is not None
    return str(row[0]), str(row[1]), str(row[2])


def with_new_literals(query: str, i: int) -> str:
    """`query` with each string and number in a value position, other than a LIMIT's or SKIP's, changed, and
    each variable and alias renamed."""
    from clawtrace_pipelines.core.graph.cypher_parse import tokenize
    from clawtrace_pipelines.core.graph.cypher_shapes import is_variable, literal_kind

    tokens = tokenize(query, 64)
    for j in reversed(range(len(tokens))):
        old = query[tokens[j].start : tokens[j].end + 1]
        kind = literal_kind(query, tokens, j)
        if is_variable(query, tokens, j):
            new = f"{old}_{i}"
        elif kind is None or (j and tokens[j - 1].text.upper() in ("LIMIT", "SKIP")):
            continue
        else:
            new = f"'{tokens[j].text}_{i}'" if kind == "string" else str(int(float(old)) + i % 5)
        query = query[: tokens[j].start] + new + query[tokens[j].end + 1 :]
    return query


def _shape_ms(query: str, scope: Any, limits: Any, i: int) -> float:
    """`confine` on `query` with new literals, its shape planned, its text not."""
    from clawtrace_pipelines.core.graph import cypher_guard

    cypher_guard.clear_plans()
    cypher_guard.confine(query, scope, limits)
    cypher_guard._plan.cache_clear()
    variant = with_new_literals(query, i)
    t0 = time.perf_counter()
    cypher_guard.confine(variant, scope, limits)
    return _ms(t0)


def _ms(t0: float) -> float:
    return (time.perf_counter() - t0) * 1000


def measure(lake: str, table_format: str, iterations: int) -> dict[str, Any]:
    from clawtrace_pipelines.core.graph import cypher_guard
    from clawtrace_pipelines.core.graph.client import ClientOptions
    from clawtrace_pipelines.core.graph.cypher_guard import Confinement, GuardLimits, confine
    from clawtrace_pipelines.core.graph.embedded_client import EmbeddedClient
    from clawtrace_pipelines.core.settings import Settings

    tenant, agent, trace = _busiest(lake, table_format)
    scopes = {
        "tenant": Confinement(tenant),
        "agent": Confinement(tenant, agent_id=agent),
        "trace": Confinement(tenant, trace_id=trace),
    }
    direct_params = {"tenant_id": tenant, "agent": agent, "trace": trace}
    client = EmbeddedClient(Settings(lake=lake, table_format=table_format), ClientOptions(timeout_s=60))
    limits = GuardLimits()
    per_query: dict[str, Any] = {}
    totals: dict[str, list[float]] = {
        k: [] for k in ("guard", "cached", "shape", "added", "added_cached", "added_shape")
    }
    try:
        for name, (scope, guarded, direct) in QUERIES.items():
            times: dict[str, list[float]] = {k: [] for k in ("guard", "cached", "shape", "confined", "direct")}
            for i in range(WARMUP + iterations):
                cypher_guard.clear_plans()  # a query text the guard has not seen: graphglot parses it
                t0 = time.perf_counter()
                confine(guarded, scopes[scope], limits)
                g = _ms(t0)
                t0 = time.perf_counter()
                text, bound = confine(guarded, scopes[scope], limits)  # the same text again: from the cache
                cached = _ms(t0)
                t0 = time.perf_counter()
                confined_rows = client.run(text, bound)
                c = _ms(t0)
                t0 = time.perf_counter()
                direct_rows = client.run(direct, {k: v for k, v in direct_params.items() if f"${k}" in direct})
                d = _ms(t0)
                shape = _shape_ms(guarded, scopes[scope], limits, i)
                if i < WARMUP:
                    assert len(confined_rows) == len(direct_rows), (name, len(confined_rows), len(direct_rows))
                    continue
                for key, value in (("guard", g), ("cached", cached), ("shape", shape), ("confined", c), ("direct", d)):
                    times[key].append(value)
            added = [g + c - d for g, c, d in zip(times["guard"], times["confined"], times["direct"], strict=True)]
            added_cached = [
                g + c - d for g, c, d in zip(times["cached"], times["confined"], times["direct"], strict=True)
            ]
            added_shape = [
                g + c - d for g, c, d in zip(times["shape"], times["confined"], times["direct"], strict=True)
            ]
            figures: dict[str, Any] = {"scope": scope, "rows": len(direct_rows)}
            extra = (("added", added), ("added_cached", added_cached), ("added_shape", added_shape))
            for key, values in (*times.items(), *extra):
                figures[f"{key}_p50_ms"] = _pct(values, 0.5)
                figures[f"{key}_p95_ms"] = _pct(values, 0.95)
            figures["confined_over_direct"] = round(
                (figures["confined_p50_ms"] or 0.0) / max(figures["direct_p50_ms"] or 0.0, 1e-9), 3
            )
            per_query[name] = figures
            for key, values in (("guard", times["guard"]), ("cached", times["cached"]), ("shape", times["shape"])):
                totals[key] += values
            for key, values in extra:
                totals[key] += values
            print(f"{name:22s} {figures}", flush=True)
    finally:
        client.close()
    summary: dict[str, Any] = {"queries": per_query}
    for key, values in totals.items():
        summary[f"{key}_p50_ms"] = _pct(values, 0.5)
        summary[f"{key}_p95_ms"] = _pct(values, 0.95)
    return summary


def measure_guard(iterations: int) -> dict[str, Any]:
    """`confine` on new texts only (no lake, no runs): what the parse costs."""
    from clawtrace_pipelines.core.graph import cypher_guard
    from clawtrace_pipelines.core.graph.cypher_guard import Confinement, GuardLimits, confine

    tenant = "4f5e1f71-6c1c-4849-8766-d643b43b1bdf"
    scopes = {
        "tenant": Confinement(tenant),
        "agent": Confinement(tenant, "a1"),
        "trace": Confinement(tenant, None, "t1"),
    }
    every: list[float] = []
    every_shape: list[float] = []
    summary: dict[str, Any] = {"queries": {}}
    for name, (scope, guarded, _) in QUERIES.items():
        times, shapes = [], []
        for i in range(WARMUP + iterations):
            cypher_guard.clear_plans()
            t0 = time.perf_counter()
            confine(guarded, scopes[scope], GuardLimits())
            new_text = _ms(t0)
            shape = _shape_ms(guarded, scopes[scope], GuardLimits(), i)
            if i >= WARMUP:
                times.append(new_text)
                shapes.append(shape)
        every += times
        every_shape += shapes
        summary["queries"][name] = {
            "guard_p50_ms": _pct(times, 0.5),
            "guard_p95_ms": _pct(times, 0.95),
            "shape_p50_ms": _pct(shapes, 0.5),
            "shape_p95_ms": _pct(shapes, 0.95),
        }
        print(f"{name:22s} {summary['queries'][name]}", flush=True)
    summary.update(guard_p50_ms=_pct(every, 0.5), guard_p95_ms=_pct(every, 0.95), guard_max_ms=round(max(every), 2))
    summary.update(shape_p50_ms=_pct(every_shape, 0.5), shape_p95_ms=_pct(every_shape, 0.95))
    return summary


def run_bench(args: argparse.Namespace, root: str, figures: dict[str, Any]) -> None:
    built = build_read_lake(root, args.format, args.spans, args.events)
    lake = built["lake"]
    figures.update(spans=built["spans"], traces=built["traces"], build_s=round(built["build_s"], 1))
    figures["load_average_before"] = [round(x, 2) for x in os.getloadavg()]
    figures.update(measure(lake, args.format, args.iterations))
    figures["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    figures["target_added_p95_ms"] = TARGET_ADDED_P95_MS
    figures["meets_target_new_text"] = (figures["added_p95_ms"] or 0.0) < TARGET_ADDED_P95_MS
    figures["meets_target_repeated_text"] = (figures["added_cached_p95_ms"] or 0.0) < TARGET_ADDED_P95_MS
    figures["meets_target_known_shape"] = (figures["added_shape_p95_ms"] or 0.0) < TARGET_ADDED_P95_MS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spans", type=int, default=1_000_000, help="Silver spans the lake should hold")
    parser.add_argument("--events", type=int, default=0, help="Lake events (skips the spans-per-event probe)")
    parser.add_argument("--iterations", type=int, default=50, help="Timed runs of each query")
    parser.add_argument("--format", default="delta", choices=["delta", "iceberg"])
    parser.add_argument("--workdir", default=str(Path(__file__).parent / "out"))
    parser.add_argument("--keep", action="store_true", help="Keep the lake (its folder is printed)")
    parser.add_argument("--guard-only", action="store_true", help="Time confine on new texts only, no lake")
    args = parser.parse_args()
    if args.guard_only:
        figures: dict[str, Any] = {"name": "cypher_guard_only", "iterations": args.iterations}
        figures["load_average_before"] = [round(x, 2) for x in os.getloadavg()]
        figures.update(measure_guard(args.iterations))
        figures["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
        emit(figures)
        return
    Path(args.workdir).mkdir(parents=True, exist_ok=True)
    root = tempfile.mkdtemp(prefix="bench-cypher-guard-", dir=args.workdir)
    figures = {"name": "cypher_guard", "format": args.format, "iterations": args.iterations}
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
