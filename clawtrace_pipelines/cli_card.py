"""`clawtrace card TRACE_ID --tenant T`: one trace's TraceCard from the gold `trace_cards` table, as YAML or JSON
(the document the API serves)."""

from __future__ import annotations

from typing import Annotated

import typer

CARD_FORMATS = ("yaml", "json")


def card(
    trace_id: Annotated[str, typer.Argument(help="The trace id (the collector's runId)")],
    tenant: Annotated[str, typer.Option("--tenant", help="Tenant UUID: trace ids are unique per tenant only")],
    output: Annotated[str, typer.Option("--format", help="yaml or json")] = "yaml",
    lake: Annotated[str | None, typer.Option("--lake", help="Lake root: a folder or s3://bucket/prefix")] = None,
    table_format: Annotated[
        str | None, typer.Option("--table-format", help="The lake's table format: delta or iceberg")
    ] = None,
) -> None:
    """Print a trace's TraceCard: totals, the costliest steps, redundant tool calls, failed and repaired steps,
    sub-agents and context growth. Exit code 1 when the tenant has no card for the trace (yet)."""
    from clawtrace_pipelines.core.events import check_safe_id, check_uuid
    from clawtrace_pipelines.core.lake import open_table
    from clawtrace_pipelines.core.settings import Settings
    from clawtrace_pipelines.core.tables import TRACE_CARDS
    from clawtrace_pipelines.core.trace_cards import read_card, render_json, render_yaml

    if output not in CARD_FORMATS:
        raise typer.BadParameter(f"--format must be one of {', '.join(CARD_FORMATS)}")
    try:
        tenant_id = check_uuid(tenant, "--tenant")
        trace = check_safe_id(trace_id, "trace_id")
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    overrides = {k: v for k, v in (("lake", lake), ("table_format", table_format)) if v}
    document = read_card(open_table(TRACE_CARDS, Settings(**overrides)), tenant_id, trace)
    if not document:
        typer.echo(
            f"error: tenant {tenant_id} has no card for trace {trace!r} (yet: the next tick builds it)", err=True
        )
        raise typer.Exit(1)
    typer.echo(render_yaml(document).rstrip("\n") if output == "yaml" else render_json(document, indent=True))
