"""Files named over HTTP stay in the data folder: the code-execution chain, devices, FIFOs, links,
`..`, NUL, the size cap, and a hostile path remembered in state.json."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

import orjson
import pytest

from proxy.core.atomic import write_private
from proxy.core.errors import ProxyError
from proxy.core.paths import PathRuleError, confined_path, data_dir, read_capped
from proxy.core.user_state import STATE_FILE
from tests.conftest import ProxyFactory
from tests.proxy.security.client import EVIL_ORIGIN, files_under, send
from tests.support.mgmt import BIG, SMALL, ask, turn

PAYLOAD = "$(id > /tmp/claude-proxy-pwned)"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """HOME in a temp folder: `~/.bash_aliases` lands where the test can look."""
    folder = tmp_path / "home"
    folder.mkdir()
    monkeypatch.setenv("HOME", str(folder))
    return folder


async def test_code_execution_chain_leaves_no_file_outside_the_data_folder(
    make_proxy: ProxyFactory, home: Path, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    proxy = await make_proxy(BIG_MODEL=BIG, SMALL_MODEL=SMALL, DATA_DIR=str(data))
    record = {"role": "user", "content": PAYLOAD, "timestamp": "2026-01-01T00:00:00Z"}
    chain = [
        ("/switch_model", {"big_model": "openai/does-not-exist"}),
        ("/conversation/import", {"messages": [record]}),
        ("/conversation/enable", {"file_path": "~/.bash_aliases"}),
    ]
    # 1. As a web page sends them: simple requests, no preflight. All refused.
    for path, body in chain:
        answer = await send(
            proxy.url,
            "POST",
            path,
            headers={"Origin": EVIL_ORIGIN, "Content-Type": "text/plain;charset=UTF-8"},
            data=orjson.dumps(body),
        )
        assert answer.status == 403, answer.text
    # 2. Even a local JSON client cannot make the proxy write outside its folder.
    imported = await send(proxy.url, "POST", "/conversation/import", json_body=chain[1][1])
    assert imported.status == 200
    for hostile in (
        "~/.bash_aliases",
        str(home / ".bashrc"),
        "../../home/.bash_aliases",
        "/tmp/.bash_aliases",
    ):
        answer = await send(
            proxy.url, "POST", "/conversation/enable", json_body={"file_path": hostile}
        )
        assert answer.status == 400, answer.text
        assert "file_path" in answer.error
    await ask(proxy.url, turn("after the attempts"))
    await proxy.stop()
    assert files_under(home) == set()
    assert not Path("/tmp/.bash_aliases").exists()
    outside = files_under(tmp_path) - files_under(data) - {str(data)}
    assert all(not name.endswith((".bash_aliases", ".bashrc")) for name in outside)
    state = Path(os.environ["XDG_CONFIG_HOME"]) / "claude-proxy" / STATE_FILE
    assert not state.exists() or "bash" not in state.read_text()


async def test_a_file_name_lands_in_the_data_folder_private(
    make_proxy: ProxyFactory, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    proxy = await make_proxy(BIG_MODEL=BIG, SMALL_MODEL=SMALL, DATA_DIR=str(data))
    enabled = await send(
        proxy.url, "POST", "/conversation/enable", json_body={"file_path": "chats/history.json"}
    )
    assert enabled.status == 200, enabled.text
    written = data.resolve() / "chats" / "history.json"
    assert enabled.json["persistence_file"] == str(written)
    assert written.is_file()
    assert stat.S_IMODE(written.stat().st_mode) == 0o600
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    # An absolute path inside the folder is the same file.
    again = await send(
        proxy.url, "POST", "/conversation/enable", json_body={"file_path": str(written)}
    )
    assert again.status == 200


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
async def test_hostile_history_paths_are_fast_4xx(make_proxy: ProxyFactory, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    os.mkfifo(data / "fifo.json")
    (data / "zero.json").symlink_to("/dev/zero")
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (data / "linked").symlink_to(outside)
    (data / "folder.json").mkdir()
    proxy = await make_proxy(BIG_MODEL=BIG, SMALL_MODEL=SMALL, DATA_DIR=str(data))
    cases = {
        "/dev/zero": "outside the data folder",
        "/proc/self/mem": "outside the data folder",
        "fifo.json": "not a regular file",
        str(data / "fifo.json"): "not a regular file",
        "zero.json": "symbolic link",
        "linked/history.json": "symbolic link",
        "../history.json": "'..' is not allowed",
        "a/../../history.json": "'..' is not allowed",
        "history\x00.json": "NUL byte",
        "folder.json": "is a folder",
        "": "non-empty",
    }
    for path, rule in cases.items():
        answer = await send(
            proxy.url, "POST", "/conversation/enable", json_body={"file_path": path}
        )
        assert answer.status == 400, f"{path!r}: {answer.text}"
        assert rule in answer.error, f"{path!r}: {answer.error}"
    # Nothing was attached or created, and the proxy still answers.
    status = await send(proxy.url, "GET", "/conversation/status")
    assert status.json["enabled"] is False
    assert files_under(outside) == set()
    await ask(proxy.url, turn("still fine"))


async def test_history_file_over_the_cap_is_413(make_proxy: ProxyFactory, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    big = {"messages": [{"role": "user", "content": "x" * 4000, "timestamp": "t"}]}
    (data / "big.json").write_bytes(orjson.dumps(big))
    proxy = await make_proxy(
        BIG_MODEL=BIG, SMALL_MODEL=SMALL, DATA_DIR=str(data), MAX_FILE_BYTES="2048"
    )
    answer = await send(
        proxy.url, "POST", "/conversation/enable", json_body={"file_path": "big.json"}
    )
    assert answer.status == 413, answer.text
    assert "MAX_FILE_BYTES" in answer.error
    assert (data / "big.json").read_bytes() == orjson.dumps(big)  # never overwritten


async def test_hostile_path_remembered_in_state_json_is_refused_at_start(
    make_proxy: ProxyFactory, home: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    state = Path(os.environ["XDG_CONFIG_HOME"]) / "claude-proxy" / STATE_FILE
    state.parent.mkdir(parents=True, exist_ok=True)
    state.write_text(orjson.dumps({"conversation_file": "~/.bash_aliases"}).decode())
    with caplog.at_level(logging.ERROR):
        proxy = await make_proxy(BIG_MODEL=BIG, SMALL_MODEL=SMALL, DATA_DIR=str(tmp_path / "d"))
    assert any(
        ".bash_aliases" in r.getMessage() and "remembered" in r.getMessage() for r in caplog.records
    )
    status = (await send(proxy.url, "GET", "/conversation/status")).json
    assert status["enabled"] is False
    assert "outside the data folder" in status["last_error"]
    await ask(proxy.url, turn("a turn that would have been saved"))
    await proxy.stop()
    assert files_under(home) == set()


async def test_a_remembered_path_inside_the_folder_still_loads(
    make_proxy: ProxyFactory, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    proxy = await make_proxy(BIG_MODEL=BIG, SMALL_MODEL=SMALL, DATA_DIR=str(data))
    await send(proxy.url, "POST", "/conversation/enable", json_body={"file_path": "h.json"})
    await ask(proxy.url, turn("kept across restarts"))
    await proxy.stop()
    again = await make_proxy(BIG_MODEL=BIG, SMALL_MODEL=SMALL, DATA_DIR=str(data))
    status = (await send(again.url, "GET", "/conversation/status")).json
    assert (status["enabled"], status["count"]) == (True, 2)


def test_confined_path_rules(tmp_path: Path) -> None:
    root = tmp_path / "data"
    assert confined_path("a.json", root) == root.resolve() / "a.json"
    assert confined_path("sub/a.json", root) == root.resolve() / "sub" / "a.json"
    assert stat.S_IMODE(root.stat().st_mode) == 0o700
    # The folder reached through a link of the user's own is still the folder.
    alias = tmp_path / "alias"
    alias.symlink_to(root)
    assert confined_path(str(alias / "a.json"), alias) == root.resolve() / "a.json"
    for bad in ("..", "../x", "/etc/passwd", "x\x00", str(root)):
        with pytest.raises(PathRuleError):
            confined_path(bad, root)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_read_capped_never_follows_waits_or_overreads(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(PathRuleError, match="not a regular file"):
        read_capped(fifo, 1024)  # O_NONBLOCK: no writer, no wait
    link = tmp_path / "link"
    link.symlink_to("/dev/zero")
    with pytest.raises(PathRuleError, match="symbolic link"):
        read_capped(link, 1024)
    big = tmp_path / "big"
    big.write_bytes(b"x" * 2000)
    with pytest.raises(ProxyError) as caught:
        read_capped(big, 1024)
    assert caught.value.status == 413
    assert read_capped(big, 4096) == b"x" * 2000
    with pytest.raises(FileNotFoundError):
        read_capped(tmp_path / "missing", 10)


def test_data_dir_defaults(tmp_path: Path) -> None:
    assert data_dir({"XDG_DATA_HOME": str(tmp_path)}) == tmp_path / "claude-proxy"
    assert data_dir({"DATA_DIR": str(tmp_path / "d")}) == tmp_path / "d"
    assert data_dir({}, str(tmp_path / "o")) == tmp_path / "o"
    assert data_dir({"HOME": "/x"}).name == "claude-proxy"


def test_tui_exports_are_private_atomic_and_never_through_a_link(tmp_path: Path) -> None:
    target = tmp_path / "out" / "export.json"
    assert write_private(target, b"{}") == target
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    secret = tmp_path / "secret"
    secret.write_text("keep")
    link = tmp_path / "link.json"
    link.symlink_to(secret)
    with pytest.raises(OSError, match="symbolic link"):
        write_private(link, b"overwritten?")
    assert secret.read_text() == "keep"
    assert not list(target.parent.glob("*.tmp"))
