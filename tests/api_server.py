"""A real API server on 127.0.0.1 for tests: uvicorn in a thread (`serve_app`) or in a child process
(`ApiProcess`, for tests that kill the server), plus an HTTP client bound to it."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx2 as httpx
import uvicorn

from clawtrace_api.main import create_app
from clawtrace_pipelines.core.settings import Settings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Running:
    url: str
    app: Any

    def client(self, key: str | None = None, **kwargs: Any) -> httpx.Client:
        headers = {"authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30.0, **kwargs)

    def flush(self) -> None:
        """Move every answered event from the ingest spool into the raw zone now (its timer does it each
        `ingest_spool_flush_ms`), so a test reads the raw zone without waiting on a clock."""
        runtime = self.app.state.services.extras.get("ingest")
        if runtime is not None and runtime.writer.loop is not None:
            asyncio.run_coroutine_threadsafe(runtime.writer.flush(), runtime.writer.loop).result(timeout=30)


@contextmanager
def serve_asgi(app: Any, what: str = "the API server", **config: Any) -> Iterator[str]:
    """An ASGI app served by uvicorn on 127.0.0.1 (a free port) in a thread until the block ends; yields its URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", **config))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@contextmanager
def serve_app(settings: Settings) -> Iterator[Running]:
    """`create_app(settings)` served by uvicorn on 127.0.0.1 in a thread until the block ends."""
    app = create_app(settings)
    with serve_asgi(app, lifespan="on") as url:
        yield Running(url=url, app=app)


class ApiProcess:
    """`clawtrace serve` in a child process, environment from `settings`; `kill()` is a crash (SIGKILL)."""

    def __init__(self, settings: Settings, extra_env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "CLAWTRACE_LAKE": settings.lake, "CLAWTRACE_TABLE_FORMAT": settings.table_format}
        if settings.db:
            env["CLAWTRACE_DB"] = settings.db
        env.update(extra_env or {})
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "clawtrace_api.serve", "--host", "127.0.0.1", "--port", str(self.port)],
            env=env,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1.0).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.kill()
                raise RuntimeError("the API process did not start")
            time.sleep(0.05)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        """A clean stop (SIGTERM): uvicorn finishes its requests and the app's shutdown runs."""
        if self.proc.poll() is None:
            self.proc.terminate()
        self.proc.wait(timeout=60)

    def __enter__(self) -> ApiProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()
