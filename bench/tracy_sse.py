"""How fast Tracy's stream passes a model's first token on: from the moment the Messages API stand-in sends its
first text delta to the moment the client reads the `text` event from the API.

    .venv/bin/python bench/tracy_sse.py [--samples 50] [--delay-ms 20] [--workdir bench/out]

1. An empty lake and a fresh API database with one tenant and a read key (a text-only answer reads no graph).
2. The Anthropic stand-in (tests/anthropic_standin.py) serves on 127.0.0.1 in this process, `--delay-ms` before
   each of its stream events (so its first token is well apart from the request), and stamps the moment it
   hands its first text delta to the server (`time.perf_counter`, the same clock as the client below).
3. `python -m clawtrace_api.serve` (one uvicorn worker, what `clawtrace serve` runs) points at it through
   ANTHROPIC_BASE_URL.
4. Per sample: one `POST /v1/tracy/chat` read as a stream; the client stamps the first `event: text` line.
   Also the time to the first byte of the response (the `session` event), from the request.

Prints one line per figure, then one JSON object on the last line. Target: p95 of token -> text event < 100 ms.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import emit, serve_api  # noqa: E402
from bench.graph import _pct  # noqa: E402

TARGET_P95_MS = 100.0
WARMUP = 3


def _stamping_stream(stamps: list[float]) -> Any:
    """The stand-in's stream generator, stamping when its first text delta leaves."""
    from tests import anthropic_standin

    plain = anthropic_standin._sse

    async def stream(message: dict[str, Any], delay_s: float) -> AsyncIterator[bytes]:
        first = True
        async for chunk in plain(message, delay_s):
            if first and b'"text_delta"' in chunk:
                stamps.append(time.perf_counter())
                first = False
            yield chunk

    anthropic_standin._sse = stream
    return plain


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=50)
    parser.add_argument("--delay-ms", type=float, default=20.0)
    parser.add_argument("--workdir", default=str(ROOT / "bench" / "out"))
    args = parser.parse_args()

    import httpx2 as httpx

    from clawtrace_api.accounts import Accounts
    from clawtrace_api.db.engine import make_engine
    from clawtrace_pipelines.core.settings import Settings
    from tests.anthropic_standin import API_KEY, Text, Turn, serve_standin
    from tests.api_server import free_port

    Path(args.workdir).mkdir(parents=True, exist_ok=True)
    stamps: list[float] = []
    _stamping_stream(stamps)
    figures: dict[str, Any] = {"bench": "tracy_sse", "samples": args.samples, "delay_ms": args.delay_ms}
    with tempfile.TemporaryDirectory(dir=args.workdir) as root, serve_standin() as standin:
        lake, db = f"{root}/lake", f"sqlite:///{root}/api.db"
        engine = make_engine(Settings(lake=lake, db=db))
        accounts = Accounts(engine)
        tenant = accounts.create_tenant("bench")["tenant_id"]
        key = accounts.create_key(tenant, "read")["key"]
        engine.dispose()
        port = free_port()
        env = {
            **os.environ,
            "CLAWTRACE_LAKE": lake,
            "CLAWTRACE_DB": db,
            "ANTHROPIC_API_KEY": API_KEY,
            "ANTHROPIC_BASE_URL": standin.url,
        }
        with serve_api(env, port):
            base = f"http://127.0.0.1:{port}"
            token_to_event, first_byte = [], []
            words = " ".join(f"word{i}" for i in range(20))
            with httpx.Client(base_url=base, headers={"authorization": f"Bearer {key}"}, timeout=60) as client:
                for n in range(WARMUP + args.samples):
                    standin.script(Turn([Text(words)], delay_s=args.delay_ms / 1000))
                    stamps.clear()
                    sent = time.perf_counter()
                    got_first = got_text = None
                    with client.stream("POST", "/v1/tracy/chat", json={"question": f"sample {n}"}) as response:
                        if response.status_code != 200:
                            raise RuntimeError(f"chat answered {response.status_code}: {response.read()[:300]!r}")
                        for line in response.iter_lines():
                            now = time.perf_counter()
                            got_first = got_first or now
                            if got_text is None and line.strip() == "event: text":
                                got_text = now
                    if n >= WARMUP and got_text is not None and stamps and got_first is not None:
                        token_to_event.append((got_text - stamps[0]) * 1000)
                        first_byte.append((got_first - sent) * 1000)
    figures.update(
        token_to_text_event_p50_ms=_pct(token_to_event, 0.5),
        token_to_text_event_p95_ms=_pct(token_to_event, 0.95),
        token_to_text_event_max_ms=round(max(token_to_event), 2),
        first_byte_p50_ms=_pct(first_byte, 0.5),
        first_byte_p95_ms=_pct(first_byte, 0.95),
        measured=len(token_to_event),
        target_p95_ms=TARGET_P95_MS,
        load_average_1m=round(os.getloadavg()[0], 2),
        commit=subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
        ).stdout.strip(),
    )
    figures["meets_target"] = figures["token_to_text_event_p95_ms"] < TARGET_P95_MS
    for name in ("token_to_text_event_p50_ms", "token_to_text_event_p95_ms", "first_byte_p50_ms", "first_byte_p95_ms"):
        print(f"{name:32} {figures[name]}", flush=True)
    emit(figures)


if __name__ == "__main__":
    main()
