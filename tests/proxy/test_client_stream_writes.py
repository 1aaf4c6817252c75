"""A streamed answer reaches the client in as few writes as it can: the status line and headers
with the first frames, the answer's last frames with the stream's end. An upstream answer that
arrives in one read goes out in one write; one that arrives in several keeps a write per read.

Read on a raw socket, so what is counted is what the client's kernel received."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import orjson
import pytest
from aiohttp import web

from proxy.server.runner import ProxyServer
from tests.support.local_server import proxy_before

TEXTS = ["Hello", " from", " one", " read"]


def _frames() -> list[bytes]:
    chunks = [{"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}]
    chunks += [{"choices": [{"index": 0, "delta": {"content": t}}]} for t in TEXTS]
    chunks.append({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    chunks.append({"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 4}})
    return [b"data: " + orjson.dumps(c) + b"\n\n" for c in chunks] + [b"data: [DONE]\n\n"]


class OneWriteUpstream:
    """An OpenAI-style server writing its whole streamed answer in one write, or one per frame
    with a pause between (`paced`)."""

    def __init__(self) -> None:
        self.paced = False

    async def completions(self, request: web.Request) -> web.StreamResponse:
        await request.read()
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        if self.paced:
            for frame in _frames():
                await response.write(frame)
                await asyncio.sleep(0.02)
        else:
            await response.write(b"".join(_frames()))
        await response.write_eof()
        return response


@pytest.fixture
async def served() -> AsyncIterator[tuple[OneWriteUpstream, ProxyServer]]:
    upstream = OneWriteUpstream()
    async with proxy_before(upstream.completions) as proxy:
        yield upstream, proxy


def _request(port: int) -> bytes:
    body = orjson.dumps(
        {
            "model": "claude-sonnet-4-5",
            "max_tokens": 20,
            "stream": True,
            "messages": [{"role": "user", "content": "hi"}],
        }
    )
    head = (
        f"POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        "Content-Type: application/json\r\nx-api-key: sk-test\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def _reads(port: int) -> list[bytes]:
    """What each recv returned, until the chunked body's end."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(_request(port))
        reads: list[bytes] = []
        while not reads or not b"".join(reads).endswith(b"\r\n0\r\n\r\n"):
            data = sock.recv(1 << 20)
            assert data, b"".join(reads)
            reads.append(data)
    return reads


async def test_one_upstream_read_goes_out_in_one_write(
    served: tuple[OneWriteUpstream, ProxyServer],
) -> None:
    _, proxy = served
    port = int(proxy.url.rsplit(":", 1)[1])
    reads = await asyncio.to_thread(_reads, port)
    whole = b"".join(reads)
    assert whole.startswith(b"HTTP/1.1 200 OK\r\n")
    for text in TEXTS:
        assert text.encode() in whole
    # Headers, message_start, the text, message_stop and the chunked end: one send.
    assert len(reads) == 1, reads
    first = reads[0]
    assert first.index(b"event: message_start") < first.index(b"event: message_stop")


async def test_paced_answer_keeps_a_write_per_read_and_ends_with_its_last_frames(
    served: tuple[OneWriteUpstream, ProxyServer],
) -> None:
    upstream, proxy = served
    upstream.paced = True
    port = int(proxy.url.rsplit(":", 1)[1])
    reads = await asyncio.to_thread(_reads, port)
    # The first frames came with the headers, not after them.
    assert reads[0].startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"event: message_start" in reads[0]
    # Text went out as it came (not held until the end) ...
    assert len(reads) > 2
    # ... and the stream's end rode on the write of its last frames.
    assert b"event: message_stop" in reads[-1]
    assert reads[-1].endswith(b"\r\n0\r\n\r\n")


def test_aiohttp_still_has_the_header_switch() -> None:
    """`_SseResponse` relies on this class attribute; an aiohttp that renames it would send the
    headers alone again without any other test failing."""
    assert web.StreamResponse._send_headers_immediately is True
    assert web.Response._send_headers_immediately is False
