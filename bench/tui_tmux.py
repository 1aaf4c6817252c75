"""Scenario 7: the TUI as a person feels it, in a real terminal (tmux) at 120x40.

`claude-proxy` is launched in a detached tmux session on a private tmux server (`-L`, no user
config). Measured, each from the moment before the tmux command ran:

* launch to first frame: `capture-pane` first shows "claude-proxy" (the starting frame), and
  launch to the app's header (the status bar's "in flight" word: Textual's first frame);
* launch to the embedded proxy's port accepting connections;
* key to screen while `load_streams` paced streams run through the app's proxy: a key sent with
  `tmux send-keys`, then `capture-pane` polled until the frame shows the key's effect (a view's
  title after its key, the request log's column header after Escape).

Escape is timed apart: Textual waits ESCDELAY (100 ms by default) for the rest of an escape
sequence before it believes a lone Escape, so "back" can never be under that.
Skipped (with a reason in the report) where tmux is missing.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.procs import free_port, port_open, proxy_command, proxy_env, target
from bench.stack import Stack
from bench.stats import Flat, median, percentile

COLUMNS, ROWS = 120, 40
SESSION = "bench"
TIMEOUT = 20.0
KEY_TIMEOUT = 3.0
POLL = 0.004
"""Seconds between two captures (each is a tmux process: about 3 ms of CPU)."""
FIRST_FRAME = "claude-proxy"
HEADER = "in flight"
LOG = "requested"
"""A word of the request log's column header: the main screen is back."""
SECONDS_PER_PRESS = 1.5
"""Load time per view key (a key, Escape and two pauses: 0.3 s idle, over 1 s on a busy machine)."""
VIEWS = {"s": "Stats ·", "p": "Presets ·", "d": "Debug log ·", "?": "Help ·"}
"""Key (as tmux names it) -> text its view's title shows."""


@dataclass
class Tmux:
    """A private tmux server (its own socket) running one session."""

    socket: str = field(default_factory=lambda: f"claude-proxy-bench-{os.getpid()}")

    def run(self, *args: str) -> str:
        """A tmux command on this server; its stdout."""
        done = subprocess.run(
            ["tmux", "-L", self.socket, "-f", "/dev/null", *args],
            capture_output=True,
            text=True,
            check=False,
        )
        return done.stdout

    def start(self, command: list[str], env: dict[str, str], cwd: Path) -> None:
        """A detached session running `command` with exactly `env` (nothing from this shell)."""
        line = " ".join(
            [f"cd {shlex.quote(str(cwd))} &&", "exec env -i"]
            + [f"{k}={shlex.quote(v)}" for k, v in env.items()]
            + [shlex.quote(c) for c in command]
        )
        self.run("new-session", "-d", "-s", SESSION, "-x", str(COLUMNS), "-y", str(ROWS), line)

    def screen(self) -> str:
        """The pane's text now."""
        return self.run("capture-pane", "-p", "-t", SESSION)

    def keys(self, *keys: str) -> None:
        """Type `keys` (tmux key names)."""
        self.run("send-keys", "-t", SESSION, *keys)

    def stop(self) -> None:
        """Kill this server (and the app in it)."""
        self.run("kill-server")


def wait_screen(tmux: Tmux, text: str, timeout: float) -> float | None:
    """Seconds until the pane shows `text` (None: not within `timeout`)."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        if text in tmux.screen():
            return time.perf_counter() - t0
        time.sleep(POLL)
    return None


def launch(tmux: Tmux, home: Path, upstream: str, port: int) -> dict[str, float | None]:
    """Start the app; seconds to the first frame, to Textual's header and to the open port."""
    env = proxy_env(home, upstream, port, "openai")
    env.update(TERM="tmux-256color", COLORTERM="truecolor")
    out: dict[str, float | None] = {"first_frame_s": None, "header_s": None, "port_s": None}
    t0 = time.perf_counter()
    tmux.start(proxy_command(headless=False), env, home)
    while time.perf_counter() - t0 < TIMEOUT and None in out.values():
        now = time.perf_counter() - t0
        if out["port_s"] is None and port_open(port):
            out["port_s"] = now
        if out["first_frame_s"] is None or out["header_s"] is None:
            screen = tmux.screen()
            if out["first_frame_s"] is None and FIRST_FRAME in screen:
                out["first_frame_s"] = now
            if out["header_s"] is None and HEADER in screen:
                out["header_s"] = now
        time.sleep(POLL)
    return out


def key_to_screen(tmux: Tmux, presses: int) -> tuple[list[float], list[float], list[str]]:
    """Latencies (ms) of view keys and of Escape back, `presses` view keys in all; the keys
    whose effect never showed."""
    views: list[float] = []
    back: list[float] = []
    missed: list[str] = []
    keys = list(VIEWS)
    for n in range(presses):
        key = keys[n % len(keys)]
        for sent, shows, into in ((key, VIEWS[key], views), ("Escape", LOG, back)):
            t0 = time.perf_counter()
            tmux.keys(sent)
            took = wait_screen(tmux, shows, KEY_TIMEOUT)
            if took is None:
                missed.append(sent)
            else:
                into.append((time.perf_counter() - t0) * 1000 if took else 0.0)
            time.sleep(0.05)
    return views, back, missed


async def tui_tmux(stack: Stack) -> Flat:
    """Launch figures, then key-to-screen latency under `load_streams` paced streams."""
    if shutil.which("tmux") is None:
        stack.note_errors("tui_tmux", ["skipped: tmux is not installed"])
        return {"tui_tmux.skipped": 1}
    c = stack.counts
    presses = max(30, c.key_presses_idle)
    tmux = Tmux()
    port = free_port()
    out: Flat = {}
    try:
        started = await asyncio.to_thread(launch, tmux, stack.home, stack.upstream_url, port)
        out.update({f"tui_tmux.{k}": v for k, v in started.items()})
        if started["header_s"] is None or started["port_s"] is None:
            stack.note_errors("tui_tmux", [f"no app within {TIMEOUT} s: {tmux.screen()[-400:]!r}"])
            return out
        await asyncio.sleep(1.0)
        # Paced streams for as long as the presses may take (each press pair about 0.3 s).
        load = asyncio.create_task(
            stack.loadgen.call(
                op="streams_for",
                target=target(f"http://127.0.0.1:{port}/v1/messages", "anthropic"),
                concurrency=c.load_streams,
                chunks=c.paced_load_chunks,
                pace_ms=c.paced_load_ms,
                seconds=c.load_ramp + presses * SECONDS_PER_PRESS,
            )
        )
        try:
            await asyncio.sleep(c.load_ramp)
            views, back, missed = await asyncio.to_thread(key_to_screen, tmux, presses)
            load_running = not load.done()
            result = await load
        finally:
            if not load.done():
                load.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await load
        stack.note_errors("tui_tmux", result["error_samples"])
        if missed:
            stack.note_errors("tui_tmux", [f"no effect seen of {missed}: {tmux.screen()!r}"])
        out["tui_tmux.key_p50_ms"] = median(views)
        out["tui_tmux.key_p95_ms"] = percentile(views, 95)
        out["tui_tmux.key_max_ms"] = max(views) if views else None
        out["tui_tmux.escape_p50_ms"] = median(back)
        out["tui_tmux.escape_p95_ms"] = percentile(back, 95)
        out["tui_tmux.keys"] = len(views) + len(back)
        out["tui_tmux.missed"] = len(missed)
        out["tui_tmux.load_held"] = 1 if load_running else 0
        out["tui_tmux.streams"] = result["streams"]
        out["tui_tmux.errors"] = result["errors"]
    finally:
        tmux.stop()
    return out
