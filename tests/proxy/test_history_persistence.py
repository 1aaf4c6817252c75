"""History persistence: enable/disable, reload after a restart, crash safety of the writer."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from proxy.core.atomic import atomic_write_bytes
from proxy.state.history import ConversationHistory
from tests.conftest import ProxyFactory
from tests.support.mgmt import BIG, SMALL, ask, call, turn


async def test_enable_writes_and_restart_reloads(make_proxy: ProxyFactory, tmp_path: Path) -> None:
    path = tmp_path / "deep" / "folder" / "history.json"
    proxy = await make_proxy(BIG_MODEL=BIG, SMALL_MODEL=SMALL, DATA_DIR=str(tmp_path))
    await ask(proxy.url, turn("before enabling"))
    enabled = await call(proxy.url, "POST", "/conversation/enable", {"file_path": str(path)})
    assert enabled.status == 200, enabled.text
    assert enabled.json["enabled"] is True
    assert enabled.json["persistence_file"] == str(path)
    # The folder is created and the file holds what was recorded so far, at once.
    assert len(json.loads(path.read_text())["messages"]) == 2
    await ask(proxy.url, turn("after enabling"))
    await proxy.stop()  # shutdown flushes the delayed save
    assert len(json.loads(path.read_text())["messages"]) == 4
    assert not list(path.parent.glob("*.tmp"))

    again = await make_proxy(
        BIG_MODEL=BIG, SMALL_MODEL=SMALL, CONVERSATION_FILE=str(path), DATA_DIR=str(tmp_path)
    )
    body = (await call(again.url, "GET", "/conversation")).json
    assert [m["content"] for m in body["messages"] if m["role"] == "user"] == [
        "before enabling",
        "after enabling",
    ]
    status = (await call(again.url, "GET", "/conversation/status")).json
    assert status == {
        "count": 4,
        "limit": 1000,
        "enabled": True,
        "persistence_file": str(path),
        "sessions": 0,
        "last_error": None,
    }
    # Clearing is persisted too.
    await call(again.url, "DELETE", "/conversation")
    assert json.loads(path.read_text())["messages"] == []


async def test_enabled_file_is_remembered_across_restarts(
    make_proxy: ProxyFactory, tmp_path: Path
) -> None:
    path = tmp_path / "remembered.json"
    proxy = await make_proxy(BIG_MODEL=BIG, SMALL_MODEL=SMALL, DATA_DIR=str(tmp_path))
    await call(proxy.url, "POST", "/conversation/enable", {"file_path": str(path)})
    await ask(proxy.url, turn("remember this"))
    await proxy.stop()
    # No CONVERSATION_FILE: the proxy remembers the file persistence was enabled for.
    again = await make_proxy(BIG_MODEL=BIG, SMALL_MODEL=SMALL, DATA_DIR=str(tmp_path))
    status = (await call(again.url, "GET", "/conversation/status")).json
    assert (status["enabled"], status["count"]) == (True, 2)
    await call(again.url, "POST", "/conversation/disable")
    third = await make_proxy(BIG_MODEL=BIG, SMALL_MODEL=SMALL, DATA_DIR=str(tmp_path))
    status = (await call(third.url, "GET", "/conversation/status")).json
    # No export file any more; the turns live in the store whatever the file.
    assert (status["enabled"], status["persistence_file"], status["count"]) == (False, None, 2)


async def test_disable_stops_writing(make_proxy: ProxyFactory, tmp_path: Path) -> None:
    path = tmp_path / "history.json"
    proxy = await make_proxy(
        BIG_MODEL=BIG, SMALL_MODEL=SMALL, CONVERSATION_FILE=str(path), DATA_DIR=str(tmp_path)
    )
    await ask(proxy.url, turn("kept"))
    disabled = await call(proxy.url, "POST", "/conversation/disable")
    assert disabled.json["enabled"] is False
    assert len(json.loads(path.read_text())["messages"]) == 2
    await ask(proxy.url, turn("not written"))
    await proxy.stop()
    assert len(json.loads(path.read_text())["messages"]) == 2


async def test_enable_validation(make_proxy: ProxyFactory, tmp_path: Path) -> None:
    proxy = await make_proxy(BIG_MODEL=BIG, SMALL_MODEL=SMALL, DATA_DIR=str(tmp_path))
    broken = tmp_path / "broken.json"
    broken.write_text("{ not json")
    (tmp_path / "sub").mkdir()
    cases = [
        ({}, "file_path: field required"),
        ({"file_path": 3}, "file_path: field required"),
        ({"file_path": str(tmp_path)}, "is the data folder itself"),
        ({"file_path": "sub"}, "is a folder"),
        ({"file_path": str(broken)}, "not valid JSON"),
        ({"file_path": "x", "other": 1}, "other: unknown field"),
    ]
    for body, needle in cases:
        answer = await call(proxy.url, "POST", "/conversation/enable", body)
        assert answer.status == 400, answer.text
        assert needle in answer.error
    # A damaged file is never overwritten.
    assert broken.read_text() == "{ not json"
    assert (await call(proxy.url, "GET", "/conversation/status")).json["enabled"] is False


async def test_damaged_file_at_start_is_reported_not_overwritten(
    make_proxy: ProxyFactory, tmp_path: Path
) -> None:
    path = tmp_path / "history.json"
    path.write_text('{"messages": [{"role": "robot"}]}')
    proxy = await make_proxy(
        BIG_MODEL=BIG, SMALL_MODEL=SMALL, CONVERSATION_FILE=str(path), DATA_DIR=str(tmp_path)
    )
    status = (await call(proxy.url, "GET", "/conversation/status")).json
    assert status["enabled"] is False
    assert "messages[0].role" in status["last_error"]
    await ask(proxy.url, turn("hi"))
    await proxy.stop()
    assert path.read_text() == '{"messages": [{"role": "robot"}]}'


WRITER = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    from proxy.core import atomic

    def stall(fd):
        # The new content is in the temp file; the rename has not happened yet.
        print("temp written", flush=True)
        time.sleep(60)

    atomic.os.fsync = stall
    atomic.atomic_write_bytes(Path(sys.argv[1]), b'{"messages": [' + b'"x",' * 200000)
    """
)


def test_writer_killed_mid_write_leaves_previous_file(tmp_path: Path) -> None:
    path = tmp_path / "history.json"
    history = ConversationHistory(10)
    history.add_records([{"role": "user", "content": "safe", "timestamp": "t", "model_used": None}])
    atomic_write_bytes(path, json.dumps(history.export()).encode())
    before = path.read_bytes()
    with subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path)],
        stdout=subprocess.PIPE,
        cwd=Path(__file__).resolve().parents[2],
    ) as writer:
        try:
            assert writer.stdout is not None
            assert writer.stdout.readline().strip() == b"temp written"
            os.kill(writer.pid, signal.SIGKILL)
        finally:
            if writer.poll() is None and writer.returncode is None:
                writer.kill()  # only if the assertions above failed before the kill
            writer.wait(10)
    assert writer.returncode == -signal.SIGKILL
    assert path.read_bytes() == before
    assert len(list(tmp_path.glob(".history.json.*.tmp"))) == 1
    # The next start loads the previous file and sweeps the killed writer's temp file away.
    fresh = ConversationHistory(10)
    assert fresh.load_file(path) == 1
    assert fresh.messages()[0]["content"] == "safe"
    assert list(tmp_path.glob("*.tmp")) == []


@pytest.mark.parametrize("fail_at", ["write", "replace"])
def test_failed_write_keeps_previous_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fail_at: str
) -> None:
    path = tmp_path / "f.json"
    atomic_write_bytes(path, b"old")

    def boom(*_args: object) -> None:
        raise OSError("disk full")

    from proxy.core import atomic

    if fail_at == "replace":
        monkeypatch.setattr(atomic.os, "replace", boom)
    else:
        monkeypatch.setattr(atomic.os, "fsync", boom)
    with pytest.raises(OSError, match="disk full"):
        atomic_write_bytes(path, b"new")
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.json"]


async def test_save_coalesces(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Many changes before the delayed save land in one file write."""
    import proxy.state.history as module

    writes: list[int] = []

    def counting(path: Path, data: bytes) -> None:
        writes.append(len(data))
        atomic_write_bytes(path, data)

    monkeypatch.setattr(module, "atomic_write_bytes", counting)
    history = ConversationHistory(100)
    history.attach(tmp_path / "h.json")
    for i in range(20):
        history.add_records([{"role": "user", "content": str(i), "timestamp": "t"}])
    await history.flush()
    assert len(writes) == 1
    assert len(json.loads((tmp_path / "h.json").read_text())["messages"]) == 20
