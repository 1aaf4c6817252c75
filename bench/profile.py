"""Profile a headless proxy's streaming hot path with py-spy, under the benchmark's load.

    uv run python -m bench.profile [--transport openai] [--pace-ms 0] [--seconds 10]
    uv run python -m bench.profile --load cc       # the request path: Claude Code bodies

Starts the fake upstream, the load generator and one proxy process (warm, LiteLLM imported),
attaches ``py-spy record`` to the proxy (sampling only while threads are on CPU),
streams 500-chunk answers through it for `seconds` (instant upstream by default; ``--pace-ms 1``
gives one chunk per network read, as from a real provider) and prints where the samples fell:
by function itself (self) and including callees (total), in % of CPU samples. The raw
collapsed stacks are kept in bench/results/profile-<transport>[-paced].txt for a flame graph.

``--load`` picks the traffic: `streams` (the default above), `small` (small non-streaming
requests, one at a time), `cc` / `cc-stream` (the Claude Code body of `bench.cc_body`,
non-streaming / 20-chunk streams, one at a time): the per-request path rather than per chunk.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from bench import cc_body
from bench.procs import REPO, TRANSPORTS
from bench.stack import FULL, Stack

_LINE = re.compile(r":\d+\)$")
IDLE_LEAF = "EpollSelector.select (selectors.py)"


def _waits(frame: str, idle_in: Counter[str]) -> int:
    return idle_in.get(frame, 0)


def _frame(raw: str) -> str:
    """'func (path/to/file.py:123)' -> 'func (file.py)'; frames from the same function merge."""
    raw = _LINE.sub(")", raw.strip())
    name, _, where = raw.partition(" (")
    return f"{name} ({Path(where.rstrip(')')).name})" if where else name


def summarise(collapsed: str, top: int = 25) -> str:
    """Self and total % per function from py-spy's collapsed ('raw') output."""
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    idle_in: Counter[str] = Counter()
    samples = 0
    for line in collapsed.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = [_frame(f) for f in stack.split(";") if not f.startswith(("process ", "thread "))]
        if not frames:
            continue
        samples += n
        own[frames[-1]] += n
        for frame in set(frames):
            total[frame] += n
            if frames[-1] == IDLE_LEAF:
                idle_in[frame] += n
    if not samples:
        return "no samples"
    waiting = own.pop(IDLE_LEAF, 0)
    busy = max(1, samples - waiting)
    out = [
        f"{samples} samples on CPU, {waiting} of them in {IDLE_LEAF} (the loop waiting for I/O;"
        f" py-spy cannot always tell it from work); % below are of the other {busy}",
        "",
        "self %  function",
    ]
    out += [f"{100 * n / busy:6.1f}  {f}" for f, n in own.most_common(top)]
    out += ["", "total % function (with callees)"]
    out += [f"{100 * (n - _waits(f, idle_in)) / busy:6.1f}  {f}" for f, n in total.most_common(top)]
    return "\n".join(out)


LOADS = ("streams", "small", "cc", "cc-stream")


def _load(stack: Stack, load: str, transport: str, pace_ms: float) -> dict[str, Any]:
    """The loadgen arguments (beyond target and seconds) for a kind of traffic."""
    if load == "streams":
        return dict(concurrency=4 if pace_ms else 1, chunks=500, pace_ms=pace_ms)
    if load == "small":
        return dict(concurrency=1, chunks=5, stream=False)
    assert stack.cc is not None
    stream = load == "cc-stream"
    return dict(
        concurrency=1,
        chunks=cc_body.STREAM_CHUNKS if stream else cc_body.NONSTREAM_CHUNKS,
        stream=stream,
        body=stack.cc["prefix"],
    )


async def profile(
    transport: str,
    pace_ms: float,
    seconds: float,
    rate: int,
    nonblocking: bool = False,
    load: str = "streams",
) -> str:
    """Run the load under py-spy; the summary text."""
    suffix = "-paced" if pace_ms else ""
    if load != "streams":
        suffix = f"-{load}"
    out = REPO / "bench" / "results" / f"profile-{transport}{suffix}.txt"
    out.parent.mkdir(parents=True, exist_ok=True)
    async with Stack(FULL) as stack:
        proc = (await stack.ensure([transport]))[transport]
        via = stack.via(transport)
        if load.startswith("cc"):
            await cc_body.prepared(stack)
            via = {**via, "url": via["url"] + "?beta=true", "headers": cc_body.HEADERS}
        cpu0 = proc.cpu()
        spy = await asyncio.create_subprocess_exec(
            *_py_spy(),
            "record",
            "--pid",
            str(proc.pid),
            "--duration",
            str(int(seconds) + 1),
            "--rate",
            str(rate),
            *(["--nonblocking"] if nonblocking else []),
            "--format",
            "raw",
            "--output",
            str(out),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        await asyncio.sleep(0.5)
        result = await stack.loadgen.call(
            op="streams_for",
            target=via,
            seconds=seconds,
            **_load(stack, load, transport, pace_ms),
        )
        _, err = await spy.communicate()
        used = proc.cpu() - cpu0
        if spy.returncode != 0:
            raise RuntimeError(f"py-spy failed: {err.decode(errors='replace')[-1000:]}")
    speed = f"paced {pace_ms:g} ms" if pace_ms else "instant"
    n = result["streams"]
    head = (
        f"proxy [{transport}], {speed} upstream, load {load}: {n} requests, errors "
        f"{result['errors']}, proxy CPU {used / max(1, n) * 1000:.2f} ms per request "
        f"(py-spy's pauses included); raw: {out}"
    )
    return head + "\n" + summarise(out.read_text())


def _py_spy() -> list[str]:
    script = Path(sys.executable).parent / "py-spy"
    if script.exists():
        return [str(script)]
    return ["py-spy"]


def main(argv: list[str] | None = None) -> int:
    """``python -m bench.profile``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transport", default="openai", choices=list(TRANSPORTS))
    parser.add_argument("--pace-ms", type=float, default=0.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rate", type=int, default=250, help="samples per second")
    parser.add_argument(
        "--nonblocking",
        action="store_true",
        help="do not pause the proxy per sample (less overhead, but biased towards syscalls)",
    )
    parser.add_argument("--load", default="streams", choices=LOADS, help="traffic (streams)")
    args = parser.parse_args(argv)
    try:
        text = asyncio.run(
            profile(
                args.transport, args.pace_ms, args.seconds, args.rate, args.nonblocking, args.load
            )
        )
        print(text)
    except (RuntimeError, subprocess.SubprocessError) as exc:
        print(f"profile failed: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
