"""Tenants, agents and keys: the CLI prints what a script needs, keys are hashed and scoped, revocation and
deletion take effect, and every admin error is problem+json."""

from __future__ import annotations

import json
import sqlite3

import pytest
from typer.testing import CliRunner

from clawtrace_api.accounts import Accounts
from clawtrace_api.key_cache import KeyCache
from clawtrace_api.keys import KEY_PREFIX, ObserveKey, key_hash
from clawtrace_pipelines.cli import app as cli
from clawtrace_pipelines.core.settings import Settings
from tests.api_server import Running

OTHER_TENANT_AGENT = "5da5a307-d5a8-4279-ab5d-277757183bba"


def _cli(settings: Settings, *args: str) -> dict:
    result = CliRunner().invoke(cli, [*args, "--lake", settings.lake, "--db", str(settings.db), "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_cli_creates_a_tenant_an_agent_with_an_observe_key_and_scoped_keys(api_settings: Settings):
    tenant = _cli(api_settings, "tenants", "create", "--name", "acme")["tenant_id"]
    agent = _cli(api_settings, "agents", "create", "--tenant", tenant, "--name", "bot")
    assert set(agent) == {"agent_id", "api_key", "observe_key"}
    observe = ObserveKey.decode(agent["observe_key"])
    assert (observe.api_key, observe.tenant_id, observe.agent_id) == (agent["api_key"], tenant, agent["agent_id"])
    assert agent["api_key"].startswith(KEY_PREFIX) and len(agent["api_key"]) >= len(KEY_PREFIX) + 43

    key = _cli(api_settings, "keys", "create", "--tenant", tenant, "--scopes", "read,admin")
    listed = _cli(api_settings, "keys", "list", "--tenant", tenant)["keys"]
    assert {k["key_id"]: k["scopes"] for k in listed} == {
        key["key_id"]: ["admin", "read"],
        next(k["key_id"] for k in listed if k["agent_id"] == agent["agent_id"]): ["ingest"],
    }
    assert all("key" not in k for k in listed)
    assert _cli(api_settings, "keys", "revoke", key["key_id"])["revoked_at"]

    # Only hashes are stored: neither secret appears anywhere in the database file.
    db_path = str(api_settings.db).removeprefix("sqlite:///")
    dump = "\n".join(sqlite3.connect(db_path).iterdump())
    assert key["key"] not in dump and agent["api_key"] not in dump
    assert key_hash(key["key"]) in dump


def test_cli_refuses_an_unknown_scope_and_an_unknown_tenant(api_settings: Settings):
    runner = CliRunner()
    tenant = _cli(api_settings, "tenants", "create", "--name", "acme")["tenant_id"]
    base = ["--lake", api_settings.lake, "--db", str(api_settings.db)]
    bad_scope = runner.invoke(cli, ["keys", "create", "--tenant", tenant, "--scopes", "read,root", *base])
    assert bad_scope.exit_code == 2 and "unknown scope" in bad_scope.output
    no_tenant = runner.invoke(cli, ["agents", "create", "--tenant", OTHER_TENANT_AGENT, "--name", "x", *base])
    assert no_tenant.exit_code == 2 and "no tenant" in no_tenant.output


def test_a_cached_lookup_outlives_revocation_until_invalidated(accounts: Accounts):
    tenant = accounts.create_tenant("acme")["tenant_id"]
    key = accounts.create_key(tenant, "read")
    cache = KeyCache(accounts, ttl_s=3600)
    assert cache.lookup(key["key"]) is not None
    accounts.revoke_key(key["key_id"])
    # Within the cache's bound the revoked key still passes (documented); a fresh lookup refuses it.
    assert cache.lookup(key["key"]) is not None
    cache.invalidate()
    assert cache.lookup(key["key"]) is None
    # The lookups were recorded as last-used times, in one write.
    cache.flush_usage()
    assert accounts.list_keys(tenant)[0]["last_used_at"] is not None


@pytest.fixture
def admin(accounts: Accounts) -> tuple[str, str]:
    tenant = accounts.create_tenant("acme")["tenant_id"]
    return tenant, accounts.create_key(tenant, "admin,read")["key"]


def test_admin_routes_create_rename_and_delete_an_agent_whose_key_then_stops(api: Running, admin, accounts):
    tenant, key = admin
    with api.client(key) as c:
        created = c.post("/v1/agents", json={"name": "bot"})
        assert created.status_code == 201
        body = created.json()
        assert ObserveKey.decode(body["observe_key"]).agent_id == body["agent_id"]
        assert c.patch(f"/v1/agents/{body['agent_id']}", json={"name": "bot-2"}).json()["name"] == "bot-2"
        assert accounts.principal_of(body["api_key"]) is not None
        deleted = c.delete(f"/v1/agents/{body['agent_id']}")
        assert deleted.status_code == 200 and deleted.json()["keys_revoked"] == 1
        assert accounts.principal_of(body["api_key"]) is None
        # Deleted: renaming it is a 404 like any unknown agent.
        assert c.patch(f"/v1/agents/{body['agent_id']}", json={"name": "x"}).status_code == 404


def test_a_key_revoked_over_http_is_refused_on_its_next_request(api: Running, admin):
    _, key = admin
    with api.client(key) as c:
        made = c.post("/v1/keys", json={"scopes": ["read", "admin"], "name": "temp"}).json()
        assert made["key"].startswith(KEY_PREFIX)
        listed = c.get("/v1/keys").json()["keys"]
        assert made["key_id"] in {k["key_id"] for k in listed} and all("key" not in k for k in listed)
    with api.client(made["key"]) as temp:
        assert temp.get("/v1/keys").status_code == 200
        assert temp.delete(f"/v1/keys/{made['key_id']}").status_code == 200
        refused = temp.get("/v1/keys")
        assert refused.status_code == 401
        assert refused.headers["content-type"] == "application/problem+json"


def test_admin_errors_are_precise_problems_and_other_tenants_ids_look_unknown(api: Running, admin, accounts):
    _, key = admin
    other = accounts.create_tenant("other")["tenant_id"]
    other_agent = accounts.create_agent(other, "theirs")
    read_only = accounts.create_key(other, "read")["key"]
    with api.client() as anonymous:
        missing = anonymous.post("/v1/agents", json={"name": "x"})
        assert missing.status_code == 401 and missing.json()["type"].endswith("/unauthorized")
    with api.client(read_only) as reader:
        assert reader.post("/v1/agents", json={"name": "x"}).status_code == 403
    with api.client(key) as c:
        theirs = c.delete(f"/v1/agents/{other_agent['agent_id']}")
        unknown = c.delete(f"/v1/agents/{OTHER_TENANT_AGENT}")
        assert theirs.status_code == unknown.status_code == 404
        assert theirs.json()["detail"] == unknown.json()["detail"]
        assert c.patch(f"/v1/agents/{other_agent['agent_id']}", json={"name": "mine"}).status_code == 404
        assert accounts.principal_of(other_agent["api_key"]) is not None  # untouched
        assert accounts.list_agents(other)[0]["name"] == "theirs"
        assert c.post("/v1/keys", json={"scopes": ["root"]}).status_code == 422
        assert c.post("/v1/keys", json={"scopes": ["ingest"], "agent_id": other_agent["agent_id"]}).status_code == 422
        assert c.patch("/v1/agents/not-a-uuid", json={"name": "x"}).status_code == 422
        assert c.post("/v1/agents", json={"name": ""}).status_code == 422
        bad = c.post("/v1/agents", content=b"{not json", headers={"content-type": "application/json"})
        assert bad.status_code == 422 and bad.headers["content-type"] == "application/problem+json"


def test_the_openapi_ui_is_served_without_any_cdn(api: Running):
    with api.client() as c:
        page = c.get("/docs")
        assert page.status_code == 200 and "cdn" not in page.text.lower()
        for asset in ("/docs-assets/swagger-ui-bundle.js", "/docs-assets/swagger-ui.css"):
            assert asset in page.text and c.get(asset).status_code == 200
        assert c.get("/openapi.json").json()["info"]["title"] == "ClawTrace Lakehouse API"


def test_peek_answers_from_the_cache_only_and_counts_a_hit_as_a_use(accounts: Accounts):
    tenant = accounts.create_tenant("acme")["tenant_id"]
    key = accounts.create_key(tenant, "read")
    cache = KeyCache(accounts, ttl_s=3600)
    assert cache.peek(key["key"]) == (False, None)
    principal = cache.lookup(key["key"])
    cache.flush_usage()
    accounts.revoke_key(key["key_id"])
    assert cache.peek(key["key"]) == (True, principal)
    assert cache.peek("ct_live_" + "x" * 43) == (False, None)
    assert cache._used == {key["key_id"]: cache._used[key["key_id"]]}


def test_a_key_of_a_deleted_agent_is_refused_even_if_it_escaped_the_revoke(accounts: Accounts):
    tenant = accounts.create_tenant("acme")["tenant_id"]
    agent = accounts.create_agent(tenant, "bot")
    late = accounts.create_key(tenant, "ingest", agent_id=agent["agent_id"])
    accounts.delete_agent(tenant, agent["agent_id"])
    # As if created in the same instant as the delete: un-revoke it by hand.
    from sqlalchemy import update

    from clawtrace_api.db.models import ApiKey

    with accounts.engine.begin() as conn:
        conn.execute(update(ApiKey).where(ApiKey.key_id == late["key_id"]).values(revoked_at=None))
    assert accounts.principal_of(late["key"]) is None


def test_a_key_bound_to_an_agent_can_only_ingest(accounts: Accounts):
    from clawtrace_api.accounts import AccountError

    tenant = accounts.create_tenant("acme")["tenant_id"]
    agent = accounts.create_agent(tenant, "bot")
    with pytest.raises(AccountError, match="only have the ingest scope"):
        accounts.create_key(tenant, "read", agent_id=agent["agent_id"])
    assert accounts.create_key(tenant, "ingest", agent_id=agent["agent_id"])["scopes"] == ["ingest"]
