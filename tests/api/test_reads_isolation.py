"""Tenant isolation, as a property: tenants A and B hold the same agent, trace and span ids with different
data (B is A's traffic with every third event left out, plus a trace only B has). For random endpoints and
ids, a key only ever returns its own tenant's numbers, and another tenant's id gets exactly the 404 an id
that exists nowhere gets."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clawtrace_api.accounts import Accounts
from clawtrace_api.db.engine import make_engine
from tests.api.reads_lake import (
    B_ONLY_SESSION,
    B_ONLY_SPAN,
    B_ONLY_TRACE,
    TENANT_B,
    WINDOW,
    ReadsLake,
    build,
    read_keys,
    silver_spans,
    silver_traces,
)
from tests.api_server import serve_app

NOWHERE = ("no-such-trace", "0000", "agent:nobody:main")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    lake: ReadsLake = build(tmp_path_factory.mktemp("isolation"))
    engine = make_engine(lake.settings)
    accounts = Accounts(engine)
    keys = read_keys(lake, accounts)
    silver = {
        tenant: {
            "traces": {t["trace_id"]: t for t in silver_traces(lake.settings, tenant)},
            "spans": {(s["trace_id"], s["span_id"]): s for s in silver_spans(lake.settings, tenant)},
        }
        for tenant in keys
    }
    with serve_app(lake.settings) as api:
        clients = {tenant: api.client(key) for tenant, key in keys.items()}
        yield {"lake": lake, "clients": clients, "silver": silver}
        for c in clients.values():
            c.close()
    engine.dispose()


def _ids(world: dict[str, Any]) -> list[tuple[str, str]]:
    """(trace id, span id) of both tenants, colliding ones first, and of nobody."""
    both = sorted(set().union(*(w["spans"] for w in world["silver"].values())))
    return [*both, (B_ONLY_TRACE, B_ONLY_SPAN), (NOWHERE[0], NOWHERE[1])]


_ENDPOINTS = ("detail", "tree", "graph", "timeline", "span", "session", "list")


def _path(endpoint: str, trace: str, span: str, session: str) -> tuple[str, dict[str, Any]]:
    return {
        "detail": (f"/v1/traces/{trace}", {}),
        "tree": (f"/v1/traces/{trace}/tree", {}),
        "graph": (f"/v1/traces/{trace}/graph", {}),
        "timeline": (f"/v1/traces/{trace}/timeline", {}),
        "span": (f"/v1/spans/{span}", {"trace_id": trace}),
        "session": (f"/v1/sessions/{session}", {}),
        "list": ("/v1/traces", {**WINDOW, "limit": 500}),
    }[endpoint]


def _not_found_body(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != "instance"}


@settings(max_examples=80, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_a_key_sees_only_its_tenant_and_other_tenants_ids_are_unknown_alike(world, data):
    tenant = data.draw(st.sampled_from(sorted(world["clients"])), label="tenant")
    endpoint = data.draw(st.sampled_from(_ENDPOINTS), label="endpoint")
    trace, span = data.draw(st.sampled_from(_ids(world)), label="ids")
    own = world["silver"][tenant]
    row = own["traces"].get(trace)
    session = (
        row["session_key"]
        if row and row["session_key"]
        else data.draw(st.sampled_from([B_ONLY_SESSION, NOWHERE[2]]), label="session")
    )
    client = world["clients"][tenant]
    path, params = _path(endpoint, trace, span, session)
    r = client.get(path, params=params)
    exists = {
        "detail": row is not None,
        "tree": row is not None,
        "graph": row is not None,
        "timeline": row is not None,
        "span": (trace, span) in own["spans"],
        "session": any(t["session_key"] == session for t in own["traces"].values()),
        "list": True,
    }[endpoint]
    if not exists:
        assert r.status_code == 404, (tenant, endpoint, trace, r.text)
        nowhere_path, nowhere_params = _path(endpoint, NOWHERE[0], NOWHERE[1], NOWHERE[2])
        nowhere = client.get(nowhere_path, params=nowhere_params)
        assert nowhere.status_code == 404
        assert _not_found_body(r.json()) == _not_found_body(nowhere.json())
        assert r.headers["content-type"] == nowhere.headers["content-type"]
        return
    assert r.status_code == 200, r.text
    body = r.json()
    if endpoint == "list":
        assert {t["trace_id"]: t["total_tokens"] for t in body["traces"]} == {
            k: v["total_tokens"] for k, v in own["traces"].items()
        }
    elif endpoint == "detail":
        assert body["meta"]["total_tokens"] == row["total_tokens"]
        assert body["meta"]["event_count"] == row["event_count"]
        assert {s["span_id"] for s in body["spans"]} == {s for t, s in own["spans"] if t == trace}
    elif endpoint == "span":
        mine = own["spans"][(trace, span)]
        assert body["total_tokens"] == mine["total_tokens"] and body["event_count"] == mine["event_count"]
        assert body["input_payload"]["bytes"] == len((mine["input_payload"] or "").encode())
    elif endpoint == "session":
        assert {t["trace_id"] for t in body["traces"]} == {
            k for k, v in own["traces"].items() if v["session_key"] == session
        }
    else:
        spans = {s for t, s in own["spans"] if t == trace}
        if endpoint == "tree":
            assert body["spans"] == len(spans)
        elif endpoint == "timeline":
            assert {b["span_id"] for b in body["bars"]} == spans
        else:
            assert sum(n["invocations"] for n in body["nodes"]) == len(spans)


def test_the_twin_really_differs_from_the_original(world):
    """Guard of the property: colliding ids with other numbers, so a leak would change answers."""
    a, b = (world["silver"][t]["traces"] for t in (world["lake"].tenant_a, TENANT_B))
    shared = set(a) & set(b)
    assert len(shared) >= 5
    assert sum(a[t]["event_count"] != b[t]["event_count"] for t in shared) >= len(shared) // 2
    assert B_ONLY_TRACE in b and B_ONLY_TRACE not in a
