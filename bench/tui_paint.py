"""Scenario 5 (TUI part): time from launching `claude-proxy` to the TUI's first painted frame.

The app is launched for real under a pseudo-terminal (120x40, TERM=xterm-256color, Textual's
defaults) and its output is read as it comes. The first paint is the moment the output, escape
sequences removed, first shows MIN_VISIBLE printable characters: Textual's start-up writes (mode
switches, queries) carry none, and it writes a whole frame at once, so that read is the first
frame whatever the screen shows. Also reported: the first byte of output and when the embedded
proxy's port accepted connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import re
import select
import signal
import struct
import subprocess
import termios
import time
from pathlib import Path

from bench.procs import free_port, port_open, proxy_command, proxy_env
from bench.stack import Stack
from bench.stats import Flat

MIN_VISIBLE = 40
DRIVER_START = b"\x1b[?1000h"
"""Textual's driver turns mouse reporting on before its first frame; the launcher's start-up
splash (progress lines, reported as `splash_s`) is written before it."""
"""Printable characters (not spaces) that make a frame."""
COLUMNS, ROWS = 120, 40
TIMEOUT = 20.0
_ESC = re.compile(
    rb"\x1b(?:\[[0-9;?<>=$]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[()][0-9A-B]|.)"
)


def _read(master: int, wait: float) -> bytes | None:
    """Bytes available within `wait` s; b'' on none; None once the terminal is closed."""
    ready, _, _ = select.select([master], [], [], wait)
    if not ready:
        return b""
    try:
        return os.read(master, 65536) or None
    except OSError:
        return None


def paint_once(home: Path, upstream: str) -> dict[str, float | str | None]:
    """Launch the TUI under a pty once; seconds to first output, first paint and open port."""
    port = free_port()
    env = proxy_env(home, upstream, port, "openai")
    env.update(TERM="xterm-256color", COLORTERM="truecolor", COLUMNS=str(COLUMNS), LINES=str(ROWS))
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLUMNS, 0, 0))
    t0 = time.perf_counter()
    popen = subprocess.Popen(
        proxy_command(headless=False),
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        cwd=home,
        start_new_session=True,
    )
    os.close(slave)
    out: dict[str, float | str | None] = {
        "first_output_s": None,
        "splash_s": None,
        "paint_s": None,
        "port_s": None,
    }
    buf = bytearray()
    try:
        while time.perf_counter() - t0 < TIMEOUT:
            data = _read(master, 0.005)
            now = time.perf_counter() - t0
            if out["port_s"] is None and port_open(port):
                out["port_s"] = now
            if data is None:
                break
            if data:
                buf += data
                if out["first_output_s"] is None:
                    out["first_output_s"] = now
                if out["splash_s"] is None and _visible(bytes(buf)) >= MIN_VISIBLE:
                    out["splash_s"] = now
                if out["paint_s"] is None and _visible(_frames(bytes(buf))) >= MIN_VISIBLE:
                    out["paint_s"] = now
            if out["paint_s"] is not None and out["port_s"] is not None:
                break
        if out["paint_s"] is None:
            text = _ESC.sub(b"", bytes(buf)).decode(errors="replace").strip()
            out["error"] = f"no frame within {TIMEOUT} s; output: {text[-400:]!r}"
    finally:
        _stop(popen, master)
    return out


def _frames(data: bytes) -> bytes:
    """What Textual wrote: everything after its driver started (the splash comes before)."""
    at = data.find(DRIVER_START)
    return data[at + len(DRIVER_START) :] if at >= 0 else b""


def _visible(data: bytes) -> int:
    """Printable, non-space characters once escape sequences are removed."""
    text = _ESC.sub(b"", data).decode(errors="replace")
    return sum(1 for ch in text if ch.isprintable() and not ch.isspace())


def _stop(popen: subprocess.Popen[bytes], master: int) -> None:
    """Terminate the app, draining the terminal so it can never block on a write."""
    with contextlib.suppress(ProcessLookupError):
        popen.send_signal(signal.SIGTERM)
    deadline = time.perf_counter() + 5
    while popen.poll() is None and time.perf_counter() < deadline:
        if _read(master, 0.05) is None:
            break
    if popen.poll() is None:
        popen.kill()
    popen.wait(5)
    os.close(master)


async def tui_paint(stack: Stack) -> Flat:
    """One launch of the TUI; the figures of `paint_once`."""
    loop = asyncio.get_running_loop()
    result = await loop.run_in_executor(None, paint_once, stack.home, stack.upstream_url)
    error = result.pop("error", None)
    if isinstance(error, str):
        stack.note_errors("tui_paint", [error])
    out: Flat = {f"tui_paint.{k}": v for k, v in result.items() if not isinstance(v, str)}
    out["tui_paint.errors"] = 1 if error else 0
    return out
