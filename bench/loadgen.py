"""The load generator: a separate process that sends the benchmark's requests with plain aiohttp.

It runs in its own process so its CPU never shows up in the proxy's (or the fake upstream's), and
it uses aiohttp directly (no SDK) so the client's own overhead stays small. It reads one JSON
command per line on stdin and answers one JSON line on stdout::

    {"op": "latency", "targets": [T, ...], "n": 200, "warmup": 20}
    {"op": "stream", "targets": [T, ...], "n": 30, "chunks": 500, "warmup": 3}
    {"op": "concurrent", "target": T, "streams": 200, "chunks": 100}
    {"op": "requests", "target": T, "n": 1000, "concurrency": 8, "chunks": 20, "mix": true}
    {"op": "streams_for", "target": T, "concurrency": 20, "chunks": 500, "seconds": 5}

`requests` and `streams_for` also take "pace_ms": the fake upstream then spaces the chunks.
`latency`, `stream` and `requests` take "body": a path prefix of prepared bodies
(``{body}-{dialect}[-stream].json``, or ``.jsonl``: a session's bodies, each target sent them in
turn; see `bench.cc_body`) sent instead of the small one.
    {"op": "quit"}

A target T is ``{"url": ..., "dialect": "openai" | "anthropic"}``, optionally with "headers" to
add: the dialect picks the request body and the end-of-stream marker. Times are milliseconds (latency, ttft, total) or seconds (wall).
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson

from bench import payloads

HEADERS = {
    "openai": {"Authorization": "Bearer sk-bench", "Content-Type": "application/json"},
    "anthropic": {
        "x-api-key": "sk-bench",
        "anthropic-version": "2023-06-01",
        "Content-Type": "application/json",
    },
}
END = {"openai": payloads.OPENAI_END, "anthropic": payloads.ANTHROPIC_END}
MAX_ERROR_SAMPLES = 5


@dataclass
class Outcome:
    """One request: time to the first text, total time, and an error text when it failed."""

    ttft: float | None
    total: float
    error: str | None = None
    reads: int = 0


@dataclass
class Errors:
    """Error count plus a few samples for the report."""

    count: int = 0
    samples: list[str] = field(default_factory=list)

    def add(self, error: str) -> None:
        """Count one error, keep the first few texts."""
        self.count += 1
        if len(self.samples) < MAX_ERROR_SAMPLES:
            self.samples.append(error)

    def as_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"errors": self.count, "error_samples": self.samples}


_FILES: dict[str, list[bytes]] = {}
_NEXT: dict[tuple[str, str], int] = {}


def _body(
    dialect: str, chunks: int, stream: bool, pace_ms: float, prefix: str | None, url: str = ""
) -> bytes:
    if prefix is not None:
        path = f"{prefix}-{dialect}{'-stream' if stream else ''}"
        if path not in _FILES:
            try:
                with open(path + ".json", "rb") as f:
                    _FILES[path] = [f.read()]
            except FileNotFoundError:  # a session: one body per line, sent in turn per target
                with open(path + ".jsonl", "rb") as f:
                    _FILES[path] = f.read().split(b"\n")
        bodies = _FILES[path]
        if len(bodies) == 1:
            return bodies[0]
        step = _NEXT.get((path, url), 0)
        _NEXT[path, url] = step + 1
        return bodies[step % len(bodies)]
    if dialect == "openai":
        return payloads.openai_body(chunks, stream, pace_ms)
    return payloads.anthropic_body(chunks, stream, pace_ms)


async def request(
    session: aiohttp.ClientSession,
    target: dict[str, Any],
    chunks: int,
    stream: bool,
    pace_ms: float = 0,
    body_prefix: str | None = None,
) -> Outcome:
    """Send one request and check the answer arrived whole (all chunks, end marker).

    `reads` counts the network reads the client made: how many writes the chunks were coalesced
    into on the way (one per chunk when nothing batched them).
    """
    dialect = target["dialect"]
    body = _body(dialect, chunks, stream, pace_ms, body_prefix, target["url"])
    headers = HEADERS[dialect]
    if "headers" in target:
        headers = {**headers, **target["headers"]}
    t0 = time.perf_counter()
    ttft: float | None = None
    parts: list[bytes] = []
    try:
        async with session.post(target["url"], data=body, headers=headers) as resp:
            if resp.status != 200:
                text = (await resp.read())[:200].decode(errors="replace")
                return Outcome(None, _ms(t0), f"HTTP {resp.status}: {text}")
            if not stream:
                data = await resp.read()
                ttft = _ms(t0)
            else:
                tail = b""
                async for piece in resp.content.iter_any():
                    parts.append(piece)
                    if ttft is None:
                        if payloads.FIRST_MARK in tail + piece:
                            ttft = _ms(t0)
                        tail = piece[-8:]
                data = b"".join(parts)
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        return Outcome(None, _ms(t0), f"{type(exc).__name__}: {exc}")
    total = _ms(t0)
    tokens = data.count(payloads.TOKEN_MARK)
    if tokens != chunks - 1 or payloads.FIRST_MARK not in data:
        return Outcome(ttft, total, f"incomplete answer: {tokens + 1}/{chunks} chunks")
    if stream and END[dialect] not in data[-300:]:
        return Outcome(ttft, total, "stream ended without its end marker")
    return Outcome(ttft, total, reads=len(parts))


def _ms(t0: float) -> float:
    return (time.perf_counter() - t0) * 1000.0


async def op_latency(session: aiohttp.ClientSession, cmd: dict[str, Any]) -> dict[str, Any]:
    """Small non-streaming requests, one at a time, the targets interleaved request by request."""
    return await _sequential(session, cmd, stream=False, chunks=int(cmd.get("chunks", 5)))


async def op_stream(session: aiohttp.ClientSession, cmd: dict[str, Any]) -> dict[str, Any]:
    """Streams one at a time, targets interleaved: time to first text and total time."""
    return await _sequential(session, cmd, stream=True, chunks=int(cmd["chunks"]))


async def _sequential(
    session: aiohttp.ClientSession, cmd: dict[str, Any], *, stream: bool, chunks: int
) -> dict[str, Any]:
    targets: dict[str, dict[str, Any]] = cmd["targets"]
    pace_ms = float(cmd.get("pace_ms", 0))
    prefix = cmd.get("body")
    # `gap_ms`: an idle pause after each request, as between a person's Claude Code turns.
    gap = float(cmd.get("gap_ms", 0)) / 1000.0

    async def one(target: dict[str, Any]) -> Outcome:
        result = await request(session, target, chunks, stream, pace_ms, prefix)
        if gap:
            await asyncio.sleep(gap)
        return result

    for _ in range(int(cmd.get("warmup", 10))):
        for target in targets.values():
            await one(target)
    out: dict[str, Any] = {name: {"ttft": [], "total": [], "errors": Errors()} for name in targets}
    for _ in range(int(cmd["n"])):
        for name, target in targets.items():
            result = await one(target)
            if result.error:
                out[name]["errors"].add(result.error)
                continue
            out[name]["total"].append(result.total)
            out[name]["ttft"].append(result.ttft)
    for entry in out.values():
        entry.update(entry.pop("errors").as_dict())
    return out


async def op_concurrent(session: aiohttp.ClientSession, cmd: dict[str, Any]) -> dict[str, Any]:
    """`streams` streams started at once; wall time until the last one ended."""
    target, chunks = cmd["target"], int(cmd["chunks"])
    t0 = time.perf_counter()
    results = await asyncio.gather(
        *(request(session, target, chunks, True) for _ in range(int(cmd["streams"])))
    )
    wall = time.perf_counter() - t0
    errors = Errors()
    for result in results:
        if result.error:
            errors.add(result.error)
    return {"wall": wall, **errors.as_dict()}


async def _workers(concurrency: int, job: Callable[[], Awaitable[bool]]) -> None:
    async def worker() -> None:
        while await job():
            pass

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def op_requests(session: aiohttp.ClientSession, cmd: dict[str, Any]) -> dict[str, Any]:
    """`n` requests by `concurrency` workers; with `mix`, every other one streams."""
    target, chunks, n = cmd["target"], int(cmd["chunks"]), int(cmd["n"])
    mix, stream = bool(cmd.get("mix")), bool(cmd.get("stream", True))
    pace_ms = float(cmd.get("pace_ms", 0))
    errors = Errors()
    reads: list[int] = []
    sent = 0

    async def job() -> bool:
        nonlocal sent
        if sent >= n:
            return False
        sent += 1
        result = await request(
            session, target, chunks, (sent % 2 == 0) if mix else stream, pace_ms, cmd.get("body")
        )
        reads.append(result.reads)
        if result.error:
            errors.add(result.error)
        return True

    t0 = time.perf_counter()
    await _workers(int(cmd.get("concurrency", 1)), job)
    return {
        "wall": time.perf_counter() - t0,
        "requests": n,
        "reads_per_request": sum(reads) / max(1, len(reads)),
        **errors.as_dict(),
    }


async def op_streams_for(session: aiohttp.ClientSession, cmd: dict[str, Any]) -> dict[str, Any]:
    """Keep `concurrency` streams (or requests, with "stream": false) running for `seconds`."""
    target, chunks = cmd["target"], int(cmd["chunks"])
    deadline = time.perf_counter() + float(cmd["seconds"])
    pace_ms = float(cmd.get("pace_ms", 0))
    stream, prefix = bool(cmd.get("stream", True)), cmd.get("body")
    errors = Errors()
    done = 0

    async def job() -> bool:
        nonlocal done
        if time.perf_counter() >= deadline:
            return False
        result = await request(session, target, chunks, stream, pace_ms, prefix)
        done += 1
        if result.error:
            errors.add(result.error)
        return True

    await _workers(int(cmd["concurrency"]), job)
    return {"streams": done, **errors.as_dict()}


OPS = {
    "latency": op_latency,
    "stream": op_stream,
    "concurrent": op_concurrent,
    "requests": op_requests,
    "streams_for": op_streams_for,
}


async def serve() -> None:
    """Answer commands from stdin until `quit` or end of input."""
    loop = asyncio.get_running_loop()
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=300)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line.strip():
                break
            cmd = orjson.loads(line)
            if cmd["op"] == "quit":
                break
            try:
                result = await OPS[cmd["op"]](session, cmd)
            except Exception as exc:
                result = {"fatal": f"{type(exc).__name__}: {exc}"}
            sys.stdout.buffer.write(orjson.dumps(result) + b"\n")
            sys.stdout.flush()


def main() -> int:
    """``python -m bench.loadgen``."""
    asyncio.run(serve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
