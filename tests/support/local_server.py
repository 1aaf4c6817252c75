"""An aiohttp app served on a free loopback port for a test (plain or TLS)."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from aiohttp import web

from proxy.core.settings import load_settings
from proxy.server.runner import ProxyServer


async def serve_app(
    app: web.Application, ssl_context: ssl.SSLContext | None = None, **runner: object
) -> tuple[web.AppRunner, int]:
    """Start `app` on 127.0.0.1 (a free port); its runner (clean it up) and the port."""
    started = web.AppRunner(app, **runner)  # type: ignore[arg-type]
    await started.setup()
    site = web.TCPSite(started, "127.0.0.1", 0, ssl_context=ssl_context)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return started, port


async def openai_proxy(port: int, **env: str) -> ProxyServer:
    """A started proxy whose OpenAI-compatible upstream is the local server on `port` (stop it)."""
    from tests.conftest import FAKE_KEYS

    settings = load_settings(
        environ={
            **FAKE_KEYS,
            "OPENAI_API_BASE": f"http://127.0.0.1:{port}/v1",
            "BIG_MODEL": "openai/gpt-4.1",
            "SMALL_MODEL": "openai/gpt-4.1-mini",
            "PORT": "0",
            "HOST": "127.0.0.1",
            **env,
        }
    )
    server = ProxyServer(settings)
    await server.start()
    return server


@asynccontextmanager
async def proxy_before(
    completions: Callable[[web.Request], Awaitable[web.StreamResponse]], **env: str
) -> AsyncIterator[ProxyServer]:
    """A started proxy whose OpenAI-compatible upstream answers POST /v1/chat/completions with
    `completions`, on a free loopback port; both stopped on exit."""
    app = web.Application()
    app.router.add_post("/v1/chat/completions", completions)
    runner, port = await serve_app(app)
    proxy = await openai_proxy(port, **env)
    try:
        yield proxy
    finally:
        await proxy.stop()
        await runner.cleanup()


async def send_in_pieces(
    request: web.Request, response: web.StreamResponse, body: bytes, size: int = 1_000
) -> web.StreamResponse:
    """Prepare `response` and send `body` in writes of `size` bytes, then its end."""
    await response.prepare(request)
    for start in range(0, len(body), size):
        await response.write(body[start : start + size])
    await response.write_eof()
    return response
