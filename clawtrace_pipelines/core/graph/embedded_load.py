"""Writing silver rows into a LadybugDB build: the engine DDL and row shapes (generated from `definition.py`),
the two loaders (in place for an update, staged Parquet for a full build), and `write_rows`, which applies one
batch of silver rows to an open build.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import ladybug as lb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from clawtrace_pipelines.core.graph.definition import (
    AGENT,
    BOOLEAN,
    CHILD_OF,
    DATE,
    DOUBLE,
    EDGES,
    HAS_AGENT,
    HAS_SPAN,
    INT,
    LONG,
    OWNS,
    SPAN,
    STRING,
    TENANT,
    TRACE,
    VERTICES,
    Edge,
    Vertex,
    vertex,
)
from clawtrace_pipelines.core.tables import PG_AGENTS, PG_CHILD_OF_EDGES, PG_SPANS, PG_TENANTS, PG_TRACES

if TYPE_CHECKING:
    # embedded_store imports this module (for the DDL): the report type is needed for annotations only.
    from clawtrace_pipelines.core.graph.embedded_store import GraphUpdateReport

# Graph property type -> (engine column type, the Arrow type loaded into it).
ENGINE_TYPES: dict[str, tuple[str, pa.DataType]] = {
    STRING: ("STRING", pa.string()),
    LONG: ("INT64", pa.int64()),
    INT: ("INT32", pa.int32()),
    DOUBLE: ("DOUBLE", pa.float64()),
    BOOLEAN: ("BOOLEAN", pa.bool_()),
    DATE: ("DATE", pa.date32()),
}


def _quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _id_property(v: Vertex) -> str:
    return next(p.name for p in v.properties if p.column == v.id_column)


def schema_ddl() -> list[str]:
    """CREATE NODE/REL TABLE statements for every vertex and edge of the definition."""
    statements = []
    for v in VERTICES:
        columns = ", ".join(f"{_quote(p.name)} {ENGINE_TYPES[p.type][0]}" for p in v.embedded_properties)
        statements.append(f"CREATE NODE TABLE {_quote(v.label)}({columns}, PRIMARY KEY({_quote(_id_property(v))}))")
    for e in EDGES:
        columns = "".join(f", {_quote(p.name)} {ENGINE_TYPES[p.type][0]}" for p in e.properties)
        statements.append(
            f"CREATE REL TABLE {_quote(e.label)}(FROM {_quote(e.from_vertex)} TO {_quote(e.to_vertex)}{columns})"
        )
    return statements


def _engine_column(column: pa.ChunkedArray, graph_type: str) -> pa.ChunkedArray:
    # Large strings load as they are: casting a day of payloads to 32-bit offsets could overflow.
    if graph_type == STRING and pa.types.is_large_string(column.type):
        return column
    return column.cast(ENGINE_TYPES[graph_type][1])


def vertex_rows(v: Vertex, data: pa.Table) -> pa.Table:
    """Silver rows as the engine's columns of `v`, in DDL order (decimals become doubles)."""
    return pa.table({p.name: _engine_column(data.column(p.column), p.type) for p in v.embedded_properties})


def edge_rows(e: Edge, data: pa.Table) -> pa.Table:
    """Silver rows as `(from key, to key, properties...)`, the column order COPY of a rel table expects."""
    columns = {"_from": data.column(e.from_column), "_to": data.column(e.to_column)}
    columns.update({p.name: _engine_column(data.column(p.column), p.type) for p in e.properties})
    return pa.table(columns)


class DirectLoader:
    """Applies a change inside a copy of the current snapshot: upserts, deletes, COPY of the new rows."""

    def __init__(self, conn: lb.Connection) -> None:
        self.conn = conn

    def vertices(self, v: Vertex, data: pa.Table, *, upsert: bool = False) -> int:
        """Insert vertices (keys absent from the graph), or insert-or-update them by key, keeping their edges."""
        if not data.num_rows:
            return 0
        rows = vertex_rows(v, data)
        if not upsert:
            self.conn.execute(f"COPY {_quote(v.label)} FROM $rows", {"rows": rows})
            return int(rows.num_rows)
        # LOAD FROM binds each column as a variable: positional names keep property names out of that scope.
        aliases = [f"c{i}" for i in range(rows.num_columns)]
        key = _id_property(v)
        sets = ", ".join(f"n.{_quote(p)} = {a}" for p, a in zip(rows.column_names, aliases, strict=True) if p != key)
        key_alias = aliases[rows.column_names.index(key)]
        self.conn.execute(
            f"LOAD FROM $rows MERGE (n:{_quote(v.label)} {{{_quote(key)}: {key_alias}}}) SET {sets}",
            {"rows": rows.rename_columns(aliases)},
        )
        return int(rows.num_rows)

    def edges(self, e: Edge, data: pa.Table, *, upsert: bool = False) -> int:
        """Insert edges between existing vertices, or insert-or-update one edge per (from, to)."""
        if not data.num_rows:
            return 0
        rows = edge_rows(e, data)
        if not upsert:
            self.conn.execute(f"COPY {_quote(e.label)} FROM $rows", {"rows": rows})
            return int(rows.num_rows)
        aliases = [f"c{i}" for i in range(rows.num_columns)]
        source, target = (vertex(label) for label in (e.from_vertex, e.to_vertex))
        sets = ", ".join(f"r.{_quote(p.name)} = {a}" for p, a in zip(e.properties, aliases[2:], strict=True))
        self.conn.execute(
            f"LOAD FROM $rows MATCH (a:{_quote(source.label)} {{{_quote(_id_property(source))}: c0}}), "
            f"(b:{_quote(target.label)} {{{_quote(_id_property(target))}: c1}}) "
            f"MERGE (a)-[r:{_quote(e.label)}]->(b)" + (f" SET {sets}" if sets else ""),
            {"rows": rows.rename_columns(aliases)},
        )
        return int(rows.num_rows)

    def delete_traces(self, trace_keys: list[str]) -> None:
        """Delete these traces, their spans and every edge touching them."""
        if trace_keys:
            self.conn.execute(
                f"UNWIND $keys AS k MATCH (t:{_quote(TRACE.label)} {{{_quote(_id_property(TRACE))}: k}}) "
                f"OPTIONAL MATCH (t)-[:{_quote(HAS_SPAN.label)}]->(s:{_quote(SPAN.label)}) DETACH DELETE t, s",
                {"keys": trace_keys},
            )


class StagedLoader:
    """Stages a full build as Parquet files per label, then loads each label with a single COPY of them all.

    Rows arrive a day at a time, so Python holds one day; the engine streams the files. Each batch is its own
    closed file, so a rebuild staging thousands of tenants at once holds no file open between batches.
    Appending many COPYs to one table instead costs far more: every append rewrites the table's last node
    group and its strings.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.files: dict[str, int] = {}

    def vertices(self, v: Vertex, data: pa.Table, *, upsert: bool = False) -> int:
        return self._stage(v.label, vertex_rows(v, data))

    def edges(self, e: Edge, data: pa.Table, *, upsert: bool = False) -> int:
        return self._stage(e.label, edge_rows(e, data))

    def delete_traces(self, trace_keys: list[str]) -> None:
        if trace_keys:
            raise ValueError("a staged (full) build has nothing to delete")

    def _stage(self, label: str, rows: pa.Table) -> int:
        if rows.num_rows:
            n = self.files.get(label, 0)
            folder = self.directory / label
            folder.mkdir(parents=True, exist_ok=True)
            pq.write_table(rows, folder / f"{n:06d}.parquet")
            self.files[label] = n + 1
        return int(rows.num_rows)

    def load(self, conn: lb.Connection) -> None:
        """COPY every staged label, vertices before the edges between them, then delete the files."""
        for label in [v.label for v in VERTICES] + [e.label for e in EDGES]:
            if label in self.files:
                pattern = str(self.directory / label / "*.parquet").replace("\\", "\\\\").replace('"', '\\"')
                conn.execute(f'COPY {_quote(label)} FROM "{pattern}"')
        shutil.rmtree(self.directory, ignore_errors=True)


Loader = DirectLoader | StagedLoader


def keep_where_in(data: pa.Table, column: str, values: pa.Array | pa.ChunkedArray) -> pa.Table:
    """Rows of `data` whose `column` is one of `values`."""
    if data.num_rows == 0:
        return data
    return data.filter(pc.is_in(data.column(column), value_set=values))


@dataclass(frozen=True)
class SilverRows:
    """Silver rows to project: tenants and agents to upsert; traces, their spans and child edges to replace."""

    tenants: pa.Table
    agents: pa.Table
    traces: pa.Table
    spans: pa.Table
    child_of: pa.Table

    @classmethod
    def of(cls, **tables: pa.Table) -> SilverRows:
        return cls(**{name: tables.get(name, spec.schema.empty_table()) for name, spec in _SPECS.items()})

    def by_tenant(self) -> dict[str, SilverRows]:
        """These rows split by `tenant_id` (each tenant's graph is its own snapshot)."""
        parts: dict[str, dict[str, pa.Table]] = {}
        for name in _SPECS:
            for tenant, rows in _split(getattr(self, name)).items():
                parts.setdefault(tenant, {})[name] = rows
        return {tenant: SilverRows.of(**tables) for tenant, tables in sorted(parts.items())}


_SPECS = {
    "tenants": PG_TENANTS,
    "agents": PG_AGENTS,
    "traces": PG_TRACES,
    "spans": PG_SPANS,
    "child_of": PG_CHILD_OF_EDGES,
}


def _split(data: pa.Table) -> dict[str, pa.Table]:
    """Rows per `tenant_id`: one sort and contiguous slices, not one filter pass per tenant."""
    if not data.num_rows:
        return {}
    ordered = data.sort_by("tenant_id")
    counts = pc.value_counts(ordered.column("tenant_id"))
    parts, offset = {}, 0
    for tenant, n in zip(counts.field("values").to_pylist(), counts.field("counts").to_pylist(), strict=True):
        parts[tenant] = ordered.slice(offset, n)
        offset += n
    return parts


def write_rows(
    loader: Loader,
    rows: SilverRows,
    delete_keys: list[str],
    agent_keys: pa.ChunkedArray,
    report: GraphUpdateReport,
) -> None:
    """Apply one batch: upsert tenants and agents, replace the traces of `delete_keys` by `rows.traces`.

    Rows whose vertices would be missing are counted in `report.dropped`, not loaded: the engine refuses an
    edge to a missing vertex, and a Span must hang off its Trace to be found when the trace is replaced.
    """
    has_agent = keep_where_in(rows.agents, "tenant_id", rows.tenants.column("tenant_id"))
    owns = keep_where_in(rows.traces, "agent_key", agent_keys)
    spans = keep_where_in(rows.spans, "trace_key", rows.traces.column("trace_key"))
    span_keys = spans.column("span_key")
    child_of = keep_where_in(keep_where_in(rows.child_of, "span_key", span_keys), "parent_span_key", span_keys)
    written = [
        (report.vertices, TENANT.label, loader.vertices(TENANT, rows.tenants, upsert=True)),
        (report.vertices, AGENT.label, loader.vertices(AGENT, rows.agents, upsert=True)),
        (report.edges, HAS_AGENT.label, loader.edges(HAS_AGENT, has_agent, upsert=True)),
    ]
    loader.delete_traces(delete_keys)
    written += [
        (report.vertices, TRACE.label, loader.vertices(TRACE, rows.traces)),
        (report.edges, OWNS.label, loader.edges(OWNS, owns)),
        (report.vertices, SPAN.label, loader.vertices(SPAN, spans)),
        (report.edges, HAS_SPAN.label, loader.edges(HAS_SPAN, spans)),
        (report.edges, CHILD_OF.label, loader.edges(CHILD_OF, child_of)),
    ]
    for counts, label, n in written:
        counts[label] = counts.get(label, 0) + n
    for label, total, kept in (
        (HAS_AGENT.label, rows.agents, has_agent),
        (OWNS.label, rows.traces, owns),
        (SPAN.label, rows.spans, spans),
        (CHILD_OF.label, rows.child_of, child_of),
    ):
        if total.num_rows > kept.num_rows:
            report.dropped[label] = report.dropped.get(label, 0) + total.num_rows - kept.num_rows
