"""TraceCard sizes on simulated traffic: the YAML the API and `clawtrace card` render, in bytes.

    .venv/bin/python bench/cards.py [--tenants 4] [--agents 5] [--traces 40] [--seed 11] [--format delta|iceberg]

Simulates the traffic (batched layout, 24 hours), runs bronze and silver once (which builds `trace_cards`),
renders every card as YAML (`core/trace_cards.render_yaml`) and reports the median, p95 and largest size and
the share of cards under 2 kB. Prints one JSON object on the last line.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import emit  # noqa: E402
from clawtrace_pipelines.core.lake import open_table  # noqa: E402
from clawtrace_pipelines.core.settings import Settings  # noqa: E402
from clawtrace_pipelines.core.tables import TRACE_CARDS  # noqa: E402
from clawtrace_pipelines.core.trace_cards import card_document, render_yaml  # noqa: E402
from clawtrace_pipelines.lib.bronze import run_bronze  # noqa: E402
from clawtrace_pipelines.lib.silver import run_silver  # noqa: E402
from clawtrace_pipelines.simulator import SimulationConfig, simulate  # noqa: E402

START = datetime(2026, 11, 1, tzinfo=UTC)
LIMIT_BYTES = 2048


def _quantile(sorted_values: list[int], q: float) -> int:
    return sorted_values[round(q * (len(sorted_values) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tenants", type=int, default=4)
    parser.add_argument("--agents", type=int, default=5, help="Agents per tenant")
    parser.add_argument("--traces", type=int, default=40, help="Traces per agent")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--format", choices=("delta", "iceberg"), default="delta")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="clawtrace-cards-") as folder:
        settings = Settings(lake=f"{folder}/lake", table_format=args.format)
        config = SimulationConfig(
            tenants=args.tenants,
            agents_per_tenant=args.agents,
            traces=args.traces,
            seed=args.seed,
            start=START,
            hours=24,
            layout="batched",
        )
        now = datetime(2026, 11, 3, tzinfo=UTC)
        simulate(settings, config, now=now)
        run_bronze(settings, now=now)
        t0 = time.perf_counter()
        report = run_silver(settings)
        silver_s = time.perf_counter() - t0
        rows = open_table(TRACE_CARDS, settings).read().to_pylist()

    sizes = sorted(len(render_yaml(card_document(row)).encode()) for row in rows)
    figures = {
        "cards": len(sizes),
        "median_yaml_bytes": int(statistics.median(sizes)),
        "p95_yaml_bytes": _quantile(sizes, 0.95),
        "max_yaml_bytes": sizes[-1],
        "share_under_2kb": round(sum(s < LIMIT_BYTES for s in sizes) / len(sizes), 4),
        "silver_seconds": round(silver_s, 2),
        "dbt_seconds": round(report.dbt_seconds, 2),
        # The card models' share of the build (their data tests included).
        "card_models_seconds": round(
            sum(n.seconds for k, n in report.nodes.items() if "trace_cards" in k or "int_tool_calls" in k), 2
        ),
        "format": args.format,
        "seed": args.seed,
    }
    for name in ("median_yaml_bytes", "p95_yaml_bytes", "max_yaml_bytes"):
        print(f"{name}: {figures[name]}")
    emit(figures)


if __name__ == "__main__":
    main()
