"""Installed as a wheel (no checkout), the package finds its dbt project and keeps dbt's target out of it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from clawtrace_pipelines.lib.dbt_runner import TARGET_ENV

REPO = Path(__file__).resolve().parents[2]
# What the wheel is built from: the project's metadata and the trees pyproject.toml ships.
SOURCES = ("pyproject.toml", "README.md", ".gitignore", "clawtrace_pipelines", "clawtrace_api", "dbt")

_INSPECT = """
import json
from pathlib import Path

import clawtrace_pipelines
from clawtrace_pipelines.lib import dbt_runner

project = dbt_runner.DBT_PROJECT_DIR
manifest = json.loads(dbt_runner.ensure_manifest().read_text())
print(json.dumps({
    "package": str(Path(clawtrace_pipelines.__file__).parent),
    "project": str(project),
    "files": sorted(str(p.relative_to(project)) for p in project.rglob("*") if p.is_file()),
    "target": str(dbt_runner.default_target_path()),
    "models": sorted(n["name"] for n in manifest["nodes"].values() if n["resource_type"] == "model"),
}))
"""


def _uv() -> str:
    uv = shutil.which("uv")
    if uv is None:
        pytest.fail("uv is not on PATH (make install provides it)")
    return uv


def _copy_sources(destination: Path) -> None:
    for name in SOURCES:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, destination / name, ignore=shutil.ignore_patterns("__pycache__", "target", "logs"))
        else:
            shutil.copy2(source, destination / name)
    # What a developer's checkout holds after a dbt run: none of it belongs in the wheel.
    for leftover in ("dbt/target/manifest.json", "dbt/logs/dbt.log"):
        (destination / leftover).parent.mkdir(parents=True, exist_ok=True)
        (destination / leftover).write_text("{}")


def test_installed_wheel_finds_its_dbt_project_and_parses_it(tmp_path: Path) -> None:
    source, dist, site, cache = (tmp_path / name for name in ("src", "dist", "site", "cache"))
    source.mkdir()
    _copy_sources(source)
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never"}
    subprocess.run(
        [_uv(), "build", "--wheel", "--offline", "--python", sys.executable, "--out-dir", str(dist), str(source)],
        check=True,
        capture_output=True,
        env=env,
    )
    (wheel,) = dist.glob("*.whl")
    subprocess.run(
        [_uv(), "pip", "install", "--offline", "--no-deps", "--python", sys.executable, "--target", str(site)]
        + [str(wheel)],
        check=True,
        capture_output=True,
        env=env,
    )
    # The installed copy comes first on the path, before the checkout the venv's editable install points at;
    # with no target override, dbt's folder is derived from the (here temporary) cache home.
    run_env = {k: v for k, v in env.items() if k != TARGET_ENV} | {
        "PYTHONPATH": str(site),
        "XDG_CACHE_HOME": str(cache),
    }
    result = subprocess.run([sys.executable, "-c", _INSPECT], capture_output=True, text=True, cwd=tmp_path, env=run_env)
    assert result.returncode == 0, result.stderr[-3000:]
    seen = json.loads(result.stdout.strip().splitlines()[-1])

    package = Path(seen["package"])
    assert package == site / "clawtrace_pipelines"
    assert Path(seen["project"]) == package / "dbt_project"
    assert {"dbt_project.yml", "profiles.yml", "models/silver/pg_traces.sql", "models/silver/_silver.yml"} <= set(
        seen["files"]
    )
    assert not [f for f in seen["files"] if f.startswith(("target/", "logs/"))]
    assert Path(seen["target"]).is_relative_to(cache) and not Path(seen["target"]).is_relative_to(site)
    assert {"stg_events", "pg_traces", "pg_spans", "span_rollup"} <= set(seen["models"])
    # Parsing wrote only into the cache: the installed package is unchanged.
    assert not (package / "dbt_project" / "target").exists()
