"""One writer per step and lake: flock on a local lake, a conditional-PUT lease on an object store."""

from __future__ import annotations

from datetime import timedelta

import pytest

from clawtrace_pipelines.core.lake.storage import LakeStorage
from clawtrace_pipelines.core.settings import Settings
from clawtrace_pipelines.lib.lake_lock import LakeLock, LockTimeoutError


def _settings(kind: str, tmp_path, request: pytest.FixtureRequest) -> Settings:
    if kind == "s3":
        return request.getfixturevalue("s3_settings")
    return Settings(lake=str(tmp_path / "lake"))


@pytest.mark.parametrize("kind", ["local", "s3"])
def test_a_held_lock_makes_a_second_writer_wait_and_then_lets_it_in(kind, tmp_path, request) -> None:
    storage = LakeStorage(_settings(kind, tmp_path, request))
    first = LakeLock(storage, "silver")
    with first.hold():
        with pytest.raises(LockTimeoutError), LakeLock(storage, "silver", wait_seconds=0.3).hold():
            pass
        # Another step's lock is another lock.
        with LakeLock(storage, "graph", wait_seconds=0.3).hold():
            pass
    with LakeLock(storage, "silver", wait_seconds=0.3).hold():
        pass


def test_an_expired_lease_of_a_dead_holder_is_broken(s3_settings: Settings) -> None:
    storage = LakeStorage(s3_settings)
    crashed = LakeLock(storage, "silver", ttl=timedelta(seconds=-1))
    holding = crashed.hold()
    holding.__enter__()  # never left: the holder died
    with LakeLock(storage, "silver", wait_seconds=5).hold():
        assert storage.read_json("state/locks/silver.json")["owner"] != crashed.owner
    # A live lease is not broken.
    with LakeLock(storage, "silver").hold():
        with pytest.raises(LockTimeoutError), LakeLock(storage, "silver", wait_seconds=0.3).hold():
            pass
