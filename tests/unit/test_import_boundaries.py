"""The API and the kernel must load without Dagster (ARCHITECTURE.md, layout)."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    "module",
    [
        "clawtrace_api.main",
        "clawtrace_pipelines",
        "clawtrace_pipelines.core.lake.storage",
        "clawtrace_pipelines.lib.bronze",
    ],
)
def test_module_loads_without_dagster(module):
    code = f"import sys, {module}; bad = [m for m in ('dagster', 'dbt') if m in sys.modules]; print(bad)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_settings_are_not_read_at_import():
    code = (
        "import os; os.environ['CLAWTRACE_TABLE_FORMAT'] = 'bogus'; "
        "import clawtrace_pipelines.definitions, clawtrace_api.main; print('ok')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().endswith("ok")
