"""Instructions per request under callgrind: the proxy against the floor, whatever the load.

    uv run python -m bench.instructions [--load small|cc|cc-stream|stream|cc-session] [-n 100]
                                        [--transports openai,anthropic,relay]

On a shared 2-core machine CPU times move with the load; instruction counts do not (two runs of
the same code agree within about 1.5%). Each target runs in its own ``valgrind --tool=callgrind``
process with the fake upstream and an aiohttp client in the same process and loop: `direct` (the
client calls the fake upstream in the Anthropic dialect), `relay` (the floor, `bench.relay`) and
each proxy transport (a real `ProxyServer`, store off: its writer thread is measured by
``bench.recorder``). Instrumentation is switched on only around the `n` measured requests, after
a warm-up. A target's own instructions per request are its total minus `direct`'s (the client
and fake upstream's share), and the proxy is compared with the floor on those. Needs valgrind.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

WARMUP = 50
LOADS = ("small", "cc", "cc-stream", "stream", "cc-session")
"""`cc-session`: a Claude Code session 40 tool turns in (~150 KB), growing a turn a request."""


async def _one_target(load: str, target: str, n: int, home: Path) -> None:
    """Inside callgrind: serve `target`, warm it up, measure `n` requests with instrumentation on.

    `home`: a scratch folder for the bodies (the caller points the process's folders there).
    """
    import aiohttp

    from bench import cc_body, payloads, relay, upstream
    from bench.procs import TRANSPORTS
    from bench.request_profile import _serve

    up_runner, up_port = await _serve(upstream.make_app())
    base = f"http://127.0.0.1:{up_port}"
    stop = None
    if target == "direct":
        url = base + "/v1/messages"
    elif target == "relay":
        runner, port = await _serve(relay.make_app(base))
        url, stop = f"http://127.0.0.1:{port}/v1/messages", runner.cleanup
    else:
        from proxy.core.settings import load_settings
        from proxy.server.runner import ProxyServer

        env = {
            "OPENAI_API_KEY": "sk-bench-openai-000000000000",
            "ANTHROPIC_API_KEY": "bench-anthropic-000000000000",
            "OPENAI_API_BASE": base + "/v1",
            "ANTHROPIC_API_BASE": base,
            "HOST": "127.0.0.1",
            "PORT": "0",
            "STORE_ENABLED": "false",
            **TRANSPORTS[target],
        }
        server = ProxyServer(load_settings(env))
        await server.start()
        url, stop = server.url + "/v1/messages", server.stop
    headers = {
        "x-api-key": "sk-bench",
        "anthropic-version": "2023-06-01",
        "Content-Type": "application/json",
    }
    stream = load in ("cc-stream", "stream")
    if load.startswith("cc"):
        cc_body.prepare(home)
        suffix = "-stream" if stream else ""
        if load == "cc-session":
            bodies = (home / "cc-session-anthropic.jsonl").read_bytes().split(b"\n")
        else:
            bodies = [(home / f"cc-anthropic{suffix}.json").read_bytes()]
        headers |= cc_body.HEADERS
        if target != "direct":
            url += "?beta=true"
    else:
        bodies = [payloads.anthropic_body(20 if stream else 5, stream)]
    control = ["callgrind_control", "-i"]
    async with aiohttp.ClientSession() as session:

        async def one(i: int) -> None:
            body = bodies[i % len(bodies)]
            async with session.post(url, data=body, headers=headers) as resp:
                await resp.read()
                assert resp.status == 200, resp.status

        for i in range(WARMUP):
            await one(i)
        subprocess.run([*control, "on", str(os.getpid())], capture_output=True, check=True)
        for i in range(WARMUP, WARMUP + n):
            await one(i)
        subprocess.run([*control, "off", str(os.getpid())], capture_output=True, check=True)
    if stop is not None:
        await stop()
    await up_runner.cleanup()


def measure(load: str, target: str, n: int) -> int:
    """Instructions per request of the whole process (client, fake upstream, `target`)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "callgrind.out"
        cmd = [
            "valgrind",
            "--tool=callgrind",
            "--instr-atstart=no",
            f"--callgrind-out-file={out}",
            sys.executable,
            "-m",
            "bench.instructions",
            "--inside",
            target,
            "--load",
            load,
            "-n",
            str(n),
        ]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
        found = re.search(r"I\s+refs:\s+([\d,]+)", done.stderr)
        if done.returncode != 0 or found is None:
            raise RuntimeError(f"callgrind run of {target} failed:\n{done.stderr[-2000:]}")
        return int(found.group(1).replace(",", "")) // n


def main(argv: list[str] | None = None) -> int:
    """``python -m bench.instructions``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--load", default="small", choices=LOADS)
    parser.add_argument("--transports", default="openai,anthropic,relay")
    parser.add_argument("-n", type=int, default=100)
    parser.add_argument("--inside", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.inside:
        from bench.procs import own_folders

        with (
            tempfile.TemporaryDirectory(prefix="bench-instructions-") as tmp,
            own_folders(Path(tmp)),
        ):
            asyncio.run(_one_target(args.load, args.inside, args.n, Path(tmp)))
        return 0
    if shutil.which("valgrind") is None:
        print("valgrind is not installed (apt-get install valgrind)", file=sys.stderr)
        return 1
    direct = measure(args.load, "direct", args.n)
    own = {t: measure(args.load, t, args.n) - direct for t in args.transports.split(",")}
    print(
        f"load {args.load}, {args.n} requests each; client + fake upstream: {direct:,} Ir/request"
    )
    print_per_target(own)
    return 0


def print_per_target(counts: dict[str, int]) -> None:
    """One line per target: its instructions per request, and its ratio to the floor's."""
    floor = counts.get("relay")
    for target, ir in counts.items():
        ratio = f" = {ir / floor:.2f}x floor" if floor and target != "relay" else ""
        print(f"  {target:10s} {ir:>12,} Ir/request{ratio}")


if __name__ == "__main__":
    sys.exit(main())
