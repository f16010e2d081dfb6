"""Tracy's tools over a real lake: trace_card within the scope, run_cypher through the guard, truncation."""

from __future__ import annotations

import json
from typing import Any

import pytest

from clawtrace_api.tracy import tools
from clawtrace_api.tracy.scope import Scope
from clawtrace_pipelines.core.graph.cypher_guard import CypherRefusedError, GuardedResult
from clawtrace_pipelines.core.graph.queries import QUERIES, run
from clawtrace_pipelines.core.trace_cards import read_card, render_yaml
from tests.api.reads_lake import B_ONLY_TRACE, TENANT_B
from tests.api.tracy.conftest import TracyLake


def _card_yaml(tracy_lake: TracyLake, tenant: str, trace_id: str) -> str:
    return render_yaml(read_card(tracy_lake.cards._table, tenant, trace_id))


def test_trace_card_is_the_lake_card_as_yaml(tracy_lake: TracyLake):
    trace_id, _ = tracy_lake.traces[0]
    outcome = tracy_lake.toolbox().call("trace_card", {"trace_id": trace_id})
    assert not outcome.is_error
    assert outcome.content == _card_yaml(tracy_lake, tracy_lake.tenant, trace_id)
    assert outcome.summary == {"trace_id": trace_id}
    assert outcome.chart is None


def test_trace_card_keeps_to_the_trace_of_a_trace_scope(tracy_lake: TracyLake):
    (mine, agent), (other, _) = tracy_lake.traces[:2]
    toolbox = tracy_lake.toolbox(Scope(tracy_lake.tenant, agent, mine))
    assert not toolbox.call("trace_card", {"trace_id": mine}).is_error
    refused = toolbox.call("trace_card", {"trace_id": other})
    assert refused.is_error and mine in refused.content and "only" in refused.content


def test_trace_card_sees_only_the_agents_traces_in_an_agent_scope(tracy_lake: TracyLake):
    mine, agent = tracy_lake.traces[0]
    toolbox = tracy_lake.toolbox(Scope(tracy_lake.tenant, agent))
    assert not toolbox.call("trace_card", {"trace_id": mine}).is_error
    other = toolbox.call("trace_card", {"trace_id": tracy_lake.trace_of_other_agent(agent)})
    assert other.is_error and f"agent {agent}" in other.content


def test_trace_card_does_not_see_another_tenants_trace(tracy_lake: TracyLake):
    outcome = tracy_lake.toolbox().call("trace_card", {"trace_id": B_ONLY_TRACE})
    assert outcome.is_error and "no trace" in outcome.content
    # The twin tenant holds the same trace ids with other data: tenant A is always read.
    trace_id, _ = tracy_lake.traces[0]
    assert tracy_lake.toolbox().call("trace_card", {"trace_id": trace_id}).content != _card_yaml(
        tracy_lake, TENANT_B, trace_id
    )


@pytest.mark.parametrize("arguments", [{}, {"trace_id": ""}, {"trace_id": "../x"}, {"trace_id": 7}])
def test_a_malformed_trace_id_is_a_tool_error(tracy_lake: TracyLake, arguments: dict[str, Any]):
    assert tracy_lake.toolbox().call("trace_card", arguments).is_error


def test_an_unknown_tool_is_a_tool_error_naming_the_tools(tracy_lake: TracyLake):
    outcome = tracy_lake.toolbox().call("run_sql", {"sql": "select 1"})
    assert outcome.is_error and "run_cypher" in outcome.content


def test_a_long_result_is_cut_with_a_marker(tracy_lake: TracyLake):
    trace_id, _ = tracy_lake.traces[0]
    full = _card_yaml(tracy_lake, tracy_lake.tenant, trace_id)
    assert len(full) > 1000
    outcome = tracy_lake.toolbox(tracy_tool_result_chars=1000).call("trace_card", {"trace_id": trace_id})
    assert len(outcome.content) <= 1000
    head, marker = outcome.content.rsplit("\n", 1)
    assert full.startswith(head)
    assert marker == f"…[truncated: {len(full) - len(head):,} more characters]"


def test_run_cypher_answers_rows_as_json_through_the_guard(tracy_lake: TracyLake):
    # Needs the guard (cypher_guard.run_guarded, issue 12): until it lands this fails with NotImplementedError.
    query = QUERIES["agents_of_tenant"].cypher
    outcome = tracy_lake.toolbox().call("run_cypher", {"query": query})
    assert not outcome.is_error, outcome.content
    expected = run(tracy_lake.graph, "agents_of_tenant", tenant_id=tracy_lake.tenant)
    body = json.loads(outcome.content)
    assert body["columns"] == list(expected[0])
    assert body["rows"] == [list(row.values()) for row in expected]
    assert body["row_count"] == len(expected) and body["truncated"] is False
    # The guard may rewrite the query (a LIMIT added): the summary shows the one that ran.
    assert outcome.summary["rows"] == len(expected) and outcome.summary["truncated"] is False


def test_run_cypher_refuses_a_write_with_the_guards_reason(tracy_lake: TracyLake):
    # Needs the guard (issue 12), as above.
    outcome = tracy_lake.toolbox().call("run_cypher", {"query": "MATCH (t:Trace) DETACH DELETE t"})
    assert outcome.is_error and outcome.content.startswith("query refused: ")
    assert outcome.summary["refused"]


class _Guard:
    """Stands in for the guard to pin what the toolbox hands it and how it maps what it answers."""

    def __init__(self, answer: GuardedResult | Exception) -> None:
        self.answer = answer
        self.calls: list[dict[str, Any]] = []

    def __call__(self, client, query, confinement, limits=None, params=None) -> GuardedResult:
        self.calls.append({"query": query, "confinement": confinement, "limits": limits, "params": params})
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def test_run_cypher_confines_to_the_scope_and_binds_its_ids_over_the_models(tracy_lake, monkeypatch):
    guard = _Guard(GuardedResult(rows=[{"n": 1, "day": None}], truncated=True, query="q"))
    monkeypatch.setattr(tools, "run_guarded", guard)
    trace_id, agent = tracy_lake.traces[0]
    toolbox = tracy_lake.toolbox(Scope(tracy_lake.tenant, agent, trace_id), tracy_max_rows=7)
    params = {"tenant_id": TENANT_B, "trace_key": f"{TENANT_B}/x", "limit": 5}
    outcome = toolbox.call("run_cypher", {"query": "q", "params": params})
    (call,) = guard.calls
    assert call["confinement"] == toolbox.scope.confinement()
    assert call["limits"].max_rows == 7
    assert call["params"] == {**toolbox.scope.bound_params(), "limit": 5}
    assert call["params"]["tenant_id"] == tracy_lake.tenant
    assert json.loads(outcome.content) == {
        "columns": ["n", "day"],
        "rows": [[1, None]],
        "row_count": 1,
        "truncated": True,
    }


def test_run_cypher_hands_a_refusal_back_to_the_model(tracy_lake, monkeypatch):
    monkeypatch.setattr(tools, "run_guarded", _Guard(CypherRefusedError("writes are not allowed: DELETE")))
    outcome = tracy_lake.toolbox().call("run_cypher", {"query": "MATCH (n) DELETE n"})
    assert outcome.is_error and outcome.content == "query refused: writes are not allowed: DELETE"


@pytest.mark.parametrize("arguments", [{}, {"query": "  "}, {"query": "MATCH (n) RETURN n", "params": [1]}])
def test_run_cypher_checks_its_input_before_the_guard(tracy_lake, monkeypatch, arguments):
    guard = _Guard(AssertionError("not reached"))
    monkeypatch.setattr(tools, "run_guarded", guard)
    assert tracy_lake.toolbox().call("run_cypher", arguments).is_error
    assert guard.calls == []
