"""UI -> proxy: every read and change of proxy state, scheduled onto the proxy loop and awaited.

Screens call these from workers (`await app.backend.x()`), so the UI thread never blocks and never
touches the service's mutable state from the wrong thread. The methods are all coroutines so a
remote implementation (HTTP to a proxy elsewhere) can stand in for this one.
"""

from __future__ import annotations

import asyncio
import copy
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp

from proxy.routing import ModelPair
from proxy.runner import ProxyThread
from proxy.service import ProxyService

T = TypeVar("T")

# The tier Claude Code's requests map to: probes ask for these so they take the big/small route.
PROBE_MODELS = {"big": "claude-sonnet-4-5", "small": "claude-haiku-4-5"}
SESSION_HEADER = "X-Claude-Code-Session-Id"


class ProxyNotRunning(RuntimeError):
    """The embedded proxy is not (or no longer) serving."""


@dataclass(frozen=True, slots=True)
class CallResult:
    """The outcome of one request the UI sent through the proxy (probe or replay)."""

    ok: bool
    status: int
    latency: float
    model: str
    message: dict[str, Any] | None = None
    error: str | None = None
    request_id: str | None = None
    """The proxy's id for the request (its row in the log)."""


class LocalBackend:
    """The in-process data source: the service on the proxy thread's loop."""

    def __init__(self, proxy: ProxyThread) -> None:
        self.proxy = proxy

    @property
    def service(self) -> ProxyService:
        """The service (read immutable snapshots like `pair` directly; call the rest here)."""
        return self.proxy.service

    @property
    def pair(self) -> ModelPair:
        """The model pair in force (immutable, replaced whole: safe to read from any thread)."""
        return self.service.pair

    @property
    def url(self) -> str:
        """Base URL of the proxy."""
        return self.proxy.server.url

    def _check(self) -> None:
        loop = self.proxy.loop
        if loop is None or not loop.is_running():
            raise ProxyNotRunning("the proxy is not running")

    async def on_loop(self, coro_factory: Callable[[], Any]) -> Any:
        """Run `coro_factory()` on the proxy loop and await its result here."""
        self._check()
        return await asyncio.wrap_future(self.proxy.call(coro_factory()))

    async def read(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Call a plain service method on the proxy loop (its state is only touched there)."""

        async def run() -> T:
            return fn(*args, **kwargs)

        return await self.on_loop(run)

    # Reads ------------------------------------------------------------------------------------
    async def model_list(self) -> dict[str, Any]:
        """GET /models: the catalogue and presets."""
        return await self.read(self.service.model_list)

    async def presets(self) -> list[Any]:
        """The presets, built-ins then user presets."""
        return await self.read(lambda: list(self.service.presets.list()))

    async def history(self, session: str | None = None) -> list[dict[str, Any]]:
        """Recorded conversation turns (optionally one session)."""
        return await self.read(lambda: list(self.service.history.messages(session=session)))

    async def history_status(self) -> dict[str, Any]:
        """Count, limit and persistence of the history."""
        return await self.read(lambda: dict(self.service.history.status()))

    async def sessions(self) -> list[str]:
        """Session ids seen in the history."""
        return await self.read(lambda: list(self.service.history.sessions()))

    async def debug_entries(self, log_type: str = "all", limit: int = 200) -> list[dict[str, Any]]:
        """The debug ring, newest last."""
        return await self.read(lambda: list(self.service.debug.entries(log_type, limit)))

    async def stats(self) -> dict[str, Any]:
        """Per-model stats and totals."""
        return await self.read(self.service.stats.snapshot)

    async def config(self) -> dict[str, Any]:
        """GET /config, keys masked."""
        return await self.read(self.service.config_snapshot)

    # Changes ----------------------------------------------------------------------------------
    async def switch_model(
        self, *, preset: str | None = None, big: str | None = None, small: str | None = None
    ) -> ModelPair:
        """Switch by preset or by model; takes effect for the next request."""
        return await self.on_loop(
            lambda: self.service.switch_model(preset=preset, big=big, small=small)
        )

    async def save_preset(self, name: str, big: str, small: str, description: str = "") -> Any:
        """Save a user preset."""
        return await self.on_loop(lambda: self.service.save_preset(name, big, small, description))

    async def delete_preset(self, name: str) -> Any:
        """Remove a user preset."""
        return await self.on_loop(lambda: self.service.delete_preset(name))

    async def clear_history(self) -> Any:
        """Forget every recorded turn."""
        return await self.on_loop(self.service.clear_history)

    async def enable_persistence(self, path: str) -> Any:
        """Persist the history to a JSON file."""
        return await self.on_loop(lambda: self.service.enable_persistence(path))

    async def disable_persistence(self) -> Any:
        """Stop persisting the history."""
        return await self.on_loop(self.service.disable_persistence)

    async def export_history(self, fmt: str) -> str:
        """The history as JSON or Markdown text."""
        return await self.on_loop(lambda: self.service.export_history(fmt))

    async def update_settings(self, **changes: Any) -> None:
        """Swap the service's frozen settings for a copy with `changes` (new keys apply at once)."""

        async def swap() -> None:
            service = self.service
            service.settings = service.settings.model_copy(update=changes)

        await self.on_loop(swap)

    # Requests through the proxy ---------------------------------------------------------------
    async def send(self, body: dict[str, Any], session: str, timeout: float = 120.0) -> CallResult:
        """POST a Messages body to this proxy (so it is logged, mapped and priced like any other)."""
        started = time.perf_counter()
        model = str(body.get("model", ""))
        headers = {SESSION_HEADER: session, "x-api-key": "tui", "anthropic-version": "2023-06-01"}
        try:
            async with (
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as http,
                http.post(f"{self.url}/v1/messages", json=body, headers=headers) as response,
            ):
                data = await response.json(content_type=None)
                latency = time.perf_counter() - started
                request_id = response.headers.get("request-id")
                if response.status == 200 and isinstance(data, dict):
                    return CallResult(True, 200, latency, model, data, request_id=request_id)
                error = data.get("error", {}) if isinstance(data, dict) else {}
                message = error.get("message") if isinstance(error, dict) else None
                return CallResult(
                    False,
                    response.status,
                    latency,
                    model,
                    error=message or str(data)[:500],
                    request_id=request_id,
                )
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            latency = time.perf_counter() - started
            return CallResult(False, 0, latency, model, error=f"{type(exc).__name__}: {exc}")

    async def replay(self, body: dict[str, Any], model: str) -> CallResult:
        """Resend a request's body to another model (non-streaming), for side-by-side judging."""
        # Copied on the proxy loop: the body is the proxy's object, only read safely there.
        new_body = await self.read(copy.deepcopy, body)
        new_body["model"] = model
        new_body["stream"] = False
        return await self.send(new_body, session="replay")

    async def probe(self, tier: str) -> CallResult:
        """A tiny request to the big or small model through the proxy (the config test)."""
        body = {
            "model": PROBE_MODELS[tier],
            "max_tokens": 16,
            "messages": [{"role": "user", "content": "Reply with the word OK."}],
        }
        return await self.send(body, session="probe", timeout=60.0)
