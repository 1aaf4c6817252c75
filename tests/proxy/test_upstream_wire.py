"""The upstream HTTP/1.1 client (`proxy.upstreams.wire`): what it writes, how it reads what real
servers send (chunked, gzip, 1xx, broken HTTP, TLS), and when a connection is kept or dropped."""

from __future__ import annotations

import asyncio
import base64
import shutil
import ssl
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from proxy.core.errors import ProxyError
from proxy.routing.model_map import Target
from proxy.upstreams import wire
from proxy.upstreams.http import http_errors
from proxy.upstreams.wire import (
    BadAnswer,
    ConnectFailed,
    HeaderLineBreak,
    UpstreamPool,
)
from tests.support.local_server import send_in_pieces, serve_app

DIRECT_TARGET = Target("claude", "openai/gpt-4.1", "openai", "gpt-4.1", "openai", None, None)


class RawServer:
    """A TCP server scripted byte by byte; it keeps every request head it read."""

    def __init__(self, answer: Callable[[int], bytes], close_after: bool = False) -> None:
        self.answer, self.close_after = answer, close_after
        self.heads: list[bytes] = []
        self.bodies: list[bytes] = []
        self.connections = 0
        self.base = ""

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                self.heads.append(head)
                self.bodies.append(await reader.readexactly(length))
                writer.write(self.answer(len(self.heads)))
                await writer.drain()
                if self.close_after:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()


@pytest.fixture
async def raw() -> AsyncIterator[Callable[..., Awaitable[RawServer]]]:
    servers: list[asyncio.Server] = []

    async def start(answer: Callable[[int], bytes], close_after: bool = False) -> RawServer:
        server = RawServer(answer, close_after)
        listening = await asyncio.start_server(server.handle, "127.0.0.1", 0)
        servers.append(listening)
        port = listening.sockets[0].getsockname()[1]
        server.base = f"http://127.0.0.1:{port}"
        return server

    yield start
    for listening in servers:
        listening.close()


@pytest.fixture
async def pool() -> AsyncIterator[UpstreamPool]:
    made = UpstreamPool()
    yield made
    await made.close()


def pool_stats(pool: UpstreamPool) -> dict[str, int]:
    """Open, idle and ever-opened connections."""
    return {
        "open": len(pool.keys),
        "idle": sum(len(kept) for kept in pool.idle.values()),
        "opened": pool.opened,
    }


def ok(body: bytes = b"ok", extra: str = "") -> Callable[[int], bytes]:
    """An answer with Content-Length, the same each time."""
    head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n{extra}\r\n".encode()
    return lambda _n: head + body


async def _read(pool: UpstreamPool, url: str, headers: dict[str, str] | None = None) -> bytes:
    response = await pool.post(url, headers or {}, b'{"a":1}', 5.0)
    async with response:
        assert response.status == 200
        return await response.read()


async def test_the_request_as_written(
    raw: Callable[..., Awaitable[RawServer]], pool: UpstreamPool
) -> None:
    server = await raw(ok())
    url = server.base + "/v1/chat/completions?beta=true"
    assert await _read(pool, url, {"Content-Type": "application/json", "X-Key": "k"}) == b"ok"
    lines = server.heads[0].decode().split("\r\n")
    assert lines[0] == "POST /v1/chat/completions?beta=true HTTP/1.1"
    port = server.base.rsplit(":", 1)[1]
    assert f"Host: 127.0.0.1:{port}" in lines
    assert "Content-Type: application/json" in lines and "X-Key: k" in lines
    assert "Content-Length: 7" in lines
    assert "Accept-Encoding: gzip, deflate" in lines and "Accept: */*" in lines
    assert any(line.startswith("User-Agent: Python/") for line in lines)
    assert server.bodies == [b'{"a":1}']


async def test_a_header_the_request_sets_replaces_the_default(
    raw: Callable[..., Awaitable[RawServer]], pool: UpstreamPool
) -> None:
    server = await raw(ok())
    await _read(pool, server.base + "/x", {"user-agent": "mine", "Accept": "application/json"})
    lines = server.heads[0].decode().split("\r\n")
    assert [line for line in lines if line.lower().startswith("user-agent")] == ["user-agent: mine"]
    assert [line for line in lines if line.lower().startswith("accept:")] == [
        "Accept: application/json"
    ]


async def test_credentials_in_the_url_become_basic_auth(
    raw: Callable[..., Awaitable[RawServer]], pool: UpstreamPool
) -> None:
    server = await raw(ok())
    await _read(pool, server.base.replace("//", "//user:pw@") + "/x")
    expected = base64.b64encode(b"user:pw").decode()
    assert f"Authorization: Basic {expected}" in server.heads[0].decode().split("\r\n")


@pytest.mark.parametrize("value", ["a\r\nX-Injected: 1", "a\nb", "a\rb"])
async def test_a_header_with_a_line_break_is_never_sent(
    raw: Callable[..., Awaitable[RawServer]], pool: UpstreamPool, value: str
) -> None:
    server = await raw(ok())
    with pytest.raises(HeaderLineBreak):
        await pool.post(server.base + "/x", {"Authorization": value}, b"{}", 5.0)
    assert server.connections == 0


async def test_one_connection_serves_request_after_request(
    raw: Callable[..., Awaitable[RawServer]], pool: UpstreamPool
) -> None:
    server = await raw(ok())
    for _ in range(5):
        assert await _read(pool, server.base + "/x") == b"ok"
    assert server.connections == 1
    assert pool_stats(pool) == {"open": 1, "idle": 1, "opened": 1}


async def test_connection_close_is_honoured(
    raw: Callable[..., Awaitable[RawServer]], pool: UpstreamPool
) -> None:
    server = await raw(ok(extra="Connection: close\r\n"), close_after=True)
    for _ in range(3):
        assert await _read(pool, server.base + "/x") == b"ok"
    assert server.connections == 3
    assert pool_stats(pool)["idle"] == 0


async def test_a_connection_the_server_closed_while_idle_is_not_reused(
    raw: Callable[..., Awaitable[RawServer]], pool: UpstreamPool
) -> None:
    # The server says keep-alive but closes after each answer (an idle timeout of zero).
    server = await raw(ok(), close_after=True)
    for _ in range(3):
        assert await _read(pool, server.base + "/x") == b"ok"
        await asyncio.sleep(0.05)  # the close reaches the client before its next request
    assert server.connections == 3


async def test_an_idle_connection_past_the_keepalive_is_not_reused(
    raw: Callable[..., Awaitable[RawServer]], pool: UpstreamPool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(wire, "KEEPALIVE", 0.0)
    server = await raw(ok())
    await _read(pool, server.base + "/x")
    await _read(pool, server.base + "/x")
    assert server.connections == 2
    assert pool_stats(pool)["open"] == 1


async def test_a_chunked_gzip_answer_arrives_inflated(pool: UpstreamPool) -> None:
    text = b'{"answer": "' + b"word " * 5000 + b'"}'

    async def handle(request: web.Request) -> web.StreamResponse:
        await request.read()
        response = web.StreamResponse()
        response.enable_compression(web.ContentCoding.gzip)
        response.enable_chunked_encoding()
        return await send_in_pieces(request, response, text)

    base = f"http://127.0.0.1:{await _serve(handle)}"
    response = await pool.post(base + "/x", {}, b"{}", 5.0)
    async with response:
        assert response.headers["Content-Encoding"] == "gzip"
        assert await response.read() == text
    assert await _read_text(pool, base) == text  # and the connection served again
    assert pool.opened == 1


async def _read_text(pool: UpstreamPool, base: str) -> bytes:
    response = await pool.post(base + "/x", {}, b"{}", 5.0)
    async with response:
        return await response.read()


async def test_informational_answers_before_the_answer_are_skipped(
    raw: Callable[..., Awaitable[RawServer]], pool: UpstreamPool
) -> None:
    early = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
    server = await raw(lambda n: early + ok()(n))
    assert await _read(pool, server.base + "/x") == b"ok"
    assert await _read(pool, server.base + "/x") == b"ok"
    assert server.connections == 1


async def test_an_answer_that_is_not_http_is_a_502(
    raw: Callable[..., Awaitable[RawServer]], pool: UpstreamPool
) -> None:
    server = await raw(lambda _n: b"SSH-2.0-OpenSSH_9.6\r\n\r\n", close_after=True)
    with pytest.raises(ProxyError) as failure, http_errors(DIRECT_TARGET):
        await pool.post(server.base + "/x", {}, b"{}", 5.0)
    assert failure.value.status == 502
    assert "invalid HTTP answer" in failure.value.message
    assert pool_stats(pool)["open"] == 0
    with pytest.raises(BadAnswer):
        await pool.post(server.base + "/x", {}, b"{}", 5.0)


async def test_nothing_listening_is_a_502_that_says_so(pool: UpstreamPool) -> None:
    listening = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = listening.sockets[0].getsockname()[1]
    listening.close()
    await listening.wait_closed()
    with pytest.raises(ConnectFailed) as refused:
        await pool.post(f"http://127.0.0.1:{port}/x", {}, b"{}", 5.0)
    assert isinstance(refused.value.os_error, ConnectionRefusedError)
    with pytest.raises(ProxyError) as failure, http_errors(DIRECT_TARGET):
        await pool.post(f"http://127.0.0.1:{port}/x", {}, b"{}", 5.0)
    assert failure.value.status == 502
    assert failure.value.message.startswith("cannot connect to")


async def test_a_url_that_is_not_http_is_refused(pool: UpstreamPool) -> None:
    with pytest.raises(aiohttp.InvalidURL):
        await pool.post("ftp://127.0.0.1/x", {}, b"{}", 5.0)


async def test_an_answer_released_midway_closes_its_connection(pool: UpstreamPool) -> None:
    async def handle(request: web.Request) -> web.StreamResponse:
        await request.read()
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(b"data: 1\n\n")
        await asyncio.sleep(30)
        return response

    base = f"http://127.0.0.1:{await _serve(handle)}"
    response = await pool.post(base + "/x", {}, b"{}", 5.0)
    assert await response.content.readany() == b"data: 1\n\n"
    response.release()
    assert response.closed
    assert pool_stats(pool) == {"open": 0, "idle": 0, "opened": 1}


async def test_closing_the_pool_closes_its_idle_connections(
    raw: Callable[..., Awaitable[RawServer]],
) -> None:
    pool = UpstreamPool()
    server = await raw(ok())
    await _read(pool, server.base + "/x")
    await pool.close()
    assert pool_stats(pool) == {"open": 0, "idle": 0, "opened": 1}


_SERVERS: list[web.AppRunner] = []


async def _serve(
    handle: Callable[[web.Request], Awaitable[web.StreamResponse]],
    ssl_context: ssl.SSLContext | None = None,
) -> int:
    app = web.Application()
    app.router.add_post("/x", handle)
    runner, port = await serve_app(app, ssl_context, shutdown_timeout=0.1)
    _SERVERS.append(runner)
    return port


@pytest.fixture(autouse=True)
async def _cleanup_servers() -> AsyncIterator[None]:
    yield
    while _SERVERS:
        await _SERVERS.pop().cleanup()


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost (openssl's command line)."""
    if shutil.which("openssl") is None:
        pytest.skip("no openssl command to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


async def test_tls_with_a_trusted_certificate_and_refused_otherwise(
    certificate: tuple[Path, Path], pool: UpstreamPool, monkeypatch: pytest.MonkeyPatch
) -> None:
    cert, key = certificate
    served = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    served.load_cert_chain(cert, key)

    async def handle(request: web.Request) -> web.Response:
        return web.Response(body=b"secure " + await request.read())

    port = await _serve(handle, served)

    # The system's CAs do not know this certificate: refused, never sent.
    with pytest.raises(ConnectFailed) as refused:
        await pool.post(f"https://localhost:{port}/x", {}, b"{}", 5.0)
    assert isinstance(refused.value.os_error, ssl.SSLCertVerificationError)

    trusting = ssl.create_default_context(cafile=str(cert))
    monkeypatch.setattr(wire, "_tls", trusting)
    for host in ("localhost", "127.0.0.1"):
        for _ in range(2):
            response = await pool.post(f"https://{host}:{port}/x", {}, b"{}", 5.0)
            async with response:
                assert await response.read() == b"secure {}"
    assert pool.opened == 2  # one per host, each reused


async def test_a_body_without_length_runs_to_the_connections_end(
    raw: Callable[..., Awaitable[RawServer]], pool: UpstreamPool
) -> None:
    # HTTP/1.0-style streaming (simple local servers): no Content-Length, no chunks, then close.
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n"
    frames = b"data: 1\n\ndata: 2\n\ndata: [DONE]\n\n"
    server = await raw(lambda _n: head + frames, close_after=True)
    response = await pool.post(server.base + "/x", {}, b"{}", 5.0)
    async with response:
        assert await response.read() == frames
    assert pool_stats(pool)["idle"] == 0  # its end was the connection's: not kept


async def test_connections_idle_past_the_keepalive_are_closed_when_one_comes_back(
    raw: Callable[..., Awaitable[RawServer]], pool: UpstreamPool
) -> None:
    """After a burst of concurrent requests, steady traffic reuses the newest connection; the
    others are closed once idle past KEEPALIVE (when an answer ends), not kept open for good."""
    server = await raw(ok())
    await asyncio.gather(*(_read(pool, server.base + "/x") for _ in range(4)))
    assert pool_stats(pool) == {"open": 4, "idle": 4, "opened": 4}
    (kept,) = pool.idle.values()
    # The three oldest idle for longer than KEEPALIVE (aged by hand: no wall-time race).
    kept[:3] = [(protocol, since - wire.KEEPALIVE - 1) for protocol, since in kept[:3]]
    await _read(pool, server.base + "/x")  # the newest, still fresh, serves it
    assert pool_stats(pool) == {"open": 1, "idle": 1, "opened": 4}


def test_the_tls_context_is_made_on_first_use_not_at_import() -> None:
    # Reading the system's CAs costs ~25 ms that start-up (the port opening) must not wait for.
    probe = (
        "import proxy.upstreams.wire as w\n"
        "assert w._tls is None\n"
        "assert w.tls_context() is w.tls_context()\n"
    )
    root = Path(__file__).resolve().parents[2]
    subprocess.run([sys.executable, "-c", probe], check=True, timeout=60, cwd=root)
