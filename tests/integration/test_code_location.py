"""The code location loads lazily: importing it parses no dbt project; Dagster's loader (workspace.yaml) builds it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from clawtrace_pipelines.lib.dbt_runner import TARGET_ENV

REPO = Path(__file__).resolve().parents[2]

# Lists the dbt target folder after importing the modules and again after building the definitions: the
# second listing shows the folder the runner uses is the one the first listing looked at.
_IMPORT_THEN_BUILD = """
import json, os, sys
from pathlib import Path

target = Path(os.environ[sys.argv[1]])

def listing():
    return sorted(str(p.relative_to(target)) for p in target.rglob("*")) if target.exists() else []

import clawtrace_pipelines.assets.silver
import clawtrace_pipelines.definitions
after_import = listing()
clawtrace_pipelines.definitions.defs()
print(json.dumps({"after_import": after_import, "after_build": listing()}))
"""


def _env(tmp_path: Path) -> dict[str, str]:
    env = {**os.environ, TARGET_ENV: str(tmp_path / "dbt-target"), "DAGSTER_HOME": str(tmp_path / "dagster")}
    (tmp_path / "dagster").mkdir(exist_ok=True)
    return env


def test_importing_the_code_location_runs_no_dbt_parse(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-c", _IMPORT_THEN_BUILD, TARGET_ENV],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
        env=_env(tmp_path),
    ).stdout
    seen = json.loads(out.strip().splitlines()[-1])
    assert seen["after_import"] == []
    assert "definitions/manifest.json" in seen["after_build"]


def test_workspace_yaml_loads_the_code_location(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(Path(sys.executable).with_name("dagster")), "definitions", "validate", "-w", "workspace.yaml"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=_env(tmp_path),
    )
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-2000:]
    assert "Validation successful for code location clawtrace_pipelines.definitions:defs" in log
