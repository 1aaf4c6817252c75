"""The HTTP data source: a proxy elsewhere (Docker, a server), driven through its management API.

Every call is a coroutine on the UI loop over one aiohttp session (awaited in workers, so the UI
never waits on the network); live events come from `/events` through `EventFeed`. The key, when
set, goes out as `x-api-key` and is never shown.
"""

from __future__ import annotations

import asyncio
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import orjson

from app.client.backend import (
    KEY_SETTINGS,
    RECORDING,
    Backend,
    Counts,
    KeyInfo,
    Link,
    ProxyNotRunning,
    RecordingState,
    Refused,
    Unavailable,
    counts_from,
    masked_bytes,
    masked_json,
    preset_from,
    recording_from,
)
from app.client.event_feed import AuthFailed, EventFeed, describe
from app.client.requests import RequestRecord
from proxy.routing.model_map import ModelPair
from proxy.state.events import MODEL_SWITCHED
from proxy.state.events import ProxyEvent as Event
from proxy.state.presets import Preset

CALL_TIMEOUT = aiohttp.ClientTimeout(total=30.0, connect=5.0)
EXPORT_LIMIT = 1_000_000


class RemoteError(Refused):
    """The proxy answered with an error envelope; the message is the proxy's."""


def error_message(status: int, payload: bytes) -> str:
    """The message of an Anthropic error envelope, or the start of whatever came back."""
    try:
        data = orjson.loads(payload)
        return f"{status}: {data['error']['message']}"
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return f"HTTP {status}: {payload[:200].decode('utf-8', 'replace')}"


def pair_from(value: Any) -> ModelPair | None:
    """A model pair from a model_switched event ({big, small, preset})."""
    if not isinstance(value, dict):
        return None
    return ModelPair(
        value.get("big"), value.get("small"), value.get("preset"), bool(value.get("from_env"))
    )


class RemoteBackend(Backend):
    """A proxy at `url`; nothing is started here, only connected to."""

    attached = True

    def __init__(self, url: str, api_key: str | None = None) -> None:
        super().__init__(api_key=api_key)
        self._url = url.rstrip("/")
        self.http: aiohttp.ClientSession | None = None
        self.feed = EventFeed(self)
        self._link = Link()
        self._pair = ModelPair(None, None)
        self._counts = Counts()
        self._keys = KeyInfo()  # unknown until /config answers: no warning
        self._recording = RECORDING
        self._prices: dict[str, tuple[float, float]] = {}
        self._config: dict[str, Any] = {}

    # Snapshots --------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """The proxy's base URL, as given to --attach."""
        return self._url

    @property
    def pair(self) -> ModelPair:
        """The pair the proxy reported last (config, switch answers, model_switched events)."""
        return self._pair

    @property
    def link(self) -> Link:
        """Connecting, ready, disconnected (retrying) or error (the key was refused)."""
        return self._link

    @property
    def counts(self) -> Counts:
        """The proxy's numbers: from /config, then from each live request event (never counted here)."""
        return self._counts

    @property
    def keys(self) -> KeyInfo:
        """Which providers the proxy can reach, as its /config says."""
        return self._keys

    @property
    def recording(self) -> RecordingState:
        """As the last /config said (fetched on connect and every few seconds)."""
        return self._recording

    def set_link(self, link: Link) -> None:
        """Replace the connection state (the app notices the new revision next frame)."""
        self._link = link
        self.revision += 1

    def auth_message(self, status: int) -> str:
        """What to do when the key is refused (never the key itself)."""
        given = "was refused" if self.api_key else "is required"
        return (
            f"{self._url} answered {status}: its PROXY_API_KEY {given}. "
            "Pass it with --api-key or PROXY_API_KEY."
        )

    # Lifecycle --------------------------------------------------------------------------------
    def session(self) -> aiohttp.ClientSession:
        """The shared HTTP session (created by start, on the UI loop)."""
        if self.http is None or self.http.closed:
            raise ProxyNotRunning(f"not connected to {self._url}")
        return self.http

    async def start(self) -> None:
        """Open the session and start following /events (returns at once)."""
        headers = {"x-api-key": self.api_key} if self.api_key else {}
        self.http = aiohttp.ClientSession(headers=headers, timeout=CALL_TIMEOUT)
        self.feed.start()

    async def stop(self) -> None:
        """Stop following events and close the session (the proxy keeps running)."""
        await self.feed.stop()
        if self.http is not None:
            await self.http.close()

    async def _call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        raw: bool = False,
    ) -> Any:
        try:
            async with self.session().request(
                method, self._url + path, params=params, json=json
            ) as response:
                payload = await response.read()
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise ProxyNotRunning(f"cannot reach {self._url}: {describe(exc)}") from None
        if response.status in (401, 403):
            raise AuthFailed(self.auth_message(response.status))
        if response.status >= 400:
            raise RemoteError(response.status, error_message(response.status, payload))
        return payload if raw else orjson.loads(payload)

    # State kept here --------------------------------------------------------------------------
    async def refresh_state(self) -> dict[str, Any]:
        """Fetch /config and take the pair, counters and key status from it."""
        config = await self._call("GET", "/config")
        self._config = config
        big, small = config.get("big_model") or {}, config.get("small_model") or {}
        self._pair = ModelPair(
            big.get("model"),
            small.get("model"),
            config.get("active_preset"),
            bool(config.get("models_from_env")),
        )
        totals = config.get("totals") or config.get("counters") or {}
        self._counts = counts_from(totals)
        usable = config.get("usable_providers")
        self._keys = KeyInfo(frozenset(usable) if isinstance(usable, list) else None)
        self._recording = recording_from(config.get("recording"))
        self.revision += 1
        return dict(config)

    def note_event(self, event: Event, live: bool) -> None:
        """Keep the pair and the proxy's numbers current between /config fetches."""
        if event.kind == MODEL_SWITCHED:
            pair = pair_from(event.data.get("new"))
            if pair is not None:
                self._pair = pair
            return
        # Replayed events after a reconnect carry older numbers than the /config fetched first.
        totals = event.data.get("totals")
        if live and isinstance(totals, dict):
            self._counts = counts_from(totals)

    # Reads ------------------------------------------------------------------------------------
    async def model_list(self) -> dict[str, Any]:
        """GET /models (prices kept for the replay cost)."""
        listing: dict[str, Any] = await self._call("GET", "/models")
        for model in listing.get("models", []):
            price_in, price_out = (
                model.get("input_cost_per_mtok"),
                model.get("output_cost_per_mtok"),
            )
            if isinstance(price_in, int | float) and isinstance(price_out, int | float):
                self._prices[str(model.get("id"))] = (float(price_in), float(price_out))
        return listing

    async def presets(self) -> list[Preset]:
        """GET /presets."""
        data = await self._call("GET", "/presets")
        return [preset_from(p) for p in data.get("presets", [])]

    async def history(self, session: str | None = None) -> list[dict[str, Any]]:
        """GET /conversation[?session=]."""
        params = {"session": session} if session else None
        data = await self._call("GET", "/conversation", params=params)
        return list(data.get("messages", []))

    async def history_page(
        self,
        limit: int = 50,
        before: str | None = None,
        session: str | None = None,
        text: str | None = None,
    ) -> dict[str, Any]:
        """GET /conversation/page."""
        params = {"limit": str(limit)}
        for key, value in (("before", before), ("session", session), ("q", text)):
            if value:
                params[key] = value
        return dict(await self._call("GET", "/conversation/page", params=params))

    async def recent_requests(self, limit: int) -> list[dict[str, Any]]:
        """GET /requests?limit=N ([] when the proxy's store cannot be read, or it is older)."""
        try:
            data = await self._call("GET", "/requests", params={"limit": str(limit)})
        except RemoteError:
            return []
        return list(data.get("requests", []))

    async def usage(self, by: str, since: date | None = None) -> dict[str, Any]:
        """GET /usage?by=...&since=..."""
        params = {"by": by}
        if since is not None:
            params["since"] = since.isoformat()
        return dict(await self._call("GET", "/usage", params=params))

    async def history_status(self) -> dict[str, Any]:
        """GET /conversation/status."""
        return dict(await self._call("GET", "/conversation/status"))

    async def sessions(self) -> list[str]:
        """GET /sessions."""
        return list((await self._call("GET", "/sessions")).get("sessions", []))

    async def debug_entries(self, log_type: str = "all", limit: int = 200) -> list[dict[str, Any]]:
        """GET /debug_logs."""
        params = {"log_type": log_type, "limit": str(limit)}
        return list((await self._call("GET", "/debug_logs", params=params)).get("entries", []))

    async def debug_export(self) -> bytes:
        """GET /debug_logs?format=jsonl: the whole ring (masked there; masked again here)."""
        params = {"format": "jsonl", "limit": str(EXPORT_LIMIT)}
        data: bytes = await self._call("GET", "/debug_logs", params=params, raw=True)
        return await asyncio.to_thread(masked_bytes, data)

    async def stats(self) -> dict[str, Any]:
        """GET /stats."""
        return dict(await self._call("GET", "/stats"))

    async def config(self) -> dict[str, Any]:
        """GET /config (the snapshots here are refreshed from it too)."""
        return await self.refresh_state()

    async def _held(self, record: RequestRecord) -> dict[str, Any] | None:
        try:
            data = await self._call("GET", f"/requests/{quote(record.request_id, safe='')}")
        except RemoteError as exc:
            if exc.status == 404:
                return None
            raise
        return dict(data)

    async def exchange_json(self, record: RequestRecord) -> tuple[str, str, str]:
        """The response from the event; the bodies from GET /requests/{id}, rendered in a thread."""
        held = await self._held(record)
        if held is None:
            missing = "(not held by the proxy: it keeps the newest bodies while a TUI is attached)"
            return await asyncio.to_thread(lambda: (masked_json(record.message), missing, missing))
        return await asyncio.to_thread(
            lambda: (
                masked_json(record.message),
                masked_json(held.get("upstream_request")),
                masked_json(held.get("body")),
            )
        )

    async def request_body(self, record: RequestRecord) -> dict[str, Any] | None:
        """The client body the proxy still holds (a fresh copy: it came over the wire)."""
        held = await self._held(record)
        body = held.get("body") if held else None
        return body if isinstance(body, dict) else None

    async def replay_cost(self, model: str, usage: dict[str, Any]) -> float | None:
        """From the catalogue prices /models reported (no local price table in attach mode)."""
        if model not in self._prices:
            await self.model_list()
        prices = self._prices.get(model)
        if prices is None:
            return None
        inp, out = int(usage.get("input_tokens") or 0), int(usage.get("output_tokens") or 0)
        return (inp * prices[0] + out * prices[1]) / 1_000_000

    # Changes ----------------------------------------------------------------------------------
    async def switch_model(
        self,
        *,
        preset: str | None = None,
        big: str | None = None,
        small: str | None = None,
        default: bool = False,
    ) -> ModelPair:
        """POST /switch_model."""
        body: dict[str, Any] = {"preset": preset} if preset is not None else {}
        if default:
            body["default"] = True
        if big is not None:
            body["big_model"] = big
        if small is not None:
            body["small_model"] = small
        data = await self._call("POST", "/switch_model", json=body)
        self._pair = ModelPair(
            data.get("big_model"),
            data.get("small_model"),
            data.get("active_preset"),
            bool(data.get("models_from_env")),
        )
        self.revision += 1
        return self._pair

    async def save_preset(self, name: str, big: str, small: str, description: str = "") -> Any:
        """POST /presets."""
        body = {"name": name, "big_model": big, "small_model": small, "description": description}
        data = await self._call("POST", "/presets", json=body)
        return preset_from(data.get("preset") or {})

    async def delete_preset(self, name: str) -> Any:
        """DELETE /presets/{name}."""
        return await self._call("DELETE", f"/presets/{quote(name, safe='')}")

    async def clear_history(self) -> Any:
        """DELETE /conversation."""
        return await self._call("DELETE", "/conversation")

    async def enable_persistence(self, path: str) -> dict[str, Any]:
        """POST /conversation/enable (the path is on the proxy's machine)."""
        return dict(await self._call("POST", "/conversation/enable", json={"file_path": path}))

    async def disable_persistence(self) -> Any:
        """POST /conversation/disable."""
        return await self._call("POST", "/conversation/disable")

    async def export_history(self, fmt: str) -> str:
        """GET /conversation/export."""
        data: bytes = await self._call(
            "GET", "/conversation/export", params={"format": fmt}, raw=True
        )
        return data.decode("utf-8")

    def key_settings(self) -> dict[str, str | None]:
        """As the last /config reported them (keys masked there)."""
        keys = self._config.get("keys") or {}
        bases = self._config.get("upstream_bases") or {}
        shown: dict[str, str | None] = {}
        for var in KEY_SETTINGS:
            if var.endswith("_KEY"):
                shown[var] = (keys.get(var) or {}).get("masked")
            else:
                shown[var] = bases.get("openai")
        return shown

    def note_error(self, summary: str) -> None:
        """Not written from outside: the proxy records the changes it refused in its own debug
        log (the toast and the app's log say the rest)."""

    async def save_keys(self, values: dict[str, str]) -> Path:
        """Keys live with the proxy's own process."""
        raise Unavailable(
            f"attached to {self._url}: set provider keys where that proxy runs, then restart it"
        )
