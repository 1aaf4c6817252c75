"""The upstream HTTP/1.1 client: one write per POST on a kept connection, the answer read by
the proxy's own protocol (`answer.AnswerProtocol`).

aiohttp's ClientSession serves every case (proxies, cookies, redirects, traces, multipart): per
request it builds a ClientRequest, its headers, a body payload and writer, and a ClientResponse,
through a connector: about 2,000 bytecodes, a quarter of a plain relay's work for a Claude Code
request. The proxy only POSTs JSON to a few upstreams, so this writes the request head and body
itself and reads the answer with `AnswerProtocol` (chunked and length bodies, gzip and deflate,
flow control, the errors of a connection that breaks, as aiohttp's exception types). Like the
session it replaces it ignores proxy environment variables, and like aiohttp's POST it never
resends a request; a redirect is answered as the upstream's error (a POST redirected is a base URL
to correct).
"""

from __future__ import annotations

import asyncio
import ssl
import threading
from functools import partial
from typing import NamedTuple

import aiohttp
from aiohttp.http import SERVER_SOFTWARE
from multidict import CIMultiDictProxy
from yarl import URL

from proxy.upstreams.answer import AnswerBody, AnswerError, AnswerProtocol

KEEPALIVE = 15.0
"""Seconds an idle connection is kept for the next request (aiohttp's default)."""
HAPPY_EYEBALLS_DELAY = 0.25
"""Seconds before a second address is tried alongside the first (aiohttp's default)."""
DEFAULT_HEADERS = {
    "accept": "Accept: */*\r\n",
    "accept-encoding": "Accept-Encoding: gzip, deflate\r\n",
    "user-agent": f"User-Agent: {SERVER_SOFTWARE}\r\n",
}
"""What aiohttp sent unless the request said otherwise (the answer is inflated as it comes)."""


_tls: ssl.SSLContext | None = None
_tls_lock = threading.Lock()


def tls_context() -> ssl.SSLContext:
    """The verified client context: the system's CAs (SSL_CERT_FILE honoured), HTTP/1.1 by ALPN.

    Made on first use, not at import: reading the CAs takes ~25 ms that start-up need not wait
    for (the server makes it on a worker thread as the port opens).
    """
    global _tls
    context = _tls
    if context is None:
        made = ssl.create_default_context()
        made.set_alpn_protocols(("http/1.1",))
        with _tls_lock:  # the warm-up thread and the loop may both get here: the first one wins
            if _tls is None:
                _tls = made
            context = _tls
    return context


class ConnectFailed(aiohttp.ClientConnectionError):
    """No connection to the upstream (refused, unreachable, name unknown, TLS refused)."""

    def __init__(self, os_error: OSError) -> None:
        super().__init__(os_error)
        self.os_error = os_error


class HeaderLineBreak(ValueError):
    """A header value holds CR or LF: sent, it would start a header (or request) of its own."""


class BadAnswer(aiohttp.ClientError):
    """The upstream's answer is not HTTP the parser accepts."""


class Endpoint(NamedTuple):
    """Where one URL's requests go, and the start of their head."""

    key: tuple[str, int, bool]
    """Connections are kept per (host, port, TLS)."""
    host: str
    port: int
    tls: bool
    head: str
    """The request line and the Host (and URL credentials') header."""


_ENDPOINTS: dict[str, Endpoint] = {}
MAX_ENDPOINTS = 256


def endpoint(url: str) -> Endpoint:
    """The endpoint of an upstream URL (parsed once per URL)."""
    known = _ENDPOINTS.get(url)
    if known is not None:
        return known
    parsed = URL(url)
    host = parsed.raw_host
    if parsed.scheme not in ("http", "https") or not host:
        raise aiohttp.InvalidURL(url)
    tls = parsed.scheme == "https"
    port = parsed.port or (443 if tls else 80)
    head = f"POST {parsed.raw_path_qs} HTTP/1.1\r\nHost: {parsed.host_port_subcomponent}\r\n"
    if parsed.user is not None:
        auth = aiohttp.BasicAuth(parsed.user, parsed.password or "").encode()
        head += f"Authorization: {auth}\r\n"
    if len(_ENDPOINTS) >= MAX_ENDPOINTS:
        _ENDPOINTS.clear()
    found = _ENDPOINTS[url] = Endpoint((host, port, tls), host, port, tls, head)
    return found


_DEFAULTS: dict[tuple[str, ...], str] = {}


def _defaults_for(names: tuple[str, ...]) -> str:
    # The default headers a request with these header names lacks (computed once per set).
    known = _DEFAULTS.get(names)
    if known is None:
        present = {name.lower() for name in names}
        known = "".join(line for key, line in DEFAULT_HEADERS.items() if key not in present)
        if len(_DEFAULTS) >= MAX_ENDPOINTS:
            _DEFAULTS.clear()
        _DEFAULTS[names] = known
    return known


def request_head(end: Endpoint, headers: dict[str, str], length: int) -> bytes:
    """The bytes before the body: request line, headers, length (HeaderLineBreak if a value
    holds a line break)."""
    lines = [f"{name}: {value}\r\n" for name, value in headers.items()]
    text = "".join(lines)
    # A value with a line break would start a header (or a request) of its own.
    if text.count("\n") != len(lines) or text.count("\r") != len(lines):
        raise HeaderLineBreak("an upstream header holds a line break")
    return (
        f"{end.head}{text}{_defaults_for(tuple(headers))}Content-Length: {length}\r\n\r\n"
    ).encode()


class UpstreamResponse:
    """An upstream's answer: status, headers and the body as it comes (`AnswerBody`).

    Its connection goes back to the pool when the body ends; `release` before that closes it.
    """

    __slots__ = ("content", "headers", "pool", "protocol", "status")

    def __init__(
        self,
        pool: UpstreamPool,
        protocol: AnswerProtocol,
        status: int,
        headers: CIMultiDictProxy[str],
        content: AnswerBody,
    ) -> None:
        self.pool = pool
        self.protocol: AnswerProtocol | None = protocol
        self.status, self.headers, self.content = status, headers, content

    @property
    def closed(self) -> bool:
        """True once the connection is no longer this answer's (body ended, or released)."""
        return self.protocol is None

    @property
    def content_length(self) -> int | None:
        """The Content-Length the upstream declared, if any."""
        length = self.headers.get("Content-Length")
        return int(length) if length is not None and length.isdigit() else None

    async def read(self) -> bytes:
        """The whole body."""
        content = self.content
        if content.is_eof() and content.exception() is None:
            return content.read_nowait()  # all in already (most answers): no wait, no loop
        return await content.read()

    def body_ended(self) -> None:
        """The body's end arrived: the connection serves the next request."""
        protocol = self.protocol
        if protocol is not None:
            self.protocol = None
            self.pool.keep(protocol)

    def release(self) -> None:
        """Done with the answer: a connection whose body has not ended is closed."""
        protocol = self.protocol
        if protocol is not None:
            self.protocol = None
            self.pool.discard(protocol)

    def fail(self, error: Exception) -> None:
        """End the answer with `error` (the reader raises it), e.g. a timeout."""
        protocol = self.protocol
        if protocol is not None:
            protocol.set_exception(error)
        self.content.set_exception(error)

    async def __aenter__(self) -> UpstreamResponse:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.release()


class UpstreamPool:
    """Kept connections to the upstreams of one event loop, and the POST that uses them."""

    def __init__(self) -> None:
        self.idle: dict[tuple[str, int, bool], list[tuple[AnswerProtocol, float]]] = {}
        self.keys: dict[AnswerProtocol, tuple[str, int, bool]] = {}
        self.closed = False
        self.opened = 0
        """Connections opened (for tests and the benchmark: reuse shows as no new ones)."""

    async def post(
        self, url: str, headers: dict[str, str], body: bytes, connect_timeout: float
    ) -> UpstreamResponse:
        """POST `body` to `url`; the answer once its status line and headers are in."""
        end = _ENDPOINTS.get(url) or endpoint(url)
        head = request_head(end, headers, len(body))
        protocol = self._idle(end.key)
        if protocol is None:
            protocol = await self._connect(end, connect_timeout)
        try:
            code, answer_headers, payload = await protocol.send(head + body)
        except AnswerError as exc:
            self.discard(protocol)
            raise BadAnswer(f"invalid HTTP answer: {exc}") from None
        except BaseException:
            self.discard(protocol)  # cancelled or broken mid-answer: the connection is unusable
            raise
        response = UpstreamResponse(self, protocol, code, answer_headers, payload)
        payload.on_eof(response.body_ended)
        return response

    def _idle(self, key: tuple[str, int, bool]) -> AnswerProtocol | None:
        kept = self.idle.get(key)
        if not kept:
            return None
        oldest = asyncio.get_running_loop().time() - KEEPALIVE
        while kept:
            protocol, since = kept.pop()
            if since > oldest and protocol.is_connected() and not protocol.should_close:
                return protocol
            self.discard(protocol)
        return None

    async def _connect(self, end: Endpoint, timeout: float) -> AnswerProtocol:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                _, protocol = await loop.create_connection(
                    partial(AnswerProtocol, loop),
                    end.host,
                    end.port,
                    ssl=tls_context() if end.tls else None,
                    server_hostname=end.host if end.tls else None,
                    happy_eyeballs_delay=HAPPY_EYEBALLS_DELAY,
                )
        except TimeoutError:
            raise
        except OSError as exc:
            raise ConnectFailed(exc) from None
        self.keys[protocol] = end.key
        self.opened += 1
        return protocol

    def keep(self, protocol: AnswerProtocol) -> None:
        """Take back a connection whose answer ended: kept for the next request, or closed."""
        key = self.keys.get(protocol)
        if key is None or self.closed or protocol.should_close or not protocol.is_connected():
            self.discard(protocol)
            return
        now = asyncio.get_running_loop().time()
        kept = self.idle.setdefault(key, [])
        kept.append((protocol, now))
        # Requests take the newest: the oldest, idle past KEEPALIVE, are closed here (after a
        # burst of concurrent streams, their sockets would otherwise stay open).
        while kept[0][1] < now - KEEPALIVE:
            self.discard(kept.pop(0)[0])

    def discard(self, protocol: AnswerProtocol) -> None:
        """Close a connection for good (its answer unread, or not to be kept)."""
        self.keys.pop(protocol, None)
        # Aborted, not closed: the rest of a body is unwanted, and a TLS goodbye the peer
        # never answers would hold the socket.
        protocol.abort()

    async def close(self) -> None:
        """Close every kept connection; none is kept after this."""
        self.closed = True
        for kept in self.idle.values():
            for protocol, _ in kept:
                self.discard(protocol)
        self.idle.clear()
        for protocol in list(self.keys):
            self.discard(protocol)
        await asyncio.sleep(0)  # let the transports' close callbacks run
