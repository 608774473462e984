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
