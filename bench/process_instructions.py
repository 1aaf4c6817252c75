"""Instructions per request of a real proxy process, served as the benchmark serves it.

    uv run python -m bench.process_instructions [--load cc-stream|cc|cc-session] [-n 100]
                                                [--targets openai,relay] [--store] [--keep DIR]

`bench.instructions` runs the client, the fake upstream and the proxy in one process and loop, so
the fake's every write reaches the proxy in a read of its own (about 12 reads for a 20-chunk
answer). The benchmark's processes see the answer in one or two reads, and code that only runs
per read (a read holding `[DONE]`, the chunk framing of a whole read) counts differently there.
This starts the benchmark's own fake upstream and load generator, and each target (a headless
proxy with its transport, or the floor `bench.relay`) as its own process under
``valgrind --tool=callgrind``, instrumentation switched on only for the `n` measured requests
after a warm-up. The count is the target process' own, every thread included (the store's
writer too with `--store`; off by default: its batches depend on the wall clock, which valgrind
slows). `--keep DIR` copies each target's callgrind output there (for `callgrind_annotate`).
Needs valgrind.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys

from bench.cc_body import HEADERS, NONSTREAM_CHUNKS, STREAM_CHUNKS, prepared
from bench.instructions import print_per_target
from bench.procs import free_port, proxy_env, spawn, wait_port
from bench.stack import Counts, Stack

WARMUP = 30
LOADS = ("cc-stream", "cc", "cc-session")


async def measure(
    load: str, targets: list[str], n: int, store: bool, keep: str | None = None
) -> dict[str, int]:
    """Instructions per request of each target's process."""
    stream = load == "cc-stream"
    chunks = STREAM_CHUNKS if stream else NONSTREAM_CHUNKS
    out: dict[str, int] = {}
    async with Stack(Counts()) as stack:
        info = await prepared(stack)
        body = info["prefix"] + ("-session" if load == "cc-session" else "")
        for name in targets:
            port = free_port()
            env = proxy_env(stack.home, stack.upstream_url, port, name)
            env["STORE_ENABLED"] = "true" if store else "false"
            if name == "relay":
                cmd = [sys.executable, "-m", "bench.relay", "--port", str(port)]
                cmd += ["--upstream", stack.upstream_url]
            else:
                cmd = [sys.executable, "-m", "app.cli", "--headless"]
            log = stack.home / f"callgrind-{name}.log"
            grind = ["valgrind", "--tool=callgrind", "--instr-atstart=no"]
            grind.append(f"--callgrind-out-file={stack.home / f'callgrind-{name}.out'}")
            proc = spawn(name, [*grind, *cmd], env, log, stack.home)
            await wait_port(proc, port)
            target = {
                "url": f"http://127.0.0.1:{port}/v1/messages?beta=true",
                "dialect": "anthropic",
                "headers": HEADERS,
            }
            args = {"op": "requests", "target": target, "concurrency": 1, "body": body}
            args |= {"chunks": chunks, "stream": stream}
            # vgdb names its pipe after the process' environment (USER, HOST): ask with it.
            control = {**os.environ, **env}
            warm = await stack.loadgen.call(**args, n=WARMUP)
            if warm["errors"]:
                raise RuntimeError(f"{name}: {warm['error_samples']}")
            on = ["callgrind_control", "-i", "on", str(proc.popen.pid)]
            subprocess.run(on, capture_output=True, env=control, check=True)
            await stack.loadgen.call(**args, n=n)
            off = ["callgrind_control", "-i", "off", str(proc.popen.pid)]
            subprocess.run(off, capture_output=True, env=control, check=True)
            proc.popen.terminate()
            proc.popen.wait(timeout=120)
            found = re.findall(r"I\s+refs:\s+([\d,]+)", log.read_text())
            if not found:
                raise RuntimeError(f"{name}: no callgrind total in {log}")
            out[name] = int(found[-1].replace(",", "")) // n
            if keep is not None:
                os.makedirs(keep, exist_ok=True)
                for kept in stack.home.glob(f"callgrind-{name}.out*"):
                    shutil.copy(kept, os.path.join(keep, kept.name))
    return out


def main(argv: list[str] | None = None) -> int:
    """``python -m bench.process_instructions``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--load", default="cc-stream", choices=LOADS)
    parser.add_argument("--targets", default="openai,relay")
    parser.add_argument("-n", type=int, default=100)
    parser.add_argument("--store", action="store_true")
    parser.add_argument("--keep", metavar="DIR", help="copy the callgrind outputs here")
    args = parser.parse_args(argv)
    if shutil.which("valgrind") is None:
        print("valgrind is not installed (apt-get install valgrind)", file=sys.stderr)
        return 1
    counts = asyncio.run(measure(args.load, args.targets.split(","), args.n, args.store, args.keep))
    print(f"load {args.load}, {args.n} requests each, instructions of the target's process:")
    print_per_target(counts)
    return 0


if __name__ == "__main__":
    sys.exit(main())
