"""Tracy's tools: their JSON schemas for the Messages API and one executor (`Toolbox`), which the MCP server
reuses, so a tool behaves the same whoever calls it.

- `run_cypher`: free-form read-only Cypher through the guard (`cypher_guard.run_guarded`), confined to the
  scope. A refusal or a failed query is a tool error carrying the reason, so the model can fix its query.
- `trace_card`: one trace's TraceCard from the gold table, within the scope.
- `make_chart`: an ECharts option, checked to be pure JSON data (`charts.py`); the API shows it.

No `run_sql`. The analyst SQL gate (`core/lake/analyst_sql.py`) makes every lake table a DuckDB view of all
tenants' rows and confines a query to the lake's files, not to a tenant: handing it a model's SQL would let one
tenant read another's data, or require rewriting every query with tenant filters - a second guard to keep
right. And it would add little: what Tracy needs (traces, spans, costs, errors) is in the graph, and the one
gold table outside it, `trace_cards`, has its own tool.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import orjson

from clawtrace_api.tracy.charts import ChartRefusedError, validate_chart
from clawtrace_api.tracy.scope import Scope, cut_text
from clawtrace_api.views.cards import CardReader
from clawtrace_pipelines.core.errors import InvalidIdError
from clawtrace_pipelines.core.events import check_safe_id
from clawtrace_pipelines.core.graph.client import GraphClient, GraphError
from clawtrace_pipelines.core.graph.cypher_guard import CypherRefusedError, GuardLimits, run_guarded
from clawtrace_pipelines.core.graph.queries import run as run_catalog
from clawtrace_pipelines.core.settings import Settings
from clawtrace_pipelines.core.trace_cards import render_yaml

logger = logging.getLogger(__name__)

RUN_CYPHER, TRACE_CARD, MAKE_CHART = "run_cypher", "trace_card", "make_chart"


@dataclass(frozen=True)
class ToolOutcome:
    """A tool's answer: `content` goes back to the model (cut to `tracy_tool_result_chars`), `summary` to the
    user's screen (the SSE `tool finished` event), `chart` to the viewer."""

    content: str
    is_error: bool = False
    summary: dict[str, Any] = field(default_factory=dict)
    chart: dict[str, Any] | None = None


def _json(value: Any) -> str:
    return orjson.dumps(value, default=_plain).decode()


def _plain(value: Any) -> Any:
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return str(value)


class Toolbox:
    """The tools of one question's scope, over the app's graph client and card reader."""

    def __init__(self, graph: GraphClient, settings: Settings, scope: Scope, cards: CardReader) -> None:
        self.graph = graph
        self.settings = settings
        self.scope = scope
        self.cards = cards

    def specs(self) -> list[dict[str, Any]]:
        """The tools as the Messages API takes them: name, description, input_schema."""
        within = {"tenant": "", "agent": " (of this agent only)", "trace": " (this trace only)"}[self.scope.kind]
        return [
            {
                "name": RUN_CYPHER,
                "description": "Run one read-only openCypher query on the trace graph and get its rows as JSON "
                f"(columns, rows, row_count, truncated; at most {self.settings.tracy_max_rows} rows). Pass values "
                "as parameters. A refused query comes back as an error with the reason.",
                "input_schema": {
                    "type": "object",
                    "properties": {
                        "query": {"type": "string", "description": "openCypher; values as $parameters"},
                        "params": {
                            "type": "object",
                            "description": "Parameter values by name (the scope's ids are bound already)",
                            "additionalProperties": True,
                        },
                    },
                    "required": ["query"],
                    "additionalProperties": False,
                },
            },
            {
                "name": TRACE_CARD,
                "description": f"The TraceCard of one trace{within}: totals (cost, tokens, calls, duration, "
                "models), the costliest steps, redundant tool calls, failed and repaired steps, sub-agents and "
                "context growth, as YAML.",
                "input_schema": {
                    "type": "object",
                    "properties": {"trace_id": {"type": "string", "description": "The trace's id"}},
                    "required": ["trace_id"],
                    "additionalProperties": False,
                },
            },
            {
                "name": MAKE_CHART,
                "description": "Show the user a chart. `option` is an ECharts option object with the data inline, "
                "as pure JSON: no functions, no HTML, at most 5,000 data points and 64 KiB.",
                "input_schema": {
                    "type": "object",
                    "properties": {
                        "title": {"type": "string", "description": "A short title"},
                        "option": {"type": "object", "description": "The ECharts option"},
                    },
                    "required": ["title", "option"],
                    "additionalProperties": False,
                },
            },
        ]

    def call(self, name: str, arguments: dict[str, Any]) -> ToolOutcome:
        """Run tool `name`; a bad input, a refusal or a failed query is an error outcome, never an exception.

        Raises:
            Only what a bug raises (and NotImplementedError while the Cypher guard is unwritten).
        """
        if not isinstance(arguments, dict):
            return ToolOutcome("the tool input must be a JSON object", is_error=True)
        if name == RUN_CYPHER:
            outcome = self._run_cypher(arguments.get("query"), arguments.get("params"))
        elif name == TRACE_CARD:
            outcome = self._trace_card(arguments.get("trace_id"))
        elif name == MAKE_CHART:
            outcome = self._make_chart(arguments.get("title"), arguments.get("option"))
        else:
            outcome = ToolOutcome(
                f"unknown tool {name!r}; the tools are {RUN_CYPHER}, {TRACE_CARD}, {MAKE_CHART}", True
            )
        limit = self.settings.tracy_tool_result_chars
        return ToolOutcome(cut_text(outcome.content, limit), outcome.is_error, outcome.summary, outcome.chart)

    def _run_cypher(self, query: Any, params: Any) -> ToolOutcome:
        if not isinstance(query, str) or not query.strip():
            return ToolOutcome("query must be a non-empty string", is_error=True)
        if params is not None and not isinstance(params, dict):
            return ToolOutcome("params must be a JSON object of parameter values", is_error=True)
        # The scope's ids are Tracy's, whatever the model passed for them.
        bound = {**(params or {}), **self.scope.bound_params()}
        limits = GuardLimits(max_rows=self.settings.tracy_max_rows)
        try:
            result = run_guarded(self.graph, query, self.scope.confinement(), limits, bound)
        except CypherRefusedError as exc:
            return ToolOutcome(f"query refused: {exc.reason}", True, {"query": query, "refused": exc.reason})
        except GraphError as exc:
            # GraphError messages name the engine's complaint (syntax, unknown property, timeout), no secrets.
            return ToolOutcome(f"query failed: {exc}", True, {"query": query, "error": str(exc)})
        columns = list(result.rows[0]) if result.rows else []
        body = {
            "columns": columns,
            "rows": [[row.get(c) for c in columns] for row in result.rows],
            "row_count": len(result.rows),
            "truncated": result.truncated,
        }
        summary = {"query": result.query, "rows": len(result.rows), "truncated": result.truncated}
        return ToolOutcome(_json(body), summary=summary)

    def _trace_card(self, trace_id: Any) -> ToolOutcome:
        try:
            trace_id = check_safe_id(trace_id, "trace_id")
        except InvalidIdError as exc:
            return ToolOutcome(str(exc), is_error=True)
        summary: dict[str, Any] = {"trace_id": trace_id}
        scope = self.scope
        if scope.trace_id is not None and trace_id != scope.trace_id:
            return ToolOutcome(f"this question is about trace {scope.trace_id} only", True, summary)
        try:
            rows = run_catalog(self.graph, "trace_meta", tenant_id=scope.tenant_id, trace_id=trace_id)
        except GraphError as exc:
            return ToolOutcome(f"the graph could not be read: {exc}", True, summary)
        # Out of the agent's scope reads as unknown, as another tenant's trace does.
        if not rows or (scope.agent_id is not None and rows[0]["agent_id"] != scope.agent_id):
            where = f"agent {scope.agent_id}" if scope.agent_id is not None else "this tenant"
            return ToolOutcome(f"no trace {trace_id} in {where}", True, summary)
        card = self.cards.read(scope.tenant_id, trace_id, int(rows[0]["trace_start_ts_ms"]))
        if not card:
            return ToolOutcome(
                f"trace {trace_id} has no TraceCard yet (it is built a few minutes after)", True, summary
            )
        return ToolOutcome(render_yaml(card), summary=summary)

    def _make_chart(self, title: Any, option: Any) -> ToolOutcome:
        try:
            title, option = validate_chart(title, option)
        except ChartRefusedError as exc:
            return ToolOutcome(f"chart refused: {exc}", True, {"refused": str(exc)})
        return ToolOutcome(
            f"chart {title!r} is shown to the user", summary={"title": title}, chart={"title": title, "option": option}
        )
