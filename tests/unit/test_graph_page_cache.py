"""A query that outgrows the embedded graph's page cache is a capacity limit (503 in the API), not a bad query."""

from __future__ import annotations

import ladybug as lb
import pytest

from clawtrace_pipelines.core.graph.client import GraphQueryError, GraphUnavailableError
from clawtrace_pipelines.core.graph.embedded_client import EmbeddedClient, _Opened
from clawtrace_pipelines.core.settings import Settings


def test_a_full_page_cache_is_unavailable_and_a_bad_query_is_a_query_error(tmp_path):
    path = tmp_path / "g.lbug"
    db = lb.Database(str(path))
    conn = lb.Connection(db)
    conn.execute("CREATE NODE TABLE N(id INT64, s STRING, PRIMARY KEY(id))")
    conn.execute(
        "UNWIND range(1, 300000) AS i CREATE (:N {id: i, s: 'padding-padding-padding-padding-padding-padding-' "
        "+ cast(i AS STRING)})"
    )
    conn.close()
    db.close()
    opened = _Opened(1, path, timeout_ms=60_000, cache_bytes=4 * 1024 * 1024)
    client = EmbeddedClient(Settings(lake=str(tmp_path / "lake")))
    try:
        reader = opened.take()
        with pytest.raises(GraphUnavailableError, match="page cache is full"):
            client._execute(reader, "MATCH (n:N) WITH n.s AS s, count(*) AS k RETURN count(*) AS groups", {})
        with pytest.raises(GraphQueryError):
            client._execute(reader, "MATCH (n:Nope) RETURN n", {})
        reader.close()
    finally:
        opened.close()
        client.close()
