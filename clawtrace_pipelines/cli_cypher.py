"""What `clawtrace cypher` runs: one tenant's rows, or an explicit operator query over all tenants.

`--tenant T` confines the query to T:

- embedded engine: the query runs on T's snapshot alone (`EmbeddedClient.run`), so `MATCH (n) RETURN n`
  returns only T's vertices, whatever the text;
- Bolt: the client cannot confine arbitrary Cypher. A catalog query (`QUERY` is a name from `queries.py`) is
  validated by `queries.bind` and matches `$tenant_id` on every vertex it starts from, so it runs. Any other
  text runs only when the connection itself is T's PuppyGraph user (`CLAWTRACE_GRAPH_USER=ct_<T>`), whose
  row-level security filters every hop; otherwise it is refused, not run unconfined.

`--all-tenants` is the operator path: on the embedded engine the query runs once per tenant's snapshot with
`$tenant_id` bound to each, rows led by a `tenant` column; over Bolt it runs once, as written, and sees what
the connecting user sees (every tenant for an admin).
"""

from __future__ import annotations

from typing import Any

from clawtrace_pipelines.core.graph.client import ClientOptions, GraphClient, GraphQueryError, Row, connect
from clawtrace_pipelines.core.graph.puppygraph import puppygraph_user
from clawtrace_pipelines.core.graph.queries import QUERIES, run
from clawtrace_pipelines.core.settings import Settings


class CypherRefused(ValueError):
    """The command would not be confined as asked: the message says what to do instead."""


def cypher_rows(
    settings: Settings,
    query: str,
    *,
    tenant: str | None,
    all_tenants: bool,
    params: dict[str, Any],
    limit: int,
) -> list[Row]:
    """The rows `clawtrace cypher` prints (see the module docstring for the rules).

    Raises:
        CypherRefused: neither or both of `tenant` / `all_tenants`, a catalog query over all tenants, or
            arbitrary Cypher for one tenant over Bolt without the tenant's own graph user.
        GraphError: from the engine.
    """
    if (tenant is None) == (not all_tenants):
        raise CypherRefused("give exactly one of --tenant UUID or --all-tenants")
    catalog = query in QUERIES
    if all_tenants and catalog:
        raise CypherRefused("a catalog query is per tenant: use --tenant")
    embedded = settings.graph == "embedded"
    if tenant is not None and not embedded and not catalog and settings.graph_user != puppygraph_user(tenant):
        raise CypherRefused(
            "over Bolt, --tenant confines only catalog queries (QUERY = one of: "
            f"{', '.join(sorted(QUERIES))}); other Cypher runs only as the tenant's PuppyGraph user "
            f"(CLAWTRACE_GRAPH_USER={puppygraph_user(tenant)}, whose row-level security confines it), or over "
            "all tenants with --all-tenants"
        )
    client = connect(settings, ClientOptions(max_rows=limit))
    try:
        return _rows(client, query, tenant=tenant, catalog=catalog, embedded=embedded, params=params)
    finally:
        client.close()


def _rows(
    client: GraphClient, query: str, *, tenant: str | None, catalog: bool, embedded: bool, params: dict[str, Any]
) -> list[Row]:
    if tenant is None:
        if "tenant_id" in params:
            raise CypherRefused("--all-tenants binds no tenant: drop --param tenant_id")
        if embedded:
            from clawtrace_pipelines.core.graph.embedded_client import EmbeddedClient

            assert isinstance(client, EmbeddedClient)
            return client.run_all_tenants(query, params)
        return client.run(query, params)
    if catalog:
        return run(client, query, **{**params, "tenant_id": tenant})
    if "tenant_id" in params:
        raise GraphQueryError("--tenant binds $tenant_id: drop --param tenant_id")
    return client.run(query, {**params, "tenant_id": tenant})
