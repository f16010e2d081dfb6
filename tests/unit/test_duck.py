"""DuckDB loads its lake extensions from the installed wheels, with downloads switched off."""

from __future__ import annotations

import sysconfig
from pathlib import Path

import pytest

from clawtrace_pipelines.core.lake.duck import LAKE_EXTENSIONS, ExtensionNotFoundError, connect, extension_path
from clawtrace_pipelines.core.settings import Settings


def test_connect_loads_every_lake_extension_with_autoinstall_off() -> None:
    con = connect()

    loaded = {name for (name,) in con.execute("SELECT extension_name FROM duckdb_extensions() WHERE loaded").fetchall()}
    settings = dict(
        con.execute(
            "SELECT name, value FROM duckdb_settings() "
            "WHERE name IN ('autoinstall_known_extensions', 'autoload_known_extensions')"
        ).fetchall()
    )

    assert set(LAKE_EXTENSIONS) <= loaded
    assert settings == {"autoinstall_known_extensions": "false", "autoload_known_extensions": "false"}


def test_extension_paths_stay_inside_site_packages() -> None:
    site_packages = Path(sysconfig.get_paths()["purelib"]).resolve()

    for name in LAKE_EXTENSIONS:
        path = extension_path(name).resolve()
        assert path.is_file()
        assert path.is_relative_to(site_packages), path


def test_missing_extension_package_is_a_clear_error() -> None:
    with pytest.raises(ExtensionNotFoundError, match="duckdb-extension-nonexistent"):
        extension_path("nonexistent")


def test_s3_lake_registers_a_secret_without_exposing_it() -> None:
    settings = Settings(
        lake="s3://bucket/lake",
        s3_endpoint_url="http://127.0.0.1:9",
        s3_access_key_id="key-id",
        s3_secret_access_key="very-secret",
    )

    con = connect(settings)

    (secret,) = con.execute("SELECT secret_string FROM duckdb_secrets() WHERE type = 's3'").fetchone()
    assert "very-secret" not in secret
    assert "127.0.0.1:9" in secret
    assert "use_ssl=false" in secret.lower()


def test_local_lake_registers_no_secret() -> None:
    con = connect(Settings(lake="/tmp/lake"))

    assert con.execute("SELECT count(*) FROM duckdb_secrets()").fetchone() == (0,)
