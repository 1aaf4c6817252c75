"""A lean fake upstream for the benchmark: OpenAI chat completions and Anthropic messages.

It answers instantly from precomputed bytes (see `bench.payloads`), so it is never the bottleneck:
no JSON parse of the request (one regex finds ``chunks=N``), one `write` per SSE chunk, and an
``await asyncio.sleep(0)`` after every `batch` writes so concurrent streams interleave the way a
real provider's do. A request that says ``pace_ms=P`` gets its chunks P ms apart instead (a
provider generating tokens), so each chunk reaches the proxy in a network read of its own. Run it in its own process::

    python -m bench.upstream --port 0      # prints the port it listens on, then serves
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys

from aiohttp import web

from bench import payloads

SSE_HEADERS = {"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache"}
JSON_HEADERS = {"Content-Type": "application/json"}
BATCH = web.AppKey("batch", int)


async def _stream(
    request: web.Request, frames: tuple[bytes, ...], pace: float
) -> web.StreamResponse:
    batch = request.app[BATCH]
    resp = web.StreamResponse(status=200, headers=SSE_HEADERS)
    await resp.prepare(request)
    write = resp.write
    try:
        for i, frame in enumerate(frames, 1):
            await write(frame)
            if pace:
                await asyncio.sleep(pace)
            elif i % batch == 0:
                await asyncio.sleep(0)
        await resp.write_eof()
    except ConnectionError:
        pass
    return resp


async def openai(request: web.Request) -> web.StreamResponse:
    """POST /v1/chat/completions."""
    body = await request.read()
    chunks = payloads.chunks_in(body)
    if payloads.wants_stream(body):
        # From the end, where the proxy writes stream_options: the Anthropic endpoint has no
        # such scan, and a whole-body one (~70k instructions for 80 KB) would count as the
        # OpenAI transport's in `bench.instructions`.
        usage = body.rfind(b"include_usage") >= 0
        frames = payloads.openai_frames(chunks, usage)
        return await _stream(request, frames, payloads.pace_in(body))
    return web.Response(body=payloads.openai_message(chunks), headers=JSON_HEADERS)


async def anthropic(request: web.Request) -> web.StreamResponse:
    """POST /v1/messages."""
    body = await request.read()
    chunks = payloads.chunks_in(body)
    if payloads.wants_stream(body):
        frames = payloads.anthropic_frames(chunks)
        return await _stream(request, frames, payloads.pace_in(body))
    return web.Response(body=payloads.anthropic_message(chunks), headers=JSON_HEADERS)


async def health(request: web.Request) -> web.Response:
    """GET /health."""
    return web.Response(text="ok")


def make_app(batch: int = 1) -> web.Application:
    """The fake's routes (OpenAI under /v1 and bare, Anthropic under /v1)."""
    app = web.Application()
    app[BATCH] = max(1, batch)
    app.router.add_post("/v1/chat/completions", openai)
    app.router.add_post("/chat/completions", openai)
    app.router.add_post("/v1/messages", anthropic)
    app.router.add_get("/health", health)
    return app


async def serve(host: str, port: int, batch: int) -> None:
    """Listen, print the bound port on stdout, serve until cancelled."""
    runner = web.AppRunner(make_app(batch), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=4096)
    await site.start()
    bound = port
    for address in runner.addresses:
        if isinstance(address, tuple):
            bound = int(address[1])
    print(bound, flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    """``python -m bench.upstream``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--batch", type=int, default=1, help="writes between event-loop yields")
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.host, args.port, args.batch))
    return 0


if __name__ == "__main__":
    sys.exit(main())
