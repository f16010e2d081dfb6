"""A TraceCard as a document: read one row of the gold `trace_cards` table and render it as JSON or YAML.

The table keeps a card flat (scalar columns, the lists as JSON text); the document nests it the way people
read it. The API and `clawtrace card` render the same document, so their output and the measured sizes agree.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import orjson
import yaml

from clawtrace_pipelines.core.lake import LakeTable

# The columns holding JSON text, under the names the document gives them.
_LISTS = ("models", "top_cost_steps", "redundant_tool_calls", "failed_steps", "repaired_steps", "sub_agents")


def card_document(row: dict[str, Any]) -> dict[str, Any]:
    """The card of one `trace_cards` row, nested: identity, totals, then each part.

    Args:
        row: a row of the table (every column of `TRACE_CARDS`).

    Returns:
        A dict of plain JSON types (the exact decimal cost as a float, the date as YYYY-MM-DD), in reading order.
    """
    parts = {name: orjson.loads(row[name]) for name in _LISTS}
    return {
        "trace_id": row["trace_id"],
        "agent_id": row["agent_id"],
        "trace_date": _day(row["trace_date"]),
        "totals": {
            "cost_usd": _usd(row["cost_usd"]),
            "unpriced_calls": row["unpriced_calls"],
            "tokens": {
                "input": row["input_tokens"],
                "cache_read": row["cache_read_tokens"],
                "cache_write": row["cache_write_tokens"],
                "output": row["output_tokens"],
            },
            "llm_calls": row["llm_calls"],
            "tool_calls": row["tool_calls"],
            "subagent_calls": row["subagent_calls"],
            "duration_ms": row["duration_ms"],
            "models": parts["models"],
        },
        "top_cost_steps": parts["top_cost_steps"],
        "redundant_tool_calls": {
            "clusters": row["redundant_clusters"],
            "extra_calls": row["redundant_calls"],
            "listed": parts["redundant_tool_calls"],
        },
        "failed_steps": {"count": row["failed_step_count"], "listed": parts["failed_steps"]},
        "repaired_steps": {"count": row["repaired_step_count"], "listed": parts["repaired_steps"]},
        "sub_agents": parts["sub_agents"],
        "context_growth": {
            "first_llm_input_tokens": row["first_llm_input_tokens"],
            "last_llm_input_tokens": row["last_llm_input_tokens"],
            "max_jump_tokens": row["max_context_jump_tokens"],
            "max_jump_span_id": row["max_context_jump_span_id"],
        },
    }


def render_yaml(card: dict[str, Any]) -> str:
    """The card as YAML (safe_dump: plain scalars, lists and mappings only; keys in reading order).

    A mapping of scalars (a step, a cluster) is one flow-style line: the card reads like a table, and the
    indentation of block style would cost a tenth of its bytes."""
    return str(yaml.safe_dump(card, sort_keys=False, allow_unicode=True, default_flow_style=None, width=250))


def render_json(card: dict[str, Any], *, indent: bool = False) -> str:
    return orjson.dumps(card, option=orjson.OPT_INDENT_2 if indent else 0).decode()


def read_card(table: LakeTable, tenant_id: str, trace_id: str, trace_date: dt.date | None = None) -> dict[str, Any]:
    """The card document of one trace of one tenant, or {} when the table has none (yet).

    Args:
        table: the open `trace_cards` table (`open_table(TRACE_CARDS, settings)`).
        tenant_id: the caller's tenant; always a filter, so no other tenant's card of the same id is read.
        trace_id: the trace.
        trace_date: the trace's day when known: the read then opens that partition only.

    Returns:
        The document (`card_document`), or an empty dict.
    """
    filters: list[tuple[str, str, Any]] = [("tenant_id", "=", tenant_id), ("trace_id", "=", trace_id)]
    if trace_date is not None:
        filters.insert(0, ("trace_date", "=", trace_date))
    rows = table.read(filters=filters).to_pylist()
    return card_document(rows[0]) if rows else {}


def _usd(value: Decimal | float | None) -> float:
    return 0.0 if value is None else float(value)


def _day(value: dt.date | str) -> str:
    return value.isoformat() if isinstance(value, dt.date) else str(value)
