"""Loading the graph of `definition.py` into a Cypher server through any `GraphClient`.

`graph_rows` reads the silver tables the definition names; `load_cypher` writes them with
`UNWIND $rows AS r CREATE (v:Label) SET v = r` (vertices) and `UNWIND $rows AS r MATCH (a:From {id: r.from}),
(b:To {id: r.to}) CREATE (a)-[e:LABEL]->(b) SET e = r.props` (edges), after an index on each vertex id.

Property values on the server: strings, integers, floats (decimals become floats: Cypher has no decimal),
booleans, and dates as ISO `YYYY-MM-DD` strings, not the server's date type. ISO strings sort and compare
like dates, and FalkorDB's Bolt layer cannot carry temporal values at all (a date parameter is refused, a
returned date crashes the 4.16 server).

This is a loader for test servers and small graphs: rows travel as Python dicts. The production graph
(PuppyGraph) reads the lake in place and needs no loading.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pyarrow as pa

from clawtrace_pipelines.core.graph.client import GraphClient, GraphQueryError
from clawtrace_pipelines.core.graph.definition import DOUBLE, EDGES, VERTICES, Edge, Property, Vertex, vertex
from clawtrace_pipelines.core.lake import open_table
from clawtrace_pipelines.core.settings import Settings
from clawtrace_pipelines.core.tables import TableSpec

log = logging.getLogger(__name__)

GraphRows = dict[str, list[dict[str, Any]]]

# A statement of inlined literals stays below this size (FalkorDB copies a long query onto its stack).
MAX_LITERAL_CHARS = 512 * 1024
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def graph_rows(settings: Settings) -> GraphRows:
    """Every vertex and edge of the definition, read from the silver tables, keyed by label.

    Vertex rows are `{property: value}`; edge rows `{"from": id, "to": id, "props": {property: value}}`.
    Values are plain Python in their graph type: str, int, float (decimals converted), bool, `datetime.date`;
    missing values are None.
    """
    tables: dict[str, pa.Table] = {}

    def read(spec: TableSpec) -> pa.Table:
        if spec.name not in tables:
            tables[spec.name] = open_table(spec, settings).read()
        return tables[spec.name]

    rows: GraphRows = {}
    # What the embedded engine holds, payloads excepted (see definition.Property.embedded): the same graph.
    for v in VERTICES:
        rows[v.label] = _properties(read(v.table), v.embedded_properties)
    for e in EDGES:
        data = read(e.table)
        ends = data.select([e.from_column, e.to_column]).to_pylist()
        props = _properties(data, e.properties)
        rows[e.label] = [
            {"from": end[e.from_column], "to": end[e.to_column], "props": p} for end, p in zip(ends, props, strict=True)
        ]
    return rows


def _properties(data: pa.Table, properties: Sequence[Property]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = (
        data.select([p.column for p in properties]).rename_columns([p.name for p in properties]).to_pylist()
    )
    # Decimal to the nearest float in Python: Arrow's decimal-to-double cast can be one ulp off.
    decimals = [
        p.name for p in properties if p.type == DOUBLE and pa.types.is_decimal(data.schema.field(p.column).type)
    ]
    for row in rows:
        for name in decimals:
            if row[name] is not None:
                row[name] = float(row[name])
    return rows


def load_cypher(
    client: GraphClient,
    rows: Mapping[str, Sequence[Mapping[str, Any]]],
    batch: int = 1000,
    *,
    literals: bool = False,
    clear: bool = False,
) -> dict[str, int]:
    """Create the vertices and edges of `rows` (as `graph_rows` returns them) on a Cypher server.

    Vertices are created before edges; an edge whose end vertex is absent is skipped (and counted as such
    in a warning). Loading the same rows twice creates them twice unless `clear` is set.

    Args:
        client: any graph client (a `BoltClient` for a server).
        rows: rows by label; labels the definition does not know are refused.
        batch: rows per statement.
        literals: inline the rows as Cypher literals instead of sending them as the `$rows` parameter, for
            servers whose parameter handling is broken: FalkorDB's Bolt layer pastes parameters unescaped
            into a 4 KB buffer (a longer parameter list crashes it, a quote in a value breaks the query).
            Values are escaped here, so they stay values.
        clear: first delete every vertex (and its edges) of the definition's labels.

    Returns:
        Vertices and edges created, by label.

    Raises:
        ValueError: an unknown label, `batch` < 1, or a value with no Cypher literal (NaN, infinity).
        GraphError: from the client.
    """
    if batch < 1:
        raise ValueError("batch must be at least 1")
    known = {v.label for v in VERTICES} | {e.label for e in EDGES}
    unknown = sorted(set(rows) - known)
    if unknown:
        raise ValueError(f"unknown graph labels {unknown}; known: {sorted(known)}")
    if clear:
        for v in VERTICES:
            client.run(f"MATCH (n:{_name(v.label)}) DETACH DELETE n")
    for v in VERTICES:
        _create_index(client, v)
    created: dict[str, int] = {}
    for v in VERTICES:
        if v.label in rows:
            body = f"CREATE (v:{_name(v.label)}) SET v = r RETURN count(v) AS n"
            created[v.label] = _write(client, body, rows[v.label], batch, literals)
    for e in EDGES:
        if e.label in rows:
            created[e.label] = _write(client, _edge_body(e), rows[e.label], batch, literals)
            skipped = len(rows[e.label]) - created[e.label]
            if skipped:
                log.warning("%d %s edges skipped: an end vertex is missing", skipped, e.label)
    return created


def _edge_body(e: Edge) -> str:
    source, target = vertex(e.from_vertex), vertex(e.to_vertex)
    return (
        f"MATCH (a:{_name(source.label)} {{{_name(source.id_column)}: r.from}}), "
        f"(b:{_name(target.label)} {{{_name(target.id_column)}: r.to}}) "
        f"CREATE (a)-[e:{_name(e.label)}]->(b) SET e = r.props RETURN count(e) AS n"
    )


def _create_index(client: GraphClient, v: Vertex) -> None:
    try:
        client.run(f"CREATE INDEX FOR (n:{_name(v.label)}) ON (n.{_name(v.id_column)})")
    except GraphQueryError as exc:
        # Most servers refuse to create an index that exists (FalkorDB has no IF NOT EXISTS); loading works
        # without it, only slower.
        log.debug("index on %s.%s not created: %s", v.label, v.id_column, exc)


def _write(client: GraphClient, body: str, rows: Sequence[Mapping[str, Any]], batch: int, literals: bool) -> int:
    """Runs `UNWIND <rows> AS r <body>` per chunk; `body` returns the count created as `n`."""
    created = 0
    for chunk in _chunks(rows, batch, literals):
        if literals:
            result = client.run(f"UNWIND [{', '.join(chunk)}] AS r {body}")
        else:
            result = client.run(f"UNWIND $rows AS r {body}", {"rows": chunk})
        created += int(result[0]["n"]) if result else 0
    return created


def _chunks(rows: Sequence[Mapping[str, Any]], batch: int, literals: bool) -> Iterator[list[Any]]:
    chunk: list[Any] = []
    size = 0
    for row in rows:
        value = _graph_value(row)
        if literals:
            value = cypher_literal(value)
            size += len(value) + 2
        chunk.append(value)
        if len(chunk) >= batch or size >= MAX_LITERAL_CHARS:
            yield chunk
            chunk, size = [], 0
    if chunk:
        yield chunk


def _graph_value(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _graph_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_graph_value(v) for v in value]
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, date) and not isinstance(value, datetime):
        return value.isoformat()
    return value


def cypher_literal(value: Any) -> str:
    """`value` (None, bool, int, float, str, lists and string-keyed dicts of those) as an openCypher literal.

    Strings are single-quoted with backslash and quote escaped, which every Cypher parser reads back as
    the same string.

    Raises:
        ValueError: a non-finite float, a map key that is not a plain name, or an unsupported type.
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value} has no Cypher literal")
        return repr(value)
    if isinstance(value, str):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(cypher_literal(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{_name(str(k))}: {cypher_literal(v)}" for k, v in value.items()) + "}"
    raise ValueError(f"no Cypher literal for a value of type {type(value).__name__}")


def _name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise ValueError(f"{name!r} is not a plain Cypher name")
    return name
