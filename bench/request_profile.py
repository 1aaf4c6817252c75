"""Where a request's CPU goes inside the proxy: cProfile on the process CPU clock, in-process.

    uv run python -m bench.request_profile [--load cc|cc-stream|small] [--transport openai] [-n 300]

The proxy (a real `ProxyServer` on a loopback port), the fake upstream (`bench.upstream`) and an
aiohttp client share one process and one loop, so the profile sees every function; the proxy's
own share is read from its functions (handlers, middlewares, bus, translation). The clock is
`time.process_time`, not the wall: a loaded machine's waits do not show up as work. Numbers
carry the profiler's own overhead (several us per call): compare functions, not totals, and
measure totals with ``python -m bench --only cc_body,latency``.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import pstats
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
from aiohttp import web

from bench import cc_body, payloads, upstream
from bench.procs import TRANSPORTS, own_folders


async def _serve(app: web.Application) -> tuple[web.AppRunner, int]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    address = runner.addresses[0]
    return runner, int(address[1])


async def run(load: str, transport: str, n: int, warmup: int, top: int, home: Path) -> str:
    """Send `warmup` then `n` requests through an in-process proxy; the profile of the `n`.

    `home`: a scratch folder for the bodies (the caller points the process's folders there).
    """
    from proxy.core.settings import load_settings
    from proxy.server.runner import ProxyServer

    up_runner, up_port = await _serve(upstream.make_app())
    base = f"http://127.0.0.1:{up_port}"
    env = {
        "OPENAI_API_KEY": "sk-bench-openai-000000000000",
        "ANTHROPIC_API_KEY": "bench-anthropic-000000000000",
        "OPENAI_API_BASE": base + "/v1",
        "ANTHROPIC_API_BASE": base,
        "HOST": "127.0.0.1",
        "PORT": "0",
        **TRANSPORTS[transport],
    }
    server = ProxyServer(load_settings(env))
    await server.start()
    headers = {
        "x-api-key": "sk-bench",
        "anthropic-version": "2023-06-01",
        "Content-Type": "application/json",
    }
    url = server.url + "/v1/messages"
    stream = load in ("cc-stream", "stream")
    if load.startswith("cc"):
        cc_body.prepare(home)
        body = (home / f"cc-anthropic{'-stream' if stream else ''}.json").read_bytes()
        headers |= cc_body.HEADERS
        url += "?beta=true"
    else:
        body = payloads.anthropic_body(20 if stream else 5, stream)
    profiler = cProfile.Profile(time.process_time)
    try:
        async with aiohttp.ClientSession() as session:

            async def one() -> None:
                async with session.post(url, data=body, headers=headers) as resp:
                    await resp.read()
                    assert resp.status == 200, resp.status

            for _ in range(warmup):
                await one()
            cpu0 = time.process_time()
            profiler.enable()
            for _ in range(n):
                await one()
            profiler.disable()
            used = time.process_time() - cpu0
    finally:
        await server.stop()
        await up_runner.cleanup()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("cumulative").print_stats(r"proxy/", top)
    stats.sort_stats("tottime").print_stats(top)
    head = (
        f"{n} requests ({load}, {transport}), {len(body)} bytes each; process CPU (client, "
        f"upstream, proxy and the profiler) {used / n * 1000:.2f} ms per request; times below "
        f"are per run, divide by {n}\n"
    )
    return head + out.getvalue()


def main(argv: list[str] | None = None) -> int:
    """``python -m bench.request_profile``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--load", default="cc", choices=("cc", "cc-stream", "small", "stream"))
    parser.add_argument("--transport", default="openai", choices=["openai", "anthropic"])
    parser.add_argument("-n", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--top", type=int, default=40)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="request-profile-") as tmp, own_folders(Path(tmp)):
        print(asyncio.run(run(args.load, args.transport, args.n, args.warmup, args.top, Path(tmp))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
