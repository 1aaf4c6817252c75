"""Tool-call recovery through the real proxy: the text-form corpus as upstream answers, streamed
in small random pieces, both engines, stream and not; native calls with broken arguments; calls
of tools not offered; the switches; and every repair visible in /stats and /debug_logs."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import orjson
import pytest

from proxy.server.runner import ProxyServer
from proxy.translate.tool_recovery import RecoveringTranslator, offered_tools
from proxy.upstreams import translated
from tests.conftest import ProxyFactory
from tests.support.fake_upstream import FakeUpstream, Reply, ToolCall, text_tool_call
from tests.support.messages_support import SDK
from tests.support.mgmt import call

CORPUS = Path(__file__).resolve().parents[1] / "corpus" / "tool_text"
CASES = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(CORPUS.glob("*.json"))]
MODEL = "openai/gpt-4.1"
MARKUP = (
    "<tool_call>",
    "</tool_call>",
    "<function=",
    "<arg_key>",
    "[TOOL_CALLS]",
    "<|python_tag|>",
    "<|tool_call",
    "<｜tool▁call",
)
BASH = {
    "name": "Bash",
    "description": "Run a shell command",
    "input_schema": {
        "type": "object",
        "properties": {
            "command": {"type": "string"},
            "timeout": {"type": "integer"},
            "run_in_background": {"type": "boolean"},
        },
        "required": ["command"],
    },
}
READ = {
    "name": "Read",
    "input_schema": {
        "type": "object",
        "properties": {"file_path": {"type": "string"}},
        "required": ["file_path"],
    },
}


def random_pieces(text: str, seed: int) -> list[str]:
    """`text` cut into pieces of 1-12 characters, as servers stream tokens."""
    rng = random.Random(seed)
    pieces, at = [], 0
    while at < len(text):
        size = rng.randint(1, 12)
        pieces.append(text[at : at + size])
        at += size
    return pieces


def request(tools: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    """A Claude Code-like turn offering `tools`."""
    return {
        "model": "claude-sonnet-4-5",
        "max_tokens": 1024,
        "messages": [{"role": "user", "content": "Go ahead."}],
        "tools": tools,
        **extra,
    }


def blocks(message: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [b for b in message["content"] if b["type"] == kind]


def text_of(message: dict[str, Any]) -> str:
    return "".join(b["text"] for b in blocks(message, "text"))


def case_problems(case: dict[str, Any], message: dict[str, Any]) -> list[str]:
    """How the client's answer differs from what Claude Code needs for this corpus case."""
    found = []
    calls = [{"name": b["name"], "input": b["input"]} for b in blocks(message, "tool_use")]
    if calls != case["expected_calls"]:
        found.append(f"calls {calls} != {case['expected_calls']}")
    text = text_of(message)
    unknown = case.get("expected_unknown_names", [])
    if unknown:
        # The refused call becomes a notice after the model's own text.
        if not text.startswith(case["expected_text"]) or not all(n in text for n in unknown):
            found.append(f"text {text!r} lacks {case['expected_text']!r} + notice of {unknown}")
        if "did not offer" not in text:
            found.append(f"no notice in {text!r}")
    elif text != case["expected_text"]:
        found.append(f"text {text!r} != {case['expected_text']!r}")
    if case["format"] != "none":
        left = [m for m in MARKUP if m in text]
        if left:
            found.append(f"markup left in the text: {left}")
    stop = "tool_use" if case["expected_calls"] else "end_turn"
    if message["stop_reason"] != stop:
        found.append(f"stop_reason {message['stop_reason']} != {stop}")
    if any(not b["id"].startswith("toolu_") for b in blocks(message, "tool_use")):
        found.append("a tool_use id without the toolu_ prefix")
    return found


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "json"])
async def test_corpus_through_the_proxy(
    make_proxy: ProxyFactory, upstream: FakeUpstream, engine: str, stream: bool
) -> None:
    proxy = await make_proxy(BIG_MODEL=MODEL, SMALL_MODEL=MODEL, UPSTREAM_ENGINE=engine)
    problems: dict[str, list[str]] = {}
    async with SDK(proxy) as sdk:
        for number, case in enumerate(CASES):
            for seed in (number, number + 1000):
                upstream.script.append(Reply(text_pieces=random_pieces(case["text"], seed)))
                message = await sdk.ask(request(case["tools"]), stream=stream)
                found = case_problems(case, message)
                if found:
                    problems[f"{case['id']} (seed {seed})"] = found
    assert not problems, json.dumps(problems, indent=1, ensure_ascii=False)


async def test_repairs_are_counted_and_logged(
    make_proxy: ProxyFactory, upstream: FakeUpstream
) -> None:
    proxy = await make_proxy(BIG_MODEL=MODEL, SMALL_MODEL=MODEL)
    upstream.script += [
        Reply(text=text_tool_call("glm", "bash", {"command": "ls", "timeout": "5"})),
        Reply(text="", tool_calls=[ToolCall("Search", {"q": "x"})]),
        Reply(text="", tool_calls=[ToolCall("Bash", {"command": "pwd"})]),
    ]
    async with SDK(proxy) as sdk:
        repaired = await sdk.ask(request([BASH]), stream=True)
        refused = await sdk.ask(request([BASH]), stream=False)
        clean = await sdk.ask(request([BASH]), stream=True)
    assert blocks(repaired, "tool_use")[0]["name"] == "Bash"
    assert blocks(repaired, "tool_use")[0]["input"] == {"command": "ls", "timeout": 5}
    assert blocks(refused, "tool_use") == [] and "Search" in text_of(refused)
    assert refused["stop_reason"] == "end_turn"
    assert blocks(clean, "tool_use")[0]["input"] == {"command": "pwd"}
    stats = (await call(proxy.url, "GET", "/stats")).json
    assert stats["models"][MODEL]["tool_repairs"] == 1
    assert stats["models"][MODEL]["tool_repairs_failed"] == 1
    assert stats["totals"]["tool_repairs"] == 1
    entries = (await call(proxy.url, "GET", "/debug_logs?log_type=tool_repair")).json["entries"]
    assert [e["details"]["ok"] for e in entries] == [True, False]
    first = entries[0]["details"]
    assert first["model"] == MODEL and first["tool"] == "Bash" and first["format"] == "glm"
    assert {"text_call", "renamed", "coerced:integer"} <= set(first["kinds"])
    assert "bash" in first["before"] and '"timeout":5' in first["after"]
    assert entries[1]["details"]["kinds"] == ["tool_not_offered"]


async def test_native_arguments_valid_pass_byte_for_byte_broken_are_repaired(
    make_proxy: ProxyFactory, upstream: FakeUpstream, engine: str
) -> None:
    proxy = await make_proxy(BIG_MODEL=MODEL, SMALL_MODEL=MODEL, UPSTREAM_ENGINE=engine)
    valid = '{"command": "ls -la",  "timeout": 10}'
    broken = "{'command': 'ls', timeout: '10', run_in_background: True,}"
    upstream.script += [
        Reply(text="", tool_calls=[ToolCall("Bash", raw_arguments=valid)], chunk_size=3),
        Reply(text="", tool_calls=[ToolCall("functions.Bash:0", raw_arguments=broken)]),
    ]
    async with SDK(proxy) as sdk:
        first = await sdk.ask(request([BASH]), stream=True)
        raw = sdk.last_stream_raw
        second = await sdk.ask(request([BASH]), stream=True)
    assert blocks(first, "tool_use")[0]["input"] == {"command": "ls -la", "timeout": 10}
    # Held until the block closes, then one delta carrying the upstream's own text.
    deltas = [
        orjson.loads(line[6:])["delta"]["partial_json"]
        for line in raw.decode().splitlines()
        if line.startswith("data: ") and "input_json_delta" in line
    ]
    assert deltas == [valid]
    tool = blocks(second, "tool_use")[0]
    assert tool["name"] == "Bash"
    assert tool["input"] == {"command": "ls", "timeout": 10, "run_in_background": True}
    assert second["stop_reason"] == "tool_use"


async def test_a_call_cut_off_at_max_tokens_is_not_run(
    make_proxy: ProxyFactory, upstream: FakeUpstream, engine: str
) -> None:
    proxy = await make_proxy(BIG_MODEL=MODEL, SMALL_MODEL=MODEL, UPSTREAM_ENGINE=engine)
    cut = '{"command": "rm -rf build && make'
    upstream.script += [
        Reply(text="", tool_calls=[ToolCall("Bash", raw_arguments=cut)], finish="length"),
        Reply(text='<tool_call>{"name": "Bash", "arguments": {"command": "ec', finish="length"),
    ]
    async with SDK(proxy) as sdk:
        native = await sdk.ask(request([BASH]), stream=True)
        text = await sdk.ask(request([BASH]), stream=False)
    for message in (native, text):
        assert blocks(message, "tool_use") == []
        assert "max_tokens" in text_of(message) and "not run" in text_of(message)
        assert message["stop_reason"] == "max_tokens"


def test_text_before_a_call_is_sent_before_the_call_ends() -> None:
    """Per upstream chunk: the text goes out at once, the call only once its markup closes."""
    translator = RecoveringTranslator("m", 0, offered_tools([BASH]))
    translator.start()
    pieces = ["Checking the tree.\n", '<tool_call>{"name": "Bash", ', '"arguments": ']
    pieces += ['{"command": "ls"}}', "</tool_call>"]
    sent = []
    for piece in pieces:
        events = translator.feed({"choices": [{"delta": {"content": piece}}]})
        sent.append([e["delta"]["type"] for e in events if e["type"] == "content_block_delta"])
    assert sent == [["text_delta"], [], [], [], ["input_json_delta"]]
    stop = translator.feed({"choices": [{"delta": {}, "finish_reason": "stop"}]})
    assert stop == [] and translator.finish()[-2]["delta"]["stop_reason"] == "tool_use"


@pytest.mark.parametrize("how", ["setting", "preset", "tool_choice_none"])
async def test_recovery_can_be_turned_off(
    make_proxy: ProxyFactory, upstream: FakeUpstream, tmp_path: Path, how: str
) -> None:
    env: dict[str, str] = {"BIG_MODEL": MODEL, "SMALL_MODEL": MODEL}
    extra: dict[str, Any] = {}
    if how == "setting":
        env["TOOL_CALL_RECOVERY"] = "false"
    elif how == "preset":
        presets = tmp_path / "presets.toml"
        presets.write_text(
            f'[presets.raw]\nbig = "{MODEL}"\nsmall = "{MODEL}"\ntool_call_recovery = false\n'
        )
        env["PRESETS_FILE"] = str(presets)
    else:
        extra["tool_choice"] = {"type": "none"}
    proxy = await make_proxy(**env)
    if how == "preset":
        switched = await call(proxy.url, "POST", "/switch_model", {"preset": "raw"})
        assert switched.status == 200, switched.text
    markup = text_tool_call("qwen", "Bash", {"command": "ls"})
    upstream.script.append(Reply(text=markup))
    async with SDK(proxy) as sdk:
        message = await sdk.ask(request([BASH], **extra), stream=True)
    assert text_of(message) == markup and blocks(message, "tool_use") == []


async def test_recovery_stays_out_of_requests_without_tools(
    make_proxy: ProxyFactory, upstream: FakeUpstream
) -> None:
    proxy: ProxyServer = await make_proxy(BIG_MODEL=MODEL, SMALL_MODEL=MODEL)
    markup = text_tool_call("qwen", "Bash", {"command": "ls"})
    upstream.script.append(Reply(text=markup))
    async with SDK(proxy) as sdk:
        body = request([])
        del body["tools"]
        message = await sdk.ask(body, stream=False)
    assert text_of(message) == markup


@pytest.mark.parametrize("style", ["qwen", "qwen3-coder", "glm"])
async def test_auto_tool_text_styles_become_the_call(
    make_proxy: ProxyFactory, upstream: FakeUpstream, style: str
) -> None:
    """The fake upstream's --text-tools mode (used with the real Claude Code CLI) is recovered."""
    proxy = await make_proxy(BIG_MODEL=MODEL, SMALL_MODEL=MODEL)
    upstream.auto_tool = "Bash"
    upstream.auto_tool_args = {"command": "echo hi", "timeout": 5}
    upstream.text_tools = style
    async with SDK(proxy) as sdk:
        message = await sdk.ask(request([BASH, READ]), stream=True)
    assert text_of(message) == "I will run it now.\n"
    assert [(b["name"], b["input"]) for b in blocks(message, "tool_use")] == [
        ("Bash", {"command": "echo hi", "timeout": 5})
    ]


async def test_pings_keep_the_stream_alive_while_a_call_is_held(
    make_proxy: ProxyFactory, upstream: FakeUpstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(translated, "PING_EVERY", 0.0)  # a ping for every quiet upstream read
    proxy = await make_proxy(BIG_MODEL=MODEL, SMALL_MODEL=MODEL)
    args = orjson.dumps({"command": "printf '" + "x" * 200 + "'"}).decode()
    upstream.script.append(
        Reply(
            text="",
            tool_calls=[ToolCall("Bash", raw_arguments=args)],
            chunk_size=10,
            delay_between_chunks=0.01,
        )
    )
    async with SDK(proxy) as sdk:
        message = await sdk.ask(request([BASH]), stream=True)
        raw = sdk.last_stream_raw.decode()
    assert blocks(message, "tool_use")[0]["input"] == orjson.loads(args)
    events = [line[7:] for line in raw.splitlines() if line.startswith("event: ")]
    start = events.index("content_block_start")
    # Pings while the arguments were held, then the whole block.
    assert events[start - 3 : start] == ["ping", "ping", "ping"]
    assert events[start:] == [
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
