"""GET /events: the bus as Server-Sent Events, for a TUI attached from elsewhere.

A slow or far subscriber never slows the proxy: the bus callback only appends to buffers, text
deltas are merged per request every ~40 ms, each subscriber has a bounded queue, and one that
falls behind gets a `dropped` event instead of everything it missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import orjson
from aiohttp import web

from proxy.server.keys import SERVICE
from proxy.state.events import (
    REQUEST_FAILED,
    REQUEST_FINISHED,
    REQUEST_STARTED,
    TEXT_DELTA,
    ProxyEvent,
)

COALESCE_SECONDS = 0.04
RING_SIZE = 5000
QUEUE_SIZE = 2000
HEARTBEAT_SECONDS = 15.0
CLOSE = b""  # queued (by identity) to end a subscriber's stream at shutdown
STARTED_FIELDS = ("requested", "model", "provider", "transport", "tier", "stream", "session_id")
FINISHED_SKIP = frozenset({"upstream_request"})
FAILED_SKIP = frozenset({"upstream_request"})
LIFECYCLE = frozenset({REQUEST_STARTED, REQUEST_FINISHED, REQUEST_FAILED})


def _payload(event: ProxyEvent) -> dict[str, Any]:
    """What an event says on the wire: references to bodies stay home."""
    data = event.data
    if event.kind == REQUEST_STARTED:
        out = {k: data.get(k) for k in STARTED_FIELDS}
        out["notes"] = list(data.get("notes") or ())
    elif event.kind == REQUEST_FINISHED:
        out = {k: v for k, v in data.items() if k not in FINISHED_SKIP}
    elif event.kind == REQUEST_FAILED:
        out = {k: v for k, v in data.items() if k not in FAILED_SKIP}
    else:
        out = {k: v for k, v in data.items() if k not in ("body", "upstream_request")}
    out["request_id"] = event.request_id
    out["time"] = event.time
    return out


class Subscriber:
    """One /events client: a bounded queue of encoded frames."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes] = asyncio.Queue(QUEUE_SIZE)
        self.dropped = 0

    def offer(self, frame: bytes, dropped_frame: bytes) -> None:
        """Queue a frame; when full, replace the backlog with one `dropped` event."""
        try:
            self.queue.put_nowait(frame)
        except asyncio.QueueFull:
            self.dropped += 1
            while not self.queue.empty():
                self.queue.get_nowait()
            self.queue.put_nowait(dropped_frame)


class EventHub:
    """Numbers, encodes and fans out bus events; keeps a ring for Last-Event-ID resume."""

    def __init__(self, totals: Callable[[], dict[str, Any]] | None = None) -> None:
        self.totals = totals
        """The proxy's counters and usage, added to each request event (an attached TUI shows them)."""
        self.next_id = 1
        self.ring: deque[tuple[int, bytes]] = deque(maxlen=RING_SIZE)
        self.subscribers: set[Subscriber] = set()
        self.pending: dict[str, list[str]] = {}
        self.flush_handle: asyncio.TimerHandle | None = None

    def on_event(self, event: ProxyEvent) -> None:
        """Bus callback (hot path for text deltas: append only)."""
        if event.kind == TEXT_DELTA:
            if not self.subscribers:
                return  # nobody watches live text; lifecycle events still go to the ring
            self.pending.setdefault(event.request_id, []).append(event.data.get("text", ""))
            if self.flush_handle is None:
                loop = asyncio.get_running_loop()
                self.flush_handle = loop.call_later(COALESCE_SECONDS, self.flush)
            return
        # Keep per-request order: text already streamed goes out before its finish event.
        if event.request_id in self.pending:
            text = "".join(self.pending.pop(event.request_id))
            self._emit(TEXT_DELTA, {"request_id": event.request_id, "text": text})
        payload = _payload(event)
        if self.totals is not None and event.kind in LIFECYCLE:
            # Subscribed after the stats, so these already count this event.
            payload["totals"] = self.totals()
        self._emit(event.kind, payload)

    def flush(self) -> None:
        """Send the merged text deltas of every request."""
        self.flush_handle = None
        pending, self.pending = self.pending, {}
        now = time.time()
        for request_id, pieces in pending.items():
            self._emit(TEXT_DELTA, {"request_id": request_id, "text": "".join(pieces), "time": now})

    def _emit(self, kind: str, data: dict[str, Any]) -> None:
        event_id = self.next_id
        self.next_id += 1
        frame = b"id: %d\nevent: %s\ndata: %s\n\n" % (
            event_id,
            kind.encode(),
            orjson.dumps(data, default=str),
        )
        self.ring.append((event_id, frame))
        if self.subscribers:
            dropped = self._dropped_frame(event_id)
            for subscriber in self.subscribers:
                subscriber.offer(frame, dropped)

    @staticmethod
    def _dropped_frame(last_id: int) -> bytes:
        return b"event: dropped\ndata: %s\n\n" % orjson.dumps(
            {"reason": "subscriber fell behind; refetch state", "last_id": last_id}
        )

    def replay_after(self, last_id: int) -> list[bytes]:
        """Frames after `last_id` still in the ring, with a `dropped` first if some are gone."""
        frames = [frame for event_id, frame in self.ring if event_id > last_id]
        oldest = self.ring[0][0] if self.ring else self.next_id
        if last_id + 1 < oldest:
            frames.insert(0, self._dropped_frame(last_id))
        return frames


HUB = web.AppKey("event_hub", EventHub)


async def events(request: web.Request) -> web.StreamResponse:
    """GET /events: replay after Last-Event-ID, then live events until the client leaves."""
    hub = request.app[HUB]
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",
        }
    )
    await response.prepare(request)
    subscriber = Subscriber()
    hub.subscribers.add(subscriber)
    bus = request.app[SERVICE].bus
    bus.delta_demand += 1
    try:
        last = request.headers.get("Last-Event-ID") or request.query.get("last_event_id")
        if last and last.isdigit():
            backlog = hub.replay_after(int(last))
            if backlog:
                await response.write(b"".join(backlog))
        await response.write(b": connected\n\n")
        while True:
            try:
                frame = await asyncio.wait_for(subscriber.queue.get(), HEARTBEAT_SECONDS)
            except TimeoutError:
                frame = b": keep-alive\n\n"
            if frame is CLOSE:
                break
            frames = [frame]
            while not subscriber.queue.empty():
                frames.append(subscriber.queue.get_nowait())
            await response.write(b"".join(frames))
    except ConnectionResetError:
        pass  # the subscriber went away
    finally:
        hub.subscribers.discard(subscriber)
        bus.delta_demand -= 1
    return response


async def _hub_ctx(app: web.Application) -> Any:
    hub = EventHub(app[SERVICE].totals)
    app[HUB] = hub
    unsubscribe = app[SERVICE].bus.subscribe(hub.on_event, deltas=False)
    yield
    unsubscribe()
    if hub.flush_handle is not None:
        hub.flush_handle.cancel()
    with contextlib.suppress(Exception):
        hub.subscribers.clear()


async def _end_streams(app: web.Application) -> None:
    # Open /events streams would otherwise hold the shutdown for the whole grace period.
    for subscriber in list(app[HUB].subscribers):
        while not subscriber.queue.empty():
            subscriber.queue.get_nowait()
        subscriber.queue.put_nowait(CLOSE)


def install(app: web.Application) -> None:
    """Add GET /events to an app."""
    app.cleanup_ctx.append(_hub_ctx)
    app.on_shutdown.append(_end_streams)
    app.router.add_get("/events", events)
