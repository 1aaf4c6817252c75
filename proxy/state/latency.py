"""Latency and time-to-first-token histograms by provider and model, since the proxy started.

Prometheus histograms are counters of observations in fixed buckets; they live here, fed by the
bus, rather than in the store: the store keeps sums and counts per quarter hour (enough for
averages), not a value per bucket, and scanning raw rows per scrape would grow with retention.
A restart starts them at zero again, which Prometheus reads as a counter reset (as it does for
any exporter).
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from dataclasses import dataclass, field
from functools import partial, reduce
from itertools import compress, groupby, repeat
from operator import add, is_not, itemgetter
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
    """Duration and TTFT of every ended request, by (provider, model).

    A request only appends its sample (the ledger calls `observe`); the samples are counted
    into the histograms when they are read (/metrics) or once FOLD_AT of them wait, by C loops
    (map, Counter, reduce) in the order they came, so the sums are the same to the last bit.
    """

    def __init__(self) -> None:
        self._duration: dict[tuple[str, str], Histogram] = {}
        self._ttft: dict[tuple[str, str], Histogram] = {}
        self._samples: list[tuple[str, str, Any, Any]] = []

    @property
    def duration(self) -> dict[tuple[str, str], Histogram]:
        """Request durations by (provider, model), in the order each was first seen."""
        if self._samples:
            self._fold()
        return self._duration

    @property
    def ttft(self) -> dict[tuple[str, str], Histogram]:
        """Times to first token by (provider, model), in the order each was first seen."""
        if self._samples:
            self._fold()
        return self._ttft

    def observe(self, provider: Any, model: Any, latency: Any, ttft: Any) -> None:
        """Note an ended request's duration and TTFT (None: not known)."""
        if provider.__class__ is not str or model.__class__ is not str:
            provider, model = str(provider or ""), str(model or "")
        samples = self._samples
        samples.append((provider, model, latency, ttft))
        if len(samples) >= FOLD_AT:
            self._fold()

    def _fold(self) -> None:
        samples, self._samples = self._samples, []
        for histograms, column, bounds in (
            (self._duration, _LATENCY, DURATION_BUCKETS),
            (self._ttft, _TTFT, TTFT_BUCKETS),
        ):
            present = list(compress(samples, map(is_not, map(column, samples), repeat(None))))
            # Histograms are made in the order their keys were first seen (the /metrics order).
            for key in dict.fromkeys(map(_KEY, present)):
                if key not in histograms:
                    histograms[key] = Histogram(bounds)
            present.sort(key=_KEY)  # stable: each key's values keep their order
            for key, group in groupby(present, _KEY):
                values = list(map(float, map(column, group)))
                histogram = histograms[key]
                counts = histogram.counts
                for bucket, n in Counter(map(partial(bisect_left, bounds), values)).items():
                    counts[bucket] += n
                histogram.total = reduce(add, values, histogram.total)
                histogram.count += len(values)

    def on_event(self, event: ProxyEvent) -> None:
        """Bus subscriber for events published without an exchange (the ledger calls observe)."""
        if event.kind not in (REQUEST_FINISHED, REQUEST_FAILED):
            return
        data = event.data
        self.observe(data.get("provider"), data.get("model"), data.get("latency"), data.get("ttft"))


FOLD_AT = 1024
"""Samples waiting at most (then counted at once): a long-unread proxy's memory stays small."""
_KEY = itemgetter(0, 1)
_LATENCY = itemgetter(2)
_TTFT = itemgetter(3)
