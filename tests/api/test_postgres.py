"""The API database on PostgreSQL: the same migrations, accounts and admin routes as on SQLite, unchanged."""

from __future__ import annotations

from sqlalchemy import inspect

from clawtrace_api.accounts import Accounts
from clawtrace_api.db.engine import make_engine
from clawtrace_api.keys import ObserveKey
from clawtrace_pipelines.core.settings import Settings
from tests.api.postgres_server import postgres_url
from tests.api_server import serve_app


def test_accounts_and_admin_routes_work_unchanged_on_postgresql(tmp_path):
    with postgres_url() as url:
        settings = Settings(lake=str(tmp_path / "lake"), db=url, key_cache_seconds=0)
        engine = make_engine(settings)
        assert engine.dialect.name == "postgresql"
        assert {"tenants", "agents", "api_keys", "alembic_version"} <= set(inspect(engine).get_table_names())
        make_engine(settings).dispose()  # a second start finds the schema at head and changes nothing
        accounts = Accounts(engine)
        tenant = accounts.create_tenant("acme")["tenant_id"]
        admin = accounts.create_key(tenant, "admin,read")["key"]
        with serve_app(settings) as api, api.client(admin) as c:
            created = c.post("/v1/agents", json={"name": "bot"}).json()
            assert ObserveKey.decode(created["observe_key"]).tenant_id == tenant
            assert accounts.principal_of(created["api_key"]).agent_id == created["agent_id"]
            assert c.delete(f"/v1/agents/{created['agent_id']}").json()["keys_revoked"] == 1
            assert accounts.principal_of(created["api_key"]) is None
            assert [k["scopes"] for k in c.get("/v1/keys").json()["keys"] if k["revoked_at"] is None] == [
                ["admin", "read"]
            ]
        engine.dispose()
