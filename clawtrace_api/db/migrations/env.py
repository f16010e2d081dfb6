"""Alembic environment: runs on the engine `clawtrace_api.db.engine` hands over (no alembic.ini, no env vars)."""

from __future__ import annotations

from alembic import context

from clawtrace_api.db.models import Base

engine = context.config.attributes["engine"]
with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
