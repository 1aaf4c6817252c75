"""Scenarios 1-4: latency, streaming TTFT, proxy CPU per chunk, concurrent streams.

Each function is one run and returns flat figures (see `bench.stats.Flat`); the CLI repeats runs
and takes medians. The proxies are separate headless processes (see `bench.stack.Stack`), so the
CPU and memory read here are the proxy's alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

from bench.procs import Proc
from bench.sidebyside import floor_ratio, side_by_side
from bench.stack import Stack
from bench.stats import Flat, diff, median, percentile, ratio


async def latency(stack: Stack, transports: list[str]) -> Flat:
    """1. Small non-streaming request: median and p95, direct vs proxy, one at a time.

    Every transport, its direct baseline and the floor side by side (`bench.sidebyside`):
    requests interleaved, rounds rotating the order. Also each proxy's CPU per request (its
    user+sys over a round, idle while the others serve, / the requests it served) and, round
    by round, that CPU against the floor's.
    """
    c = stack.counts
    sides = await side_by_side(
        stack,
        transports,
        n=c.latency_n,
        warmup=c.latency_warmup,
        rounds=c.latency_rounds,
        stream=False,
        chunks=5,
    )
    out: Flat = {}
    for transport, side in sides.items():
        prefix = f"latency.{transport}"
        out[f"{prefix}.cpu_ms"] = median(side.cpu_ms)
        out[f"{prefix}.cpu_x_floor"] = floor_ratio(sides, transport)
        for name, samples in (("direct", side.direct), ("proxy", side.proxy)):
            out[f"{prefix}.{name}.median_ms"] = median(samples)
            out[f"{prefix}.{name}.p95_ms"] = percentile(samples, 95)
        out[f"{prefix}.added_ms"] = diff(
            out[f"{prefix}.proxy.median_ms"], out[f"{prefix}.direct.median_ms"]
        )
        out[f"{prefix}.added_p95_ms"] = diff(
            out[f"{prefix}.proxy.p95_ms"], out[f"{prefix}.direct.p95_ms"]
        )
        out[f"{prefix}.errors"] = side.errors
        stack.note_errors(prefix, side.error_samples)
    return out


async def streaming(stack: Stack, transports: list[str]) -> Flat:
    """2. One stream at a time: TTFT and total time, direct vs proxy.

    `stream_chunks` chunks from the instant upstream (the issue's figure: the proxy's first
    network read may hold hundreds of chunks), then a paced variant, `ttft_paced_chunks` chunks
    `cpu_paced_ms` apart, where the first text arrives in a read of its own.
    """
    await stack.ensure(transports)
    c = stack.counts
    out: Flat = {}
    for transport in transports:
        n = c.stream_n_litellm if transport == "litellm" else c.stream_n
        variants: dict[str, dict[str, Any]] = {
            "": dict(chunks=c.stream_chunks),
            ".paced": dict(chunks=c.ttft_paced_chunks, pace_ms=c.cpu_paced_ms),
        }
        for suffix, extra in variants.items():
            result = await stack.loadgen.call(
                op="stream",
                targets={"direct": stack.direct(transport), "proxy": stack.via(transport)},
                n=n,
                warmup=min(3, n),
                **extra,
            )
            prefix = f"stream.{transport}{suffix}"
            for side in ("direct", "proxy"):
                out[f"{prefix}.{side}.ttft_ms"] = median(result[side]["ttft"])
                out[f"{prefix}.{side}.total_ms"] = median(result[side]["total"])
            out[f"{prefix}.added_ttft_ms"] = diff(
                out[f"{prefix}.proxy.ttft_ms"], out[f"{prefix}.direct.ttft_ms"]
            )
            out[f"{prefix}.added_total_ms"] = diff(
                out[f"{prefix}.proxy.total_ms"], out[f"{prefix}.direct.total_ms"]
            )
            out[f"{prefix}.errors"] = result["direct"]["errors"] + result["proxy"]["errors"]
            _keep_samples(stack, prefix, result)
    return out


async def cpu(stack: Stack, transports: list[str]) -> Flat:
    """3. Proxy user+sys CPU over streams of `stream_chunks` chunks, divided by chunks.

    Two upstream speeds: `instant` (the issue's figure; streams one after the other, the fake
    writes as fast as it can, so the proxy often finds several chunks in one network read) and
    `paced` (chunks `cpu_paced_ms` apart, `cpu_paced_concurrency` streams at once: every chunk
    arrives in a read of its own, as from a real provider, the per-chunk worst case). The proxy
    is warm and idle (LiteLLM imported) before the first reading. Nothing is subtracted: idle
    CPU, request handling and the message_start/stop frames all count against the chunks.
    """
    proxies = await stack.ensure(transports)
    c = stack.counts
    out: Flat = {}
    for transport in transports:
        n = c.cpu_streams_litellm if transport == "litellm" else c.cpu_streams
        variants: dict[str, dict[str, Any]] = {
            "": dict(n=n, concurrency=1),
            ".paced": dict(
                n=c.cpu_paced_streams, concurrency=c.cpu_paced_concurrency, pace_ms=c.cpu_paced_ms
            ),
        }
        for suffix, extra in variants.items():
            out.update(await _cpu_run(stack, proxies[transport], transport, suffix, extra))
    return out


async def _cpu_run(
    stack: Stack, proc: Proc, transport: str, suffix: str, extra: dict[str, Any]
) -> Flat:
    c = stack.counts
    before, sys0, t0 = proc.cpu_snapshot(), proc.cpu_sys(), time.perf_counter()
    result = await stack.loadgen.call(
        op="requests", target=stack.via(transport), chunks=c.stream_chunks, stream=True, **extra
    )
    used, wall = proc.cpu_since(before), time.perf_counter() - t0
    kernel = proc.cpu_sys() - sys0
    chunks = int(extra["n"]) * c.stream_chunks
    prefix = f"cpu.{transport}{suffix}"
    stack.note_errors(prefix, result["error_samples"])
    return {
        f"{prefix}.us_per_chunk": used / chunks * 1e6,
        f"{prefix}.cpu_s": used,
        f"{prefix}.sys_share": kernel / used if used else None,
        f"{prefix}.wall_s": wall,
        f"{prefix}.chunks": chunks,
        f"{prefix}.client_reads_per_stream": result["reads_per_request"],
        f"{prefix}.errors": result["errors"],
    }


@contextlib.asynccontextmanager
async def rss_sampler(proc: Proc, every: float = 0.02) -> AsyncIterator[list[float]]:
    """Sample the process' RSS (MB) until the block ends; the list holds the samples."""
    samples: list[float] = [proc.rss_mb()]

    async def sample() -> None:
        while True:
            await asyncio.sleep(every)
            with contextlib.suppress(Exception):
                samples.append(proc.rss_mb())

    task = asyncio.create_task(sample())
    try:
        yield samples
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        samples.append(proc.rss_mb())


async def concurrency(stack: Stack, transports: list[str]) -> Flat:
    """4. N streams started at once: wall time proxy/direct, errors, the proxy's peak RSS.

    Each run alternates direct and proxy `concurrency_reps` times and keeps the median wall
    time of each side (the tests are short, so one pass is at the mercy of a busy machine).
    """
    proxies = await stack.ensure(transports)
    out: Flat = {}
    for transport in transports:
        for streams, chunks in stack.counts.concurrency:
            prefix = f"concurrency.{transport}.{streams}x{chunks}"
            out.update(
                await _concurrent(stack, proxies[transport], transport, streams, chunks, prefix)
            )
    return out


async def _concurrent(
    stack: Stack, proc: Proc, transport: str, streams: int, chunks: int, prefix: str
) -> Flat:
    direct, via = stack.direct(transport), stack.via(transport)
    key = (transport, streams, chunks)
    if key not in stack.warmed:
        # Open the keep-alive connections once, on both paths, before measuring.
        for tgt in (direct, via):
            await stack.loadgen.call(op="concurrent", target=tgt, streams=streams, chunks=5)
        stack.warmed.add(key)
    walls: dict[str, list[float]] = {"direct": [], "proxy": []}
    cpu = {"upstream.direct": 0.0, "client.direct": 0.0, "upstream.proxy": 0.0, "client.proxy": 0.0}
    proxy_cpu, errors, peak = 0.0, 0, 0.0
    reps = stack.counts.concurrency_reps
    for _ in range(reps):
        for side, tgt in (("direct", direct), ("proxy", via)):
            up0, gen0, cpu0 = stack.upstream_cpu(), stack.loadgen.cpu(), proc.cpu()
            async with rss_sampler(proc) as samples:
                result = await stack.loadgen.call(
                    op="concurrent", target=tgt, streams=streams, chunks=chunks
                )
            cpu[f"upstream.{side}"] += stack.upstream_cpu() - up0
            cpu[f"client.{side}"] += stack.loadgen.cpu() - gen0
            if side == "proxy":
                proxy_cpu += proc.cpu() - cpu0
                peak = max(peak, *samples)
            walls[side].append(result["wall"])
            errors += result["errors"]
            stack.note_errors(f"{prefix}.{side}", result["error_samples"])
    d, p = median(walls["direct"]), median(walls["proxy"])
    out: Flat = {
        f"{prefix}.direct_s": d,
        f"{prefix}.proxy_s": p,
        f"{prefix}.ratio": ratio(p, d),
        f"{prefix}.proxy_cpu_s": proxy_cpu / reps,
        f"{prefix}.peak_rss_mb": peak,
        f"{prefix}.errors": errors,
    }
    # Who did the work: a fake upstream or client near 1 CPU s per wall s sets the pace.
    for name, used in cpu.items():
        out[f"{prefix}.{name}_cpu_s"] = used / reps
    return out


def _keep_samples(stack: Stack, prefix: str, result: dict[str, Any]) -> None:
    """Remember error texts so the report can show why something failed."""
    for side in ("direct", "proxy"):
        stack.note_errors(f"{prefix}.{side}", result[side].get("error_samples", []))
