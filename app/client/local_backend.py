"""The in-process data source: the proxy on its own thread, every call scheduled onto its loop.

The UI thread never touches the service's mutable state: reads and changes run on the proxy loop
(`run_coroutine_threadsafe`) and are awaited here with `wrap_future`, so nothing blocks. Events
reach the UI through the sink subscribed to the bus (an append, never a wait).
"""

from __future__ import annotations

import asyncio
import copy
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

from app.client.backend import (
    KEY_SETTINGS,
    RECORDING,
    Backend,
    Counts,
    KeyFileError,
    KeyInfo,
    Link,
    ProxyNotRunning,
    RecordingState,
    Refused,
    jsonl,
    masked_json,
)
from app.client.envfile import update_env_file
from app.client.requests import RequestRecord
from app.client.status import ERROR, READY
from proxy.core import catalogue
from proxy.core.errors import ProxyError, mask_key
from proxy.core.settings import Settings
from proxy.routing.model_map import KEY_VARS, ModelPair, key_usable
from proxy.server.runner import PortInUseError, ProxyThread
from proxy.state.presets import Preset
from proxy.state.service import ProxyService
from proxy.store import queries
from proxy.store.db import StoreError

T = TypeVar("T")


def key_info(settings: Settings) -> KeyInfo:
    """Which providers can be reached with these settings, decided by the proxy's routing."""
    return KeyInfo(frozenset(p for p in KEY_VARS if key_usable(p, settings)))


class LocalBackend(Backend):
    """The embedded proxy: started when the app mounts, stopped when it quits."""

    def __init__(
        self,
        settings: Settings,
        proxy: ProxyThread | None = None,
        *,
        env_file: Path = Path(".env"),
    ) -> None:
        super().__init__(api_key=settings.proxy_api_key)
        self.keys_file = env_file
        self.proxy = proxy or ProxyThread(settings)
        self._link = Link()
        self._keys = (self.service.settings, key_info(self.service.settings))
        self._recording: tuple[dict[str, Any], RecordingState] = ({}, RECORDING)
        # Subscribed before the proxy starts, so no event is ever missed.
        self._unsubscribe = self.proxy.service.bus.subscribe(self.sink)

    @property
    def service(self) -> ProxyService:
        """The service (read immutable snapshots like `pair` directly; call the rest here)."""
        return self.proxy.service

    @property
    def url(self) -> str:
        """Base URL of the embedded proxy."""
        return self.proxy.server.url

    @property
    def pair(self) -> ModelPair:
        """Immutable, replaced whole by the service: safe to read from any thread."""
        return self.service.pair

    @property
    def link(self) -> Link:
        """Starting, ready, or error (the port is taken)."""
        return self._link

    @property
    def counts(self) -> Counts:
        """The service's counters and its stats' usage totals, read in place (plain numbers:
        a torn read costs one stale frame at most)."""
        service = self.service
        counters, stats = service.counters, service.stats
        return Counts(counters.total, counters.in_flight, counters.errors, stats.tokens, stats.cost)

    @property
    def keys(self) -> KeyInfo:
        """From the service's current settings (the keys screen may swap them)."""
        settings = self.service.settings
        if self._keys[0] is not settings:
            self._keys = (settings, key_info(settings))
        return self._keys[1]

    @property
    def recording(self) -> RecordingState:
        """From the store's writer, read in place (one attribute while it records)."""
        recording = self.service.recording
        writer = recording.writer
        if writer is not None and not writer.paused:
            return RECORDING
        status = recording.status()
        if self._recording[0] != status:
            self._recording = (status, RecordingState(status["state"], status["reason"]))
        return self._recording[1]

    @property
    def bodies_recorded(self) -> bool:
        """RECORD_BODIES of the settings in force."""
        return self.service.settings.record_bodies

    @property
    def settings(self) -> Settings:
        """The settings in force: the service's (the one owner; the keys screen swaps them)."""
        return self.service.settings

    def _set_link(self, link: Link) -> None:
        self._link = link
        self.revision += 1

    async def start(self) -> None:
        """Bind the port (in a thread: start() waits for the proxy loop)."""
        try:
            await asyncio.to_thread(self.proxy.start)
        except PortInUseError as exc:
            self._set_link(Link(ERROR, exc.strerror or str(exc)))
            return
        except Exception as exc:
            self._set_link(Link(ERROR, f"the proxy could not start: {exc}"))
            return
        self._set_link(Link(READY, generation=1, live_since=time.time()))

    async def stop(self) -> None:
        """Stop the proxy thread (streams get a short grace, the port is released)."""
        self._unsubscribe()
        await asyncio.to_thread(self.proxy.stop)

    async def on_loop(self, coro_factory: Callable[[], Any]) -> Any:
        """Run `coro_factory()` on the proxy loop and await its result here.

        A refusal (ProxyError) comes back as Refused with the text the HTTP API would give.
        """
        loop = self.proxy.loop
        if loop is None or not loop.is_running():
            raise ProxyNotRunning("the proxy is not running")
        coro = coro_factory()
        try:
            future = self.proxy.call(coro)
        except RuntimeError:
            # The loop closed since the check (the app is quitting): the same answer.
            coro.close()
            raise ProxyNotRunning("the proxy is not running") from None
        try:
            return await asyncio.wrap_future(future)
        except ProxyError as exc:
            raise Refused(exc.status, f"{exc.status}: {exc.message}") from None

    async def read(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Call a plain function on the proxy loop (the service's state is only touched there)."""

        async def run() -> T:
            return fn(*args, **kwargs)

        return await self.on_loop(run)

    # Reads ------------------------------------------------------------------------------------
    async def model_list(self) -> dict[str, Any]:
        """GET /models: the catalogue and presets."""
        return await self.read(self.service.model_list)

    async def presets(self) -> list[Preset]:
        """The presets, built-ins then user presets."""
        return await self.read(lambda: list(self.service.presets.list()))

    async def history(self, session: str | None = None) -> list[dict[str, Any]]:
        """The newest recorded turns, oldest first, as GET /conversation gives them."""
        messages, _ = await self.on_loop(lambda: self.service.history_store.messages(None, session))
        return list(messages)

    async def history_page(
        self,
        limit: int = 50,
        before: str | None = None,
        session: str | None = None,
        text: str | None = None,
    ) -> dict[str, Any]:
        """One page of turns from the store (memory when it cannot be read), newest first."""
        history = self.service.history_store
        return dict(await self.on_loop(lambda: history.page(limit, before, session, text)))

    async def recent_requests(self, limit: int) -> list[dict[str, Any]]:
        """The store's newest Messages requests, read in a worker thread of the proxy loop ([]
        when the store cannot be read, or the proxy stopped: quitting while the log backfills)."""
        recording = self.service.recording
        try:
            return list(
                await self.on_loop(
                    lambda: recording.read(queries.recent_requests, limit, None, "messages")
                )
            )
        except (StoreError, ProxyNotRunning):
            return []

    async def usage(self, by: str, since: date | None = None) -> dict[str, Any]:
        """`queries.report`, the one source of /usage and `claude-proxy usage`."""
        recording = self.service.recording
        try:
            return dict(await self.on_loop(lambda: recording.read(queries.report, by, since)))
        except StoreError as exc:
            # What GET /usage answers then.
            raise Refused(503, f"503: usage is not available: {exc}") from None

    async def history_status(self) -> dict[str, Any]:
        """Count, limit and export file of the history."""
        return dict(await self.on_loop(self.service.history_store.status))

    async def sessions(self) -> list[str]:
        """Session ids seen in the history."""
        return list(await self.on_loop(self.service.history_store.sessions))

    async def debug_entries(self, log_type: str = "all", limit: int = 200) -> list[dict[str, Any]]:
        """The debug ring, newest last."""
        return await self.read(lambda: list(self.service.debug.entries(log_type, limit)))

    async def debug_export(self) -> bytes:
        """The same JSON lines as `GET /debug_logs?format=jsonl`, built on the proxy loop."""
        debug = self.service.debug
        return await self.read(lambda: jsonl(debug.entries("all", debug.limit)))

    async def stats(self) -> dict[str, Any]:
        """Per-model stats and totals."""
        return await self.read(self.service.stats.snapshot)

    async def config(self) -> dict[str, Any]:
        """GET /config, keys masked."""
        return await self.read(self.service.config_snapshot)

    async def exchange_json(self, record: RequestRecord) -> tuple[str, str, str]:
        """Rendered on the proxy loop: the bodies are the proxy's objects, only read safely there."""
        return await self.read(
            lambda: (
                masked_json(record.message),
                masked_json(record.upstream_request),
                masked_json(record.body),
            )
        )

    async def request_body(self, record: RequestRecord) -> dict[str, Any] | None:
        """A deep copy made on the proxy loop (the body is the proxy's object)."""
        if record.body is None:
            return None
        return await self.read(copy.deepcopy, record.body)

    async def replay_cost(self, model: str, usage: dict[str, Any]) -> float | None:
        """The catalogue price, looked up on the proxy loop (it imports LiteLLM's cost map)."""
        return await self.read(
            catalogue.cost_usd,
            model,
            int(usage.get("input_tokens") or 0),
            int(usage.get("output_tokens") or 0),
            int(usage.get("cache_read_input_tokens") or 0),
        )

    # Changes ----------------------------------------------------------------------------------
    async def switch_model(
        self,
        *,
        preset: str | None = None,
        big: str | None = None,
        small: str | None = None,
        default: bool = False,
    ) -> ModelPair:
        """Switch by preset, by model or back to the .env `default`; for the next request."""
        return await self.on_loop(
            lambda: self.service.switch_model(preset=preset, big=big, small=small, default=default)
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

    async def enable_persistence(self, path: str) -> dict[str, Any]:
        """Persist the history to a JSON file."""
        return await self.on_loop(lambda: self.service.enable_persistence(path))

    async def disable_persistence(self) -> Any:
        """Stop persisting the history."""
        return await self.on_loop(self.service.disable_persistence)

    async def export_history(self, fmt: str) -> str:
        """The history as JSON or Markdown text."""
        return await self.on_loop(lambda: self.service.export_history(fmt))

    def key_settings(self) -> dict[str, str | None]:
        """What the service's settings hold now (keys masked; an unset value is None)."""
        settings = self.service.settings
        shown: dict[str, str | None] = {}
        for var, field in KEY_SETTINGS.items():
            value = getattr(settings, field)
            shown[var] = (mask_key(value) if var.endswith("_KEY") else value) if value else None
        return shown

    async def save_keys(self, values: dict[str, str]) -> Path:
        """Write `.env` in a thread, then swap the service's settings for a copy with the keys."""
        unknown = set(values) - set(KEY_SETTINGS)
        if unknown:
            raise ValueError(f"not a key setting: {', '.join(sorted(unknown))}")
        path = self.keys_file or Path(".env")
        try:
            written = await asyncio.to_thread(update_env_file, path, values)
        except OSError as exc:
            raise KeyFileError(f"Could not write {path}: {exc}") from None
        changes = {KEY_SETTINGS[var]: value for var, value in values.items()}

        async def swap() -> None:
            service = self.service
            service.settings = service.settings.model_copy(update=changes)

        await self.on_loop(swap)
        self.revision += 1
        return written

    def note_error(self, summary: str) -> None:
        """Append to the proxy's debug log on its loop (scheduled, not awaited)."""
        loop = self.proxy.loop
        if loop is not None and loop.is_running():
            loop.call_soon_threadsafe(self.service.debug.add, "error", summary, {"source": "tui"})
