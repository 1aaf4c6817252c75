"""Upgrading from a version that kept history in a JSON file: nothing the user recorded is lost.

`upgrade/history-v1.json` was written by the previous claude-proxy (see upgrade/README.md). Today
the store holds history; that file is imported once at the first start and then kept up to date
as an export.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import orjson

from proxy.core.user_state import STATE_FILE
from tests.conftest import ProxyFactory
from tests.support.mgmt import BIG, SMALL, ask, call, turn

OLD_FILE = Path(__file__).parent / "upgrade" / "history-v1.json"


def old_messages() -> list[dict[str, Any]]:
    """The messages the old version wrote."""
    return list(json.loads(OLD_FILE.read_text())["messages"])


async def everything(url: str) -> dict[str, Any]:
    """Every stored turn through GET /conversation."""
    answer = await call(url, "GET", "/conversation?limit=100000")
    assert answer.status == 200, answer.text
    return answer.json  # type: ignore[no-any-return]


def remember(path: str) -> None:
    """state.json as the older version left it after `POST /conversation/enable`."""
    state = Path(os.environ["XDG_CONFIG_HOME"]) / "claude-proxy" / STATE_FILE
    state.parent.mkdir(parents=True, exist_ok=True)
    state.write_text(orjson.dumps({"conversation_file": path}).decode())


async def test_the_remembered_file_comes_into_the_store_once(
    make_proxy: ProxyFactory, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    target = data / "conversations" / "history.json"
    target.parent.mkdir(parents=True)
    shutil.copy(OLD_FILE, target)
    remember(str(target))
    old = old_messages()

    first = await make_proxy(BIG_MODEL=BIG, SMALL_MODEL=SMALL, DATA_DIR=str(data))
    body = await everything(first.url)
    # Every field of every message, in order: the store gives back what the file held.
    assert body["messages"] == old
    assert body["total_count"] == len(old) == 16
    status = (await call(first.url, "GET", "/conversation/status")).json
    assert (status["enabled"], status["count"], status["sessions"]) == (True, 16, 2)
    assert status["persistence_file"] == str(target.resolve())
    await ask(first.url, turn("the first turn after the upgrade"), session="s-new")
    await first.stop()
    # The file is still the export it was, with the new turn at the end.
    assert json.loads(target.read_text())["messages"][:16] == old
    assert len(json.loads(target.read_text())["messages"]) == 18

    # Each later start reads the file again; nothing is recorded twice.
    second = await make_proxy(BIG_MODEL=BIG, SMALL_MODEL=SMALL, DATA_DIR=str(data))
    body = await everything(second.url)
    assert body["total_count"] == 18
    assert body["messages"][:16] == old
    assert body["messages"][16]["content"] == "the first turn after the upgrade"
    exported = (await call(second.url, "GET", "/conversation/export?format=json")).json
    assert exported["messages"] == body["messages"]
    sessions = (await call(second.url, "GET", "/sessions")).json["sessions"]
    assert sessions == ["0a1b2c3d-session-one", "9f8e7d6c-session-two", "s-new"]


async def test_conversation_file_setting_outside_the_data_folder(
    make_proxy: ProxyFactory, tmp_path: Path
) -> None:
    own = tmp_path / "mine" / "chat-history.json"
    own.parent.mkdir()
    shutil.copy(OLD_FILE, own)
    proxy = await make_proxy(
        BIG_MODEL=BIG,
        SMALL_MODEL=SMALL,
        DATA_DIR=str(tmp_path / "data"),
        CONVERSATION_FILE=str(own),
    )
    assert (await everything(proxy.url))["messages"] == old_messages()
    # The search reads the imported turns too.
    found = await proxy.service.history_store.page(text="quotes")
    assert [t["content"] for t in found["turns"]][-1].startswith("answer 0")


async def test_a_file_longer_than_the_limit_loses_nothing(
    make_proxy: ProxyFactory, tmp_path: Path
) -> None:
    """Memory and the export file keep the newest CONVERSATION_LIMIT turns; the store has all."""
    data = tmp_path / "data"
    target = data / "history.json"
    data.mkdir()
    shutil.copy(OLD_FILE, target)
    remember(str(target))
    proxy = await make_proxy(
        BIG_MODEL=BIG, SMALL_MODEL=SMALL, DATA_DIR=str(data), CONVERSATION_LIMIT=10
    )
    body = await everything(proxy.url)
    assert body["messages"] == old_messages()
    default = (await call(proxy.url, "GET", "/conversation")).json
    assert default["messages"] == old_messages()[-10:]
    assert default["total_count"] == 16
    await ask(proxy.url, turn("one more"))
    await proxy.stop()
    kept = json.loads(target.read_text())["messages"]
    assert len(kept) == 10 and kept[-1]["content"] != old_messages()[-1]["content"]


async def test_the_file_is_not_rewritten_before_its_turns_are_stored(
    make_proxy: ProxyFactory, tmp_path: Path
) -> None:
    """A store that cannot be written keeps the old file as it was."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("the data folder cannot be created under a file (even by root)")
    own = tmp_path / "elsewhere" / "history.json"
    own.parent.mkdir()
    shutil.copy(OLD_FILE, own)
    proxy = await make_proxy(
        BIG_MODEL=BIG,
        SMALL_MODEL=SMALL,
        DATA_DIR=str(blocker / "data"),
        CONVERSATION_FILE=str(own),
        CONVERSATION_LIMIT=10,
    )
    await ask(proxy.url, turn("while the store is paused"))
    # Memory still answers (the newest 10 turns), and /health says why nothing is recorded.
    body = (await call(proxy.url, "GET", "/conversation")).json
    assert body["messages"][-2]["content"] == "while the store is paused"
    assert len(body["messages"]) == 10
    assert proxy.service.recording.status()["state"] == "paused"
    await proxy.stop()
    assert own.read_bytes() == OLD_FILE.read_bytes()
