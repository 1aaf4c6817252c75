"""Small statistics helpers: percentiles of samples and medians across runs."""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence

Flat = dict[str, float | int | None]
"""One run's figures, by dotted key (e.g. ``latency.openai.added_ms``)."""


def percentile(samples: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0..100), linear between closest ranks; None without samples."""
    if not samples:
        return None
    ordered = sorted(samples)
    pos = (len(ordered) - 1) * q / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def median(samples: Iterable[float | None]) -> float | None:
    """Median of the values that are not None."""
    values = [v for v in samples if v is not None]
    return statistics.median(values) if values else None


def is_count(key: str) -> bool:
    """Error counts add up across runs; everything else takes the median."""
    return key.rsplit(".", 1)[-1] == "errors"


def combine(runs: list[Flat]) -> Flat:
    """Median of each figure across runs (counts are summed)."""
    keys: list[str] = []
    for run in runs:
        keys.extend(k for k in run if k not in keys)
    out: Flat = {}
    for key in keys:
        values = [run.get(key) for run in runs]
        if is_count(key):
            out[key] = sum(int(v) for v in values if v is not None)
        else:
            out[key] = median(v for v in values if v is not None)
    return out


def diff(a: float | None, b: float | None) -> float | None:
    """a - b, None if either is missing."""
    return None if a is None or b is None else a - b


def ratio(a: float | None, b: float | None) -> float | None:
    """a / b, None if either is missing or b is 0."""
    return None if a is None or not b else a / b
