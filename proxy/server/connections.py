"""The connection layer under the app: timeouts, and envelopes for requests aiohttp cannot parse.

aiohttp answers a request it cannot parse (a URL over its line limit, a broken header) itself, in
plain text, before any middleware runs. Clients of this proxy expect the Anthropic envelope
everywhere, so the runner swaps in a request handler whose `handle_error` writes one.

Timeouts: aiohttp's keep-alive timer starts when a connection opens and is re-armed after each
response, and closes the connection when it fires while the server still waits for a request.
So `keepalive_timeout` bounds both an idle keep-alive connection and a client that trickles its
request headers (aiohttp has no separate header-read timeout). The body has its own deadline,
applied where it is read (`messages.read_json`).
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError, LineTooLong
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest

from proxy.core.errors import error_envelope

log = logging.getLogger("proxy")

MAX_LINE_SIZE = 8190
"""aiohttp's default limit on the request line and on each header, kept explicit here."""
LINGERING_TIME = 2.0
"""Seconds the server keeps reading a body it refused (413, 408) so the client sees the answer;
aiohttp's default of 10 s would let a slow-body client hold the connection that much longer."""


def parse_error_message(status: int, exc: BaseException | None) -> tuple[str, str]:
    """(error type, message) for a request aiohttp refused before routing it."""
    if isinstance(exc, LineTooLong):
        return (
            "invalid_request_error",
            f"the request line or a header is longer than {MAX_LINE_SIZE} bytes",
        )
    if isinstance(exc, HttpProcessingError):
        detail = (exc.message or "").splitlines()[0][:200] if exc.message else ""
        # Bytes from the wire may be anything: keep the message ASCII.
        detail = detail.encode("ascii", "backslashreplace").decode()
        return "invalid_request_error", f"malformed HTTP request: {detail or 'cannot parse'}"
    if status >= 500:
        return "api_error", "internal proxy error (see the proxy log)"
    return "invalid_request_error", f"HTTP {status}"


class EnvelopeRequestHandler(RequestHandler):
    """aiohttp's connection handler, answering its own errors with the Anthropic envelope."""

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        """The envelope instead of aiohttp's text page; the connection is closed after it."""
        if request.writer.output_size > 0:
            raise ConnectionError("response already started; cannot send an error envelope")
        error_type, text = parse_error_message(status, exc)
        log.warning("%s: %d %s", request.remote, status, text)
        response = web.Response(
            status=status,
            body=orjson.dumps(error_envelope(error_type, text)),
            content_type="application/json",
        )
        response.force_close()
        return response


class EnvelopeServer(web.Server):
    """A Server whose connections use EnvelopeRequestHandler."""

    def __call__(self) -> RequestHandler:
        """One handler per accepted connection (what aiohttp's Server does, with our class)."""
        return EnvelopeRequestHandler(self, loop=self._loop, **self._kwargs)


class ProxyAppRunner(web.AppRunner):
    """AppRunner with the envelope handler. Reaches into `_make_server`: see the pinning test."""

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        # Same class layout (no slots added): only __call__ differs.
        server.__class__ = EnvelopeServer
        return server


def runner_for(app: web.Application, keepalive_timeout: float, **kwargs: Any) -> ProxyAppRunner:
    """The runner the proxy serves with: envelope errors, bounded idle and header time."""
    return ProxyAppRunner(
        app,
        keepalive_timeout=keepalive_timeout,
        max_line_size=MAX_LINE_SIZE,
        max_field_size=MAX_LINE_SIZE,
        lingering_time=LINGERING_TIME,
        **kwargs,
    )
