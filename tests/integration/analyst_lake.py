"""A small simulated lake through bronze and silver, built once per table format per test module."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from clawtrace_pipelines.core.settings import Settings
from clawtrace_pipelines.lib.bronze import run_bronze
from clawtrace_pipelines.lib.silver import run_silver
from clawtrace_pipelines.simulator import SimulationConfig, simulate

START = datetime(2026, 3, 1, 22, tzinfo=UTC)  # crosses midnight: spans on two dates
NOW = datetime(2026, 3, 3, tzinfo=UTC)


def build_lake(root: Path, table_format: str) -> Settings:
    """Simulated traffic of two tenants, loaded through bronze and silver."""
    settings = Settings(lake=str(root / "lake"), table_format=table_format)
    config = SimulationConfig(start=START, hours=3, tenants=2, agents_per_tenant=2, traces=4, seed=11)
    simulate(settings, config, now=NOW)
    run_bronze(settings, now=NOW)
    run_silver(settings)
    return settings


_BUILT: dict[str, Settings] = {}


def shared_lake(tmp_path_factory: pytest.TempPathFactory, table_format: str) -> Settings:
    """`build_lake` once per table format per test session: tests only read it."""
    if table_format not in _BUILT:
        _BUILT[table_format] = build_lake(tmp_path_factory.mktemp(f"analyst-{table_format}"), table_format)
    return _BUILT[table_format]
