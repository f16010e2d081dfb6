"""The PuppyGraph schema: generated from the graph definition, naming only real silver columns, tenant-confined."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from typer.testing import CliRunner

from clawtrace_pipelines.cli_graph import graph_app
from clawtrace_pipelines.core.graph.definition import EDGES, VERTICES
from clawtrace_pipelines.core.graph.puppygraph import (
    ENTITLEMENTS,
    CatalogKind,
    DeltaGlueCatalog,
    DeltaUnityCatalog,
    IcebergRestCatalog,
    SchemaOptions,
    entitlements_rows,
    graph_tables,
    puppygraph_user,
    render_schema,
    schema_json,
)
from clawtrace_pipelines.core.tables import SILVER_TABLES

ROOT = Path(__file__).resolve().parents[2]
CHECKED_IN = ROOT / "puppygraph" / "schema.json"
REGENERATE = "clawtrace graph schema --catalog iceberg-rest --output puppygraph/schema.json"

CATALOGS = {
    CatalogKind.ICEBERG_REST: IcebergRestCatalog(),
    CatalogKind.DELTA_UNITY: DeltaUnityCatalog(host="https://example.cloud.databricks.com"),
    CatalogKind.DELTA_GLUE: DeltaGlueCatalog(use_instance_profile=False),
}
RENDERED = {kind: render_schema(catalog) for kind, catalog in CATALOGS.items()}
LAKE_TABLES = {spec.name: spec for spec in (*SILVER_TABLES, ENTITLEMENTS)}

# A PuppyGraph attribute type and the Arrow column types it can read (decimals are read as Double).
COMPATIBLE: dict[str, Callable[[pa.DataType], bool]] = {
    "String": lambda t: pa.types.is_string(t) or pa.types.is_large_string(t),
    "Long": pa.types.is_int64,
    "Int": lambda t: pa.types.is_integer(t) and t.bit_width <= 32,
    "Double": lambda t: pa.types.is_floating(t) or pa.types.is_decimal(t),
    "Boolean": pa.types.is_boolean,
    "Date": pa.types.is_date,
}
SECRET_FIELDS = {"accessKey", "secretKey", "token", "password", "credential", "sharedKey"}


def _elements(schema: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield from schema["node"]
    yield from schema["edge"]


def _source(element: dict[str, Any]) -> dict[str, Any]:
    return element["dataSourceGroup"]["externalDataSource"]


def _columns_of(element: dict[str, Any], role: str) -> list[str]:
    """The table columns behind a role's graph fields (`id`, `fromKey`, `toKey`, `attribute`)."""
    mapped = {m["targetFieldName"]: m["sourceFieldName"] for m in _source(element)["mappedField"]}
    return [mapped[f["name"]] for f in element.get(role, [])]


def _graph_keys() -> dict[str, list[str]]:
    """Each key column built by dbt's graph_key macro in the silver models, with the columns it joins."""
    keys: dict[str, list[str]] = {}
    pattern = re.compile(r"graph_key\(\[([^\]]*)\]\)\s*}}\s*as\s+(\w+)")
    for sql in (ROOT / "dbt" / "models" / "silver").glob("*.sql"):
        for parts, column in pattern.findall(sql.read_text()):
            keys[column] = [p.strip().strip("'\"").split(".")[-1] for p in parts.split(",")]
    return keys


def test_checked_in_schema_equals_a_fresh_render():
    fresh = schema_json(render_schema(IcebergRestCatalog()))
    assert CHECKED_IN.read_text(encoding="utf-8") == fresh, (
        f"puppygraph/schema.json has drifted from the graph definition; regenerate it with: {REGENERATE}"
    )


def test_cli_prints_the_checked_in_schema_by_default():
    result = CliRunner().invoke(graph_app, ["schema"])
    assert result.exit_code == 0, result.output
    assert result.stdout == CHECKED_IN.read_text(encoding="utf-8")


@pytest.mark.parametrize("kind", list(CatalogKind))
def test_cli_writes_every_catalog_kind_to_a_file(kind, tmp_path):
    out = tmp_path / "schema.json"
    args = ["schema", "--catalog", kind.value, "--output", str(out), "--schema", "silver"]
    result = CliRunner().invoke(graph_app, args)
    assert result.exit_code == 0, result.output
    schema = json.loads(out.read_text())
    assert {_source(e)["schema"] for e in _elements(schema)} == {"silver"}
    assert schema["catalog"][0]["type"] == ("iceberg" if kind is CatalogKind.ICEBERG_REST else "deltalake")


def test_cli_options_reach_the_catalog():
    args = ["schema", "--catalog", "iceberg-rest", "--rest-uri", "https://polaris.example/api/catalog"]
    args += ["--s3-endpoint", "", "--no-s3-path-style", "--s3-region", "eu-west-1", "--no-rls"]
    result = CliRunner().invoke(graph_app, args)
    assert result.exit_code == 0, result.output
    schema = json.loads(result.stdout)
    catalog = schema["catalog"][0]
    assert catalog["metastore"]["uri"] == "https://polaris.example/api/catalog"
    assert "endpoint" not in catalog["storage"]
    assert catalog["storage"]["enableSsl"] == "true"
    assert catalog["storage"]["enablePathStyleAccess"] == "false"
    assert catalog["storage"]["region"] == "eu-west-1"
    assert "rowLevelSecurity" not in schema


def test_schema_uses_the_1x_top_level_sections():
    for schema in RENDERED.values():
        assert set(schema) == {"catalog", "node", "edge", "rowLevelSecurity"}
        assert [n["label"] for n in schema["node"]] == [v.label for v in VERTICES]
        assert [e["label"] for e in schema["edge"]] == [e.label for e in EDGES]


@pytest.mark.parametrize("kind", list(CatalogKind))
def test_every_table_and_column_named_exists_in_the_lake_with_a_compatible_type(kind):
    schema = RENDERED[kind]
    for element in _elements(schema):
        source = _source(element)
        spec = LAKE_TABLES[source["table"]]
        roles = ("id", "fromKey", "toKey", "attribute")
        fields = {f["name"]: f["type"] for role in roles for f in element.get(role, [])}
        mapped = {m["targetFieldName"]: m["sourceFieldName"] for m in source["mappedField"]}
        assert len(mapped) == len(source["mappedField"]), f"{element['label']}: a graph field is mapped twice"
        assert set(mapped) == set(fields), f"{element['label']}: every graph field is mapped from one column"
        for target, column in mapped.items():
            assert column in spec.schema.names, f"{element['label']}: {spec.name} has no column {column}"
            arrow_type = spec.schema.field(column).type
            assert COMPATIBLE[fields[target]](arrow_type), f"{spec.name}.{column}: {arrow_type} as {fields[target]}"
    rls = schema["rowLevelSecurity"]
    entitlements = LAKE_TABLES[rls["entitlementSource"]["table"]]
    for key, column in rls["entitlementSource"].items():
        if key.endswith("Column"):
            assert column in entitlements.schema.names
    for rule in rls["tableSecurityFilter"]:
        for condition in rule["filter"]:
            assert condition["column"] in LAKE_TABLES[rule["table"]].schema.names


@pytest.mark.parametrize("kind", list(CatalogKind))
def test_every_vertex_id_column_is_also_an_attribute(kind):
    for node in RENDERED[kind]["node"]:
        (id_column,) = _columns_of(node, "id")
        attributes = {f["name"] for f in node["attribute"]}
        assert id_column in attributes and id_column in _columns_of(node, "attribute"), node["label"]


def test_vertex_ids_and_edge_keys_are_tenant_scoped_composite_keys():
    graph_keys = _graph_keys()
    schema = RENDERED[CatalogKind.ICEBERG_REST]
    id_parts = {}
    for node in schema["node"]:
        (column,) = _columns_of(node, "id")
        parts = ["tenant_id"] if column == "tenant_id" else graph_keys[column]
        assert parts[0] == "tenant_id", f"{node['label']}.{column} is not scoped by tenant: {parts}"
        id_parts[node["label"]] = parts
    for edge in schema["edge"]:
        for role, label in (("fromKey", edge["fromNodeLabel"]), ("toKey", edge["toNodeLabel"])):
            (column,) = _columns_of(edge, role)
            parts = ["tenant_id"] if column == "tenant_id" else graph_keys[column]
            assert parts[0] == "tenant_id", f"{edge['label']}.{role} {column} is not scoped by tenant"
            assert len(parts) == len(id_parts[label]), f"{edge['label']}.{role} has not the shape of {label} ids"
        nodes = {n["label"]: n for n in schema["node"]}
        assert edge["fromKey"][0]["type"] == nodes[edge["fromNodeLabel"]]["id"][0]["type"]
        assert edge["toKey"][0]["type"] == nodes[edge["toNodeLabel"]]["id"][0]["type"]


@pytest.mark.parametrize("kind", list(CatalogKind))
def test_row_level_security_confines_every_node_and_edge_table_to_a_tenant(kind):
    schema = RENDERED[kind]
    rls = schema["rowLevelSecurity"]
    filtered = {rule["table"]: rule for rule in rls["tableSecurityFilter"]}
    assert set(filtered) == {_source(e)["table"] for e in _elements(schema)}
    assert set(filtered) == {spec.name for spec in graph_tables()}
    catalog = schema["catalog"][0]["name"]
    for rule in filtered.values():
        assert (rule["catalog"], rule["schema"]) == (catalog, "clawtrace")
        assert rule["filter"] == [{"column": "tenant_id", "resourceType": "tenant"}]
    source = rls["entitlementSource"]
    assert (source["catalog"], source["table"], source["resourceValueColumn"]) == (
        catalog,
        "graph_entitlements",
        "tenant_id",
    )


def test_row_level_security_can_be_left_out():
    schema = render_schema(IcebergRestCatalog(), SchemaOptions(row_level_security=False))
    assert "rowLevelSecurity" not in schema


REQUIRED = {
    CatalogKind.ICEBERG_REST: {
        "type": "iceberg",
        "metastore": {"type": "rest", "uri": str, "warehouse": str},
        "storage": {"type": "S3", "endpoint": str, "enablePathStyleAccess": "true", "region": str},
    },
    CatalogKind.DELTA_UNITY: {
        "type": "deltalake",
        "metastore": {"type": "unity", "host": str, "token": "${UNITY_TOKEN}", "databricksCatalogName": str},
    },
    CatalogKind.DELTA_GLUE: {
        "type": "deltalake",
        "metastore": {"type": "glue", "region": str, "useInstanceProfile": "false", "accessKey": str},
        "storage": {"type": "S3", "region": str},
    },
}


def _check(actual: dict[str, Any], required: dict[str, Any], path: str) -> None:
    for key, want in required.items():
        assert key in actual, f"{path}.{key} is missing"
        if isinstance(want, dict):
            _check(actual[key], want, f"{path}.{key}")
        elif want is str:
            assert isinstance(actual[key], str) and actual[key], f"{path}.{key} is empty"
        else:
            assert actual[key] == want, f"{path}.{key} is {actual[key]!r}, not {want!r}"


@pytest.mark.parametrize("kind", list(CatalogKind))
def test_each_catalog_kind_has_the_fields_its_docs_require(kind):
    (catalog,) = RENDERED[kind]["catalog"]
    assert catalog["name"] == "clawtrace"
    _check(catalog, REQUIRED[kind], kind.value)


def _secrets(value: Any, key: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _secrets(v, k)
    elif isinstance(value, list):
        for v in value:
            yield from _secrets(v, key)
    elif key in SECRET_FIELDS:
        yield key, value


@pytest.mark.parametrize("kind", list(CatalogKind))
def test_no_secret_value_is_ever_written(kind):
    found = list(_secrets(RENDERED[kind]))
    assert found or kind is CatalogKind.DELTA_GLUE
    for key, value in found:
        assert re.fullmatch(r"\$\{[A-Z][A-Z0-9_]*\}", value), f"{key} holds a value, not a ${{VAR}} placeholder"
    assert list(_secrets(json.loads(CHECKED_IN.read_text()))) == [
        ("accessKey", "${S3_ACCESS_KEY}"),
        ("secretKey", "${S3_SECRET_KEY}"),
    ]


def test_instance_profiles_leave_no_keys_in_the_schema():
    (catalog,) = render_schema(DeltaGlueCatalog())["catalog"]
    assert list(_secrets(catalog)) == []
    assert catalog["metastore"]["useInstanceProfile"] == "true"


def test_entitlements_give_each_tenant_one_user_allowed_only_that_tenant():
    tenants = pa.table({"tenant_id": ["t-b", "t-a", "t-b", None], "first_seen_ts_ms": [1, 2, 3, 4]})
    rows = entitlements_rows(tenants)
    assert rows.schema == ENTITLEMENTS.schema
    assert rows.to_pylist() == [
        {"puppygraph_user": "ct_t-a", "resource_type": "tenant", "tenant_id": "t-a", "is_authorized": True},
        {"puppygraph_user": "ct_t-b", "resource_type": "tenant", "tenant_id": "t-b", "is_authorized": True},
    ]
    assert puppygraph_user("t-a") == "ct_t-a"


def test_entitlements_rows_are_unique_on_the_table_key():
    rows = entitlements_rows(pa.table({"tenant_id": ["x", "y", "x"]})).to_pylist()
    keys = [tuple(r[k] for k in ENTITLEMENTS.keys) for r in rows]
    assert len(keys) == len(set(keys)) == 2


def test_entitlements_of_no_tenants_is_an_empty_table():
    rows = entitlements_rows(pa.table({"tenant_id": pa.array([], pa.string())}))
    assert rows.num_rows == 0 and rows.schema == ENTITLEMENTS.schema


def test_entitlements_need_a_tenant_column():
    with pytest.raises(KeyError, match="tenant_id"):
        entitlements_rows(pa.table({"agent_id": ["a"]}))
