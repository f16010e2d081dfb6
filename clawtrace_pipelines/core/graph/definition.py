"""The product graph, defined once: Tenant -[HAS_AGENT]-> Agent -[OWNS]-> Trace -[HAS_SPAN]-> Span, and
Span -[CHILD_OF]-> Span, each vertex and edge drawn from one silver table.

Everything graph-shaped is generated from this module: the PuppyGraph schema (`puppygraph.py`), the embedded
engine's tables and projection, the FalkorDB test fixture. Vertex ids are single key columns that include the
tenant (`pg_traces.trace_key` = `tenant_id/trace_id`), because collectors choose trace and span ids and two
tenants may send the same ones. Every key is also an attribute, so queries filter on `t.trace_key` or
`t.trace_id` and never need `id()` or `elementId()`.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from clawtrace_pipelines.core.tables import PG_AGENTS, PG_CHILD_OF_EDGES, PG_SPANS, PG_TENANTS, PG_TRACES, TableSpec

# Graph property types, named as PuppyGraph names them; the engines map them to their own.
STRING, LONG, INT, DOUBLE, BOOLEAN, DATE = "String", "Long", "Int", "Double", "Boolean", "Date"


def graph_type(arrow_type: pa.DataType) -> str:
    """The graph property type of an Arrow column type (decimals become Double: Cypher has no decimal)."""
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return STRING
    if pa.types.is_int64(arrow_type):
        return LONG
    if pa.types.is_integer(arrow_type):
        return INT
    if pa.types.is_floating(arrow_type) or pa.types.is_decimal(arrow_type):
        return DOUBLE
    if pa.types.is_boolean(arrow_type):
        return BOOLEAN
    if pa.types.is_date(arrow_type):
        return DATE
    raise TypeError(f"no graph type for Arrow type {arrow_type}")


@dataclass(frozen=True)
class Property:
    """A vertex or edge property: its name in the graph, the table column it reads, its graph type.

    `embedded` False keeps a property out of the embedded engine's copy: span payloads are 60% of a graph's
    bytes and no graph query reads them; PuppyGraph serves them zero-copy from the lake, and the API reads
    them from `pg_spans` for the one trace it shows.
    """

    name: str
    column: str
    type: str
    embedded: bool = True


@dataclass(frozen=True)
class Vertex:
    """A vertex label drawn from one table; `id_column` is unique in it (and holds the tenant)."""

    label: str
    table: TableSpec
    id_column: str
    properties: tuple[Property, ...]

    @property
    def embedded_properties(self) -> tuple[Property, ...]:
        """The properties the embedded engine stores."""
        return tuple(p for p in self.properties if p.embedded)


@dataclass(frozen=True)
class Edge:
    """An edge label drawn from one table: from the vertex whose id is `from_column` to the one in `to_column`."""

    label: str
    table: TableSpec
    from_vertex: str
    to_vertex: str
    id_column: str
    from_column: str
    to_column: str
    properties: tuple[Property, ...]


def _all_columns(spec: TableSpec, lake_only: tuple[str, ...] = ()) -> tuple[Property, ...]:
    return tuple(Property(f.name, f.name, graph_type(f.type), f.name not in lake_only) for f in spec.schema)


def _columns(spec: TableSpec, names: tuple[str, ...]) -> tuple[Property, ...]:
    return tuple(Property(n, n, graph_type(spec.schema.field(n).type)) for n in names)


TENANT = Vertex("Tenant", PG_TENANTS, "tenant_id", _all_columns(PG_TENANTS))
AGENT = Vertex("Agent", PG_AGENTS, "agent_key", _all_columns(PG_AGENTS))
TRACE = Vertex("Trace", PG_TRACES, "trace_key", _all_columns(PG_TRACES))
SPAN = Vertex("Span", PG_SPANS, "span_key", _all_columns(PG_SPANS, lake_only=("input_payload", "output_payload")))

HAS_AGENT = Edge(
    "HAS_AGENT",
    PG_AGENTS,
    "Tenant",
    "Agent",
    "agent_key",
    "tenant_id",
    "agent_key",
    _columns(PG_AGENTS, ("tenant_id",)),
)
OWNS = Edge(
    "OWNS", PG_TRACES, "Agent", "Trace", "trace_key", "agent_key", "trace_key", _columns(PG_TRACES, ("tenant_id",))
)
HAS_SPAN = Edge(
    "HAS_SPAN", PG_SPANS, "Trace", "Span", "span_key", "trace_key", "span_key", _columns(PG_SPANS, ("tenant_id",))
)
# Child -> parent, as in the original schema.
CHILD_OF = Edge(
    "CHILD_OF",
    PG_CHILD_OF_EDGES,
    "Span",
    "Span",
    "span_key",
    "span_key",
    "parent_span_key",
    _columns(PG_CHILD_OF_EDGES, ("tenant_id",)),
)

VERTICES: tuple[Vertex, ...] = (TENANT, AGENT, TRACE, SPAN)
EDGES: tuple[Edge, ...] = (HAS_AGENT, OWNS, HAS_SPAN, CHILD_OF)


def vertex(label: str) -> Vertex:
    """The vertex of a label (KeyError names the known ones)."""
    for v in VERTICES:
        if v.label == label:
            return v
    raise KeyError(f"unknown vertex label {label!r}; known: {[v.label for v in VERTICES]}")
