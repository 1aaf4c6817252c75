"""Bytecodes executed per Python function per request: where the instructions go, by function.

    uv run python -m bench.bytecodes [--load small|cc|cc-stream|stream|cc-session] [--target openai]
                                     [-n 20] [--top 60] [--match proxy/]

callgrind (`bench.instructions`) counts a process' instructions exactly but cannot name the
Python function they ran for (CPython 3.11 runs every function in one C loop). This runs the
same in-process setup (fake upstream, client and target in one loop, `bench.instructions`'
warm-up) under `sys.settrace` with opcode events, and counts the bytecodes each function ran,
itself (exclusive) and with its callees (inclusive), per request. Counts are exact and
load-independent; instructions per bytecode vary (a C call such as orjson's is one bytecode),
about 85-95 on the request path. A coroutine's `calls` counts each resumption.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from pathlib import Path
from types import CodeType, FrameType
from typing import Any

from bench import instructions
from bench.procs import own_folders


class Counts:
    """Exclusive and inclusive bytecode counts per code object while `on`."""

    def __init__(self) -> None:
        self.exclusive: Counter[CodeType] = Counter()
        self.inclusive: Counter[CodeType] = Counter()
        self.calls: Counter[CodeType] = Counter()
        self.stack: list[list[Any]] = []
        self.on = False

    def trace(self, frame: FrameType, event: str, arg: Any) -> Any:
        """The `sys.settrace` callback: opcode events counted against the running frame."""
        if not self.on:
            return None
        frame.f_trace_opcodes = True
        code = frame.f_code
        if event == "call":
            self.stack.append([code, 0])
            self.calls[code] += 1
        elif event == "opcode" and self.stack:
            self.stack[-1][1] += 1
            self.exclusive[code] += 1
        elif event == "return" and self.stack:
            done, count = self.stack.pop()
            self.inclusive[done] += count
            if self.stack:
                self.stack[-1][1] += count
        return self.trace


def _name(code: CodeType) -> str:
    path = code.co_filename
    for prefix in (sys.prefix + "/", "/"):
        if "/site-packages/" in path:
            path = path.split("/site-packages/", 1)[1]
            break
        if path.startswith(prefix) and "/proxy/" in path:
            path = "proxy/" + path.split("/proxy/", 1)[1]
            break
    return f"{path}:{code.co_firstlineno}:{code.co_qualname}"


def run(load: str, target: str, n: int) -> Counts:
    """Serve `n` measured requests of `load` through `target`, counting while they run."""
    counts = Counts()

    def control(cmd: list[str], *args: Any, **kwargs: Any) -> Any:
        # bench.instructions switches callgrind on and off around the measured requests.
        counts.on = cmd[2] == "on"
        sys.settrace(counts.trace if counts.on else None)
        threading.settrace(counts.trace if counts.on else None)  # type: ignore[arg-type]
        return subprocess.CompletedProcess(cmd, 0)

    real = subprocess.run
    subprocess.run = control  # type: ignore[assignment]
    try:
        with (
            tempfile.TemporaryDirectory(prefix="bench-bytecodes-") as tmp,
            own_folders(Path(tmp)),
        ):
            asyncio.run(instructions._one_target(load, target, n, Path(tmp)))
    finally:
        subprocess.run = real
    return counts


def report(counts: Counts, n: int, top: int, match: str) -> str:
    """Total, then the top functions by inclusive and by exclusive count, per request."""
    total = sum(counts.exclusive.values())
    lines = [f"bytecodes per request: {total / n:,.0f}", "inclusive  calls  function"]
    shown = 0
    for code, value in counts.inclusive.most_common():
        name = _name(code)
        if match in name:
            lines.append(f"{value / n:9,.0f} {counts.calls[code] / n:6.1f}  {name}")
            shown += 1
            if shown >= top:
                break
    lines.append("exclusive  calls  function")
    for code, value in counts.exclusive.most_common(top):
        lines.append(f"{value / n:9,.0f} {counts.calls[code] / n:6.1f}  {_name(code)}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """``python -m bench.bytecodes``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--load", default="small", choices=instructions.LOADS)
    parser.add_argument("--target", default="openai", help="openai, anthropic, relay or direct")
    parser.add_argument("-n", type=int, default=20)
    parser.add_argument("--top", type=int, default=60)
    parser.add_argument("--match", default="", help="only functions whose name holds this")
    args = parser.parse_args(argv)
    print(report(run(args.load, args.target, args.n), args.n, args.top, args.match))
    return 0


if __name__ == "__main__":
    sys.exit(main())
