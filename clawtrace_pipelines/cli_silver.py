"""`clawtrace silver`: the traces silver set aside (dead letters), and queueing them again after a fix."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from clawtrace_pipelines.core.settings import Settings

silver_app = typer.Typer(no_args_is_help=True, add_completion=False, help="Silver's dead letters.")

LakeOpt = Annotated[str | None, typer.Option("--lake", help="Lake root: a folder or s3://bucket/prefix")]


def _settings(lake: str | None) -> Settings:
    from clawtrace_pipelines.core.settings import Settings

    return Settings(lake=lake) if lake else Settings()


@silver_app.command("dead-letters")
def list_dead_letters(
    lake: LakeOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line")] = False,
) -> None:
    """The dead-lettered traces: tenant, trace, the failing dbt node and the reason."""
    from clawtrace_pipelines.lib.silver_dead_letters import dead_letters

    rows = dead_letters(_settings(lake)).sort_by([("tenant_id", "ascending"), ("trace_id", "ascending")])
    for row in rows.to_pylist():
        if as_json:
            typer.echo(json.dumps({**row, "failed_at": row["failed_at"].isoformat()}))
        else:
            typer.echo(f"{row['tenant_id']}  {row['trace_id']}  {row['node']}  {row['reason']}")
    if not as_json:
        typer.echo(f"({rows.num_rows} dead-lettered trace{'s' if rows.num_rows != 1 else ''})")


@silver_app.command()
def retry(
    tenant: Annotated[str | None, typer.Option("--tenant", help="Only this tenant's dead letters")] = None,
    trace: Annotated[str | None, typer.Option("--trace", help="Only this trace (with --tenant)")] = None,
    lake: LakeOpt = None,
) -> None:
    """Queue dead-lettered traces again (after fixing the data or the model); the next tick recomputes them,
    and sets aside again whatever still fails."""
    from clawtrace_pipelines.core.events import check_uuid
    from clawtrace_pipelines.lib.silver_dead_letters import retry as retry_dead_letters

    if trace is not None and tenant is None:
        raise typer.BadParameter("--trace needs --tenant: trace ids are unique only within a tenant")
    try:
        tenant_id = None if tenant is None else check_uuid(tenant, "--tenant")
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    queued = retry_dead_letters(_settings(lake), tenant=tenant_id, trace=trace)
    typer.echo(json.dumps({"queued": queued}))
