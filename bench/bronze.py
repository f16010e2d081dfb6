"""Bronze throughput: simulated events in both layouts -> `events_all`, next to DuckDB's raw JSON read.

    .venv/bin/python bench/bronze.py [--events 200000] [--format delta|iceberg]

Prints one line per layout, then one JSON object with every figure on the last line.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import emit, in_child, lake_dir, simulate_events  # noqa: E402


def raw_read_limit(lake: str, layout: str) -> dict[str, Any]:
    """DuckDB reading every raw record with no processing: the ceiling for any JSON loader."""
    from clawtrace_pipelines.core.lake.duck import connect

    pattern = f"{lake}/raw/v1/*/*/*/*/" + ("*.ndjson" if layout == "batched" else "*.json")
    con = connect()
    started = time.perf_counter()
    rows = con.execute(
        "SELECT count(*) FROM (SELECT * FROM read_json(?, format='newline_delimited', records=false, "
        "maximum_object_size=16777216))",
        [pattern],
    ).fetchone()[0]
    return {"rows": rows, "seconds": time.perf_counter() - started}


def load_bronze(lake: str, table_format: str) -> dict[str, Any]:
    from clawtrace_pipelines.core.settings import Settings
    from clawtrace_pipelines.lib.bronze import run_bronze

    settings = Settings(lake=lake, table_format=table_format)
    now = datetime.now(UTC)
    report = run_bronze(settings, now=now)
    started = time.perf_counter()
    empty = run_bronze(settings, now=now + timedelta(minutes=3))
    empty_seconds = time.perf_counter() - started
    return {
        "records_read": report.records_read,
        "accepted": report.accepted,
        "files": report.files,
        "seconds": report.seconds,
        "empty_tick_seconds": empty_seconds,
        "empty_tick_files": empty.files,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--format", default="delta", choices=["delta", "iceberg"])
    parser.add_argument("--layouts", default="batched,per-event")
    parser.add_argument(
        "--workdir",
        default=str(Path(__file__).parent / "out"),
        help="Where the temporary lakes go (the machine's /tmp can be slow to create files in)",
    )
    args = parser.parse_args()
    figures: dict[str, Any] = {"name": "bronze", "format": args.format}
    Path(args.workdir).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bench-bronze-", dir=args.workdir) as root:
        for layout in args.layouts.split(","):
            lake = lake_dir(root, layout)
            manifest = simulate_events(lake, args.events, layout)
            limit = raw_read_limit(lake, layout)
            load = in_child(load_bronze, lake, args.format)
            eps = load["records_read"] / load["seconds"]
            limit_eps = limit["rows"] / limit["seconds"]
            key = layout.replace("-", "_")
            figures.update(
                {
                    f"{key}_events": load["records_read"],
                    f"{key}_files": load["files"],
                    f"{key}_seconds": round(load["seconds"], 2),
                    f"{key}_events_per_s": round(eps),
                    f"{key}_limit_events_per_s": round(limit_eps),
                    f"{key}_ratio": round(eps / limit_eps, 3),
                    f"{key}_peak_rss_mb": load["peak_rss_mb"],
                    f"{key}_empty_tick_s": round(load["empty_tick_seconds"], 3),
                }
            )
            assert load["accepted"] == manifest["expected_events"], (load["accepted"], manifest["expected_events"])
            print(
                f"{layout:>9}: {load['records_read']} events in {load['seconds']:.1f}s = {eps:,.0f} ev/s; "
                f"DuckDB raw read {limit_eps:,.0f} ev/s (ratio {eps / limit_eps:.2f}); "
                f"peak RSS {load['peak_rss_mb']} MB; empty tick {load['empty_tick_seconds']:.3f}s",
                flush=True,
            )
    first = args.layouts.split(",")[0].replace("-", "_")
    figures.update(
        {
            "events": figures[f"{first}_events"],
            "seconds": figures[f"{first}_seconds"],
            "events_per_s": figures[f"{first}_events_per_s"],
            "limit_events_per_s": figures[f"{first}_limit_events_per_s"],
            "ratio": figures[f"{first}_ratio"],
            "peak_rss_mb": max(v for k, v in figures.items() if k.endswith("peak_rss_mb")),
        }
    )
    emit(figures)


if __name__ == "__main__":
    main()
