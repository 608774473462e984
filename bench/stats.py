"""Small statistics helpers: percentiles and millisecond summaries."""
from __future__ import annotations

import math
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
