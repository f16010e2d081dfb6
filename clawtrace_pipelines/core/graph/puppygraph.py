"""The PuppyGraph 1.x schema of the product graph, rendered from `definition.py` for three lake catalogs.

Format (PuppyGraph 1.x; the 0.x `catalogs`/`graph` format is archived), from the pages this follows:
- https://docs.puppygraph.com/modeling/ : top level `catalog[]`, `node[]`, `edge[]`, optional `rowLevelSecurity`.
- https://docs.puppygraph.com/modeling/migrating-from-v0/ : `dataSourceGroup` replaces `mappedTableSource`;
  `id[]`, `fromKey[]`, `toKey[]` are arrays of typed columns `{name, type}`; `attribute[]` likewise.
- https://docs.puppygraph.com/modeling/data-sources/ : `externalDataSource {enabled, catalog, schema, table,
  mappedField[{sourceFieldName, targetFieldName}]}`; edges name `fromNodeLabel` and `toNodeLabel`.
- https://docs.puppygraph.com/reference/schema/data-lake-catalog : catalog `metastore` (type rest/unity/glue:
  uri, warehouse; host, token, databricksCatalogName; region, useInstanceProfile, iamRoleArn, accessKey,
  secretKey) and `storage` (type S3: region, useInstanceProfile, accessKey, secretKey, enableSsl, endpoint,
  enablePathStyleAccess). https://docs.puppygraph.com/connecting/connecting-to-iceberg and
  https://docs.puppygraph.com/connecting/connecting-to-delta-lake/ (Unity reads by credential vending).
- https://docs.puppygraph.com/security/row-level-security/ : an entitlement table of four columns (username,
  resource type, resource value, is authorized) named by `rowLevelSecurity.entitlementSource`, one
  `tableSecurityFilter[]` entry per source table. The field names inside those two objects could not be read
  from the stored docs and are our best reading: check them against that page before enabling RLS.
- https://docs.puppygraph.com/archive/v0/reference/schema/attribute-types/ : type names (String, Long, Int,
  Double, Boolean, Date), which `definition.py` already uses.
- A 1.x schema by PuppyGraph: github.com/puppygraph/puppygraph-getting-started,
  integration-demos/omnigent-agent-demo/schema.json.

Secrets are never written: credentials are `${VAR}` placeholders (`${UNITY_TOKEN}`, `${S3_ACCESS_KEY}`...) that
the operator substitutes at upload time (`envsubst`, see puppygraph/README.md).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import pyarrow as pa

from clawtrace_pipelines.core.graph.definition import EDGES, VERTICES, Edge, Property, Vertex, graph_type
from clawtrace_pipelines.core.tables import ENTITLEMENTS, TableSpec


class CatalogKind(StrEnum):
    """The lake catalogs a schema can be rendered for."""

    ICEBERG_REST = "iceberg-rest"
    DELTA_UNITY = "delta-unity"
    DELTA_GLUE = "delta-glue"


# Placeholders, never values: PuppyGraph receives the schema after the operator substitutes them.
S3_ACCESS_KEY, S3_SECRET_KEY = "${S3_ACCESS_KEY}", "${S3_SECRET_KEY}"
UNITY_TOKEN = "${UNITY_TOKEN}"
GLUE_ACCESS_KEY, GLUE_SECRET_KEY = "${GLUE_ACCESS_KEY}", "${GLUE_SECRET_KEY}"

# The entitlement rows RLS reads (the `ENTITLEMENTS` table, declared with the other specs): one PuppyGraph user
# per tenant, allowed that tenant only.
TENANT_RESOURCE = "tenant"
TENANT_USER_PREFIX = "ct_"


def _flag(value: bool) -> str:
    # PuppyGraph's own catalog examples spell booleans as strings.
    return "true" if value else "false"


@dataclass(frozen=True)
class S3Storage:
    """Object storage the catalog's files live in; keys are placeholders unless an instance profile is used."""

    region: str = "us-east-1"
    endpoint: str | None = None
    path_style: bool = False
    use_instance_profile: bool = False

    def to_json(self) -> dict[str, Any]:
        storage: dict[str, Any] = {
            "type": "S3",
            "region": self.region,
            "useInstanceProfile": _flag(self.use_instance_profile),
        }
        if not self.use_instance_profile:
            storage |= {"accessKey": S3_ACCESS_KEY, "secretKey": S3_SECRET_KEY}
        storage["enableSsl"] = _flag(not (self.endpoint or "").startswith("http://"))
        if self.endpoint:
            storage["endpoint"] = self.endpoint
        storage["enablePathStyleAccess"] = _flag(self.path_style)
        return storage


@dataclass(frozen=True)
class IcebergRestCatalog:
    """Iceberg tables behind an Iceberg REST catalog; the defaults are the compose file's services."""

    uri: str = "http://iceberg-rest:8181"
    warehouse: str = "s3://clawtrace/warehouse"
    storage: S3Storage = field(
        default_factory=lambda: S3Storage(endpoint="http://minio:9000", path_style=True, region="us-east-1")
    )
    kind: CatalogKind = field(default=CatalogKind.ICEBERG_REST, init=False)

    def to_json(self, name: str) -> dict[str, Any]:
        metastore = {"type": "rest", "uri": self.uri, "warehouse": self.warehouse}
        return {"name": name, "type": "iceberg", "metastore": metastore, "storage": self.storage.to_json()}


@dataclass(frozen=True)
class DeltaUnityCatalog:
    """Delta tables registered in a Databricks Unity Catalog; PuppyGraph reads them by credential vending."""

    host: str = "https://<workspace>.cloud.databricks.com"
    databricks_catalog: str = "clawtrace"
    kind: CatalogKind = field(default=CatalogKind.DELTA_UNITY, init=False)

    def to_json(self, name: str) -> dict[str, Any]:
        metastore = {
            "type": "unity",
            "host": self.host,
            "token": UNITY_TOKEN,
            "databricksCatalogName": self.databricks_catalog,
        }
        # Unity vends short-lived storage credentials, so no storage keys live in the schema.
        return {"name": name, "type": "deltalake", "metastore": metastore, "storage": {"type": "FromMetaStore"}}


@dataclass(frozen=True)
class DeltaGlueCatalog:
    """Delta tables registered in the AWS Glue Data Catalog, files on S3."""

    region: str = "us-east-1"
    use_instance_profile: bool = True
    iam_role_arn: str | None = None
    storage: S3Storage = field(default_factory=lambda: S3Storage(use_instance_profile=True))
    kind: CatalogKind = field(default=CatalogKind.DELTA_GLUE, init=False)

    def to_json(self, name: str) -> dict[str, Any]:
        metastore: dict[str, Any] = {
            "type": "glue",
            "region": self.region,
            "useInstanceProfile": _flag(self.use_instance_profile),
        }
        if self.iam_role_arn:
            metastore["iamRoleArn"] = self.iam_role_arn
        if not self.use_instance_profile:
            metastore |= {"accessKey": GLUE_ACCESS_KEY, "secretKey": GLUE_SECRET_KEY}
        return {"name": name, "type": "deltalake", "metastore": metastore, "storage": self.storage.to_json()}


LakeCatalog = IcebergRestCatalog | DeltaUnityCatalog | DeltaGlueCatalog


@dataclass(frozen=True)
class SchemaOptions:
    """Where the tables are: the catalog's name in PuppyGraph and the schema (Iceberg namespace, Unity schema or
    Glue database) holding the silver tables; whether to confine every table to the caller's tenant."""

    catalog_name: str = "clawtrace"
    schema: str = "clawtrace"
    row_level_security: bool = True
    entitlement_cache_ttl_seconds: int = 300


def _columns(props: tuple[Property, ...]) -> list[dict[str, str]]:
    return [{"name": p.name, "type": p.type} for p in props]


def _key(role: str, spec: TableSpec, column: str) -> Property:
    # Ids, from- and to-keys get their own graph field names (the 0.x UI's puppy_id_/puppy_from_/puppy_to_
    # aliases) so the same column can also be an attribute under its own name: `t.trace_key`, never `id(t)`.
    return Property(f"puppy_{role}_{column}", column, graph_type(spec.schema.field(column).type))


def _source(spec: TableSpec, options: SchemaOptions, fields: list[Property]) -> dict[str, Any]:
    mapped = [{"sourceFieldName": f.column, "targetFieldName": f.name} for f in fields]
    external = {
        "enabled": True,
        "catalog": options.catalog_name,
        "schema": options.schema,
        "table": spec.name,
        "mappedField": mapped,
    }
    return {"externalDataSource": external}


def _node(vertex: Vertex, options: SchemaOptions) -> dict[str, Any]:
    ident = _key("id", vertex.table, vertex.id_column)
    return {
        "label": vertex.label,
        "dataSourceGroup": _source(vertex.table, options, [ident, *vertex.properties]),
        "id": _columns((ident,)),
        "attribute": _columns(vertex.properties),
    }


def _edge(edge: Edge, options: SchemaOptions) -> dict[str, Any]:
    ident = _key("id", edge.table, edge.id_column)
    start, end = _key("from", edge.table, edge.from_column), _key("to", edge.table, edge.to_column)
    return {
        "label": edge.label,
        "fromNodeLabel": edge.from_vertex,
        "toNodeLabel": edge.to_vertex,
        "dataSourceGroup": _source(edge.table, options, [ident, start, end, *edge.properties]),
        "id": _columns((ident,)),
        "fromKey": _columns((start,)),
        "toKey": _columns((end,)),
        "attribute": _columns(edge.properties),
    }


def graph_tables() -> list[TableSpec]:
    """Every table a node or an edge reads, once each, in definition order."""
    seen: dict[str, TableSpec] = {}
    for spec in [v.table for v in VERTICES] + [e.table for e in EDGES]:
        seen.setdefault(spec.name, spec)
    return list(seen.values())


def _row_level_security(options: SchemaOptions) -> dict[str, Any]:
    where = {"catalog": options.catalog_name, "schema": options.schema}
    source = where | {
        "table": ENTITLEMENTS.name,
        "usernameColumn": "puppygraph_user",
        "resourceTypeColumn": "resource_type",
        "resourceValueColumn": "tenant_id",
        "isAuthorizedColumn": "is_authorized",
    }
    # Every silver table carries tenant_id, so one filter per table confines every hop of a traversal.
    filters = [
        where | {"table": spec.name, "filter": [{"column": "tenant_id", "resourceType": TENANT_RESOURCE}]}
        for spec in graph_tables()
    ]
    return {
        "entitlementSource": source,
        "entitlementCacheTtlSeconds": options.entitlement_cache_ttl_seconds,
        "tableSecurityFilter": filters,
    }


def render_schema(catalog: LakeCatalog, options: SchemaOptions | None = None) -> dict[str, Any]:
    """The PuppyGraph 1.x schema of the product graph over `catalog`.

    Args:
        catalog: where the lake's tables are registered (Iceberg REST, Delta in Unity, Delta in Glue).
        options: catalog name, schema (namespace/database) and row-level security; defaults if None.

    Returns:
        The schema as a JSON-ready dict: `catalog`, `node`, `edge` and, unless disabled, `rowLevelSecurity`.
    """
    options = options or SchemaOptions()
    schema: dict[str, Any] = {
        "catalog": [catalog.to_json(options.catalog_name)],
        "node": [_node(v, options) for v in VERTICES],
        "edge": [_edge(e, options) for e in EDGES],
    }
    if options.row_level_security:
        schema["rowLevelSecurity"] = _row_level_security(options)
    return schema


def schema_json(schema: dict[str, Any]) -> str:
    """The schema as the checked-in file spells it: two-space indents, a final newline."""
    return json.dumps(schema, indent=2) + "\n"


def puppygraph_user(tenant_id: str) -> str:
    """The PuppyGraph user of a tenant: `ct_<tenant_id>` (no ':' so it survives HTTP Basic auth)."""
    return f"{TENANT_USER_PREFIX}{tenant_id}"


def entitlements_rows(tenants: pa.Table) -> pa.Table:
    """The `graph_entitlements` rows for the tenants of `pg_tenants`: one user per tenant, allowed only it.

    Args:
        tenants: rows with a `tenant_id` column (pg_tenants or any subset of it).

    Returns:
        A table with the `ENTITLEMENTS` schema, one row per distinct tenant, sorted by tenant.

    Raises:
        KeyError: `tenants` has no `tenant_id` column.
    """
    if "tenant_id" not in tenants.column_names:
        raise KeyError("entitlements need a tenant_id column")
    ids = sorted({t for t in tenants.column("tenant_id").to_pylist() if t})
    return pa.table(
        {
            "puppygraph_user": [puppygraph_user(t) for t in ids],
            "resource_type": [TENANT_RESOURCE] * len(ids),
            "tenant_id": ids,
            "is_authorized": [True] * len(ids),
        },
        schema=ENTITLEMENTS.schema,
    )
