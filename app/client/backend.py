"""The TUI's data source: one interface, two implementations (in-process and over HTTP).

Screens call the coroutines from workers (`await app.backend.x()`) and read the immutable
snapshots (`pair`, `link`, `counts`, `keys`) directly; they never know which kind they talk to:
`app.local_backend` (the proxy on a thread of this process) or `app.remote_backend` (a proxy
elsewhere, driven through its management API and `/events`).
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from app.client.bridge import EventSink
from app.client.requests import RequestRecord
from app.client.status import STARTING
from proxy.core.errors import scrub
from proxy.routing.model_map import KEY_VARS, ModelPair
from proxy.state.presets import Preset

# The tier Claude Code's requests map to: probes ask for these so they take the big/small route.
PROBE_MODELS = {"big": "claude-sonnet-4-5", "small": "claude-haiku-4-5"}
SESSION_HEADER = "X-Claude-Code-Session-Id"
# Marks the UI's own requests, so the store records them as probes or replays.
ORIGIN_HEADER = "x-claude-proxy-origin"
KEY_SETTINGS = {
    "OPENAI_API_KEY": "openai_api_key",
    "GEMINI_API_KEY": "gemini_api_key",
    "ANTHROPIC_API_KEY": "anthropic_api_key",
    "OPENAI_API_BASE": "openai_api_base",
}
"""The variables the keys screen sets -> the proxy's settings fields (bases are not secrets)."""

PROBE_SESSION = "probe"
"""The session id the config test's probes are sent under (the log shows it as "test")."""


class BackendError(RuntimeError):
    """A failure the user reads as is (the app shows the message, not the class name)."""


class ProxyNotRunning(BackendError):
    """The proxy is not reachable: not started yet, stopped, or the connection is lost."""


class Unavailable(BackendError):
    """The action needs the proxy's own process (attach mode cannot do it)."""


class Refused(BackendError):
    """The proxy refused the call; the message is the proxy's, as its HTTP API words it."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class KeyFileError(BackendError):
    """The keys could not be written to the env file (nothing was changed)."""


@dataclass(frozen=True, slots=True)
class Link:
    """How the app is connected to its proxy at one moment (replaced whole)."""

    state: str = STARTING
    message: str = ""
    """Why the state is error or disconnected."""
    retry_at: float | None = None
    """`time.monotonic()` of the next connection attempt, while disconnected."""
    generation: int = 0
    """Bumped each time the proxy's state was fetched again (connect, reconnect, dropped events)."""
    live_since: float = 0.0
    """`time.time()` from which every request arrives as events (0: events were lost, so none)."""


@dataclass(frozen=True, slots=True)
class Counts:
    """The proxy's own numbers since it started (the header shows them; nothing counts here)."""

    total: int = 0
    in_flight: int = 0
    errors: int = 0
    tokens: int = 0
    """Input + output tokens of the finished requests."""
    cost: float = 0.0


def counts_from(totals: dict[str, Any]) -> Counts:
    """Counts from the proxy's `totals` (GET /config, and each request event of /events)."""
    return Counts(
        int(totals.get("total") or 0),
        int(totals.get("in_flight") or 0),
        int(totals.get("errors") or 0),
        int(totals.get("tokens") or 0),
        float(totals.get("cost") or 0.0),
    )


@dataclass(frozen=True, slots=True)
class RecordingState:
    """Whether the proxy records requests in its store, as it says (`recording` of /health)."""

    state: str = "recording"
    """`recording`, `paused` (a read-only folder, a full disk...) or `off`."""
    reason: str | None = None
    """Why it is paused or off, in a few words (`read-only folder`)."""

    @property
    def paused(self) -> bool:
        """True while records cannot be written (they wait in memory, the proxy serves on)."""
        return self.state == "paused"


RECORDING = RecordingState()


def recording_from(data: Any) -> RecordingState:
    """The state from the proxy's `recording` object (/health, /config); unknown means recording."""
    if not isinstance(data, dict) or not isinstance(data.get("state"), str):
        return RECORDING
    reason = data.get("reason")
    return RecordingState(str(data["state"]), str(reason) if reason else None)


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """Which providers the proxy can send requests to, as the proxy decides (never the keys)."""

    usable: frozenset[str] | None = None
    """Providers whose key is set or not needed; None until the proxy said (nothing flagged)."""

    @property
    def any(self) -> bool:
        """True when some provider can be reached (or it is not known yet)."""
        return self.usable is None or bool(self.usable)

    def missing(self, model: str | None) -> str | None:
        """The variable to set when `model`'s provider cannot be reached (None when it can)."""
        if self.usable is None:
            return None
        provider = (
            model.split("/", 1)[0] if model and "/" in model else "anthropic" if not model else ""
        )
        if provider not in KEY_VARS or provider in self.usable:
            return None
        return KEY_VARS[provider][0]


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


def masked_json(value: Any) -> str:
    """Indented JSON with anything key-shaped masked (the owner of `value` must call this)."""
    if value is None:
        return "(none)"
    return scrub(orjson.dumps(value, option=orjson.OPT_INDENT_2, default=str).decode())


def masked_bytes(data: bytes) -> bytes:
    """UTF-8 text with anything key-shaped masked."""
    return scrub(data.decode("utf-8", "replace")).encode()


def jsonl(entries: list[dict[str, Any]]) -> bytes:
    """Debug entries as JSON lines, what `GET /debug_logs?format=jsonl` returns, keys masked."""
    return masked_bytes(b"".join(orjson.dumps(entry, default=str) + b"\n" for entry in entries))


def preset_from(data: dict[str, Any]) -> Preset:
    """A preset as the management API returns it (GET /presets)."""
    return Preset(
        name=str(data.get("name", "")),
        big=str(data.get("big_model", "")),
        small=str(data.get("small_model", "")),
        description=str(data.get("description") or ""),
        builtin=bool(data.get("builtin")),
    )


class Backend(ABC):
    """What the screens talk to. Events for the UI arrive in `sink`, drained once per frame."""

    attached = False
    """True when the proxy runs elsewhere (features of the proxy's own process are unavailable)."""
    keys_file: Path | None = None
    """Where `save_keys` writes provider keys (None when this app cannot set them)."""

    def __init__(self, api_key: str | None) -> None:
        self.sink = EventSink()
        self.api_key = api_key
        self.revision = 0
        """Bumped whenever a snapshot below changed without an event (the app refreshes then)."""

    # Snapshots (immutable, replaced whole: cheap to read once per frame) ----------------------
    @property
    @abstractmethod
    def url(self) -> str:
        """Base URL of the proxy (what Claude Code is pointed at)."""

    @property
    @abstractmethod
    def pair(self) -> ModelPair:
        """The model pair in force."""

    @property
    @abstractmethod
    def link(self) -> Link:
        """Connection state."""

    @property
    @abstractmethod
    def counts(self) -> Counts:
        """Request counters."""

    @property
    @abstractmethod
    def keys(self) -> KeyInfo:
        """Which providers have keys."""

    @property
    @abstractmethod
    def recording(self) -> RecordingState:
        """Whether the proxy's store records requests (the header says when it is paused)."""

    @property
    def bodies_recorded(self) -> bool | None:
        """Whether the proxy's store keeps request and answer bodies (RECORD_BODIES); None when
        this side cannot know."""
        return None

    # Lifecycle --------------------------------------------------------------------------------
    @abstractmethod
    async def start(self) -> None:
        """Start serving (in-process) or connecting (remote); failures end up in `link`."""

    @abstractmethod
    async def stop(self) -> None:
        """Stop cleanly (in-process: streams get a grace period and the port is released)."""

    async def close(self) -> None:
        """Safety net at exit for paths that skipped stop() (idempotent)."""
        await self.stop()

    # Reads ------------------------------------------------------------------------------------
    @abstractmethod
    async def model_list(self) -> dict[str, Any]:
        """GET /models: the catalogue and presets."""

    @abstractmethod
    async def presets(self) -> list[Preset]:
        """The presets, built-ins then user presets."""

    @abstractmethod
    async def history(self, session: str | None = None) -> list[dict[str, Any]]:
        """Recorded conversation turns (optionally one session)."""

    @abstractmethod
    async def history_page(
        self,
        limit: int = 50,
        before: str | None = None,
        session: str | None = None,
        text: str | None = None,
    ) -> dict[str, Any]:
        """One page of turns newest first (`turns`, and `next`: the cursor of the following page
        or None), of one session or found by full-text search over `text`."""

    @abstractmethod
    async def recent_requests(self, limit: int) -> list[dict[str, Any]]:
        """The newest `limit` Messages requests the store holds, newest first ([] when it
        cannot be read): the request log is backfilled from them."""

    @abstractmethod
    async def usage(self, by: str, since: date | None = None) -> dict[str, Any]:
        """The usage report grouped `by` day, model, session...: rows and totals (`/usage`)."""

    @abstractmethod
    async def history_status(self) -> dict[str, Any]:
        """Count, limit and persistence of the history."""

    @abstractmethod
    async def sessions(self) -> list[str]:
        """Session ids seen in the history."""

    @abstractmethod
    async def debug_entries(self, log_type: str = "all", limit: int = 200) -> list[dict[str, Any]]:
        """The debug ring, newest last."""

    @abstractmethod
    async def debug_export(self) -> bytes:
        """The whole debug log as JSON lines, keys masked."""

    @abstractmethod
    async def stats(self) -> dict[str, Any]:
        """Per-model stats and totals."""

    @abstractmethod
    async def config(self) -> dict[str, Any]:
        """GET /config, keys masked."""

    @abstractmethod
    async def exchange_json(self, record: RequestRecord) -> tuple[str, str, str]:
        """A request's response, translated upstream request and client body as masked JSON."""

    @abstractmethod
    async def request_body(self, record: RequestRecord) -> dict[str, Any] | None:
        """A copy of the client's request body, None when no longer available."""

    @abstractmethod
    async def replay_cost(self, model: str, usage: dict[str, Any]) -> float | None:
        """Estimated cost of a replay's usage on `model`."""

    # Changes ----------------------------------------------------------------------------------
    @abstractmethod
    async def switch_model(
        self,
        *,
        preset: str | None = None,
        big: str | None = None,
        small: str | None = None,
        default: bool = False,
    ) -> ModelPair:
        """Switch by preset, by model or back to the .env `default`; for the next request."""

    @abstractmethod
    async def save_preset(self, name: str, big: str, small: str, description: str = "") -> Any:
        """Save a user preset."""

    @abstractmethod
    async def delete_preset(self, name: str) -> Any:
        """Remove a user preset."""

    @abstractmethod
    async def clear_history(self) -> Any:
        """Forget every recorded turn."""

    @abstractmethod
    async def enable_persistence(self, path: str) -> dict[str, Any]:
        """Persist the history to a JSON file (on the proxy's machine)."""

    @abstractmethod
    async def disable_persistence(self) -> Any:
        """Stop persisting the history."""

    @abstractmethod
    async def export_history(self, fmt: str) -> str:
        """The history as JSON or Markdown text."""

    @abstractmethod
    def key_settings(self) -> dict[str, str | None]:
        """Each variable of KEY_SETTINGS with what is set now (keys masked), None when unset."""

    @abstractmethod
    async def save_keys(self, values: dict[str, str]) -> Path:
        """Write `values` (variable -> value) to `keys_file` and hand them to the running proxy.

        Returns the file written; KeyFileError when it could not be written.
        """

    @abstractmethod
    def note_error(self, summary: str) -> None:
        """Record a failure of the UI in the proxy's debug log, where it can (never waits)."""

    # Requests through the proxy (the same HTTP either way) ------------------------------------
    async def send(
        self, body: dict[str, Any], session: str, timeout: float = 120.0, origin: str | None = None
    ) -> CallResult:
        """POST a Messages body to the proxy (so it is logged, mapped and priced like any other).

        `origin` (`probe` or `replay`) tells the proxy's record it was the UI's own request.
        """
        started = time.perf_counter()
        model = str(body.get("model", ""))
        headers = {
            SESSION_HEADER: session,
            "x-api-key": self.api_key or "tui",
            "anthropic-version": "2023-06-01",
        }
        if origin is not None:
            headers[ORIGIN_HEADER] = origin
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
        """Send a copy of a request body (from `request_body`) to another model, non-streaming."""
        return await self.send(
            {**body, "model": model, "stream": False}, session="replay", origin="replay"
        )

    async def probe(self, tier: str) -> CallResult:
        """A tiny request to the big or small model through the proxy (the config test)."""
        body = {
            "model": PROBE_MODELS[tier],
            "max_tokens": 16,
            "messages": [{"role": "user", "content": "Reply with the word OK."}],
        }
        return await self.send(body, session=PROBE_SESSION, timeout=60.0, origin="probe")
