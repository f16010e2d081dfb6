"""The ClawTrace HTTP API (FastAPI). Imports `clawtrace_pipelines.core`, never Dagster."""
