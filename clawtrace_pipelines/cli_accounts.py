"""`clawtrace tenants|agents|keys`: accounts in the API database; `--json` prints one object for scripts.

Secrets (an agent's ingest key, its observe key, a new key) are printed once, when they are created; the
database keeps only their hashes.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from clawtrace_api.accounts import Accounts
    from clawtrace_pipelines.core.settings import Settings

tenants_app = typer.Typer(no_args_is_help=True, add_completion=False, help="Tenants of the API.")
agents_app = typer.Typer(no_args_is_help=True, add_completion=False, help="Agents and their ingest keys.")
keys_app = typer.Typer(no_args_is_help=True, add_completion=False, help="API keys: create, list, revoke.")

LakeOpt = Annotated[str | None, typer.Option("--lake", help="Lake root: a folder or s3://bucket/prefix")]
DbOpt = Annotated[str | None, typer.Option("--db", help="API database URL (default: CLAWTRACE_DB, else SQLite)")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object")]
TenantOpt = Annotated[str, typer.Option("--tenant", help="The tenant's id")]


def _settings(lake: str | None, db: str | None) -> Settings:
    from clawtrace_pipelines.core.settings import Settings

    overrides: dict[str, Any] = {}
    if lake:
        overrides["lake"] = lake
    if db:
        overrides["db"] = db
    return Settings(**overrides)


def _accounts(lake: str | None, db: str | None) -> Accounts:
    from clawtrace_api.accounts import Accounts
    from clawtrace_api.db.engine import make_engine

    return Accounts(make_engine(_settings(lake, db)))


def _emit(value: Any, as_json: bool, text: str) -> None:
    typer.echo(json.dumps(value, indent=None) if as_json else text)


def _fail(exc: Exception) -> typer.Exit:
    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(2)


@tenants_app.command("create")
def create_tenant(
    name: Annotated[str, typer.Option("--name", help="Display name")],
    tenant_id: Annotated[str | None, typer.Option("--id", help="Adopt this id (data already in the lake)")] = None,
    lake: LakeOpt = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create a tenant; prints its id."""

    try:
        tenant = _accounts(lake, db).create_tenant(name, tenant_id=tenant_id)
    except ValueError as exc:  # AccountError is one
        raise _fail(exc) from exc
    _emit({"tenant_id": tenant["tenant_id"]}, as_json, f"tenant {tenant['tenant_id']} ({tenant['name']})")


@agents_app.command("create")
def create_agent(
    tenant: TenantOpt,
    name: Annotated[str, typer.Option("--name", help="Display name")],
    agent_id: Annotated[str | None, typer.Option("--id", help="Adopt this id (data already in the lake)")] = None,
    lake: LakeOpt = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create an agent with an ingest key bound to it; prints the key and the plugin's observe key once."""

    try:
        agent = _accounts(lake, db).create_agent(tenant, name, agent_id=agent_id)
    except ValueError as exc:  # AccountError is one
        raise _fail(exc) from exc
    out = {k: agent[k] for k in ("agent_id", "api_key", "observe_key")}
    _emit(
        out,
        as_json,
        f"agent {agent['agent_id']} ({agent['name']})\n"
        f"  ingest key (shown once): {agent['api_key']}\n"
        f"  observe key for the ClawTrace plugin (shown once): {agent['observe_key']}",
    )


@agents_app.command("list")
def list_agents(tenant: TenantOpt, lake: LakeOpt = None, db: DbOpt = None, as_json: JsonOpt = False) -> None:
    """The tenant's agents (deleted ones too, marked)."""
    agents = _accounts(lake, db).list_agents(tenant, include_deleted=True)
    lines = [f"{a['agent_id']}  {a['name']}{'  (deleted)' if a['deleted_at'] else ''}" for a in agents]
    _emit({"agents": agents}, as_json, "\n".join(lines) or "(no agents)")


@agents_app.command("delete")
def delete_agent(
    agent: Annotated[str, typer.Argument(help="The agent's id")],
    tenant: TenantOpt,
    lake: LakeOpt = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Delete an agent: its keys stop working at once (its data stays; `agents purge` removes it)."""
    result = _accounts(lake, db).delete_agent(tenant, agent)
    if result is None:
        raise _fail(LookupError(f"no agent {agent} in tenant {tenant}"))
    _emit(result, as_json, f"agent {agent} deleted, {result['keys_revoked']} key(s) revoked")


@agents_app.command("purge")
def purge_agent(
    agent: Annotated[str, typer.Argument(help="The agent's id")],
    tenant: TenantOpt,
    lake: LakeOpt = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Delete an agent and remove its data: raw files, rows of every lake table, the graph. Says what it
    removed."""
    from clawtrace_pipelines.lib.purge import purge_agent as purge

    settings = _settings(lake, db)
    accounts = _accounts(lake, db)
    if accounts.delete_agent(tenant, agent) is None:
        raise _fail(LookupError(f"no agent {agent} in tenant {tenant}"))
    report = purge(settings, tenant, agent)
    accounts.mark_purged(agent)
    lines = [f"agent {agent} purged: {report['raw_files']} raw file(s)"]
    lines += [f"  {table}: {n} row(s)" for table, n in report["rows"].items()]
    _emit(report, as_json, "\n".join(lines))


@keys_app.command("create")
def create_key(
    tenant: TenantOpt,
    scopes: Annotated[str, typer.Option("--scopes", help="Comma-separated: read, ingest, admin")] = "read",
    agent: Annotated[str | None, typer.Option("--agent", help="Bind an ingest key to one agent")] = None,
    name: Annotated[str | None, typer.Option("--name", help="A label for listings")] = None,
    lake: LakeOpt = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create an API key; prints it once."""

    try:
        key = _accounts(lake, db).create_key(tenant, scopes, agent_id=agent, name=name)
    except ValueError as exc:  # AccountError is one
        raise _fail(exc) from exc
    _emit(
        {"key_id": key["key_id"], "key": key["key"]},
        as_json,
        f"key {key['key_id']} ({','.join(key['scopes'])})\n  {key['key']}  (shown once)",
    )


@keys_app.command("list")
def list_keys(
    tenant: Annotated[str | None, typer.Option("--tenant", help="Only this tenant's keys")] = None,
    lake: LakeOpt = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Keys with their scopes and times (never the secrets)."""
    keys = _accounts(lake, db).list_keys(tenant)
    lines = [
        f"{k['key_id']}  {k['display']}  {','.join(k['scopes'])}  {'revoked' if k['revoked_at'] else 'live'}"
        f"  last used {k['last_used_at'] or 'never'}"
        for k in keys
    ]
    _emit({"keys": keys}, as_json, "\n".join(lines) or "(no keys)")


@keys_app.command("revoke")
def revoke_key(
    key_id: Annotated[str, typer.Argument(help="The key's id (from `keys list`)")],
    lake: LakeOpt = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Revoke a key: a running API refuses it within CLAWTRACE_KEY_CACHE_SECONDS."""
    result = _accounts(lake, db).revoke_key(key_id)
    if result is None:
        raise _fail(LookupError(f"no key {key_id}"))
    _emit(result, as_json, f"key {key_id} revoked")
