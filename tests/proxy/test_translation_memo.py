"""Translations kept with a kept conversation (to_openai.convert_messages' `memo`): the same
OpenAI messages as a translation from scratch, whatever the proxy's memory says meanwhile, and
the kept translations are never changed by the requests that reuse them."""

from __future__ import annotations

import copy
from typing import Any

import orjson

from proxy.translate.carrier import Remembered, ReturnPath
from proxy.translate.to_openai import convert_messages

ORIGIN = "abc123"


def _body(turns: int, orphan: bool = False) -> dict[str, Any]:
    messages: list[dict[str, Any]] = [{"role": "user", "content": "start"}]
    for i in range(turns):
        messages.append(
            {
                "role": "assistant",
                "content": [
                    {"type": "text", "text": f"step {i}"},
                    {"type": "tool_use", "id": f"call_{i}", "name": "Read", "input": {"n": i}},
                ],
            }
        )
        messages.append(
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": f"call_{i}", "content": "ok"}],
            }
        )
        if i == 1:
            messages.append({"role": "system", "content": "mid-conversation note"})
    if orphan:
        messages.append(
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "nobody"}]}
        )
    return {"model": "m", "system": "be brief", "messages": messages}


class Memory:
    """A stand-in for state/tool_memory.py: tool id -> what the proxy remembers of it."""

    def __init__(self) -> None:
        self.entries: dict[str, Remembered] = {}

    def recall(self, tool_id: str) -> Remembered | None:
        return self.entries.get(tool_id)


def _convert(body: dict[str, Any], memory: Memory, memo: list[Any] | None) -> tuple[Any, Any]:
    notes: list[str] = []
    back = ReturnPath(ORIGIN, "openai", memory.recall)
    out = convert_messages(body, False, notes, back=back, memo=memo)
    return orjson.dumps(out), notes


def test_a_growing_conversation_translates_as_from_scratch() -> None:
    memory = Memory()
    memory.entries["call_1"] = Remembered(ORIGIN, "upstream-1", "sig-1")
    memo: list[Any] = []
    body = _body(2)
    for turns in (2, 3, 5):
        grown = _body(turns, orphan=turns == 5)
        # The kept messages are the same objects, as a kept conversation gives them.
        kept = len(body["messages"]) - 1
        grown["messages"][:kept] = body["messages"][:kept]
        memo = memo[:kept]  # what the next kept conversation inherits
        assert _convert(grown, memory, memo) == _convert(copy.deepcopy(grown), memory, None)
        body = grown
    assert memo and all(t.message is m for t, m in zip(memo, body["messages"], strict=False))


def test_what_the_memory_says_now_decides() -> None:
    memory = Memory()
    memo: list[Any] = []
    body = _body(3)
    first = _convert(body, memory, memo)
    kept = copy.deepcopy([t.out for t in memo])
    # The memory learns an upstream spelling and a signature, then forgets them again.
    memory.entries["call_0"] = Remembered(ORIGIN, "upstream-0", "sig-0")
    memory.entries["call_2"] = Remembered("another-upstream", "elsewhere", "sig")
    changed = _convert(body, memory, memo)
    assert changed == _convert(copy.deepcopy(body), memory, None)
    assert b"upstream-0" in changed[0] and b"elsewhere" not in changed[0]
    memory.entries.clear()
    assert _convert(body, memory, memo) == first
    assert [t.out for t in memo] == kept  # nothing kept was changed by the renames


def test_another_message_at_a_kept_place_is_translated_afresh() -> None:
    memory = Memory()
    memo: list[Any] = []
    _convert(_body(2), memory, memo)
    other = _body(2)
    other["messages"][1]["content"][0]["text"] = "something else"
    assert _convert(other, memory, memo) == _convert(copy.deepcopy(other), memory, None)


class VersionedMemory(Memory):
    """The stand-in with ToolMemory's version: bumped on every change."""

    def __init__(self) -> None:
        super().__init__()
        self.version = 0

    def learn(self, tool_id: str, value: Remembered | None) -> None:
        if value is None:
            self.entries.pop(tool_id, None)
        else:
            self.entries[tool_id] = value
        self.version += 1


def _joined(
    body: dict[str, Any], memory: VersionedMemory, memo: list[Any], joined: list[Any]
) -> tuple[bytes, list[str], list[str]]:
    notes: list[str] = ["earlier note"]
    texts: list[str] = []
    out = _run(body, memory, memo, joined, notes, texts)
    return orjson.dumps(out), notes, texts


def _run(
    body: dict[str, Any],
    memory: VersionedMemory,
    memo: list[Any],
    joined: list[Any],
    notes: list[str],
    texts: list[str],
    kept: list[Any] | None = None,
) -> list[dict[str, Any]]:
    back = ReturnPath(ORIGIN, "openai", memory.recall)
    return convert_messages(
        body,
        False,
        notes,
        back=back,
        system_texts=texts,
        memo=memo,
        joined=joined,
        version=memory.version,
        kept_json=kept,
    )


def _scratch(body: dict[str, Any], memory: VersionedMemory) -> tuple[bytes, list[str], list[str]]:
    return _joined(copy.deepcopy(body), memory, [], [])


def test_a_growing_conversation_resumes_where_the_last_request_stopped() -> None:
    """Each request starts from the kept running state (all but the newest message of the one
    before): same messages, notes (translation then repair, in order) and system texts."""
    memory = VersionedMemory()
    memory.learn("call_1", Remembered(ORIGIN, "upstream-1", "sig-1"))
    memo: list[Any] = []
    joined: list[Any] = []
    body = _body(1)
    for turns in (1, 2, 3, 4, 6, 7):
        grown = _body(turns, orphan=turns >= 6)
        kept = len(body["messages"]) - 1
        grown["messages"][:kept] = body["messages"][:kept]
        memo, joined = memo[:kept], joined[: min(kept, 1)]  # what a kept conversation inherits
        before = joined[0] if joined else None
        assert _joined(grown, memory, memo, joined) == _scratch(grown, memory)
        if before is not None and turns > 1:
            assert joined[0] is not before  # started from it, then kept a longer one
        assert joined and len(joined[0].messages) == len(grown["messages"]) - 1
        body = grown


def test_a_change_of_memory_or_of_a_message_is_not_resumed_over() -> None:
    memory = VersionedMemory()
    memo: list[Any] = []
    joined: list[Any] = []
    body = _body(4, orphan=True)
    first = _joined(body, memory, memo, joined)
    kept = copy.deepcopy([j.out for j in joined] + [j.repair for j in joined])
    # The memory learns an upstream spelling: the kept state was made without it.
    memory.learn("call_0", Remembered(ORIGIN, "upstream-0", "sig-0"))
    changed = _joined(body, memory, memo, joined)
    assert changed == _scratch(body, memory)
    assert b"upstream-0" in changed[0]
    memory.learn("call_0", None)
    assert _joined(body, memory, memo, joined) == first
    # Another (equal but not the same) message where a kept one was.
    other = copy.deepcopy(body)
    other["messages"][2:] = body["messages"][2:]
    assert _joined(other, memory, memo, joined) == first
    assert [j.out for j in joined] + [j.repair for j in joined] == kept  # never changed


def test_resumed_state_holds_an_open_tool_call() -> None:
    """The newest message answers a call made in the kept part: the repair pairs them."""
    memory = VersionedMemory()
    memo: list[Any] = []
    joined: list[Any] = []
    body = _body(2)
    del body["messages"][-2:]  # ends on the assistant's call: the kept part leaves it open
    body["messages"].append({"role": "user", "content": "go on"})
    _joined(body, memory, memo, joined)
    assert joined[0].repair.open_ids == {"call_1"}
    answered = {**body, "messages": [*body["messages"][:-1]]}
    answered["messages"].append(
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "call_1"}]}
    )
    assert _joined(answered, memory, memo, joined) == _scratch(answered, memory)
    assert b"interrupted" not in _joined(answered, memory, memo, joined)[0]


def test_tool_memory_versions_are_unique_in_the_process() -> None:
    """Kept conversations are shared by every proxy of the process: one memory's version never
    names another memory's state."""
    from proxy.state.tool_memory import ToolMemory

    first, second = ToolMemory(), ToolMemory()
    seen = {first.version, second.version}
    first.remember(ORIGIN, {"call_1": "sig"}, {})
    assert first.version not in seen
    seen.add(first.version)
    unchanged = first.version
    first.remember(ORIGIN, {}, {})  # handed out nothing: nothing changed
    assert first.version == unchanged
    second.remember(ORIGIN, {}, {"call_2": "up-2"})
    assert second.version not in seen


def _sent(
    body: dict[str, Any], memory: VersionedMemory, memo: list[Any], joined: list[Any]
) -> tuple[bytes, int]:
    """The bytes the OpenAI transport sends for `body`'s messages (kept JSON spliced in)."""
    from proxy.translate.to_openai import with_system_json

    texts: list[str] = []
    kept: list[Any] = []
    out = _run(body, memory, memo, joined, [], texts, kept)
    payload = {"model": "m", "messages": out}
    sent = orjson.dumps(with_system_json(payload, texts, kept))
    assert sent == orjson.dumps(payload)  # the same bytes as serialising it all
    return sent, kept[0].size if kept else 0


def test_kept_json_of_a_growing_conversation_is_what_serialising_gives() -> None:
    """40 turns (the pieces are joined past JSON_PIECES), a memory that changes on the way,
    an orphan result and a two-part system prompt: every request's bytes are those of its
    messages serialised whole, and those of a translation from scratch."""
    memory = VersionedMemory()
    memo: list[Any] = []
    joined: list[Any] = []
    body = _body(1)
    for turns in range(1, 41):
        grown = _body(turns, orphan=turns % 7 == 0)
        grown["system"] = [{"type": "text", "text": "be brief"}, {"type": "text", "text": "é ✓"}]
        kept = len(body["messages"]) - 1
        grown["messages"][:kept] = body["messages"][:kept]
        memo, joined = memo[:kept], joined[: min(kept, 1)]
        if turns == 20:
            memory.learn("call_3", Remembered(ORIGIN, "upstream-3", "sig-3"))
        sent, spliced = _sent(grown, memory, memo, joined)
        assert sent == _sent(copy.deepcopy(grown), memory, [], [])[0]
        if turns > 1:
            assert spliced > 0  # the kept JSON was used
        body = grown
    assert joined and joined[0].json is not None and len(joined[0].json) <= 32
