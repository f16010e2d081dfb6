"""A real PostgreSQL server for tests: `initdb` and `pg_ctl` (Debian's postgresql package) in a temp folder,
listening on 127.0.0.1 at a free port, trust auth, stopped and removed afterwards."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.api_server import free_port


def _binary(name: str) -> str:
    found = shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))), None)
    if found is None:
        raise RuntimeError(f"{name} not found: install Debian's postgresql package (.ci/run does)")
    return found


@contextmanager
def postgres_url() -> Iterator[str]:
    """A fresh cluster; yields its SQLAlchemy URL (`postgresql+psycopg://`)."""
    base = Path(tempfile.mkdtemp(prefix="clawtrace-pg-"))
    # The server refuses to run as root: as root, run it as the postgres user, which must reach the folder.
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    os.chmod(base, 0o777)
    data = base / "data"
    port = free_port()
    subprocess.run(
        [*as_user, _binary("initdb"), "-D", str(data), "-U", "clawtrace", "--auth=trust", "-E", "UTF8"],
        check=True,
        capture_output=True,
    )
    options = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run(
        [*as_user, _binary("pg_ctl"), "-D", str(data), "-o", options, "-l", str(base / "log"), "-w", "start"],
        check=True,
        capture_output=True,
    )
    try:
        yield f"postgresql+psycopg://clawtrace@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*as_user, _binary("pg_ctl"), "-D", str(data), "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)
