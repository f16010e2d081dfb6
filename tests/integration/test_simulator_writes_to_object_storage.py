"""The simulator writes the same raw layout to an S3 lake (moto on 127.0.0.1) as to a local folder."""

from __future__ import annotations

from pathlib import Path

from clawtrace_pipelines.core.lake.storage import LakeStorage
from clawtrace_pipelines.core.settings import Settings
from clawtrace_pipelines.simulator import simulate
from tests.unit.simulated_lake import NOW, raw_files, small_config


def test_simulate_to_s3_matches_a_local_run(s3_settings: Settings, tmp_path: Path) -> None:
    config = small_config(tenants=1, traces=8)
    remote = simulate(s3_settings, config, now=NOW)
    simulate(Settings(lake=str(tmp_path)), config, now=NOW)

    storage = LakeStorage(s3_settings)
    files = {f.path: storage.read_bytes(f.path) for f in storage.walk_files("raw/v1")}
    assert files == raw_files(tmp_path)
    (arrival,) = remote.arrival_records
    assert {f["path"] for f in storage.read_json(arrival)["files"]} == set(files)
    assert storage.read_json(remote.path) == remote.to_dict()
