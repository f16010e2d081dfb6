"""DuckDB with its lake extensions loaded from the `duckdb-extension-*` wheels, never from the network.

DuckDB normally downloads (autoinstalls) and autoloads extensions on first use; build hosts and many
production hosts cannot reach extensions.duckdb.org. The wheels ship each extension at
`<package>/extensions/v<duckdb version>/<name>.duckdb_extension`, so `connect` turns autoinstall and
autoload off and LOADs those files by path.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
import threading
from pathlib import Path
from urllib.parse import urlsplit

import duckdb

from clawtrace_pipelines.core.errors import ClawTraceError
from clawtrace_pipelines.core.settings import Settings

# iceberg reads Avro manifests through the avro extension, so avro must be loaded first.
LAKE_EXTENSIONS = ("avro", "httpfs", "delta", "iceberg")
# Extensions come only from the wheels: DuckDB must never try to download or autoload one.
OFFLINE_CONFIG = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}


class ExtensionNotFoundError(ClawTraceError):
    """A DuckDB extension whose `duckdb-extension-<name>` package (for this DuckDB version) is missing."""


def extension_path(name: str) -> Path:
    """The extension file shipped in the `duckdb_extension_<name>` package for the installed DuckDB.

    Args:
        name: the extension name, e.g. `delta`.

    Returns:
        The path of `<name>.duckdb_extension` inside the package.

    Raises:
        ExtensionNotFoundError: the package is not installed or has no file for this DuckDB version.
    """
    package = f"duckdb_extension_{name}"
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise ExtensionNotFoundError(
            f"DuckDB extension {name!r} is not installed: add the duckdb-extension-{name}=={duckdb.__version__} "
            "package (DuckDB cannot download extensions here)"
        )
    path = Path(spec.origin).parent / "extensions" / f"v{duckdb.__version__}" / f"{name}.duckdb_extension"
    if not path.is_file():
        raise ExtensionNotFoundError(
            f"{package} has no extension for DuckDB {duckdb.__version__} at {path}: pin "
            f"duckdb-extension-{name} to the duckdb version"
        )
    return path


@functools.cache
def _platform() -> str:
    con = duckdb.connect(config=dict(OFFLINE_CONFIG))
    try:
        row = con.execute("PRAGMA platform").fetchone()
    finally:
        con.close()
    return str(row[0]) if row else "unknown"


def autoload_directory(cache: Path | None = None) -> Path:
    """A DuckDB `extension_directory` whose lake extensions are the wheels' files, for connections that load
    an extension on its first use (autoload on, autoinstall off) instead of up front.

    LOADing all four costs about 0.6 s per connection (delta alone 0.27 s); a tick's dbt build opens one and
    none of its models calls a lake function. With this directory, `delta_scan` in an analyst's model still
    works: DuckDB finds the file here, and iceberg's own autoload brings avro. Nothing is downloaded
    (autoinstall stays off), and DuckDB still checks each file's signature.

    The layout is DuckDB's, `<dir>/v<version>/<platform>/<name>.duckdb_extension`, each a symlink to the wheel's
    file, under `$XDG_CACHE_HOME/clawtrace/duckdb-extensions/<sha256(the files' folder)[:16]>` (default
    `~/.cache`): one folder per environment, so two virtualenvs on a host never share one.

    Args:
        cache: the cache root instead of `$XDG_CACHE_HOME` (tests).

    Returns:
        The directory, its links in place.

    Raises:
        ExtensionNotFoundError: an extension package is missing.
        OSError: the cache folder cannot be written (a read-only home).
    """
    files = {name: extension_path(name) for name in LAKE_EXTENSIONS}
    base = cache or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    digest = hashlib.sha256("\0".join(str(p) for p in files.values()).encode()).hexdigest()[:16]
    root = base / "clawtrace" / "duckdb-extensions" / digest
    folder = root / f"v{duckdb.__version__}" / _platform()
    folder.mkdir(parents=True, exist_ok=True)
    for name, target in files.items():
        link = folder / f"{name}.duckdb_extension"
        if link.is_symlink() and Path(os.readlink(link)) == target:
            continue
        # Another process may be linking the same folder: build the link aside and rename it into place.
        spare = folder / f".{name}.{os.getpid()}.{threading.get_ident()}.tmp"
        spare.unlink(missing_ok=True)
        spare.symlink_to(target)
        os.replace(spare, link)
    return root


def connect(settings: Settings | None = None, database: str = ":memory:") -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with avro, httpfs, delta and iceberg loaded offline, and the lake's S3
    credentials as a secret when the lake is on S3.

    Args:
        settings: the lake whose credentials to register; None registers none.
        database: a database file, or `:memory:`.

    Returns:
        An open connection; the caller closes it.

    Raises:
        ExtensionNotFoundError: an extension package is missing.
    """
    paths = [extension_path(name) for name in LAKE_EXTENSIONS]
    con = duckdb.connect(database, config=dict(OFFLINE_CONFIG))
    try:
        load_lake_extensions(con, settings, paths)
    except Exception:
        con.close()
        raise
    return con


def load_lake_extensions(
    con: duckdb.DuckDBPyConnection, settings: Settings | None, paths: list[Path] | None = None
) -> None:
    """LOAD avro, httpfs, delta and iceberg from their wheels into an open connection (one opened elsewhere,
    e.g. by dagster-duckdb), and register the lake's S3 secret when the lake is on S3.

    Args:
        con: the connection; open it with `OFFLINE_CONFIG` so nothing is fetched on first use.
        settings: the lake whose credentials to register; None registers none.
        paths: the extension files, when already resolved.

    Raises:
        ExtensionNotFoundError: an extension package is missing.
    """
    for path in paths if paths is not None else [extension_path(name) for name in LAKE_EXTENSIONS]:
        con.execute(f"LOAD '{_quote(str(path))}'")
    if settings is not None and settings.lake_is_remote and settings.lake.startswith(("s3://", "s3a://")):
        _create_s3_secret(con, settings)


def _create_s3_secret(con: duckdb.DuckDBPyConnection, settings: Settings) -> None:
    """Register the lake's S3 endpoint and keys as a (temporary, in-memory) DuckDB secret."""
    options = ["TYPE s3", "REGION ?"]
    params: list[str] = [settings.s3_region]
    if settings.s3_access_key_id and settings.s3_secret_access_key:
        options += ["KEY_ID ?", "SECRET ?"]
        params += [settings.s3_access_key_id.get_secret_value(), settings.s3_secret_access_key.get_secret_value()]
    else:
        # No keys in the settings: let DuckDB walk the standard AWS chain, as s3fs and delta-rs do.
        options.append("PROVIDER credential_chain")
    if settings.s3_endpoint_url:
        endpoint = urlsplit(settings.s3_endpoint_url)
        # DuckDB wants host:port without a scheme; S3-compatible stores (MinIO, moto) need path-style URLs.
        options += ["ENDPOINT ?", "URL_STYLE 'path'", f"USE_SSL {'false' if endpoint.scheme == 'http' else 'true'}"]
        params.append(endpoint.netloc)
    con.execute(f"CREATE OR REPLACE SECRET clawtrace_lake ({', '.join(options)})", params)


def _quote(text: str) -> str:
    return text.replace("'", "''")
