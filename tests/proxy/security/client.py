"""Raw HTTP helpers for the security suite: exact headers, as a browser or curl would send them."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from proxy.server.runner import ProxyServer
from tests.support.mgmt import Answer

TIMEOUT = aiohttp.ClientTimeout(total=15)
EVIL_ORIGIN = "https://evil.example"
HERE = Path(__file__).resolve()


def fixtures_dir() -> Path | None:
    """`shared/fixtures/claude-code` beside the repository (or a folder above it), if present."""
    for parent in HERE.parents:
        candidate = parent / "shared" / "fixtures" / "claude-code"
        if (candidate / "headers.json").is_file():
            return candidate
    return None


SYNTHETIC_CLAUDE_CODE_HEADERS = {
    "Accept": "application/json",
    "Content-Type": "application/json",
    "User-Agent": "claude-cli/2 (external, sdk-cli)",
    "X-Claude-Code-Session-Id": "00000000-0000-4000-8000-000000000000",
    "anthropic-version": "2023-06-01",
    "anthropic-beta": "claude-code-20250219",
    "anthropic-dangerous-direct-browser-access": "true",
    "x-api-key": "sk-ant-test-000",
    "x-app": "cli",
}


def claude_code_headers() -> tuple[dict[str, str], str]:
    """Headers Claude Code sent on its main request (captured), minus Host and framing.

    Falls back to a small synthetic set when the captures are absent; the second value says
    which was used (for the test id and skip reasons).
    """
    folder = fixtures_dir()
    if folder is None:
        return dict(SYNTHETIC_CLAUDE_CODE_HEADERS), "synthetic"
    captured = orjson.loads((folder / "headers.json").read_bytes())
    main = next(v for k, v in captured.items() if k.startswith("main ("))
    drop = {"host", "content-length", "connection"}
    return {k: v for k, v in main["headers"].items() if k.lower() not in drop}, "captured"


async def send(
    base: str,
    method: str,
    path: str,
    *,
    headers: dict[str, str] | None = None,
    data: bytes | None = None,
    json_body: Any = None,
) -> Answer:
    """One request with exactly these headers (aiohttp adds no Content-Type of its own)."""
    hdrs = dict(headers or {})
    if json_body is not None:
        data = orjson.dumps(json_body)
        hdrs.setdefault("Content-Type", "application/json")
    async with (
        aiohttp.ClientSession(timeout=TIMEOUT, skip_auto_headers=("Content-Type",)) as session,
        session.request(method, base + path, data=data, headers=hdrs) as response,
    ):
        if response.content_type == "text/event-stream" and path.startswith("/events"):
            # /events: the status and headers are the answer; the stream never ends by itself.
            return Answer(response.status, "", dict(response.headers))
        text = await response.text()
        return Answer(response.status, text, dict(response.headers))


STORE_FILES = "claude-proxy.db"
"""The store and its SQLite sidecars (-wal, -shm, -journal) come and go on their own; what a
refused request must not change in them is checked through /stats (`state_of`)."""


def files_under(*roots: Path) -> set[str]:
    """Every file and link below the roots (to prove nothing was written), the store aside."""
    found: set[str] = set()
    for root in roots:
        for folder, dirs, files in os.walk(root):
            found.update(
                os.path.join(folder, name)
                for name in (*files, *dirs)
                if not name.startswith(STORE_FILES)
            )
    return found


async def state_of(proxy: ProxyServer) -> dict[str, Any]:
    """What a refused request must not change: models, presets, pins, history, persistence."""
    base = proxy.url
    key = proxy.settings.proxy_api_key
    headers = {"x-api-key": key} if key else {}
    config = (await send(base, "GET", "/config", headers=headers)).json
    presets = (await send(base, "GET", "/presets", headers=headers)).json
    sessions = (await send(base, "GET", "/sessions", headers=headers)).json
    history = (await send(base, "GET", "/conversation", headers=headers)).json
    stats = (await send(base, "GET", "/stats", headers=headers)).json
    return {
        "recorded": stats["totals"]["requests"],
        "pair": (config["big_model"], config["small_model"], config["active_preset"]),
        "presets": [p["name"] for p in presets["presets"]],
        "pins": sessions["pins"],
        "history": history["total_count"],
        "persistence": config["conversation"]["persistence_file"],
        "requests": config["counters"]["total"],
    }


@asynccontextmanager
async def raw_connection(port: int) -> AsyncIterator[tuple[asyncio.StreamReader, Any]]:
    """A plain TCP connection to the proxy (for slow or idle clients)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        yield reader, writer
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except (ConnectionError, OSError):
            pass
