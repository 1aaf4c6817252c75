"""The store with real processes: a headless proxy next to an in-process one on one data folder,
`kill -9` of a headless proxy during a burst of 1,000 requests, and a read-only data folder."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import re
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from proxy.store import db, queries
from tests.conftest import DIALECT_MODELS, ProxyFactory, proxy_env
from tests.support.fake_upstream import FakeUpstream
from tests.support.mgmt import call, turn

BIG, SMALL = DIALECT_MODELS["openai"]
SCRIPT = Path(sys.executable).with_name("claude-proxy")
LISTENING = re.compile(r"listening on (http://\S+)")
# Linux capability numbers and prctl option (linux/capability.h, linux/prctl.h).
CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, PR_CAPBSET_DROP = 1, 2, 24


class Headless:
    """`claude-proxy --headless` in its own process; its log lines are kept."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.url = ""
        self.log: list[str] = []
        self._reader: asyncio.Task[None] | None = None

    async def wait_listening(self, timeout: float = 60.0) -> str:
        assert self.process.stderr is not None
        async with asyncio.timeout(timeout):
            while True:
                line = (await self.process.stderr.readline()).decode()
                if not line:
                    raise AssertionError("headless proxy exited:\n" + "".join(self.log))
                self.log.append(line)
                found = LISTENING.search(line)
                if found:
                    self.url = found.group(1)
                    break
        self._reader = asyncio.create_task(self._keep_reading())
        return self.url

    async def _keep_reading(self) -> None:
        assert self.process.stderr is not None
        while line := await self.process.stderr.readline():
            self.log.append(line.decode())

    def kill_9(self) -> None:
        """SIGKILL without `Popen.kill`, whose poll() can reap the child before asyncio's watcher
        thread does (which then reports 255 instead of -9)."""
        os.kill(self.process.pid, signal.SIGKILL)

    async def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):  # exited, reaped a moment ago
                os.kill(self.process.pid, sig)
        code = await asyncio.wait_for(self.process.wait(), 30)
        if self._reader is not None:
            await self._reader
        return code


def _drop_file_permission_override() -> None:
    """In the child, before exec: root loses the right to ignore file modes (as a user has)."""
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH):
        if libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


@contextlib.asynccontextmanager
async def headless(
    upstream: FakeUpstream,
    data_dir: Path,
    preexec: Callable[[], None] | None = None,
    **env: str,
) -> AsyncIterator[Headless]:
    """A headless proxy against the fake upstream, recording into `data_dir`."""
    environ = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(data_dir.parent),
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        **proxy_env(upstream, BIG_MODEL=BIG, SMALL_MODEL=SMALL, MAX_RETRIES="0"),
        "DATA_DIR": str(data_dir),
        "XDG_CONFIG_HOME": str(data_dir.parent / "config"),
        **env,
    }
    process = await asyncio.create_subprocess_exec(
        str(SCRIPT),
        "--headless",
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        env=environ,
        cwd=data_dir.parent,
        preexec_fn=preexec,
    )
    proxy = Headless(process)
    try:
        await proxy.wait_listening()
        yield proxy
    finally:
        if process.returncode is None:
            process.kill()
        await proxy.stop()


async def post(http: aiohttp.ClientSession, url: str, body: dict[str, Any]) -> str:
    """One non-streaming request; returns the proxy's request id."""
    async with http.post(f"{url}/v1/messages", json=body) as response:
        await response.read()
        assert response.status == 200
        return response.headers["request-id"]


def store_rows(data_dir: Path) -> list[tuple[str, float]]:
    """(id, started_at) of every recorded request."""
    conn = db.open_reader(data_dir / db.DB_NAME)
    try:
        return [tuple(r) for r in conn.execute("SELECT id, started_at FROM requests")]
    finally:
        conn.close()


async def test_a_headless_and_an_in_process_proxy_both_record(
    make_proxy: ProxyFactory, upstream: FakeUpstream, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    inside = await make_proxy(BIG_MODEL=BIG, SMALL_MODEL=SMALL, DATA_DIR=str(data))
    async with headless(upstream, data) as outside, aiohttp.ClientSession() as http:
        ids = await asyncio.gather(
            *(post(http, proxy.url, turn(f"{n}")) for n in range(40) for proxy in (inside, outside))
        )
        # Each process reads what both wrote (after its own writer caught up).
        from_outside = (await call(outside.url, "GET", "/usage?by=model")).json
        from_inside = (await call(inside.url, "GET", "/stats")).json
        assert await outside.stop() == 0
    assert from_inside["totals"]["requests"] == 40  # memory: this process's own
    assert from_inside["all_time"]["requests"] >= 40
    assert from_outside["totals"]["requests"] >= 40
    await inside.service.recording.read(queries.totals)  # the in-process writer has flushed
    rows = store_rows(data)
    assert sorted(r[0] for r in rows) == sorted(ids) and len(set(ids)) == 80
    assert "recording paused" not in "".join(outside.log)


async def test_kill_9_during_a_burst_of_1000_requests(
    upstream: FakeUpstream, tmp_path: Path
) -> None:
    """1,000 requests at a steady 200/s; SIGKILL after 600 answers. The file passes
    integrity_check, and every request answered more than a second before the kill is in it."""
    data = tmp_path / "data"
    answered: list[tuple[str, float]] = []
    async with headless(upstream, data) as proxy:
        connector = aiohttp.TCPConnector(limit=64)
        async with aiohttp.ClientSession(connector=connector) as http:

            async def one(n: int) -> None:
                with contextlib.suppress(aiohttp.ClientError, AssertionError):
                    request_id = await post(http, proxy.url, turn(f"burst {n}"))
                    answered.append((request_id, time.time()))

            tasks: list[asyncio.Task[None]] = []
            start = time.monotonic()
            killed_at = None
            for n in range(1_000):
                tasks.append(asyncio.create_task(one(n)))
                if killed_at is None and len(answered) >= 600:
                    proxy.kill_9()
                    killed_at = time.time()
                    break
                delay = start + (n + 1) / 200 - time.monotonic()
                await asyncio.sleep(max(0.0, delay))
            while killed_at is None:
                # A slow machine: the answers lag behind the sends; kill at 600 all the same.
                if len(answered) >= 600:
                    proxy.kill_9()
                    killed_at = time.time()
                await asyncio.sleep(0.001)
            await asyncio.gather(*tasks)
        assert await proxy.stop() == -signal.SIGKILL
    assert killed_at is not None
    conn = db.open_store(data / db.DB_NAME)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        stored = {row[0] for row in conn.execute("SELECT id FROM requests")}
        assert queries.totals(conn)["requests"] == len(stored)
    finally:
        conn.close()
    answered_before = [(rid, at) for rid, at in answered if at <= killed_at]
    lost = [(rid, at) for rid, at in answered_before if rid not in stored]
    assert len(answered_before) >= 600
    # Lost: only requests answered in the last second before the kill.
    assert all(at > killed_at - 1.0 for _, at in lost), (len(lost), killed_at)
    print(f"answered {len(answered_before)}, stored {len(stored)}, lost {len(lost)}")


async def test_a_read_only_data_folder_pauses_recording_and_the_proxy_serves(
    upstream: FakeUpstream, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o500)
    as_root = os.geteuid() == 0
    try:
        async with headless(
            upstream, data, preexec=_drop_file_permission_override if as_root else None
        ) as proxy:
            health = await _wait_health(proxy.url, lambda r: r["state"] == "paused")
            assert health == {"state": "paused", "reason": "read-only folder"}
            answer = await call(proxy.url, "POST", "/v1/messages", turn("still served"))
            assert answer.status == 200
            usage = await call(proxy.url, "GET", "/usage")
            assert usage.status == 503 and "read-only" in usage.error
            config = (await call(proxy.url, "GET", "/config")).json["recording"]
            # The request and its two history turns wait in memory.
            assert config["backlog"] == 3 and "DATA_DIR" in config["message"]
            assert str(data) in config["message"]
            # Fixed while it runs: the record waiting in memory is written.
            data.chmod(0o700)
            await _wait_health(proxy.url, lambda r: r["state"] == "recording", timeout=60)
            usage = await call(proxy.url, "GET", "/usage")
            assert usage.status == 200 and usage.json["totals"]["requests"] == 1
            assert await proxy.stop() == 0
    finally:
        data.chmod(0o700)
    log = "".join(proxy.log)
    if as_root and "prctl" in log:
        pytest.skip("root without CAP_SETPCAP cannot give up its file-mode override")
    assert "recording paused: cannot write" in log and "read-only" in log
    assert "recording resumed" in log


async def _wait_health(
    url: str, check: Callable[[dict[str, Any]], bool], timeout: float = 30.0
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        recording = orjson.loads((await call(url, "GET", "/health")).text)["recording"]
        if check(recording) or time.monotonic() > deadline:
            return dict(recording)
        await asyncio.sleep(0.05)
