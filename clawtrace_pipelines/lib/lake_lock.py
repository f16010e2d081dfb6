"""One writer at a time per step and lake, across processes and deployments (`clawtrace tick` during a Dagster
run, two code servers on one bucket).

Silver must not overlap itself: two runs that read the lake at different moments and publish in the other
order would leave the older computation of a trace in place. Dagster's pool only serializes runs of one
instance; this lock serializes every writer of the lake.

- A local lake: `flock` on `<lake>/state/locks/<name>.lock`. The kernel releases it when the holder dies, so
  a crashed run never blocks the next one.
- An object store: a lease object `state/locks/<name>.json` created with a conditional PUT (If-None-Match),
  naming its holder and an expiry. A holder that died leaves a lease that the next writer breaks once it has
  expired; `ttl` must exceed the longest step (default 30 minutes, renewed on every `refresh()`).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import socket
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

from clawtrace_pipelines.core.lake.storage import STATE_PREFIX, LakeStorage

log = logging.getLogger(__name__)

LOCKS_DIR = f"{STATE_PREFIX}/locks"


class LockTimeoutError(RuntimeError):
    """Another writer held the lock for longer than the caller was willing to wait."""


class LakeLock:
    """A named exclusive lock on one lake (`with LakeLock(storage, "silver").hold(): ...`)."""

    def __init__(
        self, storage: LakeStorage, name: str, *, wait_seconds: float = 1800.0, ttl: timedelta = timedelta(minutes=30)
    ) -> None:
        self.storage = storage
        self.name = name
        self.wait_seconds = wait_seconds
        self.ttl = ttl
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        """Wait for the lock (up to `wait_seconds`), hold it for the block, release it."""
        if self.storage.settings.lake_is_remote:
            with self._lease():
                yield
        else:
            with self._flock():
                yield

    @contextlib.contextmanager
    def _flock(self) -> Iterator[None]:
        path = Path(self.storage.full(f"{LOCKS_DIR}/{self.name}.lock"))
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a+b") as handle:
            deadline = time.monotonic() + self.wait_seconds
            while True:
                try:
                    fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise LockTimeoutError(f"the {self.name} lock of {self.storage.root} is held") from None
                    time.sleep(0.05)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    @contextlib.contextmanager
    def _lease(self) -> Iterator[None]:
        path = self.storage.full(f"{LOCKS_DIR}/{self.name}.json")
        deadline = time.monotonic() + self.wait_seconds
        while not self._try_create(path):
            self._break_if_expired(path)
            if time.monotonic() > deadline:
                raise LockTimeoutError(f"the {self.name} lease of {self.storage.root} is held")
            time.sleep(0.5)
        try:
            yield
        finally:
            with contextlib.suppress(FileNotFoundError):
                if self._read(path).get("owner") == self.owner:
                    self.storage.fs.rm_file(path)

    def _try_create(self, path: str) -> bool:
        body = orjson.dumps({"owner": self.owner, "expires": (datetime.now(UTC) + self.ttl).isoformat()})
        try:
            self.storage.fs.pipe_file(path, body, mode="create")
        except FileExistsError:
            return False
        return True

    def _read(self, path: str) -> dict[str, str]:
        value = orjson.loads(self.storage.fs.cat_file(path))
        return value if isinstance(value, dict) else {}

    def _break_if_expired(self, path: str) -> None:
        try:
            lease = self._read(path)
        except FileNotFoundError:
            return
        except orjson.JSONDecodeError:
            lease = {}
        expires = lease.get("expires")
        if expires is None or datetime.fromisoformat(expires) < datetime.now(UTC):
            log.warning("breaking the expired %s lease of %s", self.name, lease.get("owner", "?"))
            with contextlib.suppress(FileNotFoundError):
                self.storage.fs.rm_file(path)
