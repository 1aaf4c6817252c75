"""The upstream answer reader (`proxy.upstreams.answer`) held to aiohttp's own HTTP client parser.

Each answer (chunked with extensions and trailers, a length, gzip, deflate with and without
zlib's header, 1xx first, a body to the connection's end, broken framing) is cut into reads at
random points and fed to both `AnswerProtocol` and aiohttp's `ResponseHandler` (the C parser the
proxy used before): status, headers, body and failure must agree.
"""

from __future__ import annotations

import asyncio
import gzip
import random
import zlib
from typing import Any

import aiohttp
import pytest
from aiohttp.client_proto import ResponseHandler

from proxy.upstreams.answer import HIGH_WATER, MAX_INFLATED_READ, AnswerError, AnswerProtocol

SEED_CASES = 300


class FakeTransport(asyncio.Transport):
    """Records what a protocol asks of its socket."""

    def __init__(self) -> None:
        super().__init__()
        self.paused = False
        self.aborted = False

    def is_closing(self) -> bool:
        return self.aborted

    def pause_reading(self) -> None:
        self.paused = True

    def resume_reading(self) -> None:
        self.paused = False

    def write(self, data: Any) -> None:
        pass

    def abort(self) -> None:
        self.aborted = True

    def close(self) -> None:
        self.aborted = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default


def chunked(body: bytes, rng: random.Random, trailers: bool = False) -> bytes:
    """`body` in chunks of random sizes, some with extensions."""
    out, pos = [], 0
    while pos < len(body):
        size = rng.randint(1, max(1, min(len(body) - pos, rng.choice((3, 40, 900)))))
        ext = b";name=value" if rng.random() < 0.1 else b""
        out.append(b"%x%s\r\n%s\r\n" % (size, ext, body[pos : pos + size]))
        pos += size
    out.append(b"0\r\n" + (b"X-Checksum: abc\r\n" if trailers else b"") + b"\r\n")
    return b"".join(out)


def answers(rng: random.Random) -> list[tuple[str, bytes, bool]]:
    """(name, bytes on the wire, whether the connection closes after them)."""
    sse = b"".join(
        b'data: {"choices":[{"delta":{"content":"w%d "}}]}\n\n' % i
        for i in range(rng.randint(1, 60))
    )
    json_body = b'{"id":"x","content":"' + b"a" * rng.randint(0, 5000) + b'"}'
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
    deflated = zlib.compress(json_body)
    raw = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    raw_deflated = raw.compress(json_body) + raw.flush()
    return [
        ("chunked", head + b"Transfer-Encoding: chunked\r\n\r\n" + chunked(sse, rng), False),
        (
            "trailers",
            head + b"Transfer-Encoding: chunked\r\n\r\n" + chunked(sse, rng, trailers=True),
            False,
        ),
        (
            "length",
            b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(json_body), json_body),
            False,
        ),
        ("empty", b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", False),
        ("no content", b"HTTP/1.1 204 No Content\r\n\r\n", False),
        (
            "gzip chunked",
            b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n"
            + chunked(gzip.compress(sse), rng),
            False,
        ),
        (
            "deflate",
            b"HTTP/1.1 200 OK\r\nContent-Encoding: deflate\r\nContent-Length: %d\r\n\r\n%s"
            % (len(deflated), deflated),
            False,
        ),
        (
            "raw deflate",
            b"HTTP/1.1 200 OK\r\nContent-Encoding: deflate\r\nContent-Length: %d\r\n\r\n%s"
            % (len(raw_deflated), raw_deflated),
            False,
        ),
        (
            "gzip members",
            b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n"
            + chunked(
                gzip.compress(sse[: len(sse) // 2]) + gzip.compress(sse[len(sse) // 2 :]), rng
            ),
            False,
        ),
        (
            "deflate cut short",
            b"HTTP/1.1 200 OK\r\nContent-Encoding: deflate\r\nContent-Length: %d\r\n\r\n%s"
            % (len(deflated) - 4, deflated[:-4]),
            True,  # aiohttp waits for more otherwise
        ),
        (
            "continue first",
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 429 Too Many Requests\r\nRetry-After: 3\r\n"
            b"Content-Length: 2\r\n\r\n{}",
            False,
        ),
        ("to the end", b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n" + sse, True),
        ("http/1.0", b"HTTP/1.0 200 OK\r\n\r\n" + sse, True),
        (
            "repeated headers",
            b"HTTP/1.1 400 Bad Request\r\nSet-Cookie: a=1\r\nset-cookie: b=2\r\nX-Empty:\r\n"
            b"Content-Length: 3\r\n\r\nbad",
            False,
        ),
        (
            "cut short",
            head + b"Transfer-Encoding: chunked\r\n\r\n" + chunked(sse, rng)[:-9],
            True,
        ),
        (
            "short length",
            b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(json_body) + 5, json_body),
            True,
        ),
        ("bad chunk size", head + b"Transfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n0\r\n\r\n", True),
        ("not http", b"SSH-2.0-OpenSSH_9.6\r\n\r\n", True),
    ]


def named(headers: Any) -> list[tuple[str, str]]:
    """Headers with their names in one case (both keep them case-insensitively)."""
    return [(name.lower(), value) for name, value in headers.items()]


def cuts(data: bytes, rng: random.Random) -> list[bytes]:
    points = sorted(rng.sample(range(1, len(data)), min(len(data) - 1, rng.randint(0, 6))))
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]


async def read_with_aiohttp(reads: list[bytes], closes: bool) -> tuple[Any, ...]:
    loop = asyncio.get_running_loop()
    protocol = ResponseHandler(loop)
    protocol.connection_made(FakeTransport())
    protocol.set_response_params(read_until_eof=True, auto_decompress=True)
    for data in reads:
        protocol.data_received(data)
    if closes:
        protocol.connection_lost(None)
    try:
        while True:
            message, payload = await protocol.read()
            if message.code > 199 or message.code == 101:
                break
        status, headers = message.code, named(message.headers)
    except Exception:
        return ("head failed",)
    try:
        return status, headers, await payload.read()
    except (aiohttp.ClientPayloadError, RuntimeError):  # RuntimeError: "Connection closed."
        return status, headers, "body failed"


async def read_with_ours(reads: list[bytes], closes: bool, stepwise: bool) -> tuple[Any, ...]:
    loop = asyncio.get_running_loop()
    protocol = AnswerProtocol(loop)
    protocol.connection_made(FakeTransport())
    waiter = protocol.send(b"POST / HTTP/1.1\r\n\r\n")
    got: list[bytes] = []
    failed = False
    for data in reads:
        protocol.data_received(data)
        if stepwise and waiter.done() and not waiter.exception() and not failed:
            body = waiter.result().body
            try:
                if body.is_eof() or body._pieces:
                    got.append(await body.readany())
            except aiohttp.ClientPayloadError:
                failed = True
    if closes:
        protocol.connection_lost(None)
    try:
        status, headers, body = await waiter
    except (AnswerError, aiohttp.ClientError):
        return ("head failed",)
    if failed:
        return status, named(headers), "body failed"
    try:
        return status, named(headers), b"".join(got) + await body.read()
    except aiohttp.ClientPayloadError:
        return status, named(headers), "body failed"


def outcome(result: tuple[Any, ...]) -> tuple[Any, ...]:
    """A failure is one outcome: aiohttp fails the head when the broken bytes come in the same
    read (the proxy answers 502 either way)."""
    return ("failed",) if result[-1] in ("head failed", "body failed") else result


@pytest.mark.parametrize("seed", range(SEED_CASES))
async def test_every_answer_cut_anywhere_reads_as_aiohttp_reads_it(seed: int) -> None:
    rng = random.Random(seed)
    for name, data, closes in answers(rng):
        reads = cuts(data, rng)
        expected = await asyncio.wait_for(read_with_aiohttp(reads, closes), 10)
        for stepwise in (False, True):
            got = await asyncio.wait_for(read_with_ours(reads, closes, stepwise), 10)
            assert outcome(got) == outcome(expected), (name, stepwise, [len(r) for r in reads])


async def test_a_body_past_the_high_water_pauses_reading_until_it_is_read() -> None:
    protocol = AnswerProtocol(asyncio.get_running_loop())
    transport = FakeTransport()
    protocol.connection_made(transport)
    waiter = protocol.send(b"")
    protocol.data_received(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
    body = (await waiter).body
    piece = b"x" * 4096
    for _ in range(HIGH_WATER // len(piece) + 1):
        protocol.data_received(b"%x\r\n%s\r\n" % (len(piece), piece))
    assert transport.paused
    assert len(await body.readany()) > HIGH_WATER
    assert not transport.paused


async def test_bytes_after_an_answer_keep_its_connection_from_reuse() -> None:
    protocol = AnswerProtocol(asyncio.get_running_loop())
    protocol.connection_made(FakeTransport())
    waiter = protocol.send(b"")
    protocol.data_received(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}HTTP/1.1 200 OK\r\n")
    head = await waiter
    assert await head.body.read() == b"{}"
    assert protocol.should_close


async def test_bare_line_feeds_are_taken() -> None:
    protocol = AnswerProtocol(asyncio.get_running_loop())
    protocol.connection_made(FakeTransport())
    waiter = protocol.send(b"")
    protocol.data_received(
        b"HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n5\nhello\n1;x\n!\n0\n\n"
    )
    head = await waiter
    assert await head.body.read() == b"hello!"
    assert not protocol.should_close
    # A head of bare line feeds ends at its own blank line, whatever CRLFs the body holds.
    waiter = protocol.send(b"")
    protocol.data_received(b"HTTP/1.1 200 OK\nContent-Length: 9\n\nab\r\n\r\ncde")
    head = await waiter
    assert head.headers["Content-Length"] == "9"
    assert await head.body.read() == b"ab\r\n\r\ncde"


async def test_a_compression_that_was_not_asked_for_is_refused() -> None:
    protocol = AnswerProtocol(asyncio.get_running_loop())
    protocol.connection_made(FakeTransport())
    waiter = protocol.send(b"")
    protocol.data_received(b"HTTP/1.1 200 OK\r\nContent-Encoding: br\r\nContent-Length: 1\r\n\r\nx")
    with pytest.raises(AnswerError, match="br, not asked for"):
        await waiter
    assert protocol.should_close


async def test_a_compression_bomb_is_refused_before_it_is_inflated() -> None:
    protocol = AnswerProtocol(asyncio.get_running_loop())
    protocol.connection_made(FakeTransport())
    waiter = protocol.send(b"")
    bomb = gzip.compress(b"\0" * (MAX_INFLATED_READ + 1), compresslevel=9)
    protocol.data_received(
        b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n%s"
        % (len(bomb), bomb)
    )
    head = await waiter
    with pytest.raises(aiohttp.ClientPayloadError, match="inflates past"):
        await head.body.read()
    assert protocol.should_close
