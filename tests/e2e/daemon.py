"""`dagster-daemon run` as `make demo`'s `dagster dev` runs it, with the shipped instance settings, for e2e tests."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def start_daemon(lake: Path, home: Path) -> subprocess.Popen[bytes]:
    """A daemon on a new Dagster home `home` (the shipped dagster-instance.yaml) over the lake at `lake`."""
    home.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "dagster-instance.yaml", home / "dagster.yaml")
    env = {**os.environ, "CLAWTRACE_LAKE": str(lake), "DAGSTER_HOME": str(home), "DO_NOT_TRACK": "1"}
    return subprocess.Popen(
        [str(Path(sys.executable).parent / "dagster-daemon"), "run", "-w", str(ROOT / "workspace.yaml")],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
