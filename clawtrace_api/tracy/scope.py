"""Whose data a question may see (`Scope`), and the one way Tracy cuts long text (`cut_text`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from clawtrace_pipelines.core.events import check_safe_id, check_uuid
from clawtrace_pipelines.core.graph.cypher_guard import Confinement


@dataclass(frozen=True)
class Scope:
    """A question's scope: always the caller's tenant; from an agent's page that agent, from a trace's page
    that trace (and its agent, when the page knows it).

    The ids are checked on construction, since they are written into the system prompt and bound as query
    parameters.
    """

    tenant_id: str
    agent_id: str | None = None
    trace_id: str | None = None

    def __post_init__(self) -> None:
        check_uuid(self.tenant_id)
        if self.agent_id is not None:
            check_safe_id(self.agent_id, "agent_id")
        if self.trace_id is not None:
            check_safe_id(self.trace_id, "trace_id")

    @property
    def kind(self) -> Literal["tenant", "agent", "trace"]:
        if self.trace_id is not None:
            return "trace"
        return "agent" if self.agent_id is not None else "tenant"

    def confinement(self) -> Confinement:
        return Confinement(tenant_id=self.tenant_id, agent_id=self.agent_id, trace_id=self.trace_id)

    def bound_params(self) -> dict[str, Any]:
        """The query parameters Tracy binds itself (a model's values for them are replaced): the scope's ids
        and the vertex keys derived from them (`tenant_id/agent_id`, `tenant_id/trace_id`, as in definition.py)."""
        params: dict[str, Any] = {"tenant_id": self.tenant_id}
        if self.agent_id is not None:
            params["agent_id"] = self.agent_id
            params["agent_key"] = f"{self.tenant_id}/{self.agent_id}"
        if self.trace_id is not None:
            params["trace_id"] = self.trace_id
            params["trace_key"] = f"{self.tenant_id}/{self.trace_id}"
        return params


def cut_text(text: str, limit: int) -> str:
    """`text` if it fits in `limit` characters, else its head and a marker saying how much was cut, the whole
    at most `limit` characters (so a model sees that it read only part, and how large the rest is)."""
    if len(text) <= limit:
        return text
    # The marker's length depends on the number it states: shrink the head until the two agree.
    keep = limit
    while True:
        marker = f"\n…[truncated: {len(text) - keep:,} more characters]"
        fits = max(limit - len(marker), 0)
        if fits == keep:
            return text[:keep] + marker
        keep = fits
