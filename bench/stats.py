"""Small statistics helpers: percentiles, millisecond summaries, and how the host shares its CPUs."""
from __future__ import annotations

import math
import os
import subprocess
import sys
import time
from typing import Iterable


def percentile(values: Iterable[float], pct: float) -> float:
    """The `pct` percentile (nearest rank, 0-100) of `values`; NaN when there are none."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def ms_summary(seconds: Iterable[float], keys: tuple[int, ...] = (50, 95, 99)) -> dict[str, float]:
    """p50/p95/p99 and max of durations given in seconds, in milliseconds rounded to 0.01."""
    values = list(seconds)
    summary = {f"p{k}_ms": round(percentile(values, k) * 1000, 2) for k in keys}
    summary["max_ms"] = round(max(values) * 1000, 2) if values else math.nan
    summary["n"] = len(values)
    return summary


def cpu_ticks(stat_text: str | None = None) -> tuple[int, int]:
    """(steal, total) clock ticks of all CPUs from /proc/stat (or `stat_text`); (0, 0) elsewhere.

    Steal is time the hypervisor ran someone else while this machine's vCPUs wanted to run."""
    if stat_text is None:
        try:
            with open("/proc/stat") as stat:
                stat_text = stat.read()
        except OSError:
            return 0, 0
    fields = [int(value) for value in stat_text.split("\n", 1)[0].split()[1:]]
    busy_and_idle = fields[:8]  # user nice system idle iowait irq softirq steal (guest time is inside user)
    return (fields[7] if len(fields) > 7 else 0), sum(busy_and_idle)


def steal_share(before: tuple[int, int], after: tuple[int, int]) -> float | None:
    """The share (0-1) of CPU time stolen by the hypervisor between two `cpu_ticks()`; None if unknown."""
    total = after[1] - before[1]
    return round((after[0] - before[0]) / total, 4) if total > 0 else None


_SPIN = "import os, sys\nos.sched_setaffinity(0, {int(sys.argv[1])})\nwhile True:\n    pass\n"


def _loop_cpu_seconds(loops: int) -> float:
    started = time.process_time()
    total = 0
    for i in range(loops):
        total += i * i
    return time.process_time() - started


def co_runner_slowdown(rounds: int = 3, loops: int = 1_000_000) -> float | None:
    """How much more CPU time a fixed CPU-bound loop takes on one vCPU while a spinning process keeps
    another vCPU busy than while that vCPU is idle (median of `rounds`, rounded to 0.01).

    About 1.0: the vCPUs behave as separate cores. Well above it: they share a physical core (SMT
    siblings) or its caches at the moment, so every process that runs beside ours (the database,
    the other app process, the fakes) makes our CPU times grow. None with a single vCPU or where
    the process cannot choose its CPUs."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    original = os.sched_getaffinity(0)
    if len(original) < 2:
        return None
    here, there = sorted(original)[:2]
    ratios = []
    try:
        os.sched_setaffinity(0, {here})
        for _ in range(rounds):
            idle = _loop_cpu_seconds(loops)
            spinner = subprocess.Popen([sys.executable, "-c", _SPIN, str(there)])
            try:
                time.sleep(0.1)
                busy = _loop_cpu_seconds(loops)
            finally:
                spinner.kill()
                spinner.wait()
            ratios.append(busy / idle if idle > 0 else math.nan)
    finally:
        os.sched_setaffinity(0, original)
    return round(percentile(ratios, 50), 2)
