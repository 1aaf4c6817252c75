"""The results table (figure, measured, target, verdict) and the JSON file, from the figures."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import psutil

from bench.cc_body import rows as cc_rows
from bench.procs import REPO
from bench.stats import Flat, ratio

Row = tuple[str, str, str, str]
"""figure, measured, target, verdict (PASS, FAIL or empty when the issue sets no target)."""

LATENCY_TARGET = {"openai": 1.5, "anthropic": 1.5}
TTFT_TARGET = {"openai": 3.0, "anthropic": 3.0}
CPU_TARGET = {"openai": 30.0, "anthropic": 20.0}
TRANSPORT_LABEL = {
    "openai": "OpenAI-compatible native",
    "anthropic": "Anthropic pass-through",
    "litellm": "LiteLLM engine",
    "relay": "floor: plain aiohttp relay",
}
RATIO_TARGET = 1.5
PORT_TARGET = 1.0
PAINT_TARGET = 1.5
KEY_TARGET = 100.0
RSS_TARGET = 250.0
GROWTH_LIMIT = 10.0
"""MB of RSS growth between the two memory marks still read as 'no growth' (allocator noise)."""


def _f(value: float | int | None, digits: int = 2, unit: str = "") -> str:
    if value is None:
        return "n/a"
    return f"{value:,.{digits}f}{unit}"


def _no_target(transport: str) -> str:
    return "floor" if transport == "relay" else "report"


def _pct(share: float | int | None) -> float | None:
    return None if share is None else 100 * share


def _verdict(ok: bool | None) -> str:
    return "" if ok is None else "PASS" if ok else "FAIL"


def _le(value: float | int | None, limit: float) -> bool | None:
    return None if value is None else value <= limit


def _all(*checks: bool | None) -> bool | None:
    if any(c is None for c in checks):
        return None
    return all(checks)


def _transports(fig: Flat, section: str) -> list[str]:
    found = {k.split(".")[1] for k in fig if k.startswith(section + ".")}
    return [t for t in TRANSPORT_LABEL if t in found]


def _latency_rows(fig: Flat) -> list[Row]:
    rows: list[Row] = []
    floor = fig.get("latency.relay.added_ms")
    for t in _transports(fig, "latency"):
        p = f"latency.{t}"
        limit = LATENCY_TARGET.get(t)
        added = fig.get(f"{p}.added_ms")
        ok = _all(_le(added, limit), fig.get(f"{p}.errors") == 0) if limit else None
        x = ratio(added, floor) if t != "relay" and floor and floor > 0 else None
        cpu_x = fig.get(f"{p}.cpu_x_floor")
        rows.append(
            (
                f"1 added latency, small non-streaming, median [{t}]",
                f"{_f(added)} ms"
                + (f" = {_f(x)}x floor" if x is not None else "")
                + f" (direct {_f(fig.get(f'{p}.direct.median_ms'))}, "
                f"proxy {_f(fig.get(f'{p}.proxy.median_ms'))}; CPU "
                f"{_f(fig.get(f'{p}.cpu_ms'))} ms/request"
                + (f" = {_f(cpu_x)}x floor" if cpu_x is not None else "")
                + f"; errors {fig.get(f'{p}.errors')})",
                f"<= {limit} ms" if limit else _no_target(t),
                _verdict(ok),
            )
        )
        rows.append(
            (
                f"1 added latency, small non-streaming, p95 [{t}]",
                f"{_f(fig.get(f'{p}.added_p95_ms'))} ms (direct {_f(fig.get(f'{p}.direct.p95_ms'))}, "
                f"proxy {_f(fig.get(f'{p}.proxy.p95_ms'))})",
                "",
                "",
            )
        )
    return rows


def _stream_rows(fig: Flat) -> list[Row]:
    rows: list[Row] = []
    for t in _transports(fig, "stream"):
        p = f"stream.{t}"
        limit = TTFT_TARGET.get(t)
        added = fig.get(f"{p}.added_ttft_ms")
        ok = _all(_le(added, limit), fig.get(f"{p}.errors") == 0) if limit else None
        rows.append(
            (
                f"2 added TTFT, 500-chunk stream, median [{t}]",
                f"{_f(added)} ms (direct {_f(fig.get(f'{p}.direct.ttft_ms'))}, "
                f"proxy {_f(fig.get(f'{p}.proxy.ttft_ms'))}; errors {fig.get(f'{p}.errors')})",
                f"<= {limit} ms" if limit else _no_target(t),
                _verdict(ok),
            )
        )
        rows.append(
            (
                f"2 total time, 500-chunk stream, median [{t}]",
                f"proxy {_f(fig.get(f'{p}.proxy.total_ms'), 1)} ms vs direct "
                f"{_f(fig.get(f'{p}.direct.total_ms'), 1)} ms",
                "",
                "",
            )
        )
        q = f"stream.{t}.paced"
        if f"{q}.added_ttft_ms" in fig:
            rows.append(
                (
                    f"2 added TTFT, paced upstream (1 chunk per read), median [{t}]",
                    f"{_f(fig.get(f'{q}.added_ttft_ms'))} ms (direct "
                    f"{_f(fig.get(f'{q}.direct.ttft_ms'))}, proxy "
                    f"{_f(fig.get(f'{q}.proxy.ttft_ms'))}; errors {fig.get(f'{q}.errors')})",
                    "",
                    _verdict(None if fig.get(f"{q}.errors") == 0 else False),
                )
            )
    return rows


def _cpu_rows(fig: Flat) -> list[Row]:
    rows: list[Row] = []
    for t in _transports(fig, "cpu"):
        for suffix, label in (("", "instant upstream"), (".paced", "paced upstream")):
            p = f"cpu.{t}{suffix}"
            if f"{p}.us_per_chunk" not in fig:
                continue
            limit = CPU_TARGET.get(t) if not suffix else None
            us = fig.get(f"{p}.us_per_chunk")
            ok = _all(_le(us, limit), fig.get(f"{p}.errors") == 0) if limit else None
            rows.append(
                (
                    f"3 proxy CPU per streamed chunk, {label} [{TRANSPORT_LABEL[t]}]",
                    f"{_f(us, 1)} us ({_f(fig.get(f'{p}.cpu_s'))} s CPU, "
                    f"{_f(_pct(fig.get(f'{p}.sys_share')), 0)}% kernel, / "
                    f"{_f(fig.get(f'{p}.chunks'), 0)} chunks; client reads/stream "
                    f"{_f(fig.get(f'{p}.client_reads_per_stream'), 0)}; "
                    f"errors {fig.get(f'{p}.errors')})",
                    (f"<= {limit:.0f} us" if limit else _no_target(t)) if not suffix else "",
                    _verdict(ok),
                )
            )
    return rows


def _concurrency_rows(fig: Flat) -> list[Row]:
    rows: list[Row] = []
    sizes = sorted(
        {(k.split(".")[1], k.split(".")[2]) for k in fig if k.startswith("concurrency.")},
        key=lambda ts: (list(TRANSPORT_LABEL).index(ts[0]), int(ts[1].split("x")[0])),
    )
    for t, size in sizes:
        p = f"concurrency.{t}.{size}"
        streams, chunks = size.split("x")
        r, errors = fig.get(f"{p}.ratio"), fig.get(f"{p}.errors")
        rows.append(
            (
                f"4 {streams} concurrent {chunks}-chunk streams, wall proxy/direct [{t}]",
                f"{_f(r)}x (direct {_f(fig.get(f'{p}.direct_s'))} s, proxy "
                f"{_f(fig.get(f'{p}.proxy_s'))} s), errors {errors}, peak RSS "
                f"{_f(fig.get(f'{p}.peak_rss_mb'), 0)} MB",
                f"<= {RATIO_TARGET}x, 0 errors",
                _verdict(_all(_le(r, RATIO_TARGET), errors == 0)),
            )
        )
    return rows


def _startup_rows(fig: Flat) -> list[Row]:
    rows: list[Row] = []
    if "startup.port_s" in fig:
        port = fig.get("startup.port_s")
        rows.append(
            (
                "5 port accepting after launch (headless)",
                f"{_f(port)} s (first request then {_f(fig.get('startup.first_request_ms'), 1)} ms; "
                f"idle, LiteLLM imported, at {_f(fig.get('startup.idle_after_s'), 1)} s)",
                f"<= {PORT_TARGET} s",
                _verdict(_all(_le(port, PORT_TARGET), fig.get("startup.errors") == 0)),
            )
        )
        rows.append(
            (
                "5 RSS at port open / once idle (headless)",
                f"{_f(fig.get('startup.rss_at_port_mb'), 0)} / "
                f"{_f(fig.get('startup.rss_idle_mb'), 0)} MB",
                "",
                "",
            )
        )
    if "tui_paint.paint_s" in fig or "tui_paint.errors" in fig:
        paint = fig.get("tui_paint.paint_s")
        rows.append(
            (
                "5 TUI first paint after launch (pty)",
                f"{_f(paint)} s (first byte {_f(fig.get('tui_paint.first_output_s'))} s, "
                f"start-up splash {_f(fig.get('tui_paint.splash_s'))} s, "
                f"port {_f(fig.get('tui_paint.port_s'))} s)",
                f"<= {PAINT_TARGET} s",
                _verdict(_all(_le(paint, PAINT_TARGET), fig.get("tui_paint.errors") == 0)),
            )
        )
    if "memory.rss_start_mb" in fig:
        last, growth = fig.get("memory.rss_after_last_mb"), fig.get("memory.growth_mb")
        first_mark, last_mark = fig.get("memory.first_mark"), fig.get("memory.last_mark")
        rows.append(
            (
                f"5 RSS after start / {_f(first_mark, 0)} / {_f(last_mark, 0)} requests",
                f"{_f(fig.get('memory.rss_start_mb'), 0)} / "
                f"{_f(fig.get('memory.rss_after_first_mb'), 0)} / {_f(last, 0)} MB "
                f"(growth {_f(growth, 1)} MB; errors {fig.get('memory.errors')})",
                f"<= {RSS_TARGET:.0f} MB, no growth",
                _verdict(
                    _all(
                        _le(last, RSS_TARGET),
                        _le(growth, GROWTH_LIMIT),
                        fig.get("memory.errors") == 0,
                    )
                ),
            )
        )
    return rows


def _keys_rows(fig: Flat) -> list[Row]:
    if "tui_keys.load_p95_ms" not in fig:
        return []
    p95 = fig.get("tui_keys.load_p95_ms")
    return [
        (
            "6 key press handled while 20 instant streams run, p95",
            f"{_f(p95, 1)} ms (median {_f(fig.get('tui_keys.load_median_ms'), 1)}, max "
            f"{_f(fig.get('tui_keys.load_max_ms'), 1)}; idle p95 "
            f"{_f(fig.get('tui_keys.idle_p95_ms'), 1)} ms; {_f(fig.get('tui_keys.streams'), 0)} "
            f"streams; errors {fig.get('tui_keys.errors')})",
            f"<= {KEY_TARGET:.0f} ms",
            _verdict(_all(_le(p95, KEY_TARGET), fig.get("tui_keys.errors") == 0)),
        ),
        (
            "6 key press handled while 20 paced streams run, p95",
            f"{_f(fig.get('tui_keys.paced_p95_ms'), 1)} ms (median "
            f"{_f(fig.get('tui_keys.paced_median_ms'), 1)}, max "
            f"{_f(fig.get('tui_keys.paced_max_ms'), 1)}; "
            f"{_f(fig.get('tui_keys.paced_streams'), 0)} streams)",
            "",
            "",
        ),
    ]


FIRST_FRAME_TARGET = 0.5


def _tmux_rows(fig: Flat) -> list[Row]:
    if "tui_tmux.skipped" in fig:
        return [("16 TUI in tmux", "skipped: no tmux", "", "")]
    if "tui_tmux.first_frame_s" not in fig:
        return []
    rows: list[Row] = [
        (
            "16 TUI in tmux: first frame / port after launch",
            f"{_f(fig.get('tui_tmux.first_frame_s'))} s / {_f(fig.get('tui_tmux.port_s'))} s "
            f"(Textual's header at {_f(fig.get('tui_tmux.header_s'))} s)",
            f"<= {FIRST_FRAME_TARGET} s / {PORT_TARGET} s",
            _verdict(
                _all(
                    _le(fig.get("tui_tmux.first_frame_s"), FIRST_FRAME_TARGET),
                    _le(fig.get("tui_tmux.port_s"), PORT_TARGET),
                )
            ),
        )
    ]
    if "tui_tmux.key_p95_ms" in fig:
        p95 = fig.get("tui_tmux.key_p95_ms")
        rows.append(
            (
                "16 TUI in tmux: view key to frame, 20 paced streams, p95",
                f"{_f(p95, 1)} ms (p50 {_f(fig.get('tui_tmux.key_p50_ms'), 1)}; Escape back p50/p95 "
                f"{_f(fig.get('tui_tmux.escape_p50_ms'), 1)}/"
                f"{_f(fig.get('tui_tmux.escape_p95_ms'), 1)} ms; {fig.get('tui_tmux.keys')} keys, "
                f"missed {fig.get('tui_tmux.missed')})",
                f"<= {KEY_TARGET:.0f} ms",
                _verdict(_all(_le(p95, KEY_TARGET), fig.get("tui_tmux.missed") == 0)),
            )
        )
    return rows


SECTIONS: list[Callable[[Flat], list[Row]]] = [
    _latency_rows,
    _stream_rows,
    _cpu_rows,
    _concurrency_rows,
    _startup_rows,
    _keys_rows,
    _tmux_rows,
    cc_rows,
]


def table_rows(fig: Flat) -> list[Row]:
    """Every row for the figures present."""
    return [row for section in SECTIONS for row in section(fig)]


def render(rows: list[Row]) -> str:
    """A plain-text table."""
    header: Row = ("figure", "measured (median of runs)", "target", "")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
    line = "  ".join("-" * w for w in widths)
    out = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)), line]
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join(out)


def _pkg(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "?"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def _git() -> str:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "?"
    return head + ("+dirty" if dirty else "")


def machine() -> dict[str, Any]:
    """What the run ran on (the issue asks for results with their machine)."""
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 1e9, 1),
        "os": f"{platform.system()} {platform.release()}",
        "python": sys.version.split()[0],
        "aiohttp": _pkg("aiohttp"),
        "textual": _pkg("textual"),
        "litellm": _pkg("litellm"),
        "git": _git(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
