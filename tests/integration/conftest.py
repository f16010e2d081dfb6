"""Integration fixtures: a real Bolt server (FalkorDB) on 127.0.0.1, one per test session (per xdist worker)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.graph_server import FalkorDBServer, falkordb


@pytest.fixture(scope="session")
def falkordb_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FalkorDBServer]:
    """The FalkorDB process; call `settle()` after closing a client and before opening another, or use
    `falkordb_server.client()` (see tests/graph_server.py for why)."""
    with falkordb(tmp_path_factory.mktemp("falkordb")) as server:
        yield server


@pytest.fixture(scope="session")
def falkordb_bolt(falkordb_server: FalkorDBServer) -> str:
    """The Bolt URI of the session's FalkorDB server (bolt://127.0.0.1:<port>)."""
    return falkordb_server.bolt_uri


@pytest.fixture(autouse=True)
def _settle_falkordb(request: pytest.FixtureRequest) -> None:
    # Clients closed by earlier tests must not leave this test's first connection hanging.
    if {"falkordb_server", "falkordb_bolt"} & set(request.fixturenames):
        request.getfixturevalue("falkordb_server").settle()
