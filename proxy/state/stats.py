"""Per-model request statistics from bus events: counts, tokens, cost, latency and speed."""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import partial, reduce
from itertools import compress, repeat
from operator import add, and_, attrgetter, ge, gt, is_not, itemgetter, sub
from typing import TYPE_CHECKING, Any

from proxy.state.events import REQUEST_FAILED, REQUEST_FINISHED, REQUEST_STARTED, ProxyEvent

if TYPE_CHECKING:
    from proxy.state.ledger import Started

# Percentiles come from the newest samples only: recent behaviour is what a user is looking at.
WINDOW = 1000
MIN_SPEED_SECONDS = 0.25
"""Generation shorter than this says nothing about speed (4 tokens in 80 us is not 50,000 tok/s:
the upstream sent a buffered answer at once), so it does not count towards tok/s."""
CLIENT = "client"
FOLD_AT = 1024
"""Finished requests whose timings wait at most (then counted at once)."""
_LATENCY, _TTFT, _OUTPUT = itemgetter(0), itemgetter(1), itemgetter(2)
_KNOWN = partial(is_not, None)
_NONE_AS_ZERO: dict[Any, Any] = {None: 0.0}
MESSAGES = "messages"


def percentile(samples: list[float], pct: float) -> float | None:
    """Nearest-rank percentile (None without samples)."""
    if not samples:
        return None
    ordered = sorted(samples)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass(slots=True)
class Counters:
    """Request counters since start (never reset): what the header and /config show."""

    total: int = 0
    in_flight: int = 0
    errors: int = 0
    tokens: int = 0
    """Input + output tokens of every finished request (since start or the last reset)."""
    cost: float = 0.0
    """Their estimated cost in USD."""


TOTALS = attrgetter("total", "in_flight", "errors", "tokens", "cost")
"""`TOTALS(counters)`: the header's numbers as one tuple, in one C call."""


@dataclass(slots=True)
class ModelStats:
    """Running totals for one model."""

    requests: int = 0
    errors: int = 0
    in_flight: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float = 0.0
    generation_seconds: float = 0.0
    generated_tokens: int = 0
    latencies: deque[float] = field(default_factory=lambda: deque(maxlen=WINDOW))
    ttfts: deque[float] = field(default_factory=lambda: deque(maxlen=WINDOW))
    tool_repairs: int = 0
    """Tool calls the proxy recovered from text or repaired (name, arguments, types)."""
    tool_repairs_failed: int = 0
    """Tool calls it could not make usable: tool not offered, cut off, required keys missing."""

    pending: list[tuple[float, Any, int]] = field(default_factory=list)
    """Finished requests' (latency, ttft, output tokens) not counted into the timings yet."""

    def finished(self, latency: float, ttft: Any, output: int) -> None:
        """Count a finished request's timings (and its speed, over a long enough generation)."""
        pending = self.pending
        pending.append((latency, ttft, output))
        if len(pending) >= FOLD_AT:
            self.fold()

    def fold(self) -> None:
        """Count the pending timings, in order, by C loops (the same numbers as one by one)."""
        samples = self.pending
        if not samples:
            return
        self.pending = []
        latencies = list(map(_LATENCY, samples))
        ttfts: list[Any] = list(map(_TTFT, samples))
        outputs = list(map(_OUTPUT, samples))
        self.latencies.extend(latencies)
        self.ttfts.extend(map(float, filter(_KNOWN, ttfts)))
        # Speed counts generation only: time after the first token, or the whole call.
        waited: Iterable[Any] = map(_NONE_AS_ZERO.get, ttfts, ttfts)
        generating = list(map(sub, latencies, map(float, waited)))
        counted = list(
            map(and_, map(ge, generating, repeat(MIN_SPEED_SECONDS)), map(gt, outputs, repeat(0)))
        )
        self.generation_seconds = reduce(
            add, compress(generating, counted), self.generation_seconds
        )
        self.generated_tokens += sum(compress(outputs, counted))

    def snapshot(self) -> dict[str, Any]:
        """Plain numbers for the API and the UI."""
        self.fold()
        latencies, ttfts = list(self.latencies), list(self.ttfts)
        speed = (
            self.generated_tokens / self.generation_seconds if self.generation_seconds > 0 else None
        )
        return {
            "requests": self.requests,
            "errors": self.errors,
            "in_flight": self.in_flight,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cost": round(self.cost, 6),
            "latency_p50": percentile(latencies, 50),
            "latency_p95": percentile(latencies, 95),
            "ttft_p50": percentile(ttfts, 50),
            "ttft_p95": percentile(ttfts, 95),
            "tokens_per_second": round(speed, 2) if speed is not None else None,
            "tool_repairs": self.tool_repairs,
            "tool_repairs_failed": self.tool_repairs_failed,
        }


@dataclass(slots=True)
class OriginTotals:
    """Requests of one origin other than a client (`probe`, `replay`): shown apart."""

    requests: int = 0
    errors: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float = 0.0

    def snapshot(self) -> dict[str, Any]:
        """Plain numbers."""
        return {
            "requests": self.requests,
            "errors": self.errors,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cost": round(self.cost, 6),
        }


class Stats:
    """Statistics by upstream model (`provider/name`), fed by the event bus."""

    def __init__(self) -> None:
        self.models: dict[str, ModelStats] = {}
        self.counters = Counters()
        self._pending: dict[str, str] = {}
        self.started_at = time.time()
        self.all_models = ModelStats()
        """Timings of every model together (the totals' percentiles and speed)."""
        self.origins: dict[str, OriginTotals] = {}
        """The TUI's own requests (config-test probes, replays), counted apart as well."""
        self._origin_of: dict[str, str] = {}

    @property
    def tokens(self) -> int:
        """Input + output tokens of every finished request (kept as they come: read per frame)."""
        return self.counters.tokens

    @tokens.setter
    def tokens(self, value: int) -> None:
        self.counters.tokens = value

    @property
    def cost(self) -> float:
        """Their estimated cost in USD."""
        return self.counters.cost

    @cost.setter
    def cost(self, value: float) -> None:
        self.counters.cost = value

    def _model(self, name: str) -> ModelStats:
        stats = self.models.get(name)
        if stats is None:
            stats = self.models[name] = ModelStats()
        return stats

    def on_event(self, event: ProxyEvent) -> None:
        """Bus subscriber: a dict lookup and a few additions per request; nothing per chunk."""
        kind = event.kind
        counters = self.counters
        if kind == REQUEST_STARTED:
            counters.total += 1
            counters.in_flight += 1
            if event.data.get("endpoint", "messages") != "messages":
                return
            model = str(event.data.get("model"))
            self._pending[event.request_id] = model
            origin = event.data.get("origin") or CLIENT
            if origin != CLIENT:
                self._origin_of[event.request_id] = str(origin)
            stats = self._model(model)
            stats.requests += 1
            stats.in_flight += 1
        elif kind == REQUEST_FINISHED:
            counters.in_flight -= 1
            model = self._pending.pop(event.request_id, "")
            if not model:
                return
            d = event.data
            stats = self._settle(model, d.get("model"))
            tokens_in, tokens_out = (
                int(d.get("input_tokens") or 0),
                int(d.get("output_tokens") or 0),
            )
            cost = float(d.get("cost") or 0.0)
            stats.input_tokens += tokens_in
            stats.output_tokens += tokens_out
            stats.cost += cost
            self.tokens += tokens_in + tokens_out
            self.cost += cost
            latency, ttft = float(d.get("latency") or 0.0), d.get("ttft")
            stats.finished(latency, ttft, tokens_out)
            self.all_models.finished(latency, ttft, tokens_out)
            self._count_origin(event.request_id, tokens_in, tokens_out, cost, failed=False)
            for record in d.get("tool_repairs") or ():
                if record.get("ok"):
                    stats.tool_repairs += 1
                else:
                    stats.tool_repairs_failed += 1
        elif kind == REQUEST_FAILED:
            counters.in_flight -= 1
            counters.errors += 1
            model = self._pending.pop(event.request_id, "")
            if not model:
                return
            stats = self._settle(model, event.data.get("model"))
            stats.errors += 1
            self._count_origin(event.request_id, 0, 0, 0.0, failed=True)

    def request_started(self, record: Started) -> None:
        """A request began (the ledger's call: its record read once, no per-request map)."""
        counters = self.counters
        counters.total += 1
        counters.in_flight += 1
        if record.endpoint != MESSAGES:
            return
        model = record.model
        stats = self.models.get(model)
        if stats is None:
            stats = self._model(model)
        stats.requests += 1
        stats.in_flight += 1

    def request_finished(
        self,
        record: Started,
        model: Any,
        tokens_in: int,
        tokens_out: int,
        cost: float | None,
        latency: float,
        ttft: float | None,
        repairs: list[Any] | None,
    ) -> None:
        """A request answered (the ledger's call, with the finished event's values)."""
        self.counters.in_flight -= 1
        if record.endpoint != MESSAGES:
            return
        started = record.model
        if model == started and started in self.models:
            stats = self.models[started]
            stats.in_flight -= 1
        else:
            stats = self._settle(started, model)
        cost = cost or 0.0
        stats.input_tokens += tokens_in
        stats.output_tokens += tokens_out
        stats.cost += cost
        counters = self.counters
        counters.tokens += tokens_in + tokens_out
        counters.cost += cost
        # Timings are counted when read (ModelStats.fold): a request only adds its sample.
        sample = (latency, ttft, tokens_out)
        stats.pending.append(sample)
        everyone = self.all_models.pending
        everyone.append(sample)
        if len(everyone) >= FOLD_AT:
            self.fold()
        if record.origin != CLIENT and record.origin:
            self._add_origin(str(record.origin), tokens_in, tokens_out, cost, failed=False)
        if repairs:
            for repair in repairs:
                if repair.get("ok"):
                    stats.tool_repairs += 1
                else:
                    stats.tool_repairs_failed += 1

    def request_failed(self, record: Started, model: Any) -> None:
        """A request failed (the ledger's call)."""
        counters = self.counters
        counters.in_flight -= 1
        counters.errors += 1
        if record.endpoint != MESSAGES:
            return
        self._settle(record.model, model).errors += 1
        if record.origin != CLIENT and record.origin:
            self._add_origin(str(record.origin), 0, 0, 0.0, failed=True)

    def _count_origin(
        self, request_id: str, tokens_in: int, tokens_out: int, cost: float, failed: bool
    ) -> None:
        origin = self._origin_of.pop(request_id, None)
        if origin is not None:
            self._add_origin(origin, tokens_in, tokens_out, cost, failed)

    def _add_origin(
        self, origin: str, tokens_in: int, tokens_out: int, cost: float, failed: bool
    ) -> None:
        totals = self.origins.get(origin)
        if totals is None:
            totals = self.origins[origin] = OriginTotals()
        totals.requests += 1
        totals.errors += failed
        totals.input_tokens += tokens_in
        totals.output_tokens += tokens_out
        totals.cost += cost

    def _settle(self, started: str, ended: Any) -> ModelStats:
        # A fallback may have served the request: the request then counts for that model.
        stats = self._model(started)
        stats.in_flight -= 1
        if isinstance(ended, str) and ended and ended != started:
            stats.requests -= 1
            stats = self._model(ended)
            stats.requests += 1
        return stats

    def fold(self) -> None:
        """Count every model's pending timings (each model's list is no longer than the total)."""
        for stats in self.models.values():
            stats.fold()
        self.all_models.fold()

    def snapshot(self) -> dict[str, Any]:
        """{"models": {model: {...}}, "totals": {requests, errors, tokens, cost, in_flight}}."""
        models = {name: s.snapshot() for name, s in self.models.items()}
        totals = {
            key: sum(m[key] for m in models.values())
            for key in (
                "requests",
                "errors",
                "in_flight",
                "input_tokens",
                "output_tokens",
                "tool_repairs",
                "tool_repairs_failed",
            )
        }
        totals["cost"] = round(sum((m["cost"] for m in models.values()), 0.0), 6)
        timings = self.all_models.snapshot()
        for key in ("latency_p50", "latency_p95", "ttft_p50", "ttft_p95", "tokens_per_second"):
            totals[key] = timings[key]
        origins = {name: o.snapshot() for name, o in self.origins.items()}
        return {"models": models, "totals": totals, "origins": origins, "since": self.started_at}

    def reset(self) -> None:
        """Forget finished requests (requests in flight keep being tracked)."""
        in_flight = {m: s.in_flight for m, s in self.models.items() if s.in_flight}
        self.models = {m: ModelStats(requests=n, in_flight=n) for m, n in in_flight.items()}
        self.tokens, self.cost = 0, 0.0
        self.all_models, self.origins = ModelStats(), {}
