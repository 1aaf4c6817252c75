"""Admission control: per-client token buckets and a cap on concurrent upstream requests."""

from __future__ import annotations

import asyncio
import math
import time

from proxy.core.errors import ProxyError

MAX_CLIENTS = 10_000


class RateLimiter:
    """A token bucket per client: `per_minute` requests a minute, bursts up to the same number."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self.rate = per_minute / 60.0
        self.buckets: dict[str, tuple[float, float]] = {}

    def check(self, client: str) -> None:
        """Take one token for `client`, or raise a 429 saying when to retry."""
        if self.per_minute <= 0:
            return
        now = time.monotonic()
        tokens, last = self.buckets.get(client, (float(self.per_minute), now))
        tokens = min(float(self.per_minute), tokens + (now - last) * self.rate)
        if tokens < 1.0:
            wait = math.ceil((1.0 - tokens) / self.rate)
            self.buckets[client] = (tokens, now)
            raise ProxyError(
                429,
                "rate_limit_error",
                f"rate limit of {self.per_minute} requests per minute reached; retry in {wait} s",
                {"retry-after": str(wait)},
            )
        if len(self.buckets) >= MAX_CLIENTS and client not in self.buckets:
            self.buckets.clear()  # bounded memory under a flood of distinct clients
        self.buckets[client] = (tokens - 1.0, now)


class ConcurrencyGate:
    """At most `limit` upstream requests at once; others wait up to `timeout` seconds, then 429."""

    def __init__(self, limit: int, timeout: float) -> None:
        self.limit = limit
        self.timeout = timeout
        self.semaphore = asyncio.Semaphore(limit) if limit > 0 else None
        self.waiting = 0

    def slot(self) -> _Slot:
        """Hold one upstream slot for the duration of an `async with` block."""
        return _Slot(self)


class _Slot:
    """One request's hold on the gate (a class: no generator per request on the hot path)."""

    __slots__ = ("gate", "held")

    def __init__(self, gate: ConcurrencyGate) -> None:
        self.gate = gate
        self.held: asyncio.Semaphore | None = None

    async def __aenter__(self) -> None:
        gate = self.gate
        semaphore = gate.semaphore
        if semaphore is None:
            return
        gate.waiting += 1
        try:
            await asyncio.wait_for(semaphore.acquire(), gate.timeout)
        except TimeoutError:
            raise ProxyError(
                429,
                "rate_limit_error",
                f"{gate.limit} upstream requests already in flight and the queue wait of "
                f"{gate.timeout:g} s ran out; retry shortly",
                {"retry-after": "1"},
            ) from None
        finally:
            gate.waiting -= 1
        self.held = semaphore

    async def __aexit__(self, *exc_info: object) -> None:
        if self.held is not None:
            self.held.release()
            self.held = None
