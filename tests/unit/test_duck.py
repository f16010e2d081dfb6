"""DuckDB loads its lake extensions from the installed wheels, with downloads switched off."""

from __future__ import annotations

import sysconfig
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
from deltalake import write_deltalake

from clawtrace_pipelines.core.lake.duck import (
    LAKE_EXTENSIONS,
    ExtensionNotFoundError,
    autoload_directory,
    connect,
    extension_path,
)
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


def _loaded(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {name for (name,) in con.execute("SELECT extension_name FROM duckdb_extensions() WHERE loaded").fetchall()}


def _lazy(directory: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": True})
    con.execute(f"SET extension_directory = '{directory}'")
    return con


def test_autoload_directory_loads_a_lake_extension_on_first_use_only(tmp_path: Path) -> None:
    table = tmp_path / "table"
    write_deltalake(str(table), pa.table({"n": [1, 2, 3]}))
    con = _lazy(autoload_directory(tmp_path / "cache"))

    assert not _loaded(con) & set(LAKE_EXTENSIONS)
    assert con.execute(f"SELECT sum(n) FROM delta_scan('{table}')").fetchone() == (6,)
    assert "delta" in _loaded(con)
    with pytest.raises(duckdb.Error):  # no such table; what matters is that the function exists
        con.execute(f"SELECT * FROM iceberg_scan('{tmp_path / 'missing'}')")
    assert {"iceberg", "avro"} <= _loaded(con)  # iceberg brings avro itself


def test_autoload_directory_links_the_wheels_files_and_mends_a_stale_link(tmp_path: Path) -> None:
    root = autoload_directory(tmp_path)
    (folder,) = root.glob(f"v{duckdb.__version__}/*")
    stale = folder / "delta.duckdb_extension"
    stale.unlink()
    stale.symlink_to(tmp_path / "elsewhere")

    assert autoload_directory(tmp_path) == root
    for name in LAKE_EXTENSIONS:
        assert (folder / f"{name}.duckdb_extension").resolve() == extension_path(name).resolve()
    assert sorted(p.name for p in folder.iterdir()) == sorted(f"{n}.duckdb_extension" for n in LAKE_EXTENSIONS)


def test_without_the_directory_nothing_is_found_or_fetched(tmp_path: Path) -> None:
    con = _lazy(tmp_path / "empty")

    with pytest.raises(duckdb.Error, match="(?i)delta"):
        con.execute("SELECT * FROM delta_scan('/nowhere')")
