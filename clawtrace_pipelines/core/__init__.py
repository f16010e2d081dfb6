"""The Dagster-free kernel shared by the pipelines and the API.

Nothing here imports Dagster or FastAPI, so `clawtrace_api` can use it without loading either.
"""
