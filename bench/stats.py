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


def loop_ms(loops: int = 200_000) -> float:
    """The fixed loop's CPU time on this vCPU now, scaled to the probe's 1,000,000 iterations (ms):
    a short reading of how fast the host runs at this moment, to take between messages."""
    return _loop_cpu_seconds(loops) * 1000 * 1_000_000 / loops


def cpu_probe(rounds: int = 3, loops: int = 1_000_000) -> dict[str, float | None]:
    """How fast the host runs a fixed CPU-bound loop right now: `loop_ms`, its CPU time on one vCPU
    with the others idle, and `busy_neighbour`, how many times that while a spinning process keeps
    another vCPU busy (medians of `rounds`).

    Steal does not show everything: a vCPU that shares a physical core with a busy sibling runs,
    and is charged, for longer. `loop_ms` well above its usual value means a slow phase of the host;
    `busy_neighbour` well above 1.0 means this machine's own vCPUs share a core, so every process
    running beside ours (the database, the other app process, the fakes) makes our CPU times grow.
    `busy_neighbour` is None with a single vCPU or where the process cannot choose its CPUs."""
    original = os.sched_getaffinity(0) if hasattr(os, "sched_setaffinity") else set()
    if len(original) < 2:
        return {"loop_ms": round(percentile([_loop_cpu_seconds(loops) for _ in range(rounds)], 50) * 1000, 1),
                "busy_neighbour": None}
    here, there = sorted(original)[:2]
    idle_times, ratios = [], []
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
            idle_times.append(idle)
            ratios.append(busy / idle if idle > 0 else math.nan)
    finally:
        os.sched_setaffinity(0, original)
    return {"loop_ms": round(percentile(idle_times, 50) * 1000, 1), "busy_neighbour": round(percentile(ratios, 50), 2)}
