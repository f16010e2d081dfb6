"""Graph settings: the Bolt password is a secret until the driver is built; the trace horizon has its default."""

from __future__ import annotations

from pydantic import SecretStr

from clawtrace_pipelines.core.graph.bolt import auth_from_settings
from clawtrace_pipelines.core.settings import Settings


def test_the_graph_password_is_never_shown_and_stays_secret_until_the_driver():
    settings = Settings(graph="bolt://127.0.0.1:1", graph_user="ct_x", graph_password="s3cret-value")
    assert "s3cret-value" not in repr(settings) and "s3cret-value" not in str(settings.model_dump())
    user, password = auth_from_settings(settings)
    assert user == "ct_x" and isinstance(password, SecretStr) and password.get_secret_value() == "s3cret-value"
    assert auth_from_settings(Settings()) is None


def test_trace_max_days_defaults_to_a_week_and_reads_the_environment(monkeypatch):
    assert Settings().trace_max_days == 7
    monkeypatch.setenv("CLAWTRACE_TRACE_MAX_DAYS", "3")
    assert Settings().trace_max_days == 3
