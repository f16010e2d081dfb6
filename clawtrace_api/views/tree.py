"""A trace's spans nested into its execution path, with each subtree's cost summed bottom-up."""

from __future__ import annotations

from collections import defaultdict

from clawtrace_api.schemas import SpanRow
from clawtrace_api.schemas_views import TokenCounts, TreeNode


def tokens(span: SpanRow) -> TokenCounts:
    return TokenCounts(
        input=span.input_tokens,
        output=span.output_tokens,
        cache_read=span.cache_read_tokens,
        cache_write=span.cache_write_tokens,
        total=span.total_tokens,
    )


def children_of(spans: list[SpanRow]) -> tuple[list[str], dict[str, list[str]]]:
    """The roots (in start order) and each span's children (in start order) of a trace.

    A span whose parent is not in the trace is a root (collectors lose events). Parent links that form a
    cycle (bad data) are cut where the walk first meets them, so every span appears exactly once.
    """
    order = sorted(spans, key=lambda s: (s.span_start_ts_ms, s.span_id))
    ids = {s.span_id for s in order}
    kids: dict[str, list[str]] = defaultdict(list)
    roots: list[str] = []
    for s in order:
        parent = s.parent_span_id
        if parent is None or parent not in ids or parent == s.span_id:
            roots.append(s.span_id)
        else:
            kids[parent].append(s.span_id)
    # Session roots first: the trace's own root leads, detached spans follow.
    by_id = {s.span_id: s for s in order}
    roots.sort(key=lambda i: (by_id[i].actor_type != "session", by_id[i].span_start_ts_ms, i))
    seen: set[str] = set()
    reached: list[str] = []
    for root in roots:
        _walk(root, kids, seen, reached)
    for s in order:
        if s.span_id not in seen:
            # Only spans on a cycle are left: the first met becomes a root, its parent link cut.
            for parent_kids in kids.values():
                if s.span_id in parent_kids:
                    parent_kids.remove(s.span_id)
            roots.append(s.span_id)
            _walk(s.span_id, kids, seen, reached)
    return roots, kids


def _walk(start: str, kids: dict[str, list[str]], seen: set[str], reached: list[str]) -> None:
    stack = [start]
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        reached.append(node)
        kept = [k for k in kids.get(node, []) if k not in seen]
        kids[node] = kept
        stack.extend(reversed(kept))


def build_tree(spans: list[SpanRow]) -> list[TreeNode]:
    """The roots of the trace, each with its children nested, in start order."""
    by_id = {s.span_id: s for s in spans}
    roots, kids = children_of(spans)
    built: dict[str, TreeNode] = {}
    # Post-order without recursion: a deep (or hostile) parent chain cannot exhaust the stack.
    for root in roots:
        stack: list[tuple[str, bool]] = [(root, False)]
        while stack:
            node, expanded = stack.pop()
            if not expanded:
                stack.append((node, True))
                stack.extend((k, False) for k in kids.get(node, []))
                continue
            span = by_id[node]
            children = [built[k] for k in kids.get(node, [])]
            own = span.cost_usd if span.cost_known else None
            built[node] = TreeNode(
                span_id=span.span_id,
                kind=span.actor_type,
                label=span.actor_label,
                model=span.model,
                tool_name=span.tool_name,
                start_ts_ms=span.span_start_ts_ms,
                duration_ms=span.duration_ms,
                tokens=tokens(span),
                cost_usd=own,
                subtree_cost_usd=(own or 0.0) + sum(c.subtree_cost_usd for c in children),
                subtree_unpriced_calls=int(not span.cost_known) + sum(c.subtree_unpriced_calls for c in children),
                has_error=span.has_error,
                error_message=span.error_message,
                children=children,
            )
    return [built[r] for r in roots]
