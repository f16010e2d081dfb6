"""The database engine `CLAWTRACE_DB` names (default: SQLite in the lake's `state/api/`), migrated on open."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from clawtrace_pipelines.core.errors import ConfigError
from clawtrace_pipelines.core.settings import Settings

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"


def database_url(settings: Settings) -> str:
    """The SQLAlchemy URL in force: `CLAWTRACE_DB`, else a SQLite file beside a local lake's state."""
    if settings.db:
        return settings.db
    if settings.lake_is_remote:
        raise ConfigError(
            "CLAWTRACE_DB must be set when the lake is remote: the API's SQLite file cannot live in an "
            "object store (use postgresql+psycopg://...)"
        )
    folder = Path(settings.lake_path("state", "api"))
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / 'clawtrace.db'}"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL: readers never wait for the writer (the key cache refreshes while an admin writes);
    # busy_timeout: a second process (the CLI while the API runs) waits for the lock instead of failing.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def make_engine(settings: Settings, *, migrate: bool = True) -> Engine:
    """An engine on the database, upgraded to the newest schema (Alembic) unless `migrate` is False."""
    url = database_url(settings)
    engine = create_engine(url, pool_pre_ping=True)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    if migrate:
        upgrade(engine)
    return engine


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest revision (idempotent)."""
    command.upgrade(alembic_config(engine), "head")


def sessions(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)
