"""GET /events: the bus as Server-Sent Events, for a TUI attached from elsewhere.

A slow or far subscriber never slows the proxy: the bus callback only appends to buffers, text
deltas are merged per request every ~40 ms, each subscriber has a queue bounded in frames and
bytes, and one that falls behind gets a `dropped` event instead of everything it missed.

Memory stays bounded whatever the answers weigh: at most MAX_EVENT_SUBSCRIBERS streams, and the
replay ring is bounded in bytes and keeps no answer text: text deltas go to live watchers only
(without an id), and a finished event is replayed with its usage and stop reason but without
`content`; live subscribers get the whole event.

While nobody watches (a headless proxy, most of the time), a started or finished event goes into
the ring as its parts (the values it will be encoded from, copied at event time) and is encoded
only when the ring is read (a subscriber resumes with Last-Event-ID): most events leave the ring
unread. Parts hold no bodies and no answer text, only small known fields.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable
from functools import partial
from operator import itemgetter
from typing import Any

import orjson
from aiohttp import web

from proxy.core.errors import ProxyError
from proxy.server.keys import SERVICE
from proxy.state.events import (
    FIRST_TOKEN,
    REQUEST_FAILED,
    REQUEST_FINISHED,
    REQUEST_STARTED,
    TEXT_DELTA,
    ProxyEvent,
)
from proxy.state.stats import TOTALS

COALESCE_SECONDS = 0.04
RING_SIZE = 5000
RING_BYTES = 4 * 1024 * 1024
QUEUE_SIZE = 2000
QUEUE_BYTES = 16 * 1024 * 1024
MAX_EVENT_ID_DIGITS = 18
HEARTBEAT_SECONDS = 15.0
CLOSE = b""  # queued (by identity) to end a subscriber's stream at shutdown
STARTED_FIELDS = (
    "requested",
    "model",
    "provider",
    "transport",
    "tier",
    "reason",
    "stream",
    "session_id",
)
FINISHED_SKIP = frozenset({"upstream_request"})
FAILED_SKIP = frozenset({"upstream_request"})
LIFECYCLE = frozenset({REQUEST_STARTED, REQUEST_FINISHED, REQUEST_FAILED})
_started_values = itemgetter(*STARTED_FIELDS)
# A finished message kept as parts may hold only these (the rest: encoded at once, so the ring's
# byte bound sees it); `content` is dropped from the replayed form anyway.
SMALL_MESSAGE_KEYS = frozenset(
    {"id", "type", "role", "model", "content", "stop_reason", "stop_sequence", "usage"}
)


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


def _replayable(kind: str, data: dict[str, Any]) -> dict[str, Any]:
    """What the ring keeps of an event: a finished event loses its answer `content`."""
    message = data.get("message") if kind == REQUEST_FINISHED else None
    if not isinstance(message, dict) or "content" not in message:
        return data
    return {**data, "message": {k: v for k, v in message.items() if k != "content"}}


class Subscriber:
    """One /events client: a queue of encoded frames, bounded in count and in bytes."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes] = asyncio.Queue(QUEUE_SIZE)
        self.queued_bytes = 0
        self.dropped = 0

    def offer(self, frame: bytes, dropped_frame: bytes) -> None:
        """Queue a frame; when full, replace the backlog with one `dropped` event."""
        if self.queued_bytes + len(frame) <= QUEUE_BYTES:
            try:
                self.queue.put_nowait(frame)
                self.queued_bytes += len(frame)
                return
            except asyncio.QueueFull:
                pass
        self.dropped += 1
        while not self.queue.empty():
            self.queue.get_nowait()
        self.queue.put_nowait(dropped_frame)
        self.queued_bytes = len(dropped_frame)

    def take(self) -> list[bytes]:
        """Everything queued now (the caller has awaited the first frame already)."""
        frames = []
        while not self.queue.empty():
            frames.append(self.queue.get_nowait())
        self.queued_bytes = 0
        return frames


class EventHub:
    """Numbers, encodes and fans out bus events; keeps a ring for Last-Event-ID resume."""

    def __init__(
        self,
        totals: Callable[[], dict[str, Any]] | None = None,
        *,
        totals_parts: Callable[[], tuple[Any, ...]] | None = None,
        totals_of: Callable[[tuple[Any, ...]], dict[str, Any]] | None = None,
    ) -> None:
        self.totals = totals
        """The proxy's counters and usage, added to each request event (an attached TUI shows them)."""
        self.totals_parts = totals_parts
        """The same as a tuple taken at event time, `totals_of` makes the dict (lazy entries)."""
        self.totals_of = totals_of
        self.next_id = 1
        self._ring: deque[tuple[int, bytes]] = deque()
        self._ring_bytes = 0
        self._lazy: deque[tuple[int, str, str, float, Any, Any]] = deque(maxlen=RING_SIZE)
        """Events not encoded yet (nobody watched), all newer than the encoded `_ring`."""
        self.subscribers: set[Subscriber] = set()
        self.pending: dict[str, list[str]] = {}
        self.flush_handle: asyncio.TimerHandle | None = None
        self.bodies: Any = None
        """The request-detail ring (`request_detail.RequestRing`), told of lifecycle events
        while someone watches or it holds bodies; None without one."""

    def on_event(self, event: ProxyEvent) -> None:
        """Bus callback (hot path for text deltas: append only)."""
        kind = event.kind
        if kind == TEXT_DELTA:
            if not self.subscribers:
                return  # nobody watches live text; lifecycle events still go to the ring
            self.pending.setdefault(event.request_id, []).append(event.data.get("text", ""))
            if self.flush_handle is None:
                loop = asyncio.get_running_loop()
                self.flush_handle = loop.call_later(COALESCE_SECONDS, self.flush)
            return
        bodies = self.bodies
        if not self.subscribers:
            if bodies is not None and bodies.entries:
                bodies.on_event(event)
            # Nobody watches (the usual case): kept as its parts, encoded if the ring is read;
            # text still pending for this request goes out first, keeping its order.
            pending = self.pending
            if not (pending and event.request_id in pending):
                if self.totals_parts is not None and self._keep_parts(event):
                    return
            else:
                text = "".join(pending.pop(event.request_id))
                self._emit(TEXT_DELTA, {"request_id": event.request_id, "text": text})
        else:
            if bodies is not None:
                bodies.on_event(event)
            if self.pending and event.request_id in self.pending:
                text = "".join(self.pending.pop(event.request_id))
                self._emit(TEXT_DELTA, {"request_id": event.request_id, "text": text})
        payload = _payload(event)
        if self.totals is not None and kind in LIFECYCLE:
            # Subscribed after the stats, so these already count this event.
            payload["totals"] = self.totals()
        self._emit(kind, payload)

    def _keep_parts(self, event: ProxyEvent) -> bool:
        """Keep a started or finished event unencoded (nobody watches); False: encode it now."""
        kind = event.kind
        totals_parts = self.totals_parts
        assert totals_parts is not None
        if kind == REQUEST_STARTED:
            source = event.source
            if source is not None:
                # The request's ledger record holds the started fields first, masked.
                record = source.record
                notes = record.notes
                parts: Any = (record, notes.copy() if notes else [])
            else:
                try:
                    values = _started_values(event.data)
                except KeyError:
                    return False
                parts = (values, list(event.data.get("notes") or ()))
            totals = totals_parts()
        elif kind == REQUEST_FINISHED:
            data = event.data
            message = data.get("message")
            if message.__class__ is not dict or not message.keys() <= SMALL_MESSAGE_KEYS:
                return False
            parts = data.copy()
            parts.pop("upstream_request", None)
            if "content" in message:
                message = message.copy()
                del message["content"]
            parts["message"] = message
            totals = totals_parts()
        elif kind == FIRST_TOKEN and not event.data:
            parts, totals = {}, None
        else:
            return False
        event_id = self.next_id
        self.next_id = event_id + 1
        lazy = self._lazy
        # Bounded by its maxlen while the ring is empty (nobody ever read it: the usual case).
        lazy.append((event_id, kind, event.request_id, event.time, parts, totals))
        if self._ring and len(lazy) + len(self._ring) > RING_SIZE:
            self._drop_oldest()
        return True

    def _encode_lazy(self) -> None:
        """Encode the events kept as parts, in order, into the ring (someone reads it)."""
        lazy = self._lazy
        totals_of = self.totals_of
        while lazy:
            event_id, kind, request_id, when, parts, totals = lazy.popleft()
            if kind == REQUEST_STARTED:
                values, notes = parts
                data = dict(zip(STARTED_FIELDS, values[:8], strict=True))
                data["notes"] = notes
            else:
                data = parts
            data["request_id"] = request_id
            data["time"] = when
            if totals is not None and totals_of is not None:
                data["totals"] = totals_of(totals)
            self._append(event_id, self._frame(event_id, kind, data))

    @property
    def ring(self) -> deque[tuple[int, bytes]]:
        """The replay ring, (event id, frame), oldest first (events kept as parts encoded now)."""
        if self._lazy:
            self._encode_lazy()
        return self._ring

    @property
    def ring_bytes(self) -> int:
        """The bytes of the ring's frames (bounded by RING_BYTES)."""
        if self._lazy:
            self._encode_lazy()
        return self._ring_bytes

    def _drop_oldest(self) -> None:
        _, old = self._ring.popleft()
        self._ring_bytes -= len(old)

    def flush(self) -> None:
        """Send the merged text deltas of every request."""
        self.flush_handle = None
        pending, self.pending = self.pending, {}
        now = time.time()
        for request_id, pieces in pending.items():
            self._emit(TEXT_DELTA, {"request_id": request_id, "text": "".join(pieces), "time": now})

    def _emit(self, kind: str, data: dict[str, Any]) -> None:
        if kind == TEXT_DELTA:
            # Answer text is for live watchers only: no id, never in the replay ring.
            frame = b"event: %s\ndata: %s\n\n" % (kind.encode(), orjson.dumps(data))
            dropped = self._dropped_frame(self.next_id - 1)
            for subscriber in self.subscribers:
                subscriber.offer(frame, dropped)
            return
        event_id = self.next_id
        self.next_id += 1
        kept = _replayable(kind, data)
        frame = self._frame(event_id, kind, kept)
        self._keep(event_id, frame)
        if self.subscribers:
            if kept is not data:
                frame = self._frame(event_id, kind, data)
            dropped = self._dropped_frame(event_id)
            for subscriber in self.subscribers:
                subscriber.offer(frame, dropped)

    @staticmethod
    def _frame(event_id: int, kind: str, data: dict[str, Any]) -> bytes:
        return b"id: %d\nevent: %s\ndata: %s\n\n" % (
            event_id,
            kind.encode(),
            orjson.dumps(data, default=str),
        )

    def _keep(self, event_id: int, frame: bytes) -> None:
        if self._lazy:
            self._encode_lazy()  # frames stay in event order
        self._append(event_id, frame)

    def _append(self, event_id: int, frame: bytes) -> None:
        ring = self._ring
        ring.append((event_id, frame))
        self._ring_bytes += len(frame)
        while len(ring) > RING_SIZE or (self._ring_bytes > RING_BYTES and len(ring) > 1):
            self._drop_oldest()

    def clear(self) -> None:
        """Forget the replay ring (history was cleared); a resume then starts with `dropped`."""
        self._lazy.clear()
        self._ring.clear()
        self._ring_bytes = 0

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


def last_event_id(request: web.Request) -> int | None:
    """Last-Event-ID (or ?last_event_id=) as a small integer; a 400 for anything else."""
    raw = request.headers.get("Last-Event-ID") or request.query.get("last_event_id")
    if not raw:
        return None
    if len(raw) > MAX_EVENT_ID_DIGITS or not (raw.isascii() and raw.isdigit()):
        raise ProxyError(
            400,
            "invalid_request_error",
            f"Last-Event-ID: must be an event id (at most {MAX_EVENT_ID_DIGITS} digits 0-9)",
        )
    return int(raw)


async def events(request: web.Request) -> web.StreamResponse:
    """GET /events: replay after Last-Event-ID, then live events until the client leaves."""
    hub = request.app[HUB]
    last = last_event_id(request)
    if request.method == "HEAD":
        # Headers only: a HEAD answered with a stream would feed its frames to the next request.
        return web.Response(headers={"Content-Type": "text/event-stream"})
    cap = request.app[SERVICE].settings.max_event_subscribers
    if len(hub.subscribers) >= cap:
        raise ProxyError(
            503,
            "overloaded_error",
            f"{cap} /events streams are open already (MAX_EVENT_SUBSCRIBERS); close one or retry",
            {"retry-after": "5"},
        )
    # Counted before the first await, so concurrent connections cannot all pass the cap.
    subscriber = Subscriber()
    hub.subscribers.add(subscriber)
    bus = request.app[SERVICE].bus
    bus.delta_demand += 1
    # Taken in the same step: an event emitted from now on is in the queue, never in both.
    backlog = hub.replay_after(last) if last is not None else []
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",
        }
    )
    try:
        await response.prepare(request)
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
            await response.write(b"".join([frame, *subscriber.take()]))
    except ConnectionResetError:
        pass  # the subscriber went away
    finally:
        hub.subscribers.discard(subscriber)
        bus.delta_demand -= 1
    return response


async def _hub_ctx(app: web.Application) -> Any:
    service = app[SERVICE]
    # The totals tuple read from the counters in one C call (taken for every request event).
    totals_parts = partial(TOTALS, service.counters)
    hub = EventHub(service.totals, totals_parts=totals_parts, totals_of=service.totals_from)
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
