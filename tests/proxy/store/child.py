"""A process that writes to a store, driven by the multi-process tests (not a test itself).

    python -m tests.proxy.store.child burst PATH COUNT RATE
    python -m tests.proxy.store.child writer PATH PREFIX COUNT
    python -m tests.proxy.store.child readonly FOLDER

Each prints progress and a final JSON line on stdout.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from proxy.store.writer import StoreWriter
from tests.proxy.store.support import request, turn


def say(*parts: Any) -> None:
    print(*parts, flush=True)


def burst(path: Path, count: int, rate: float) -> None:
    """Submit `count` requests at a steady `rate` per second, reporting every 50."""
    writer = StoreWriter(path)
    say("ready")
    start = time.monotonic()
    for n in range(count):
        writer.submit_request(request(n, time.time()))
        if (n + 1) % 50 == 0:
            say("submitted", n + 1, time.time())
        # Steady rate: sleep until the next record is due.
        delay = start + (n + 1) / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    writer.close()
    say(orjson.dumps(writer.status()).decode())


def writer_run(path: Path, prefix: str, count: int) -> None:
    """Submit `count` requests and `count` turns with ids under `prefix`, then flush and close."""
    writer = StoreWriter(path, batch_seconds=0.02)
    for n in range(count):
        writer.submit_request(request(n, time.time(), id=f"{prefix}-{n:05d}"))
        writer.submit_turn(turn(n, time.time(), key=f"{prefix}-{n}", content=f"{prefix} says {n}"))
        if n % 25 == 0:
            time.sleep(0.005)
    flushed = writer.flush(30)
    writer.close()
    say(orjson.dumps({"flushed": flushed, **writer.status()}).decode())


def wait_for(check: Callable[[], bool], timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def readonly(folder: Path) -> None:
    """A read-only data folder, then a read-only file: recording pauses, then resumes."""
    seen: dict[str, Any] = {}
    path = folder / "claude-proxy.db"
    folder.chmod(0o500)
    writer = StoreWriter(path, retry_seconds=0.05, max_retry_seconds=0.1)
    for n in range(20):
        writer.submit_request(request(n, time.time()))
    seen["paused"] = wait_for(lambda: writer.paused and writer.status()["backlog"] == 20)
    seen["while_paused"] = writer.status()
    seen["flush_while_paused"] = writer.flush(0.2)
    folder.chmod(0o700)
    seen["resumed"] = wait_for(lambda: not writer.paused and writer.rows_written == 20)
    seen["flush_after"] = writer.flush(10)
    seen["after"] = writer.status()
    writer.close()

    # The file itself read-only (the folder writable): the first write fails.
    path.chmod(0o400)
    writer = StoreWriter(path, retry_seconds=0.05, max_retry_seconds=0.1)
    for n in range(20, 30):
        writer.submit_request(request(n, time.time()))
    seen["file_paused"] = wait_for(lambda: writer.paused)
    seen["file_while_paused"] = writer.status()
    path.chmod(0o600)
    seen["file_resumed"] = wait_for(lambda: not writer.paused and writer.rows_written == 10)
    writer.close()
    seen["file_after"] = writer.status()
    say(orjson.dumps(seen).decode())


def main(argv: list[str]) -> None:
    mode, *args = argv
    if mode == "burst":
        burst(Path(args[0]), int(args[1]), float(args[2]))
    elif mode == "writer":
        writer_run(Path(args[0]), args[1], int(args[2]))
    elif mode == "readonly":
        readonly(Path(args[0]))
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
