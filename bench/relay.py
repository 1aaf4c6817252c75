"""The floor: a plain aiohttp byte relay for /v1/messages, the reference the issue measures against.

It forwards the request body to ``{upstream}/v1/messages`` over one shared keep-alive
ClientSession and copies the answer's bytes back as they arrive (one write per network read),
with no parsing, no translation, no events. Whatever the real proxy costs beyond this is its own
work; what this costs is the loop, the sockets and aiohttp. Run it as a separate process::

    python -m bench.relay --port 8090 --upstream http://127.0.0.1:9999
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

UPSTREAM = web.AppKey("upstream", str)
SESSION = web.AppKey("session", aiohttp.ClientSession)
FORWARD = ("x-api-key", "anthropic-version", "content-type")


async def messages(request: web.Request) -> web.StreamResponse:
    """POST /v1/messages, relayed byte for byte."""
    body = await request.read()
    headers = {k: v for k, v in request.headers.items() if k.lower() in FORWARD}
    session = request.app[SESSION]
    async with session.post(
        request.app[UPSTREAM] + "/v1/messages", data=body, headers=headers
    ) as up:
        ctype = up.headers.get("Content-Type", "application/json")
        if "text/event-stream" not in ctype:
            return web.Response(
                status=up.status, body=await up.read(), content_type=ctype.split(";")[0]
            )
        resp = web.StreamResponse(status=up.status, headers={"Content-Type": ctype})
        await resp.prepare(request)
        async for data in up.content.iter_any():
            await resp.write(data)
        await resp.write_eof()
        return resp


async def health(request: web.Request) -> web.Response:
    """GET /health."""
    return web.Response(text="ok")


async def _session(app: web.Application) -> AsyncIterator[None]:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        app[SESSION] = session
        yield


def make_app(upstream: str) -> web.Application:
    """The relay's one route, plus /health."""
    app = web.Application()
    app[UPSTREAM] = upstream.rstrip("/")
    app.cleanup_ctx.append(_session)
    app.router.add_post("/v1/messages", messages)
    app.router.add_get("/health", health)
    return app


def main(argv: list[str] | None = None) -> int:
    """``python -m bench.relay``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True)
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        web.run_app(
            make_app(args.upstream), host=args.host, port=args.port, print=None, access_log=None
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
