"""A stream released at its end marker (`release_after_end`): its connection goes back to the pool
when the body's own end arrives, and is closed once END_GRACE passed without it. One timer per
loop sweeps them all (a timer per stream filled the loop's heap under steady traffic)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from proxy.upstreams import http as upstream_http
from proxy.upstreams.http import release_after_end, release_ending
from proxy.upstreams.wire import UpstreamPool, UpstreamResponse

GRACE = 0.2
HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
DONE = b"data: [DONE]\n\n"
CHUNK = f"{len(DONE):x}\r\n".encode() + DONE + b"\r\n"


class HeldBody:
    """Answers each request with `[DONE]` in a chunked body whose end waits for `release`."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.closed_by_peer = 0
        self.base = ""
        self.writers: list[asyncio.StreamWriter] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.append(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(line.split(b":", 1)[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                await reader.readexactly(length)
                writer.write(HEAD + CHUNK)
                await writer.drain()
                while not self.release.is_set():
                    if reader.at_eof():  # the client closed the connection
                        self.closed_by_peer += 1
                        writer.close()
                        return
                    await asyncio.sleep(0.01)
                writer.write(b"0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            self.closed_by_peer += 1
        writer.close()


@pytest.fixture(autouse=True)
def _short_grace(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(upstream_http, "END_GRACE", GRACE)


@pytest.fixture
async def held() -> AsyncIterator[HeldBody]:
    server = HeldBody()
    listening = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    server.base = f"http://127.0.0.1:{listening.sockets[0].getsockname()[1]}"
    try:
        yield server
    finally:
        server.release.set()
        listening.close()
        for writer in server.writers:
            writer.close()
        await asyncio.sleep(0.05)  # the handlers see their connections end


async def _answered(pool: UpstreamPool, held: HeldBody) -> UpstreamResponse:
    response = await pool.post(held.base + "/v1/chat/completions", {}, b"{}", 5.0)
    while DONE not in await response.content.readany():
        pass
    return response


def _sweeps() -> int:
    loop = asyncio.get_running_loop()
    return sum(
        1
        for handle in loop._scheduled  # type: ignore[attr-defined]
        if not handle.cancelled() and "sweep" in repr(handle)
    )


async def test_a_body_that_ends_in_time_goes_back_to_the_pool(held: HeldBody) -> None:
    pool = UpstreamPool()
    try:
        response = await _answered(pool, held)
        release_after_end(response)
        assert not response.closed
        held.release.set()
        for _ in range(50):
            if response.closed:
                break
            await asyncio.sleep(0.01)
        assert response.closed
        await asyncio.sleep(GRACE * 2)  # the sweep finds it ended: nothing to close
        again = await _answered(pool, held)
        again.release()
        assert pool.opened == 1 and held.closed_by_peer == 0
    finally:
        await pool.close()


async def test_a_body_that_never_ends_is_closed_after_the_grace(held: HeldBody) -> None:
    pool = UpstreamPool()
    try:
        responses = [await _answered(pool, held) for _ in range(3)]
        for response in responses:
            release_after_end(response)
        # One timer for all of them, not one each.
        assert _sweeps() == 1
        await asyncio.sleep(GRACE * 0.5)
        assert not any(r.closed for r in responses)
        for _ in range(100):
            if held.closed_by_peer == 3:
                break
            await asyncio.sleep(0.02)
        assert all(r.closed for r in responses)
        assert held.closed_by_peer == 3
        assert _sweeps() == 0  # nothing left: the loop keeps no timer
    finally:
        await pool.close()


async def test_closing_the_session_releases_what_still_waits(held: HeldBody) -> None:
    pool = UpstreamPool()
    try:
        response = await _answered(pool, held)
        release_after_end(response)
        release_ending()
        assert response.closed
        assert _sweeps() == 0
    finally:
        await pool.close()
