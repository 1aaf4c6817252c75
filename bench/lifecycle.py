"""Scenario 5 (headless part): start-up time and memory of a fresh proxy process.

* startup: launch `claude-proxy --headless` (the venv's script, no `uv run` in front), time until
  the port accepts a TCP connection, the first request right after that, RSS then, and how long
  until the process is idle (LiteLLM's background import finished) with its RSS at that point.
* memory: a fresh OpenAI-transport proxy, RSS idle after start, after 1,000 and after 5,000
  requests (every other one a 20-chunk stream), to show whether memory grows with traffic.
"""

from __future__ import annotations

import asyncio
import time

from bench.procs import Proc, start_proxy, target
from bench.stack import Stack
from bench.stats import Flat, diff

MEMORY_CONCURRENCY = 8


def _messages(proc: Proc) -> dict[str, str]:
    return target(proc.url + "/v1/messages", "anthropic")


async def startup(stack: Stack, transport: str = "openai", keep: bool = False) -> Flat:
    """One launch of a fresh headless proxy; with `keep`, left running for `memory`."""
    proc: Proc | None = await start_proxy(stack.home, stack.upstream_url, transport)
    assert proc is not None
    try:
        rss_port = proc.rss_mb()
        t0 = time.perf_counter()
        first = await stack.loadgen.call(
            op="requests", target=_messages(proc), n=1, concurrency=1, chunks=5, stream=False
        )
        first_ms = (time.perf_counter() - t0) * 1000
        idle_s = await stack.settle(proc)
        out: Flat = {
            "startup.port_s": proc.info["port_s"],
            "startup.first_request_ms": first_ms,
            "startup.rss_at_port_mb": rss_port,
            "startup.idle_after_s": None if idle_s is None else proc.info["port_s"] + idle_s,
            "startup.rss_idle_mb": proc.rss_mb(),
            "startup.errors": first["errors"],
        }
        stack.note_errors("startup", first["error_samples"])
        if keep:
            stack.spare, proc = proc, None
        return out
    finally:
        if proc is not None:
            proc.stop()


async def memory(stack: Stack, transport: str = "openai") -> Flat:
    """RSS of one fresh proxy after start, after marks[0] and after marks[1] requests.

    The proxy `startup` left running (one request old, idle) is used when there is one.
    """
    proc = stack.spare or await start_proxy(stack.home, stack.upstream_url, transport)
    stack.spare = None
    try:
        await stack.settle(proc)
        out: Flat = {"memory.rss_start_mb": proc.rss_mb()}
        done, errors = 0, 0
        c = stack.counts
        for name, mark in zip(("first", "last"), c.memory_marks, strict=True):
            result = await stack.loadgen.call(
                op="requests",
                target=_messages(proc),
                n=mark - done,
                concurrency=MEMORY_CONCURRENCY,
                chunks=c.memory_chunks,
                mix=True,
            )
            done = mark
            errors += result["errors"]
            stack.note_errors(f"memory.{mark}", result["error_samples"])
            await asyncio.sleep(0.5)
            out[f"memory.{name}_mark"] = mark
            out[f"memory.rss_after_{name}_mb"] = proc.rss_mb()
        out["memory.growth_mb"] = diff(
            out["memory.rss_after_last_mb"], out["memory.rss_after_first_mb"]
        )
        out["memory.peak_rss_mb"] = proc.peak_rss_mb()
        out["memory.errors"] = errors
        return out
    finally:
        proc.stop()
