"""`GET /events` of a remote proxy -> the UI's event sink, reconnecting with backoff.

One asyncio task on the UI loop: it only awaits the socket and appends parsed events to the sink
(drained per frame like the in-process bus), so a slow or lost proxy never holds the UI. A
reconnect fetches the proxy's state again and resumes with `Last-Event-ID`; a proxy that restarted
in between is replayed from its first event instead, and requests it was serving are marked lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable, Iterator
from typing import Any, Protocol

import aiohttp
import orjson

from app.client.backend import BackendError, Link, ProxyNotRunning
from app.client.requests import PROXY_RESTARTED
from app.client.status import DISCONNECTED, ERROR, READY
from proxy.state.events import ProxyEvent

DROPPED = "dropped"
INITIAL_BACKOFF = 0.5
MAX_BACKOFF = 10.0
# The proxy sends a keep-alive comment every 15 s; silence for longer means a dead connection.
READ_TIMEOUT = 40.0
STATE_POLL = 5.0
"""Seconds between config refreshes while connected (counters and keys drift otherwise)."""


class AuthFailed(ProxyNotRunning):
    """The proxy refused the key (401/403): retrying cannot help."""


class SSEParser:
    """Splits a byte stream into (id, event, data) frames; `: connected` marks the end of replay."""

    def __init__(self) -> None:
        self.buffer = b""
        self.connected = False

    def feed(self, chunk: bytes) -> Iterator[tuple[int | None, str, str]]:
        """Frames completed by `chunk` (comments are consumed, not returned)."""
        self.buffer += chunk.replace(b"\r\n", b"\n")
        while b"\n\n" in self.buffer:
            raw, self.buffer = self.buffer.split(b"\n\n", 1)
            event_id: int | None = None
            kind = "message"
            data: list[str] = []
            for line in raw.decode("utf-8", "replace").split("\n"):
                if line.startswith(":"):
                    if line[1:].strip() == "connected":
                        self.connected = True
                    continue
                name, _, value = line.partition(":")
                value = value.removeprefix(" ")
                if name == "id" and value.isdigit():
                    event_id = int(value)
                elif name == "event":
                    kind = value
                elif name == "data":
                    data.append(value)
            if data:
                yield event_id, kind, "\n".join(data)


class FeedTarget(Protocol):
    """What the feed needs from its backend (the remote one); named here so neither imports the other."""

    @property
    def url(self) -> str:
        """The proxy's base URL."""
        ...

    @property
    def link(self) -> Link:
        """The connection state."""
        ...

    def set_link(self, link: Link) -> None:
        """Replace the connection state."""

    def session(self) -> aiohttp.ClientSession:
        """The shared HTTP session."""
        ...

    def auth_message(self, status: int) -> str:
        """What to do when the key is refused."""
        ...

    async def refresh_state(self) -> dict[str, Any]:
        """Fetch the proxy's state again (GET /config)."""
        ...

    def note_event(self, event: ProxyEvent, live: bool) -> None:
        """Update the snapshots an event changes."""

    @property
    def sink(self) -> Callable[[ProxyEvent], None]:
        """Where events for the UI are queued."""
        ...


def describe(exc: BaseException) -> str:
    """A short reason for a failed connection (the header has one line for it)."""
    if isinstance(exc, aiohttp.ClientConnectorError):
        # aiohttp's own strerror repeats the address; the errno's text is what a user needs.
        errno = exc.os_error.errno
        return os.strerror(errno).lower() if errno else "cannot connect"
    if isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError):
        return "the proxy closed the connection"
    if isinstance(exc, TimeoutError):
        return "no answer (timed out)"
    return str(exc) or type(exc).__name__


class EventFeed:
    """Keeps one /events stream open for a RemoteBackend."""

    def __init__(self, backend: FeedTarget) -> None:
        self.backend = backend
        self.last_id: int | None = None
        """Id of the newest event seen; None until one arrives (a resume from 0 would replay all)."""
        self.last_seen: float | None = None
        """Wall time of the last byte received (keep-alives included)."""
        self.tasks: set[asyncio.Task[Any]] = set()

    def start(self) -> None:
        """Connect in the background (the app keeps running while it does)."""
        self._spawn(self.run())
        self._spawn(self.poll())

    async def stop(self) -> None:
        """Cancel the stream and the refreshes, and wait for them to end."""
        tasks, self.tasks = list(self.tasks), set()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def run(self) -> None:
        """Connect, read until the stream ends, wait, connect again; stop only on a refused key."""
        delay = INITIAL_BACKOFF
        while True:
            reached = False
            try:
                reached = await self.connect_once()
                reason = "the proxy closed the event stream"
            except AuthFailed as exc:
                self.backend.set_link(Link(ERROR, str(exc)))
                return
            except (BackendError, aiohttp.ClientError, OSError, TimeoutError, ValueError) as exc:
                reason = describe(exc)
            if reached:
                delay = INITIAL_BACKOFF
            self.backend.set_link(
                Link(DISCONNECTED, reason, time.monotonic() + delay, self.backend.link.generation)
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_BACKOFF)

    async def connect_once(self) -> bool:
        """One connection: state first, then events until the stream ends; True once connected."""
        backend = self.backend
        config = await backend.refresh_state()
        uptime = float(config.get("uptime_seconds") or 0.0)
        if self.last_seen is not None and uptime < time.time() - self.last_seen + 1.0:
            # It started after we lost it: its event ids begin again at 1; replay all it holds.
            self.last_id = 0
            backend.sink(ProxyEvent(PROXY_RESTARTED, ""))
        headers = {"Accept": "text/event-stream"}
        if self.last_id is not None:
            headers["Last-Event-ID"] = str(self.last_id)
        timeout = aiohttp.ClientTimeout(total=None, connect=10.0, sock_read=READ_TIMEOUT)
        async with backend.session().get(
            f"{backend.url}/events", headers=headers, timeout=timeout
        ) as response:
            if response.status in (401, 403):
                raise AuthFailed(backend.auth_message(response.status))
            if response.status != 200:
                raise BackendError(f"/events answered HTTP {response.status}")
            # Subscribed before the server answered: what starts from here on comes as events.
            live_since = time.time()
            backend.set_link(
                Link(READY, generation=backend.link.generation + 1, live_since=live_since)
            )
            parser = SSEParser()
            async for chunk in response.content.iter_any():
                self.last_seen = time.time()
                for event_id, kind, data in parser.feed(chunk):
                    self.handle(event_id, kind, data, live=parser.connected)
        return True

    def handle(self, event_id: int | None, kind: str, data: str, live: bool) -> None:
        """One frame: a `dropped` notice refetches state; anything else goes to the sink."""
        if event_id is not None:
            if self.last_id is not None and event_id <= self.last_id:
                return  # already seen (a resume never repeats, but be safe)
            self.last_id = event_id
        if kind == DROPPED:
            self._spawn(self.resync())
            return
        try:
            payload = orjson.loads(data)
        except orjson.JSONDecodeError:
            return
        if not isinstance(payload, dict):
            return
        stamp = payload.get("time")
        event = ProxyEvent(
            kind,
            str(payload.get("request_id") or ""),
            payload,
            float(stamp) if isinstance(stamp, int | float) else time.time(),
        )
        self.backend.note_event(event, live)
        self.backend.sink(event)

    async def resync(self) -> None:
        """After dropped events: fetch the state again and let the screens reload."""
        with contextlib.suppress(BackendError):
            await self.backend.refresh_state()
            link = self.backend.link
            self.backend.set_link(
                Link(link.state, link.message, link.retry_at, link.generation + 1)
            )

    async def poll(self) -> None:
        """Refresh counters, keys and the pair now and then while connected."""
        while True:
            await asyncio.sleep(STATE_POLL)
            if self.backend.link.state == READY:
                with contextlib.suppress(BackendError):
                    await self.backend.refresh_state()
