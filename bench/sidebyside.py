"""Every transport and the floor in the same window: requests interleaved, CPU per process.

On a shared machine the load changes from one second to the next, so a proxy measured after
the relay is not compared with it. Here one load-generator call sends the same request to every
target in turn (each direct dialect once, then each proxy and the relay), one at a time, in
`rounds` rounds whose target order rotates (no target always follows the same one). Each proxy's
CPU is read from outside per round (exact, per-thread schedstat on Linux): it is idle while the
others serve, so its CPU over the round divided by the requests it served is its CPU per request.
Ratios to the floor (the relay) are taken round by round, then the median.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any

from bench.procs import target
from bench.stack import Stack


@dataclass
class Side:
    """What one transport's proxy (and its direct baseline) did over every round."""

    direct: list[float] = field(default_factory=list)
    proxy: list[float] = field(default_factory=list)
    direct_ttft: list[float] = field(default_factory=list)
    proxy_ttft: list[float] = field(default_factory=list)
    cpu_ms: list[float] = field(default_factory=list)
    """Proxy CPU per request, one value per round."""
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)


def _rotated(names: list[str], by: int) -> list[str]:
    by %= len(names)
    return names[by:] + names[:by]


async def side_by_side(
    stack: Stack,
    transports: list[str],
    *,
    n: int,
    warmup: int,
    rounds: int,
    stream: bool,
    chunks: int,
    body: str | None = None,
    headers: dict[str, str] | None = None,
    query: str = "",
    gap_ms: float = 0,
) -> dict[str, Side]:
    """`n` requests to each transport's proxy and each direct dialect, interleaved (`gap_ms`
    apart when given: every process then meets each request cold, as between a person's turns)."""
    proxies = await stack.ensure(transports)
    targets: dict[str, dict[str, Any]] = {}
    direct_of: dict[str, str] = {}
    for transport in transports:
        direct = stack.direct(transport)
        key = "direct." + direct["dialect"]
        direct_of[transport] = key
        targets.setdefault(key, direct)
        targets["proxy." + transport] = target(stack.via(transport)["url"] + query, "anthropic")
    for t in targets.values():
        if headers and t["dialect"] == "anthropic":
            t["headers"] = headers
    op = "stream" if stream else "latency"
    common = dict(chunks=chunks, body=body, gap_ms=gap_ms)
    if warmup:
        await stack.loadgen.call(op=op, targets=targets, n=0, warmup=warmup, **common)
    sides = {transport: Side() for transport in transports}
    per_round = max(1, n // max(1, rounds))
    for r in range(max(1, rounds)):
        order = _rotated(list(targets), r)
        before = {t: proxies[t].cpu_snapshot() for t in transports}
        result = await stack.loadgen.call(
            op=op, targets={k: targets[k] for k in order}, n=per_round, warmup=0, **common
        )
        for transport in transports:
            side = sides[transport]
            side.cpu_ms.append(proxies[transport].cpu_since(before[transport]) / per_round * 1e3)
            for name, where, ttft in (
                (direct_of[transport], side.direct, side.direct_ttft),
                ("proxy." + transport, side.proxy, side.proxy_ttft),
            ):
                got = result[name]
                where.extend(got["total"])
                ttft.extend(x for x in got["ttft"] if x is not None)
                side.errors += got["errors"]
                side.error_samples.extend(got.get("error_samples", [])[:2])
    return sides


def floor_ratio(sides: dict[str, Side], transport: str) -> float | None:
    """Median over rounds of this proxy's CPU per request / the floor's (None without a floor)."""
    floor = sides.get("relay")
    if floor is None or transport == "relay":
        return None
    ratios = [
        mine / base
        for mine, base in zip(sides[transport].cpu_ms, floor.cpu_ms, strict=True)
        if base > 0
    ]
    return statistics.median(ratios) if ratios else None
