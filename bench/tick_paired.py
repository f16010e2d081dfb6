"""Issue 14's tick targets measured in the same run as the old path.

    .venv/bin/python bench/tick_paired.py [--old 1dab2f2] [--events 100000,1000000] [--ticks 2]
                                          [--order old,new] [--workdir bench/out]

The old path is `bench/tick.py` of an old revision (default `1dab2f2`: main on 2026-12-01, the code the issue
measured with that command: 12.5 s and 13.3 s of tick work, a cold tick of about 40 s), run from a git worktree
with its own code and dbt project and this checkout's `.venv` (its dependencies are a subset of the lock's).
The new path is this checkout's `bench/tick.py`. The two run one after the other on the same host with the same
arguments (`--order` picks which goes first). Each then gets idle ticks on its own kept lakes with its own code:
a warm process, one untimed idle tick, then five timed ones 3 minutes apart (`run_bronze` + `run_silver`, nothing
new), the median reported.

What differs between the two benches' lakes: at 100k events nothing (the same simulated run, the same new data
per tick). At 1M the old bench spread its late deliveries over the whole lake's history (its ticks touched about
20 days), the new one puts them into the recent run's hours (2 days), as the issue's own figures were measured
with the old one.

Reported: each side's figures, new/old ratios, and the targets: tick work at the largest lake < 5 s, a cold tick
< 15 s, an idle tick no dearer than the old path's (and < 0.03 s), each also as the issue's ratio (5 / 13.3 and
15 / 40 of the old path's figure in this run). One JSON object on the last line.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
ISSUE_OLD_WORK_S, TARGET_WORK_S = 13.3, 5.0
ISSUE_OLD_COLD_S, TARGET_COLD_S = 40.0, 15.0
TARGET_IDLE_S = 0.03
IDLE_TICKS = 5


def idle_ticks(lake: str) -> dict[str, Any]:
    """In the side's own code (PYTHONPATH): one untimed idle tick, then IDLE_TICKS timed ones."""
    from clawtrace_pipelines.core.settings import Settings
    from clawtrace_pipelines.lib.bronze import run_bronze
    from clawtrace_pipelines.lib.silver import run_silver

    settings = Settings(lake=lake, table_format="delta")
    now = datetime.now(UTC)
    run_bronze(settings, now=now)
    run_silver(settings)
    work = []
    for i in range(IDLE_TICKS):
        t0 = time.perf_counter()
        bronze = run_bronze(settings, now=now + timedelta(minutes=3 * (i + 1)))
        silver = run_silver(settings)
        work.append(time.perf_counter() - t0)
        assert bronze.accepted == 0 and silver.traces == 0, (bronze.accepted, silver.traces)
    return {"idle_work_s": [round(w, 4) for w in work], "idle_work_median_s": round(statistics.median(work), 4)}


def _worktree(rev: str, workdir: Path) -> Path:
    tree = workdir / f"old-{rev}"
    if not (tree / ".git").exists():
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), rev], check=True)
    venv = tree / ".venv"
    if not venv.exists():
        venv.symlink_to(ROOT / ".venv")
    return tree


def _side(name: str, tree: Path, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(tree), "DO_NOT_TRACK": "1"}
    out_dir = workdir / f"{name}-lakes"
    out_dir.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, str(tree / "bench" / "tick.py"), "--events", args.events, "--ticks", str(args.ticks)]
    cmd += ["--keep", "--workdir", str(out_dir)]
    log = workdir / f"{name}.log"
    started = time.perf_counter()
    with open(log, "w") as sink:
        proc = subprocess.run(cmd, cwd=tree, env=env, stdout=subprocess.PIPE, stderr=sink, text=True)
    sys.stdout.write(proc.stdout)
    (workdir / f"{name}.out").write_text(proc.stdout)
    if proc.returncode != 0:
        raise SystemExit(f"{name}: bench/tick.py failed ({proc.returncode}), see {log}")
    lines = proc.stdout.strip().splitlines()
    figures: dict[str, Any] = json.loads(lines[-1])
    kept = next(line.split(" in ", 1)[1] for line in lines if line.startswith("lakes kept in "))
    sizes = [int(s) for s in args.events.split(",") if s.strip()]
    idle: dict[str, Any] = {}
    for events in sizes:
        lake = str(Path(kept) / f"lake-{events}")
        child = [sys.executable, str(Path(__file__).resolve()), "--idle-lake", lake]
        run = subprocess.run(child, cwd=tree, env=env, capture_output=True, text=True, check=True)
        idle[f"lake_{events}"] = json.loads(run.stdout.strip().splitlines()[-1])
        print(f"[{name}] idle ticks on the {events} lake: {idle[f'lake_{events}']['idle_work_s']}", flush=True)
    shutil.rmtree(kept, ignore_errors=True)
    return {
        "seconds": round(time.perf_counter() - started),
        "tick_work_s": figures["tick_work_s"],
        "tick_dbt_s": [figures[f"lake_{n}_tick_dbt_s"] for n in sizes],
        "cold_tick_s": figures["cold_tick_s"],
        "idle_tick_work_s": [idle[f"lake_{n}"]["idle_work_median_s"] for n in sizes],
    }


def _probe() -> float:
    """Seconds of 10M pure-Python additions: how fast the shared host runs right now."""
    started, total = time.perf_counter(), 0
    for i in range(10_000_000):
        total += i
    return round(time.perf_counter() - started, 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--old", default="1dab2f2", help="The old path's revision")
    parser.add_argument("--events", default="100000,1000000", help="Lake sizes, comma-separated, smallest first")
    parser.add_argument("--ticks", type=int, default=2, help="Warm ticks per lake and side")
    parser.add_argument("--order", default="old,new", choices=["old,new", "new,old"])
    parser.add_argument("--workdir", default=str(ROOT / "bench" / "out"))
    parser.add_argument("--idle-lake", help=argparse.SUPPRESS)  # the idle-tick child
    args = parser.parse_args()
    if args.idle_lake:
        print(json.dumps(idle_ticks(args.idle_lake)))
        return
    workdir = Path(args.workdir).resolve() / "tick-paired"
    workdir.mkdir(parents=True, exist_ok=True)
    trees = {"old": _worktree(args.old, workdir), "new": ROOT}
    probes = [_probe()]
    sides: dict[str, dict[str, Any]] = {}
    for name in args.order.split(","):
        sides[name] = _side(name, trees[name], args, workdir)
        probes.append(_probe())
    old, new = sides["old"], sides["new"]
    ratio = {k: [round(n / o, 3) for n, o in zip(new[k], old[k], strict=True)] for k in new if isinstance(new[k], list)}
    work, cold, idle = new["tick_work_s"][-1], new["cold_tick_s"][-1], max(new["idle_tick_work_s"])
    figures = {
        "name": "tick_paired",
        "old": args.old,
        "events": args.events,
        "order": args.order,
        "probe_s": probes,
        "load_average_1m": round(os.getloadavg()[0], 2),
        "old_path": old,
        "new_path": new,
        "new_over_old": ratio,
        "target_work_met": work < TARGET_WORK_S,
        "target_work_ratio": round(TARGET_WORK_S / ISSUE_OLD_WORK_S, 3),
        "target_work_ratio_met": ratio["tick_work_s"][-1] <= TARGET_WORK_S / ISSUE_OLD_WORK_S,
        "target_cold_met": cold < TARGET_COLD_S,
        "target_cold_ratio": round(TARGET_COLD_S / ISSUE_OLD_COLD_S, 3),
        "target_cold_ratio_met": ratio["cold_tick_s"][-1] <= TARGET_COLD_S / ISSUE_OLD_COLD_S,
        "target_idle_met": idle < TARGET_IDLE_S,
        "target_idle_vs_old_met": all(r <= 1.0 for r in ratio["idle_tick_work_s"]),
    }
    print(
        f"tick work at {args.events.split(',')[-1]}: new {work:.2f}s, old {old['tick_work_s'][-1]:.2f}s "
        f"(new/old {ratio['tick_work_s'][-1]}); cold tick new {cold:.1f}s, old {old['cold_tick_s'][-1]:.1f}s; "
        f"idle new {new['idle_tick_work_s']}, old {old['idle_tick_work_s']}; probe {probes}",
        flush=True,
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
