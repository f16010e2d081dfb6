"""`clawtrace graph`: render the PuppyGraph schema of the product graph for a lake catalog.

Secrets are not options: the schema carries `${VAR}` placeholders, substituted when it is uploaded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from clawtrace_pipelines.core.graph.puppygraph import (
    CatalogKind,
    DeltaGlueCatalog,
    DeltaUnityCatalog,
    IcebergRestCatalog,
    LakeCatalog,
    S3Storage,
    SchemaOptions,
    render_schema,
    schema_json,
)

graph_app = typer.Typer(no_args_is_help=True, add_completion=False, help="The product graph in PuppyGraph.")

_REST, _UNITY, _GLUE = IcebergRestCatalog(), DeltaUnityCatalog(), DeltaGlueCatalog()
_OPTIONS = SchemaOptions()


@graph_app.callback()
def _graph() -> None:
    """The product graph in PuppyGraph."""


def _catalog(
    kind: CatalogKind,
    *,
    rest_uri: str,
    warehouse: str,
    s3_endpoint: str | None,
    s3_region: str | None,
    s3_path_style: bool | None,
    s3_instance_profile: bool | None,
    unity_host: str,
    unity_catalog: str,
    glue_region: str,
    glue_instance_profile: bool,
    glue_role_arn: str | None,
) -> LakeCatalog:
    if kind is CatalogKind.DELTA_UNITY:
        return DeltaUnityCatalog(host=unity_host, databricks_catalog=unity_catalog)
    # Glue and its bucket usually share one identity: keys for both, or the instance profile for both.
    base = _REST.storage if kind is CatalogKind.ICEBERG_REST else S3Storage(use_instance_profile=glue_instance_profile)
    storage = S3Storage(
        region=s3_region or base.region,
        endpoint=base.endpoint if s3_endpoint is None else (s3_endpoint or None),
        path_style=base.path_style if s3_path_style is None else s3_path_style,
        use_instance_profile=base.use_instance_profile if s3_instance_profile is None else s3_instance_profile,
    )
    if kind is CatalogKind.ICEBERG_REST:
        return IcebergRestCatalog(uri=rest_uri, warehouse=warehouse, storage=storage)
    return DeltaGlueCatalog(
        region=glue_region, use_instance_profile=glue_instance_profile, iam_role_arn=glue_role_arn, storage=storage
    )


@graph_app.command()
def schema(
    catalog: Annotated[CatalogKind, typer.Option(help="Where the lake's tables are registered")] = (
        CatalogKind.ICEBERG_REST
    ),
    name: Annotated[str, typer.Option(help="The catalog's name inside PuppyGraph")] = _OPTIONS.catalog_name,
    namespace: Annotated[
        str, typer.Option("--schema", help="Iceberg namespace, Unity schema or Glue database of the tables")
    ] = _OPTIONS.schema,
    rest_uri: Annotated[str, typer.Option(help="iceberg-rest: the REST catalog URI")] = _REST.uri,
    warehouse: Annotated[str, typer.Option(help="iceberg-rest: the warehouse")] = _REST.warehouse,
    s3_endpoint: Annotated[
        str | None, typer.Option(help="S3-compatible endpoint (MinIO); '' for AWS S3 [iceberg-rest: minio:9000]")
    ] = None,
    s3_region: Annotated[str | None, typer.Option(help="S3 region [us-east-1]")] = None,
    s3_path_style: Annotated[bool | None, typer.Option(help="Path-style S3 URLs (MinIO) [iceberg-rest: on]")] = None,
    s3_instance_profile: Annotated[
        bool | None, typer.Option(help="S3 credentials from the instance profile, not keys [delta-glue: on]")
    ] = None,
    unity_host: Annotated[str, typer.Option(help="delta-unity: the Databricks workspace URL")] = _UNITY.host,
    unity_catalog: Annotated[
        str, typer.Option(help="delta-unity: the Unity catalog holding the schema")
    ] = _UNITY.databricks_catalog,
    glue_region: Annotated[str, typer.Option(help="delta-glue: the Glue Data Catalog's region")] = _GLUE.region,
    glue_instance_profile: Annotated[
        bool, typer.Option(help="delta-glue: Glue credentials from the instance profile, not keys")
    ] = _GLUE.use_instance_profile,
    glue_role_arn: Annotated[str | None, typer.Option(help="delta-glue: an IAM role to assume")] = None,
    rls: Annotated[bool, typer.Option(help="Confine every table to the user's tenant (rowLevelSecurity)")] = True,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write here instead of stdout")] = None,
) -> None:
    """Render the PuppyGraph 1.x schema (catalog, nodes, edges, row-level security) as JSON."""
    lake_catalog = _catalog(
        catalog,
        rest_uri=rest_uri,
        warehouse=warehouse,
        s3_endpoint=s3_endpoint,
        s3_region=s3_region,
        s3_path_style=s3_path_style,
        s3_instance_profile=s3_instance_profile,
        unity_host=unity_host,
        unity_catalog=unity_catalog,
        glue_region=glue_region,
        glue_instance_profile=glue_instance_profile,
        glue_role_arn=glue_role_arn,
    )
    options = SchemaOptions(catalog_name=name, schema=namespace, row_level_security=rls)
    text = schema_json(render_schema(lake_catalog, options))
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {output}", err=True)


if __name__ == "__main__":
    graph_app()
