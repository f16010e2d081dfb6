"""The API and the kernel must load without Dagster (ARCHITECTURE.md, layout)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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


def test_the_kernel_imports_nothing_from_lib():
    code = (
        "import importlib, pkgutil, sys, clawtrace_pipelines.core as core\n"
        "for m in pkgutil.walk_packages(core.__path__, 'clawtrace_pipelines.core.'): importlib.import_module(m.name)\n"
        "print(sorted(m for m in sys.modules if m.startswith('clawtrace_pipelines.lib')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_no_kernel_module_names_lib_even_in_a_function():
    core = Path(__file__).resolve().parents[2] / "clawtrace_pipelines" / "core"
    assert [p.name for p in core.rglob("*.py") if "clawtrace_pipelines.lib" in p.read_text()] == []
