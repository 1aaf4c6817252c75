"""HTTP plumbing every native transport shares: one POST with timeouts, status and error mapping.

Bodies read from an upstream are capped (an error page, a JSON answer, one SSE line): a broken or
hostile upstream cannot make the proxy hold gigabytes for one request.
"""

from __future__ import annotations

import asyncio
from typing import Any, NamedTuple

import aiohttp
import orjson

from proxy.core.errors import ProxyError, from_upstream
from proxy.core.settings import Settings
from proxy.core.tools_cache import TOOLS
from proxy.routing.model_map import Target
from proxy.upstreams.wire import ConnectFailed, HeaderLineBreak, UpstreamPool, UpstreamResponse

# Every upstream request carries this proxy's instance id; receiving it back means a loop.
LOOP_HEADER = "X-Claude-Proxy-Via"
MAX_BODY_BYTES = 1 << 20
"""Cap on an upstream error body, a non-streaming answer line or one SSE line (1 MiB)."""
MAX_ANSWER_BYTES = 64 << 20
"""Cap on a whole non-streaming answer (64 MiB: a long answer with images stays well below)."""


class Bounds(NamedTuple):
    """An upstream request's timeouts (seconds): connecting, and the clock's."""

    connect: float
    """The connect bound alone: the idle and total bounds are the loop's `UpstreamClock`'s."""
    idle: float
    total: float
    step: float
    """How often the clock looks: a quarter of the shorter bound, at most MAX_STEP."""


MAX_STEP = 1.0
"""Longest time between two looks at the requests in flight (seconds)."""
_BOUNDS: dict[int, tuple[Settings, Bounds]] = {}


def bounds_for(settings: Settings) -> Bounds:
    """The bounds of an upstream request (one object per settings)."""
    known = _BOUNDS.get(id(settings))
    if known is not None and known[0] is settings:
        return known[1]
    idle, total = settings.stream_idle_timeout, settings.request_timeout
    bounds = Bounds(
        settings.connect_timeout,
        idle,
        total,
        min(idle / 4, total / 4, MAX_STEP),
    )
    if len(_BOUNDS) >= 16:
        _BOUNDS.clear()
    _BOUNDS[id(settings)] = (settings, bounds)
    return bounds


def where(target: Target) -> str:
    """How messages name an upstream: provider and base URL."""
    return f"{target.provider} upstream ({target.api_base or 'default endpoint'})"


def http_errors(target: Target) -> HttpErrors:
    """Turn aiohttp failures into the Anthropic errors a client can act on (`with` block)."""
    return HttpErrors(target)


class HttpErrors:
    """The `http_errors` context manager (a class: no generator per upstream call)."""

    __slots__ = ("target",)

    def __init__(self, target: Target) -> None:
        self.target = target

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: Any
    ) -> None:
        if kind is None or not issubclass(kind, TimeoutError | aiohttp.ClientError):
            return
        target = self.target
        if isinstance(exc, TimeoutError):
            raise ProxyError(504, "timeout_error", f"{where(target)} timed out") from None
        if isinstance(exc, ConnectFailed):
            raise ProxyError(
                502, "api_error", f"cannot connect to {where(target)}: {exc.os_error}"
            ) from None
        if isinstance(exc, aiohttp.ClientPayloadError):
            raise ProxyError(
                502, "api_error", f"{where(target)} broke off its answer: {exc}"
            ) from None
        if isinstance(exc, aiohttp.ServerDisconnectedError):
            raise ProxyError(502, "api_error", f"{where(target)} closed the connection") from None
        raise ProxyError(502, "api_error", f"{where(target)} failed: {exc}") from None


async def read_capped(response: UpstreamResponse, limit: int, target: Target) -> bytes:
    """The whole body, or a 502 once it passes `limit` bytes."""
    length = response.content_length
    if length is not None and length > limit:
        raise too_large(target, limit)
    if length is not None and "Content-Encoding" not in response.headers:
        # aiohttp stops at Content-Length: one read, no loop (most JSON answers say their size).
        # A compressed body is counted as it is inflated, below: its length says nothing.
        return await response.read()
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_any():
        size += len(chunk)
        if size > limit:
            raise too_large(target, limit)
        chunks.append(chunk)
    return b"".join(chunks)


def too_large(target: Target, limit: int) -> ProxyError:
    """The 502 for an upstream answer (or line) past the proxy's size cap."""
    return ProxyError(
        502, "api_error", f"{where(target)} sent more than {limit} bytes in one piece; refused"
    )


def encode_body(payload: dict[str, Any]) -> bytes:
    """The JSON body of an upstream request; kept tools (TOOLS) go in as their kept JSON."""
    tools = payload.get("tools")
    if tools is not None:
        data = TOOLS.json_of(tools)
        if data is not None:
            return orjson.dumps({**payload, "tools": orjson.Fragment(data)})
    return orjson.dumps(payload)


async def post(
    http: UpstreamPool,
    target: Target,
    url: str,
    headers: dict[str, str],
    payload: dict[str, Any],
    settings: Settings,
    data: bytes | None = None,
) -> UpstreamResponse:
    """POST JSON upstream; the response once it said 200 (the caller releases it), else the
    mapped error. `data`: `payload` already serialised (the client's own bytes). The loop's
    `UpstreamClock` bounds the wait for the answer and the reading of it."""
    bounds = bounds_for(settings)
    watch = UpstreamClock.of_running_loop().watch(bounds)
    with http_errors(target):
        try:
            response = await http.post(
                url, headers, data if data is not None else encode_body(payload), bounds.connect
            )
        except HeaderLineBreak:
            raise ProxyError(
                500, "api_error", f"a header for {where(target)} holds a line break; check its key"
            ) from None
        except asyncio.CancelledError:
            if watch.timed_out and watch.task.uncancel() <= watch.cancelling:
                raise TimeoutError("no answer in time") from None  # the clock cancelled it
            raise
        finally:
            watch.waiting = False
        watch.response = response
        if response.status == 200:
            return response
        try:
            body = await read_capped(response, MAX_BODY_BYTES, target)
        finally:
            response.release()
    raise from_upstream(response.status, body, target.provider, response.headers.get("retry-after"))


END_GRACE = 1.0
"""Seconds a stream that said it ended ([DONE]) has for its body's own end to arrive before
its connection is closed instead of going back to the pool (up to END_GRACE / 2 more: they are
swept on one timer)."""


def release_after_end(response: UpstreamResponse) -> None:
    """Release a stream read up to its end marker, keeping its connection for the next request.

    The marker (OpenAI's `[DONE]`) comes just before the HTTP body's own end (the last chunk of
    a chunked body); released before that arrives, aiohttp closes the connection, and the next
    request pays a new TCP (and TLS) handshake. The connection goes back to its pool by itself
    once the body ends; a server that never ends it loses it after END_GRACE seconds.
    """
    if response.closed:
        return  # the body's end is in: the connection is back in the pool already
    loop = asyncio.get_running_loop()
    ending = _ENDING.get(loop)
    if ending is None:
        ending = _ENDING[loop] = _Ending(loop)
    ending.add(response)


class _Ending:
    """One loop's streams given END_GRACE for their body's end, swept by one timer.

    A timer per stream kept about a thousand handles in the loop's heap under steady traffic
    (each stream's lasts END_GRACE), and every push and pop compared a dozen of them in Python.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.deadlines: dict[UpstreamResponse, float] = {}
        self.handle: asyncio.TimerHandle | None = None

    def add(self, response: UpstreamResponse) -> None:
        self.deadlines[response] = self.loop.time() + END_GRACE
        if self.handle is None:
            self.handle = self.loop.call_later(END_GRACE / 2, self.sweep)

    def sweep(self) -> None:
        now = self.loop.time()
        waiting: dict[UpstreamResponse, float] = {}
        for response, deadline in self.deadlines.items():
            if response.closed:
                continue  # its body ended: the pool has the connection
            if deadline <= now:
                response.release()
            else:
                waiting[response] = deadline
        self.deadlines = waiting
        if waiting:
            self.handle = self.loop.call_later(END_GRACE / 2, self.sweep)
        else:
            self.handle = None
            _ENDING.pop(self.loop, None)  # an idle loop keeps nothing (nor the loop alive)

    def release_all(self) -> None:
        if self.handle is not None:
            self.handle.cancel()
            self.handle = None
        deadlines, self.deadlines = self.deadlines, {}
        for response in deadlines:
            response.release()


_ENDING: dict[asyncio.AbstractEventLoop, _Ending] = {}
"""The streams given END_GRACE to end, per loop (proxies in several threads)."""


def release_ending() -> None:
    """Release now every stream of this loop still given time to end (its session closes)."""
    ending = _ENDING.pop(asyncio.get_running_loop(), None)
    if ending is not None:
        ending.release_all()


class Watch:
    """One upstream request on the clock: waiting for its answer (`waiting`), then being read
    (`response`); over once neither, or once the response is read or released."""

    __slots__ = (
        "bounds",
        "cancelling",
        "last",
        "response",
        "seen",
        "started",
        "task",
        "timed_out",
        "waiting",
    )

    def __init__(self, task: asyncio.Task[Any], bounds: Bounds, now: float) -> None:
        self.task, self.bounds, self.started, self.last = task, bounds, now, now
        self.waiting, self.timed_out, self.seen = True, False, 0
        self.response: UpstreamResponse | None = None
        self.cancelling = 0

    def check(self, now: float) -> bool:
        """Fail the request if a bound passed; False once it is over (or failed)."""
        response, bounds = self.response, self.bounds
        if response is None:
            if not self.waiting:
                return False  # the POST failed: nothing left to watch
            if now - self.last >= bounds.idle or now - self.started >= bounds.total:
                # As asyncio.timeout does: the POST sees the cancel and makes it a TimeoutError.
                task = self.task
                self.timed_out, self.cancelling = True, task.cancelling()
                task.cancel()
                return False
            return True
        content = response.content
        # Over (read to the end, released, failed): the connection may serve someone else now.
        if response.closed or content.is_eof() or content.exception():
            return False
        total = content.total_bytes
        if total != self.seen:
            self.seen, self.last = total, now
        if now - self.last >= bounds.idle:
            error: aiohttp.ServerTimeoutError = aiohttp.SocketTimeoutError(
                "Timeout on reading data from socket"
            )
        elif now - self.started >= bounds.total:
            error = aiohttp.ServerTimeoutError("Timeout on reading the answer (REQUEST_TIMEOUT)")
        else:
            return True
        response.fail(error)
        return False


class UpstreamClock:
    """The idle (STREAM_IDLE_TIMEOUT) and total (REQUEST_TIMEOUT) bounds of every upstream request
    of one event loop, on one timer.

    aiohttp would arm a timer per request for `total` and one for `sock_read`, cancelled and
    re-armed on every network read: heap work and timer handles costing about 4% of a small
    request's CPU. This looks at the requests in flight every quarter of their idle period (at
    most every second) while any is in flight, so a bound is noticed up to one step late: a
    request waiting for its answer ends as a TimeoutError, one being read with aiohttp's own
    `SocketTimeoutError` (idle) or `ServerTimeoutError` (total); both become a 504 (an error
    event once a stream has started).
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.watches: list[Watch] = []
        self.handle: asyncio.TimerHandle | None = None
        self.step = MAX_STEP

    @staticmethod
    def of_running_loop() -> UpstreamClock:
        """The running loop's clock (made when the loop's first upstream request starts)."""
        loop = asyncio.get_running_loop()
        clock = _CLOCKS.get(loop)
        if clock is None:
            clock = _CLOCKS[loop] = UpstreamClock(loop)
        return clock

    def watch(self, bounds: Bounds) -> Watch:
        """Put the current task's upstream request on the clock."""
        loop = self.loop
        now = loop.time()
        watch = Watch(asyncio.current_task(), bounds, now)  # type: ignore[arg-type]
        self.watches.append(watch)
        handle = self.handle
        if handle is None or bounds.step < self.step:
            if handle is not None:
                handle.cancel()
            self.step = min(bounds.step, self.step) if handle is not None else bounds.step
            self.handle = loop.call_at(now + self.step, self._tick)
        return watch

    def _tick(self) -> None:
        now = self.loop.time()
        watches = [w for w in self.watches if w.check(now)]
        self.watches = watches
        if not watches:
            self.handle = None
            _CLOCKS.pop(self.loop, None)  # an idle loop keeps no clock (nor the loop alive)
            return
        self.step = min(w.bounds.step for w in watches)
        self.handle = self.loop.call_at(now + self.step, self._tick)


_CLOCKS: dict[asyncio.AbstractEventLoop, UpstreamClock] = {}
"""The clock of each loop with upstream requests in flight (proxies in several threads)."""


async def read_json(response: UpstreamResponse, target: Target) -> dict[str, Any]:
    """A non-streaming JSON answer as a dict, or a 502 that says what came instead."""
    with http_errors(target):
        raw = await read_capped(response, MAX_ANSWER_BYTES, target)
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        kind = (
            "HTML"
            if raw.lstrip().startswith(b"<")
            else "an invalid body"
            if raw
            else "an empty body"
        )
        raise ProxyError(
            502, "api_error", f"{target.provider} upstream returned {kind}, not JSON"
        ) from None
    if not isinstance(data, dict):
        raise ProxyError(
            502, "api_error", f"{target.provider} upstream returned JSON that is not an object"
        )
    return data


def require_sse(response: UpstreamResponse, target: Target, *, strict: bool) -> None:
    """Refuse a 200 that is not an event stream: HTML always; anything else when `strict`.

    OpenAI-compatible servers label their streams loosely, so only HTML (a captive portal, a
    gateway's error page) is refused for them; Anthropic's bytes are relayed as they are, so
    they must be SSE.
    """
    ctype = response.headers.get("Content-Type", "")
    if "text/html" in ctype or (strict and not ctype.startswith("text/event-stream")):
        raise ProxyError(
            502,
            "api_error",
            f"{target.provider} upstream answered {ctype or 'no content type'}, not an SSE stream",
        )
