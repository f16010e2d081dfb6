"""The guard of free-form Cypher (Tracy's `run_cypher`, the MCP tool).

A query from a model or an outside agent is parsed with a real openCypher parser (graphglot), allowed only if
it reads, confined to the caller (tenant, and an agent or a trace when asked from that page), and run with a
row cap and a timeout.

Isolation does not rest on the checks alone. The embedded engine opens only the tenant's snapshot, and
PuppyGraph is reached as the tenant's row-level-security user (`puppygraph.puppygraph_user`). On a Bolt server
without either (FalkorDB in tests, Neo4j, Memgraph) the rewrite is what confines: every node pattern anywhere
in the query gets `tenant_id: $__tenant` (and `agent_id: $__agent`, `trace_id: $__trace` when scoped; the
scoped Agent or Trace itself by its key, `agent_key`/`trace_key`) in its property map, see `cypher_rewrite.py`.
Edges never cross tenants (their keys contain the tenant), so confining every node confines every edge and
every hop of a variable-length pattern to the tenant.

Agent and trace scopes are narrower than what edges guarantee: a variable-length pattern between two nodes of
agent A may pass through the Tenant and another agent's nodes. Its end nodes are confined; the nodes inside it
are reachable only through a named path or nodes(), relationships(), startNode() and endNode(), so a scoped
query may use none of them.

Limits: `GuardLimits.max_chars` and `max_depth` (brackets) are checked on the tokens before the parser runs;
`max_rows` clamps or adds the LIMIT of every final RETURN to `max_rows + 1` and the rows are cut to
`max_rows` (`truncated` says so). The time cap is the client's own (`ClientOptions.timeout_s`): the API builds
a dedicated client for Tracy with a short timeout, and a row limit of at least `max_rows + 1` per UNION branch
(a smaller client limit raises `GraphResultTooLargeError`).
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from clawtrace_pipelines.core.errors import InvalidIdError
from clawtrace_pipelines.core.events import check_safe_id, check_uuid
from clawtrace_pipelines.core.graph.client import GraphClient, GraphQueryError, Row
from clawtrace_pipelines.core.graph.cypher_functions import (
    ALLOWED,
    PATH_FUNCTIONS,
    REFUSED,
    REFUSED_WORDS,
    function_refusal,
)
from clawtrace_pipelines.core.graph.cypher_parse import parse, tokenize
from clawtrace_pipelines.core.graph.cypher_rewrite import (
    AGENT_KEY_PARAM,
    AGENT_PARAM,
    TENANT_PARAM,
    TRACE_KEY_PARAM,
    TRACE_PARAM,
    Edit,
    RewriteRefused,
    Scope,
    TokenIndex,
    cap_rows,
    confine_node,
    final_returns,
    render,
    spans_of_the_trace,
    walk,
)
from clawtrace_pipelines.core.graph.cypher_shapes import ShapeCache, plan_for, shape_of

_PARAM_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")
# Distinct query texts whose confined form is kept (at most max_chars each), and distinct shapes.
PLAN_CACHE_SIZE = 512
SHAPES = ShapeCache(PLAN_CACHE_SIZE)
# Whether a text may reuse the plan of its shape; tests/unit/test_cypher_shapes.py turns it off to compare.
SHAPE_PLANS = True


@dataclass(frozen=True)
class Confinement:
    """Whose data a query may see: always one tenant; within it, optionally one agent or one trace."""

    tenant_id: str
    agent_id: str | None = None
    trace_id: str | None = None


@dataclass(frozen=True)
class GuardLimits:
    """Bounds on a query: its length, its bracket nesting, the rows returned, the size of its parameters
    (FalkorDB pastes parameters into a 4 KB buffer and crashes past it, see tests/graph_server.py), and the
    parser's work."""

    max_chars: int = 20_000
    max_depth: int = 64
    max_rows: int = 500
    max_param_chars: int = 2_000
    # Backtracking attempts of graphglot's parser (0.5 s to a few s of CPU without the memos of cypher_memo.py,
    # which count the same steps): well-formed queries need 20 to 50 per token (a 3,000-character RETURN list:
    # 24,000), some short malformed ones millions.
    max_parse_steps: int = 50_000


@dataclass(frozen=True)
class GuardedResult:
    """The rows (at most `max_rows`), whether more were cut, and the text and parameters that ran."""

    rows: list[Row]
    truncated: bool
    query: str
    params: dict[str, Any] = field(default_factory=dict)


class CypherRefusedError(GraphQueryError):
    """The guard refused the query before it ran; `reason` says why in words a model can act on."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def confine(
    query: str,
    confinement: Confinement,
    limits: GuardLimits | None = None,
    params: Mapping[str, Any] | None = None,
) -> tuple[str, dict[str, Any]]:
    """The text and parameters `run_guarded` sends for `query`: checked, confined and row-capped, unrun.

    Raises:
        CypherRefusedError: the query or its parameters are refused (the reason says why).
    """
    limits = limits or GuardLimits()
    given = params or {}
    bound = _bound_params(confinement, given, limits)
    if len(query) > limits.max_chars:
        raise CypherRefusedError(f"the query has {len(query)} characters; at most {limits.max_chars} are allowed")
    scope = Scope(agent=confinement.agent_id is not None, trace=confinement.trace_id is not None)
    text, limit_params = _plan(query, scope, limits)
    for reserved, name in limit_params:
        value = given.get(name)
        if not isinstance(value, int) or isinstance(value, bool):
            raise CypherRefusedError(f"LIMIT ${name} needs an integer parameter {name!r}")
        bound[reserved] = max(0, min(value, limits.max_rows + 1))
    return text, bound


# The confined text depends on the query, the scope's shape and the limits, never on the parameters' values
# (the tenant, agent and trace travel as parameters), so models repeating a query skip graphglot's parse,
# which is most of the guard's time (bench/cypher_guard.py); a text that differs only in its literals reuses
# the edits of its shape (cypher_shapes.py). Refusals are not cached (they raise).
@functools.lru_cache(maxsize=PLAN_CACHE_SIZE)
def _plan(query: str, scope: Scope, limits: GuardLimits) -> tuple[str, tuple[tuple[str, str], ...]]:
    """The confined, row-capped text of `query` and its `LIMIT $p` rebindings; raises CypherRefusedError."""
    try:
        tokens = tokenize(query, limits.max_depth)
        key = (shape_of(query, tokens), scope, limits)
        plan = SHAPES.get(key, query, tokens) if SHAPE_PLANS else None
        if plan is None:
            programs = parse(tokens, query, limits.max_parse_steps)
            if len(programs) != 1:
                raise RewriteRefused("send exactly one query (no ';' between statements)")
            edits, limit_params = _edits(programs[0], TokenIndex(tokens), scope, limits)
            plan = plan_for(query, tokens, edits, limit_params)
            SHAPES.put(key, plan)
        return render(query, tokens, list(plan.edits)), plan.limit_params
    except RewriteRefused as exc:
        raise CypherRefusedError(str(exc)) from None


def clear_plans() -> None:
    """Forget every plan, by text and by shape: the next text of each is parsed (tests and benches)."""
    _plan.cache_clear()
    SHAPES.clear()


def run_guarded(
    client: GraphClient,
    query: str,
    confinement: Confinement,
    limits: GuardLimits | None = None,
    params: Mapping[str, Any] | None = None,
) -> GuardedResult:
    """Check, confine and run `query` (see the module docstring).

    Args:
        client: the engine; its `ClientOptions.timeout_s` is the query's time cap.
        query: one openCypher read query, as a model wrote it.
        confinement: the caller's tenant, and optionally the agent or trace the query is limited to.
        limits: length, nesting, row and parameter bounds (defaults if None).
        params: the query's own parameters: names without a leading `__` and other than `tenant_id` (which
            the guard binds to the caller's tenant), values JSON scalars or lists of them.

    Returns:
        At most `limits.max_rows` rows, `truncated` when more were cut, and the text and parameters that ran.

    Raises:
        CypherRefusedError: refused before running (the reason says why).
        GraphQueryError, GraphTimeoutError, GraphResultTooLargeError, GraphUnavailableError: from the client.
    """
    limits = limits or GuardLimits()
    text, bound = confine(query, confinement, limits, params)
    rows = client.run(text, bound)
    return GuardedResult(rows[: limits.max_rows], len(rows) > limits.max_rows, text, bound)


def _bound_params(confinement: Confinement, params: Mapping[str, Any], limits: GuardLimits) -> dict[str, Any]:
    try:
        tenant = check_uuid(confinement.tenant_id, "tenant_id")
        agent = None if confinement.agent_id is None else check_safe_id(confinement.agent_id, "agent_id")
        trace = None if confinement.trace_id is None else check_safe_id(confinement.trace_id, "trace_id")
    except InvalidIdError as exc:
        raise CypherRefusedError(f"bad confinement: {exc}") from None
    if any("'" in v or "\\" in v for v in (agent or "", trace or "")):
        raise CypherRefusedError("bad confinement: an id with ' or \\ cannot travel as a FalkorDB parameter")
    size = 0
    for name, value in params.items():
        if not isinstance(name, str) or not _PARAM_NAME.fullmatch(name):
            raise CypherRefusedError(f"parameter name {name!r}: use letters, digits and '_', starting with a letter")
        if name == "tenant_id":
            raise CypherRefusedError("do not pass tenant_id: the guard binds $tenant_id to your tenant itself")
        size += len(name) + _value_size(name, value)
    if size > limits.max_param_chars:
        raise CypherRefusedError(f"parameters total {size} characters; at most {limits.max_param_chars}")
    bound = {**params, "tenant_id": tenant, TENANT_PARAM: tenant}
    # Keys as definition.py builds them; ids cannot contain '/', so a key names one vertex of this tenant.
    if agent is not None:
        bound[AGENT_PARAM], bound[AGENT_KEY_PARAM] = agent, f"{tenant}/{agent}"
    if trace is not None:
        bound[TRACE_PARAM], bound[TRACE_KEY_PARAM] = trace, f"{tenant}/{trace}"
    return bound


def _value_size(name: str, value: Any, depth: int = 0) -> int:
    """The characters a parameter value takes, refusing anything but JSON scalars and (nested) lists."""
    if value is None or isinstance(value, bool):
        return 5
    if isinstance(value, int):
        return len(str(value))
    if isinstance(value, float):
        if not math.isfinite(value):
            raise CypherRefusedError(f"parameter {name!r}: numbers must be finite")
        return len(repr(value))
    if isinstance(value, str):
        if "'" in value or "\\" in value:
            # FalkorDB's Bolt layer pastes parameters unescaped into the query text (tests/graph_server.py):
            # there a quote or a backslash in a value is syntax, not data.
            raise CypherRefusedError(f"parameter {name!r}: string values may not contain ' or \\")
        return len(value) + 2
    if isinstance(value, list) and depth < 4:
        return 2 + sum(_value_size(name, v, depth + 1) + 1 for v in value)
    raise CypherRefusedError(f"parameter {name!r}: values must be strings, numbers, booleans, null or lists of them")


def _edits(
    program: Any, index: TokenIndex, scope: Scope, limits: GuardLimits
) -> tuple[list[Edit], tuple[tuple[str, str], ...]]:
    edits: list[Edit] = []
    scoped = scope.agent or scope.trace
    in_trace = spans_of_the_trace(program) if scope.trace else set()
    for node, _ in walk(program):
        name = type(node).__name__
        if name in REFUSED:
            raise RewriteRefused(REFUSED[name])
        if name == "Anonymous":
            raise RewriteRefused(function_refusal(str(node.name)))
        if name in PATH_FUNCTIONS:
            if scoped:
                raise RewriteRefused(
                    f"{PATH_FUNCTIONS[name]} is not allowed in a query confined to one agent or trace: the "
                    "nodes inside a path may lie outside it; return the end nodes' properties instead"
                )
            continue
        if name not in ALLOWED:
            raise RewriteRefused(f"unsupported construct ({name}); {REFUSED_WORDS['CREATE'].split(': ', 1)[1]}")
        if name == "NodePattern":
            edits.append(confine_node(node, index, scope, id(node) in in_trace))
    results = final_returns(program)
    if not results:
        raise RewriteRefused("end the query with RETURN")
    limit_params: list[tuple[str, str]] = []
    for number, result in enumerate(results):
        edit, rebinding = cap_rows(result, index, limits.max_rows + 1, number)
        edits.append(edit)
        if rebinding is not None:
            limit_params.append(rebinding)
    return edits, tuple(limit_params)
