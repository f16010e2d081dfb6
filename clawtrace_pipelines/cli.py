"""`clawtrace`: simulate agents, run a tick or a backfill in-process.

Dagster is imported lazily so `clawtrace simulate` starts fast.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import typer

app = typer.Typer(no_args_is_help=True, add_completion=False, help="ClawTrace Lakehouse command line.")

LakeOpt = Annotated[str | None, typer.Option("--lake", help="Lake root: a folder or s3://bucket/prefix")]
FormatOpt = Annotated[str | None, typer.Option("--format", help="Table format: delta or iceberg")]


def _apply_overrides(lake: str | None, table_format: str | None) -> None:
    # Runs read settings from the environment when they start, so the CLI passes overrides that way too.
    if lake:
        os.environ["CLAWTRACE_LAKE"] = lake
    if table_format:
        os.environ["CLAWTRACE_TABLE_FORMAT"] = table_format


def _parse_time(value: str) -> datetime:
    try:
        ts = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise typer.BadParameter(f"not an ISO-8601 time: {value!r}") from exc
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


@app.command()
def simulate(
    tenants: Annotated[int, typer.Option(min=1)] = 2,
    agents_per_tenant: Annotated[int, typer.Option(min=1)] = 2,
    traces: Annotated[int, typer.Option(min=0, help="Traces per agent")] = 10,
    seed: int = 7,
    start: Annotated[str | None, typer.Option(help="UTC start of the traffic, ISO-8601 (default: 24 h ago)")] = None,
    hours: Annotated[int, typer.Option(min=1)] = 24,
    layout: Annotated[str, typer.Option(help="per-event or batched")] = "batched",
    late: Annotated[int, typer.Option(min=0, help="Write N late events into hours already written")] = 0,
    lake: LakeOpt = None,
    table_format: FormatOpt = None,
    ingest_url: Annotated[
        str | None, typer.Option("--ingest-url", help="Send through this API's ingest (http://host:port)")
    ] = None,
    observe_key: Annotated[
        str | None, typer.Option("--observe-key", help="With --ingest-url: the agent's observe key")
    ] = None,
    batch: Annotated[int, typer.Option(min=0, help="With --ingest-url: events per batch request (0: one each)")] = 0,
    concurrency: Annotated[int, typer.Option(min=1, help="With --ingest-url: sending threads")] = 4,
) -> None:
    """Write realistic OpenClaw agent traffic into the raw zone (same seed, same bytes), or, with --ingest-url
    and --observe-key, send one agent's traffic through the ingest API the way the ClawTrace plugin does."""
    from clawtrace_pipelines.core.settings import Settings
    from clawtrace_pipelines.simulator import SimulationConfig
    from clawtrace_pipelines.simulator import simulate as run_simulation

    if layout not in {"per-event", "batched"}:
        raise typer.BadParameter("layout must be per-event or batched")
    _apply_overrides(lake, table_format)
    if start is None:
        begin = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=hours)
    else:
        begin = _parse_time(start)
    if ingest_url or observe_key:
        if not (ingest_url and observe_key):
            raise typer.BadParameter("--ingest-url and --observe-key go together")
        _simulate_over_http(ingest_url, observe_key, traces, seed, begin, hours, batch, concurrency)
        return
    config = SimulationConfig(
        tenants=tenants,
        agents_per_tenant=agents_per_tenant,
        traces=traces,
        seed=seed,
        start=begin,
        hours=hours,
        layout=layout,  # type: ignore[arg-type]
        late=late,
        progress=sys.stderr.isatty(),
    )
    manifest = run_simulation(Settings(), config)
    typer.echo(json.dumps(manifest.to_dict(), indent=2, default=str))


def _simulate_over_http(
    url: str, observe_key: str, traces: int, seed: int, begin: datetime, hours: int, batch: int, concurrency: int
) -> None:
    from clawtrace_api.keys import ObserveKey
    from clawtrace_pipelines.simulator.http_sender import plugin_envelopes, send

    try:
        key = ObserveKey.decode(observe_key)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    envelopes = list(plugin_envelopes(key.tenant_id, key.agent_id, traces=traces, seed=seed, start=begin, hours=hours))
    report = send(url, key.api_key, key.tenant_id, key.agent_id, envelopes, batch=batch, concurrency=concurrency)
    out = {"tenant_id": key.tenant_id, "agent_id": key.agent_id, "envelopes": len(envelopes), **report.__dict__}
    typer.echo(json.dumps(out, indent=2, default=str))
    if report.failed or report.dropped:
        raise typer.Exit(1)


@contextmanager
def _instance() -> Iterator[Any]:
    """The Dagster instance a command's run is recorded in: `$DAGSTER_HOME`'s (the UI shows it), else a throwaway
    one in a temporary folder, removed afterwards.

    Not `DagsterInstance.ephemeral()`: its in-memory event log stores a tick's ~600 events (each dbt test is an
    asset check) at several ms of CPU each (README, Freshness: 26.3 s against 20.6 s per cold tick in paired
    runs). The throwaway instance uses the daemon's storage (`dagster_storage.LakehouseSqliteStorage`).
    """
    from dagster import DagsterInstance

    if os.environ.get("DAGSTER_HOME"):
        yield DagsterInstance.get()
        return
    with tempfile.TemporaryDirectory(prefix="clawtrace-dagster-") as home:
        storage = {"module": "clawtrace_pipelines.dagster_storage", "class": "LakehouseSqliteStorage"}
        overrides = {
            "storage": {"custom": {**storage, "config": {"dagster_home": home}}},
            "telemetry": {"enabled": False},
            # As ephemeral() has: local_temp's file capture would redirect the terminal's output into files of
            # this folder through `tail -F` processes, and drop the run's last lines when it stops them.
            "compute_logs": {
                "module": "dagster._core.storage.noop_compute_log_manager",
                "class": "NoOpComputeLogManager",
            },
        }
        with DagsterInstance.local_temp(home, overrides=overrides) as instance:
            yield instance


def _run_tick_job(run_config: dict[str, Any], tags: dict[str, str] | None = None) -> None:
    from clawtrace_pipelines.definitions import build_definitions

    job = build_definitions().resolve_job_def("lakehouse_tick")
    with _instance() as instance:
        result = job.execute_in_process(run_config=run_config, instance=instance, tags=tags, raise_on_error=False)
    summary: dict[str, Any] = {"run_id": result.run_id, "success": result.success}
    for node in job.nodes_in_topological_order:
        for mat in result.asset_materializations_for_node(node.name):
            summary[mat.asset_key.to_user_string()] = {k: v.value for k, v in mat.metadata.items()}
    for event in result.get_asset_check_evaluations():
        summary[f"check:{event.check_name}"] = "passed" if event.passed else "FAILED"
    typer.echo(json.dumps(summary, indent=2, default=str))
    if not result.success:
        raise typer.Exit(1)


@app.command()
def tick(
    lake: LakeOpt = None,
    table_format: FormatOpt = None,
    reconcile: Annotated[
        bool,
        typer.Option(
            help="The daily reconcile tick: also sweep the whole raw zone, and build every dbt data test on its"
            " own rather than in each model's row contract"
        ),
    ] = False,
) -> None:
    """Run one tick in-process: every layer picks up what is new since the last tick."""
    _apply_overrides(lake, table_format)
    _run_tick_job(
        {
            "ops": {
                "bronze_events": {"config": {"reconcile": reconcile}},
                "silver_models": {"config": {"every_test": reconcile}},
                "billing_models": {"config": {"reconcile": reconcile}},
            }
        }
    )


@app.command()
def backfill(
    start: Annotated[str, typer.Option("--from", help="First event hour, ISO-8601 (UTC)")],
    end: Annotated[str | None, typer.Option("--to", help="Last event hour, inclusive (default: --from)")] = None,
    lake: LakeOpt = None,
    table_format: FormatOpt = None,
) -> None:
    """Re-process every raw file of a range of event hours, in one run (idempotent)."""
    from clawtrace_pipelines.partitions import partition_key

    _apply_overrides(lake, table_format)
    first, last = _parse_time(start), _parse_time(end or start)
    if last < first:
        raise typer.BadParameter("--to is before --from")
    _run_tick_job(
        {},
        tags={
            "dagster/asset_partition_range_start": partition_key(first),
            "dagster/asset_partition_range_end": partition_key(last),
        },
    )


def _param(text: str) -> tuple[str, Any]:
    """`k=v`: the value as JSON when it parses (numbers, true/false, null, quoted strings), else the raw text."""
    key, sep, raw = text.partition("=")
    if not sep or not key.isidentifier():
        raise typer.BadParameter(f"expected name=value, got {text!r}")
    try:
        return key, json.loads(raw)
    except json.JSONDecodeError:
        return key, raw


@app.command()
def cypher(
    query: Annotated[
        str, typer.Argument(help="Cypher (use $tenant_id and $name for --param values), or a catalog query name")
    ],
    tenant: Annotated[
        str | None, typer.Option("--tenant", help="Tenant UUID: only its rows; bound as $tenant_id")
    ] = None,
    all_tenants: Annotated[
        bool, typer.Option("--all-tenants", help="Operator: the query over every tenant, rows led by `tenant`")
    ] = False,
    param: Annotated[list[str] | None, typer.Option("--param", help="name=value, bound as $name (repeatable)")] = None,
    lake: LakeOpt = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many rows")] = 1000,
) -> None:
    """Run a Cypher query on the configured graph (CLAWTRACE_GRAPH: embedded or bolt://) and print a table.

    `--tenant T` returns only T's rows: on the embedded engine the query runs on T's snapshot alone; over Bolt
    only catalog queries, or any query as T's PuppyGraph user (see cli_cypher.py). `--all-tenants` is the
    explicit operator command. Values are always parameters: the query text is sent as written.
    """
    from clawtrace_pipelines.cli_cypher import CypherRefused, cypher_rows
    from clawtrace_pipelines.core.events import check_uuid
    from clawtrace_pipelines.core.graph.client import GraphError
    from clawtrace_pipelines.core.settings import Settings

    _apply_overrides(lake, None)
    try:
        tenant_id = None if tenant is None else check_uuid(tenant, "--tenant")
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    params = dict(_param(p) for p in param or [])
    try:
        rows = cypher_rows(Settings(), query, tenant=tenant_id, all_tenants=all_tenants, params=params, limit=limit)
    except CypherRefused as exc:
        raise typer.BadParameter(str(exc)) from exc
    except (GraphError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(_table(rows))


def _table(rows: list[dict[str, Any]]) -> str:
    """Rows as an aligned text table (columns in RETURN order)."""
    if not rows:
        return "(no rows)"
    columns = list(rows[0])
    cells = [[("" if r.get(c) is None else str(r.get(c))) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    lines = [" | ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines.append("-+-".join("-" * w for w in widths))
    lines += [" | ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in cells]
    lines.append(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")
    return "\n".join(lines)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="uvicorn worker processes")] = 1,
    log_level: Annotated[str, typer.Option(help="uvicorn log level: warning hides the access log")] = "info",
    lake: LakeOpt = None,
    table_format: FormatOpt = None,
) -> None:
    """Serve the HTTP API (ingest and reads; OpenAPI UI on /docs); settings from CLAWTRACE_*."""
    from clawtrace_api.serve import run

    _apply_overrides(lake, table_format)
    run(host, port, workers, log_level)


@app.command()
def demo(
    port: Annotated[int, typer.Option(help="Dagster UI port")] = 3000,
    api_port: Annotated[int, typer.Option(help="API port")] = 8000,
    traces: Annotated[int, typer.Option(min=1, help="Simulated traces per agent")] = 15,
    hours: Annotated[int, typer.Option(min=1, help="Hours of simulated traffic, ending now")] = 24,
    seed: int = 7,
    lake: LakeOpt = None,
) -> None:
    """The whole product: API, simulated agents sending through ingest, a tick, then the Dagster UI."""
    from clawtrace_pipelines.core.settings import Settings
    from clawtrace_pipelines.demo import run_demo

    _apply_overrides(lake, None)
    run_demo(Settings(), api_port=api_port, ui_port=port, traces=traces, hours=hours, seed=seed)


def _mount_graph_commands() -> None:
    from clawtrace_pipelines.cli_accounts import agents_app, keys_app, tenants_app
    from clawtrace_pipelines.cli_card import card
    from clawtrace_pipelines.cli_credits import credits_app
    from clawtrace_pipelines.cli_graph import graph_app
    from clawtrace_pipelines.cli_silver import silver_app
    from clawtrace_pipelines.cli_sql import sql

    app.add_typer(tenants_app, name="tenants", help="Tenants of the API.")
    app.add_typer(agents_app, name="agents", help="Agents and their ingest keys; delete or purge one.")
    app.add_typer(keys_app, name="keys", help="API keys: create, list, revoke.")
    app.add_typer(credits_app, name="credits", help="Credits: grant them to a tenant (counted from the next tick).")

    app.add_typer(graph_app, name="graph", help="The graph schema (PuppyGraph) and the embedded graph.")
    app.add_typer(silver_app, name="silver", help="Silver's dead letters: list them, queue them again.")
    app.command("sql")(sql)
    app.command("card")(card)


_mount_graph_commands()

if __name__ == "__main__":
    app()
