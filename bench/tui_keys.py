"""Scenario 6: key-press latency of the TUI, idle and while 20 streams run through its proxy.

The app is built with the app's one factory (`app.ui.tui.make_app`) and run in-process with
Textual's `App.run_test()` (headless driver: frames are composed but not written to a terminal). The embedded proxy runs on
its own thread as in the real TUI; the load generator process sends it `load_streams` concurrent
streams (see `key_latency`).

A key press is a `Key("f12")` event posted to the app, the same message the terminal driver posts;
f12 is bound to a benchmark action that notes the time. Latency is post -> action ran. Presses are
`key_gap` s apart so each waits behind whatever the UI and the proxy thread are doing.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path
from typing import Any

from textual import events
from textual.app import App

from bench.procs import own_folders, proxy_env, target
from bench.stack import Stack
from bench.stats import Flat, median, percentile
from proxy.core.lazy_litellm import start_import
from proxy.core.settings import load_settings
from proxy.server.runner import ProxyThread

KEY = "f12"
TIMEOUT = 5.0


def build_app(home: Path, upstream: str) -> App[Any]:
    """The real app, configured against the fake upstream, with the benchmark's key binding."""
    env = proxy_env(home, upstream, 0, "openai")
    env["PRESETS_FILE"] = str(home / "presets.toml")
    settings = load_settings(environ=env)
    from app.ui.tui import make_app

    app: App[Any] = make_app(settings, env_file=home / ".env", first_run_prompt=False)
    app.bind(KEY, "bench_ping", show=False)
    return app


def find_proxy(app: App[Any]) -> ProxyThread | None:
    """The app's embedded proxy thread, wherever the app keeps it."""
    backend = getattr(app, "backend", None)
    for candidate in (getattr(app, "proxy", None), getattr(backend, "proxy", None)):
        if isinstance(candidate, ProxyThread):
            return candidate
    for value in vars(app).values():
        if isinstance(value, ProxyThread):
            return value
    return None


async def proxy_url(app: App[Any], timeout: float = 20.0) -> str:
    """Wait until the embedded proxy listens; its base URL."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        proxy = find_proxy(app)
        if proxy is not None and proxy.server.runner is not None:
            return proxy.server.url
        await asyncio.sleep(0.05)
    raise RuntimeError("the TUI's embedded proxy did not start listening")


class Pinger:
    """The action f12 runs: notes when it ran."""

    def __init__(self, app: App[Any]) -> None:
        self.app = app
        self.ran = asyncio.Event()
        self.at = 0.0
        # An instance attribute is enough: Textual looks actions up with getattr.
        app.action_bench_ping = self.ping  # type: ignore[attr-defined]

    def ping(self) -> None:
        """The bound action."""
        self.at = time.perf_counter()
        self.ran.set()

    async def presses(
        self, n: int, gap: float, until: asyncio.Task[Any] | None = None
    ) -> list[float]:
        """Latencies (ms) of `n` presses; stops early if `until` finished (the load is over)."""
        latencies: list[float] = []
        for _ in range(n):
            if until is not None and until.done():
                break
            self.ran.clear()
            t0 = time.perf_counter()
            self.app.post_message(events.Key(KEY, None))
            try:
                await asyncio.wait_for(self.ran.wait(), TIMEOUT)
            except TimeoutError:
                latencies.append(TIMEOUT * 1000)
                continue
            latencies.append((self.at - t0) * 1000)
            await asyncio.sleep(gap)
        return latencies


async def _under_load(
    stack: Stack, pinger: Pinger, url: str, chunks: int, pace_ms: float
) -> tuple[list[float], dict[str, Any]]:
    """Press latencies while `load_streams` streams of `chunks` chunks run through the TUI proxy."""
    c = stack.counts
    seconds = c.load_ramp + 0.5 + c.key_presses_load * (c.key_gap + 0.05)
    load = asyncio.create_task(
        stack.loadgen.call(
            op="streams_for",
            target=target(url + "/v1/messages", "anthropic"),
            concurrency=c.load_streams,
            chunks=chunks,
            pace_ms=pace_ms,
            seconds=seconds,
        )
    )
    try:
        await asyncio.sleep(c.load_ramp)
        latencies = await pinger.presses(c.key_presses_load, c.key_gap, until=load)
        return latencies, await load
    finally:
        if not load.done():
            load.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await load


async def key_latency(stack: Stack) -> Flat:
    """Press latency idle, under `load_streams` instant streams, and under paced streams.

    Instant: 500-chunk streams from the instant fake upstream, so the embedded proxy thread is
    as busy as it can be (the issue's figure). Paced: `paced_load_chunks`-chunk streams with
    chunks `paced_load_ms` apart (about what 20 real streams deliver).
    """
    with own_folders(stack.home / "tui_keys"):
        return await _key_latency(stack)


async def _key_latency(stack: Stack) -> Flat:
    c = stack.counts
    app = build_app(stack.home, stack.upstream_url)
    pinger = Pinger(app)
    out: Flat = {}
    async with app.run_test(size=(160, 48)):
        url = await proxy_url(app)
        # Measure the steady state: LiteLLM's import (a background thread of this process) done.
        if c.settle:
            await asyncio.wrap_future(start_import())
        await asyncio.sleep(0.5)
        idle = await pinger.presses(c.key_presses_idle, c.key_gap)
        loaded, result = await _under_load(stack, pinger, url, c.stream_chunks, 0)
        paced, paced_result = await _under_load(
            stack, pinger, url, c.paced_load_chunks, c.paced_load_ms
        )
    out["tui_keys.idle_median_ms"] = median(idle)
    out["tui_keys.idle_p95_ms"] = percentile(idle, 95)
    out["tui_keys.load_median_ms"] = median(loaded)
    out["tui_keys.load_p95_ms"] = percentile(loaded, 95)
    out["tui_keys.load_max_ms"] = max(loaded) if loaded else None
    out["tui_keys.presses_under_load"] = len(loaded)
    out["tui_keys.paced_median_ms"] = median(paced)
    out["tui_keys.paced_p95_ms"] = percentile(paced, 95)
    out["tui_keys.paced_max_ms"] = max(paced) if paced else None
    out["tui_keys.streams"] = result["streams"]
    out["tui_keys.paced_streams"] = paced_result["streams"]
    out["tui_keys.errors"] = result["errors"] + paced_result["errors"]
    stack.note_errors("tui_keys", result["error_samples"] + paced_result["error_samples"])
    return out
