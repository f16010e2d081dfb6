"""The web UI's sign-in over real HTTP: a read key becomes an HttpOnly, SameSite=Strict cookie that acts as
the key (and only while the key lives), a cookie-borne change needs the UI header, sign-out ends it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx2 as httpx
from sqlalchemy import update

from clawtrace_api.accounts import Accounts
from clawtrace_api.db.models import UiSession
from clawtrace_api.keys import key_hash
from tests.api_server import Running

UI = {"x-clawtrace-ui": "1"}


def _tenant_with_keys(accounts: Accounts) -> tuple[str, dict[str, str]]:
    tenant = accounts.create_tenant("ui")["tenant_id"]
    agent = accounts.create_agent(tenant, "bot")["agent_id"]
    keys = {
        "read": accounts.create_key(tenant, "read")["key"],
        "ingest": accounts.create_key(tenant, "ingest", agent_id=agent)["key"],
    }
    return tenant, keys


def _sign_in(api: Running, key: str) -> httpx.Client:
    client = api.client()
    answer = client.post("/v1/ui/session", json={"key": key}, headers=UI)
    assert answer.status_code == 200, answer.text
    return client


def test_sign_in_sets_an_httponly_strict_cookie_that_reads_as_the_key(api: Running, accounts: Accounts) -> None:
    tenant, keys = _tenant_with_keys(accounts)
    client = api.client()
    answer = client.post("/v1/ui/session", json={"key": keys["read"]}, headers=UI)
    assert answer.status_code == 200
    assert answer.json()["tenant_id"] == tenant and answer.json()["scopes"] == ["read"]
    assert keys["read"] not in answer.text
    cookie = answer.headers["set-cookie"].lower()
    assert cookie.startswith("ct_session=ct_ui_")
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/" in cookie
    assert "secure" not in cookie  # plain HTTP on 127.0.0.1: a Secure cookie would never come back
    who = client.get("/v1/ui/session")
    assert who.status_code == 200 and who.json()["tenant_id"] == tenant
    assert client.get("/v1/billing/balance").status_code != 401


def test_without_a_cookie_or_key_the_page_is_not_signed_in(api: Running) -> None:
    answer = api.client().get("/v1/ui/session")
    assert answer.status_code == 401
    assert answer.headers["content-type"].startswith("application/problem+json")


def test_sign_in_refuses_bad_keys_and_keys_without_read(api: Running, accounts: Accounts) -> None:
    _, keys = _tenant_with_keys(accounts)
    client = api.client()
    unknown = client.post("/v1/ui/session", json={"key": "ct_live_" + "x" * 43}, headers=UI)
    assert unknown.status_code == 401 and "set-cookie" not in unknown.headers
    ingest_only = client.post("/v1/ui/session", json={"key": keys["ingest"]}, headers=UI)
    assert ingest_only.status_code == 403 and "read" in ingest_only.json()["detail"]
    # A UI token is not a key: it cannot be exchanged for another session.
    signed = _sign_in(api, keys["read"])
    token = signed.cookies["ct_session"]
    assert client.post("/v1/ui/session", json={"key": token}, headers=UI).status_code == 401
    # Without the UI header (a cross-site form could post the key) nothing is set.
    bare = client.post("/v1/ui/session", json={"key": keys["read"]})
    assert bare.status_code == 403 and "set-cookie" not in bare.headers
    assert client.post("/v1/ui/session", json={}, headers=UI).status_code == 422


def test_a_cookie_borne_change_needs_the_ui_header(api: Running, accounts: Accounts) -> None:
    _, keys = _tenant_with_keys(accounts)
    client = _sign_in(api, keys["read"])
    body = {"question": "hi"}
    refused = client.post("/v1/tracy/chat", json=body)
    assert refused.status_code == 403 and "x-clawtrace-ui" in refused.json()["detail"]
    # With the header the request gets past authentication (Tracy is not configured here: 503).
    assert client.post("/v1/tracy/chat", json=body, headers=UI).status_code == 503


def test_sign_out_ends_the_session_even_for_a_kept_cookie(api: Running, accounts: Accounts) -> None:
    _, keys = _tenant_with_keys(accounts)
    client = _sign_in(api, keys["read"])
    token = client.cookies["ct_session"]
    out = client.delete("/v1/ui/session", headers=UI)
    assert out.status_code == 204
    assert 'ct_session=""' in out.headers["set-cookie"] or "max-age=0" in out.headers["set-cookie"].lower()
    replay = api.client()
    replay.cookies.set("ct_session", token)
    assert replay.get("/v1/ui/session").status_code == 401


def test_revoking_the_key_or_expiry_ends_its_sessions(api: Running, accounts: Accounts) -> None:
    tenant, keys = _tenant_with_keys(accounts)
    first = _sign_in(api, keys["read"])
    second = _sign_in(api, keys["read"])
    key_id = next(k["key_id"] for k in accounts.list_keys(tenant) if "read" in k["scopes"])
    with accounts._sessions.begin() as s:  # noqa: SLF001 - the test ages one session by hand
        s.execute(
            update(UiSession)
            .where(UiSession.token_hash == key_hash(second.cookies["ct_session"]))
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    assert first.get("/v1/ui/session").status_code == 200
    assert second.get("/v1/ui/session").status_code == 401
    accounts.revoke_key(key_id)
    assert first.get("/v1/ui/session").status_code == 401


def test_a_bearer_key_wins_over_a_cookie(api: Running, accounts: Accounts) -> None:
    _, keys = _tenant_with_keys(accounts)
    other_tenant, other_keys = _tenant_with_keys(accounts)
    client = _sign_in(api, keys["read"])
    who = client.get("/v1/ui/session", headers={"authorization": f"Bearer {other_keys['read']}"})
    assert who.json()["tenant_id"] == other_tenant
