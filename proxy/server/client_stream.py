"""The SSE response to the client, opened only once the upstream has answered 200."""

from __future__ import annotations

from collections.abc import Awaitable

from aiohttp import web

from proxy.server.keys import RESPONSE_HEADERS, SERVICE
from proxy.translate.sse import error_frame

SSE_HEADERS = {
    "Content-Type": "text/event-stream; charset=utf-8",
    "Cache-Control": "no-cache",
    "Connection": "keep-alive",
    "X-Accel-Buffering": "no",
}


class _SseResponse(web.StreamResponse):
    """A StreamResponse whose status line and headers go out with its first bytes.

    aiohttp's StreamResponse sends them alone at `prepare` (`web.Response` already waits): one
    more send to the client per stream, ~5 us of CPU on loopback. The stream is opened only with
    its first frames in hand, so nothing reaches the client later than before.
    `tests/proxy/test_client_stream_writes.py` fails loudly if aiohttp renames the switch.
    """

    _send_headers_immediately = False


class ClientStream:
    """Lazily prepared StreamResponse; errors before `open` stay plain HTTP errors."""

    def __init__(self, request: web.Request, extra_headers: dict[str, str] | None = None) -> None:
        self.request = request
        self.response: web.StreamResponse | None = None
        # Set by dispatch: request-id and which model answered.
        self.extra_headers = {**request.get(RESPONSE_HEADERS, {}), **(extra_headers or {})}

    @property
    def started(self) -> bool:
        """True once headers went to the client (from then on errors are SSE error frames)."""
        return self.response is not None

    async def open(self, first: bytes = b"", *, last: bool = False) -> None:
        """Send status 200 and the SSE headers, with the first frames in the same write (and
        the stream's end too when `last`)."""
        response = _SseResponse(status=200, headers={**SSE_HEADERS, **self.extra_headers})
        response.enable_chunked_encoding()
        await response.prepare(self.request)
        self.response = response
        if last:
            await response.write_eof(first)
        elif first:
            await response.write(first)

    def write(self, data: bytes) -> Awaitable[None]:
        """Send bytes as they are (the response's own write, without a coroutine around it:
        this runs once per upstream read)."""
        assert self.response is not None
        return self.response.write(data)

    async def end(self, last: bytes) -> None:
        """Send the stream's last bytes and its end in one write (`close` is then a no-op)."""
        assert self.response is not None
        await self.response.write_eof(last)

    async def fail(self, error_type: str, message: str) -> None:
        """End the stream with an `event: error` frame."""
        if self.response is None:
            await self.open()
        assert self.response is not None
        message = self.request.app[SERVICE].redact(message)
        await self.response.write(error_frame(error_type, message))

    async def close(self) -> web.StreamResponse:
        """Finish the response."""
        assert self.response is not None
        await self.response.write_eof()
        return self.response
