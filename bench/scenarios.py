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
from bench.stack import Stack
from bench.stats import Flat, diff, median, percentile, ratio


async def latency(stack: Stack, transports: list[str]) -> Flat:
    """1. Small non-streaming request: median and p95, direct vs proxy, one at a time."""
    await stack.ensure(transports)
    c = stack.counts
    out: Flat = {}
    for transport in transports:
        result = await stack.loadgen.call(
            op="latency",
            targets={"direct": stack.direct(transport), "proxy": stack.via(transport)},
            n=c.latency_n,
            warmup=c.latency_warmup,
        )
        prefix = f"latency.{transport}"
        for side in ("direct", "proxy"):
            samples = result[side]["total"]
            out[f"{prefix}.{side}.median_ms"] = median(samples)
            out[f"{prefix}.{side}.p95_ms"] = percentile(samples, 95)
        out[f"{prefix}.added_ms"] = diff(
            out[f"{prefix}.proxy.median_ms"], out[f"{prefix}.direct.median_ms"]
        )
        out[f"{prefix}.added_p95_ms"] = diff(
            out[f"{prefix}.proxy.p95_ms"], out[f"{prefix}.direct.p95_ms"]
        )
        out[f"{prefix}.errors"] = result["direct"]["errors"] + result["proxy"]["errors"]
        _keep_samples(stack, prefix, result)
    return out


async def streaming(stack: Stack, transports: list[str]) -> Flat:
    """2. One stream of `stream_chunks` chunks at a time: TTFT and total, direct vs proxy."""
    await stack.ensure(transports)
    c = stack.counts
    out: Flat = {}
    for transport in transports:
        n = c.stream_n_litellm if transport == "litellm" else c.stream_n
        result = await stack.loadgen.call(
            op="stream",
            targets={"direct": stack.direct(transport), "proxy": stack.via(transport)},
            n=n,
            chunks=c.stream_chunks,
            warmup=min(3, n),
        )
        prefix = f"stream.{transport}"
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

    Streams run one after the other; the proxy has been warmed up and is idle (LiteLLM imported)
    before the first reading. Nothing is subtracted: idle CPU, the request handling and the
    message_start/stop frames all count against the chunks.
    """
    proxies = await stack.ensure(transports)
    c = stack.counts
    out: Flat = {}
    for transport in transports:
        proc = proxies[transport]
        n = c.cpu_streams_litellm if transport == "litellm" else c.cpu_streams
        before, t0 = proc.cpu(), time.perf_counter()
        result = await stack.loadgen.call(
            op="requests",
            target=stack.via(transport),
            n=n,
            concurrency=1,
            chunks=c.stream_chunks,
            stream=True,
        )
        used, wall = proc.cpu() - before, time.perf_counter() - t0
        chunks = n * c.stream_chunks
        prefix = f"cpu.{transport}"
        out[f"{prefix}.us_per_chunk"] = used / chunks * 1e6
        out[f"{prefix}.cpu_s"] = used
        out[f"{prefix}.wall_s"] = wall
        out[f"{prefix}.chunks"] = chunks
        out[f"{prefix}.errors"] = result["errors"]
        stack.note_errors(prefix, result["error_samples"])
    return out


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
    """4. N streams started at once: wall time proxy/direct, errors, the proxy's peak RSS."""
    proxies = await stack.ensure(transports)
    out: Flat = {}
    for transport in transports:
        proc = proxies[transport]
        for streams, chunks in stack.counts.concurrency:
            direct, via = stack.direct(transport), stack.via(transport)
            key = (transport, streams, chunks)
            if key not in stack.warmed:
                # Open the keep-alive connections once, on both paths, before measuring.
                for tgt in (direct, via):
                    await stack.loadgen.call(op="concurrent", target=tgt, streams=streams, chunks=5)
                stack.warmed.add(key)
            d = await stack.loadgen.call(
                op="concurrent", target=direct, streams=streams, chunks=chunks
            )
            cpu0 = proc.cpu()
            async with rss_sampler(proc) as samples:
                p = await stack.loadgen.call(
                    op="concurrent", target=via, streams=streams, chunks=chunks
                )
            prefix = f"concurrency.{transport}.{streams}x{chunks}"
            out[f"{prefix}.direct_s"] = d["wall"]
            out[f"{prefix}.proxy_s"] = p["wall"]
            out[f"{prefix}.ratio"] = ratio(p["wall"], d["wall"])
            out[f"{prefix}.proxy_cpu_s"] = proc.cpu() - cpu0
            out[f"{prefix}.peak_rss_mb"] = max(samples)
            out[f"{prefix}.errors"] = p["errors"] + d["errors"]
            stack.note_errors(f"{prefix}.direct", d["error_samples"])
            stack.note_errors(f"{prefix}.proxy", p["error_samples"])
    return out


def _keep_samples(stack: Stack, prefix: str, result: dict[str, Any]) -> None:
    """Remember error texts so the report can show why something failed."""
    for side in ("direct", "proxy"):
        stack.note_errors(f"{prefix}.{side}", result[side].get("error_samples", []))
