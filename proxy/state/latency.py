"""Latency and time-to-first-token histograms by provider and model, since the proxy started.

Prometheus histograms are counters of observations in fixed buckets; they live here, fed by the
bus, rather than in the store: the store keeps sums and counts per quarter hour (enough for
averages), not a value per bucket, and scanning raw rows per scrape would grow with retention.
A restart starts them at zero again, which Prometheus reads as a counter reset (as it does for
any exporter).
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, field
from typing import Any

from proxy.state.events import REQUEST_FAILED, REQUEST_FINISHED, ProxyEvent

DURATION_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)
"""Upper bounds in seconds of the request duration buckets (+Inf is implied)."""
TTFT_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0)
"""Upper bounds in seconds of the time-to-first-token buckets (+Inf is implied)."""


@dataclass(slots=True)
class Histogram:
    """Observations per bucket (not cumulative; the last slot is +Inf), their sum and count."""

    bounds: tuple[float, ...]
    counts: list[int] = field(default_factory=list)
    total: float = 0.0
    count: int = 0

    def __post_init__(self) -> None:
        if not self.counts:
            self.counts = [0] * (len(self.bounds) + 1)

    def observe(self, value: float) -> None:
        """Count one value in the first bucket whose bound is >= it (Prometheus `le`)."""
        self.counts[bisect_left(self.bounds, value)] += 1
        self.total += value
        self.count += 1

    def cumulative(self) -> list[tuple[float, int]]:
        """(upper bound, observations <= it) for each bucket, ending with (inf, count)."""
        out, running = [], 0
        for bound, n in zip((*self.bounds, float("inf")), self.counts, strict=True):
            running += n
            out.append((bound, running))
        return out


class LatencyHistograms:
    """Bus subscriber: duration and TTFT of every ended request, by (provider, model)."""

    def __init__(self) -> None:
        self.duration: dict[tuple[str, str], Histogram] = {}
        self.ttft: dict[tuple[str, str], Histogram] = {}

    def observe(self, provider: Any, model: Any, latency: Any, ttft: Any) -> None:
        """Count an ended request's duration and TTFT (the ledger's call)."""
        if provider.__class__ is not str or model.__class__ is not str:
            provider, model = str(provider or ""), str(model or "")
        key = (provider, model)
        if latency is not None:
            histogram = self.duration.get(key)
            if histogram is None:
                histogram = self.duration[key] = Histogram(DURATION_BUCKETS)
            histogram.observe(float(latency))
        if ttft is not None:
            histogram = self.ttft.get(key)
            if histogram is None:
                histogram = self.ttft[key] = Histogram(TTFT_BUCKETS)
            histogram.observe(float(ttft))

    def on_event(self, event: ProxyEvent) -> None:
        """A bisect and two additions per ended request; nothing per chunk."""
        if event.kind not in (REQUEST_FINISHED, REQUEST_FAILED):
            return
        data = event.data
        key = (str(data.get("provider") or ""), str(data.get("model") or ""))
        latency = data.get("latency")
        if latency is not None:
            histogram = self.duration.get(key)
            if histogram is None:
                histogram = self.duration[key] = Histogram(DURATION_BUCKETS)
            histogram.observe(float(latency))
        ttft = data.get("ttft")
        if ttft is not None:
            histogram = self.ttft.get(key)
            if histogram is None:
                histogram = self.ttft[key] = Histogram(TTFT_BUCKETS)
            histogram.observe(float(ttft))
