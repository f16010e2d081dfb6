"""Shared fixtures: a lake in a temp dir per table format, and an S3 API served by moto on 127.0.0.1."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from clawtrace_pipelines.core.settings import Settings

# dbt and Dagster must never try to phone home from tests.
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")
# dbt's target folder (manifest, partial-parse cache) per xdist worker: workers parse and run dbt at the same
# time. Set unconditionally in a worker, since workers inherit the controller's environment (and its value).
_WORKER = os.environ.get("PYTEST_XDIST_WORKER")
if _WORKER or "CLAWTRACE_DBT_TARGET" not in os.environ:
    os.environ["CLAWTRACE_DBT_TARGET"] = os.path.join(
        os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "dbt", "target", f"pytest-{_WORKER or 'main'}"
    )

S3_KEY = "testing-key"
S3_SECRET = "testing-secret"


@pytest.fixture(params=["delta", "iceberg"])
def table_format(request: pytest.FixtureRequest) -> str:
    """Runs a lake test once per table format."""
    return str(request.param)


@pytest.fixture
def lake_settings(tmp_path, table_format: str) -> Settings:
    """Settings for a fresh local lake under tmp_path, in the parametrized table format."""
    return Settings(lake=str(tmp_path / "lake"), table_format=table_format)


@pytest.fixture
def delta_settings(tmp_path) -> Settings:
    return Settings(lake=str(tmp_path / "lake"), table_format="delta")


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """An S3 API (moto in server mode) on 127.0.0.1; yields its endpoint URL."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3_settings(s3_endpoint: str, tmp_path, request: pytest.FixtureRequest) -> Settings:
    """Settings for a lake in a fresh bucket of the moto server (Delta; tests may copy with iceberg)."""
    import uuid

    import boto3

    bucket = f"lake-{uuid.uuid4().hex[:12]}"
    boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        aws_access_key_id=S3_KEY,
        aws_secret_access_key=S3_SECRET,
        region_name="us-east-1",
    ).create_bucket(Bucket=bucket)
    return Settings(
        lake=f"s3://{bucket}/clawtrace",
        s3_endpoint_url=s3_endpoint,
        s3_access_key_id=S3_KEY,
        s3_secret_access_key=S3_SECRET,
        iceberg_catalog=f"sqlite:///{tmp_path}/iceberg-catalog.db",
    )
