"""`python -m clawtrace_api.serve`: uvicorn on the app built from `CLAWTRACE_*` (what `clawtrace serve` runs)."""

from __future__ import annotations

import argparse

import uvicorn


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve the ClawTrace API")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    run(args.host, args.port, args.workers, args.log_level)


def run(host: str, port: int, workers: int = 1, log_level: str = "info") -> None:
    # A factory, so each worker process builds its own app (database engine, graph client, ingest writer).
    uvicorn.run(
        "clawtrace_api.main:create_app", factory=True, host=host, port=port, workers=workers, log_level=log_level
    )


if __name__ == "__main__":
    main()
