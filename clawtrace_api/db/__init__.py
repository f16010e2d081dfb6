"""The API's SQL database: tenants, agents, API keys (SQLAlchemy 2, Alembic migrations)."""
