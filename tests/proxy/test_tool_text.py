"""The tool-call text scanner against the corpus, whole and in random small pieces."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from proxy.translate.tool_args import match_tool_name, repair_input
from proxy.translate.tool_text import Piece, ToolTextScanner, split_tool_text, tool_pieces

CORPUS = Path(__file__).resolve().parents[1] / "corpus" / "tool_text"
CASES = sorted(CORPUS.glob("*.json"))
SEEDS = range(6)


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def feed_in_pieces(text: str, names: list[str], seed: int) -> list[Piece]:
    """Feed `text` in random pieces of 1-12 characters, then finish."""
    rng = random.Random(seed)
    scanner = ToolTextScanner(names)
    pieces: list[Piece] = []
    at = 0
    while at < len(text):
        size = rng.randint(1, 12)
        pieces += scanner.feed(text[at : at + size])
        at += size
    return pieces + scanner.finish()


def outcome(pieces: list[Piece], case: dict[str, Any]) -> dict[str, Any]:
    """What the client would get: the text, and each call with offered name and repaired input."""
    schemas = {tool["name"]: tool.get("input_schema") for tool in case["tools"]}
    calls: list[dict[str, Any]] = []
    unknown: list[str] = []
    repairs: set[str] = set()
    for kind, value in pieces:
        if kind != "tool":
            continue
        assert isinstance(value, dict)
        name = match_tool_name(value["name"], schemas)
        if name is None:
            unknown.append(value["name"])
            continue
        repair = repair_input(value["arguments"], schemas[name])
        assert repair.ok, (name, repair)
        repairs.update(value.get("repairs", ()), repair.kinds)
        calls.append({"name": name, "input": repair.input})
    text = "".join(value for _, value in pieces if isinstance(value, str))
    return {"text": text, "calls": calls, "unknown": unknown, "repairs": repairs}


def test_the_corpus_covers_every_format_and_fault() -> None:
    cases = [load(path) for path in CASES]
    formats = {case["format"] for case in cases}
    assert {"hermes", "qwen3_xml", "glm", "mistral", "json", "llama", "deepseek", "kimi"} <= formats
    assert {"fenced:json", "fenced:hermes", "none"} <= formats
    faults = {case["fault"] for case in cases}
    assert {
        "trailing_comma",
        "python_literals",
        "unquoted_keys",
        "truncated",
        "double_encoded",
        "wrong_case_name",
        "decorated_name",
        "tool_not_offered",
        "wrong_types",
    } <= faults
    for case in cases:
        source = case["source"]
        assert (
            source.get("synthetic")
            or source.get("issue")
            or (source["commit"] and source["licence"] in ("Apache-2.0", "MIT"))
        )


@pytest.mark.parametrize("path", CASES, ids=[path.stem for path in CASES])
def test_case_whole_and_in_pieces(path: Path) -> None:
    case = load(path)
    names = [tool["name"] for tool in case["tools"]]
    results = [outcome(split_tool_text(case["text"], names), case)]
    results += [outcome(feed_in_pieces(case["text"], names, seed), case) for seed in SEEDS]
    for result in results:
        assert result["text"] == case["expected_text"]
        assert result["calls"] == case["expected_calls"]
        assert result["unknown"] == case.get("expected_unknown_names", [])
        assert set(case.get("expected_repairs", [])) <= result["repairs"]


def test_text_without_markup_comes_back_at_once() -> None:
    scanner = ToolTextScanner(["Bash"])
    assert scanner.feed("Hello, ") == [("text", "Hello, ")]
    assert scanner.feed("world.\n") == [("text", "world.\n")]
    assert scanner.feed("a < b and c[0]") == [("text", "a < b and c[0]")]
    assert scanner.finish() == []


def test_only_a_possible_marker_is_held_and_released_when_it_is_not_one() -> None:
    scanner = ToolTextScanner(["Bash"])
    assert scanner.feed("see <to") == [("text", "see ")]
    assert scanner.feed("ol_c") == []
    assert scanner.feed("at> now") == [("text", "<tool_cat> now")]
    assert scanner.feed("[TOOL") == []
    assert scanner.feed("S]") == [("text", "[TOOLS]")]


def test_text_before_a_call_streams_before_the_call_completes() -> None:
    scanner = ToolTextScanner(["Bash"])
    assert scanner.feed('Running it.<tool_call>{"name": "Bash", ') == [("text", "Running it.")]
    assert scanner.feed('"arguments": {"command": "ls"}}') == []
    pieces = scanner.feed("</tool_call>")
    assert pieces == [
        ("tool", {"name": "Bash", "arguments": {"command": "ls"}, "format": "hermes"})
    ]
    assert scanner.finish() == []


def test_tool_call_named_in_prose_is_released_without_waiting_for_the_end() -> None:
    scanner = ToolTextScanner(["Bash"])
    first = scanner.feed("Wrap calls in <tool_call> tags like this")
    assert first == [("text", "Wrap calls in <tool_call> tags like this")]


def test_bare_json_is_held_until_the_answer_ends() -> None:
    scanner = ToolTextScanner(["Read"])
    assert scanner.feed('Reading.\n{"name": "Read", "arguments": {"file_path": "/a"}}') == [
        ("text", "Reading.\n")
    ]
    assert scanner.feed("\n") == []
    assert scanner.finish() == [
        ("tool", {"name": "Read", "arguments": {"file_path": "/a"}, "format": "json"})
    ]


def test_json_object_that_is_not_a_call_is_released_at_its_first_key() -> None:
    scanner = ToolTextScanner(["Read"])
    assert scanner.feed("Config:\n{") == [("text", "Config:\n")]
    assert scanner.feed('"port": 80}') == [("text", '{"port": 80}')]


def test_bare_json_naming_a_tool_not_offered_is_text() -> None:
    text = '{"name": "Delete", "arguments": {"path": "/"}}'
    assert split_tool_text(text, ["Read"]) == [("text", text)]


def test_code_block_is_released_line_by_line_and_not_scanned() -> None:
    scanner = ToolTextScanner(["Bash"])
    assert scanner.feed("```python\n") == [("text", "```python\n")]
    assert scanner.feed('x = "<tool_call>"\n') == [("text", 'x = "<tool_call>"\n')]
    assert scanner.feed("```\nok") == [("text", "```\nok")]


def test_unclosed_call_at_the_end_is_recovered_and_marked() -> None:
    pieces = split_tool_text('<tool_call>{"name": "Bash", "arguments": {"command": "ls', ["Bash"])
    assert pieces[0][0] == "tool"
    call = pieces[0][1]
    assert isinstance(call, dict)
    assert call["arguments"] == {"command": "ls"}
    assert "truncated" in call["repairs"]


FRAGMENTS = [
    "Hello ",
    "world",
    "\n",
    "<",
    "<tool_call>",
    "</tool_call>",
    '{"name": "Bash", "arguments": {"command": "ls"}}',
    '{"port": 1}',
    "{",
    "}",
    "[",
    "[TOOL_CALLS]",
    "<|python_tag|>",
    "```",
    "```json\n",
    "<function=Bash>",
    "<parameter=command>",
    "</parameter>",
    "</function>",
    "<|tool_call_begin|>",
    "<|tool_call_argument_begin|>",
    "<|tool_call_end|>",
    "<｜tool▁calls▁begin｜>",
    "`",
    "   ```",
    "  ",
    "  {",
    "\t",
    "`code`",
    '"',
    ";",
    "\\",
    "'",
    "[TOOL_CALLS]Bash[ARGS]",
    '{"command": "x"}',
    "<tool_call>Bash\n",
    "<arg_key>command</arg_key>",
    "<arg_value>ls</arg_value>",
    "```python\n",
    "\n```\n",
    '[{"name": "Bash", "arguments": {}}]',
    "<|tool_calls_section_begin|>",
    "<|tool_calls_section_end|>",
    "functions.Bash:0",
    "<｜tool▁call▁begin｜>",
    "<｜tool▁sep｜>",
    "<｜tool▁call▁end｜>",
    "<｜tool▁calls▁end｜>",
    "function",
]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    parts=st.lists(st.sampled_from(FRAGMENTS), max_size=14),
    cuts=st.lists(st.integers(min_value=1, max_value=12), min_size=1, max_size=8),
)
def test_any_text_gives_the_same_pieces_however_it_is_cut(
    parts: list[str], cuts: list[int]
) -> None:
    text = "".join(parts)
    whole = split_tool_text(text, ["Bash"])
    scanner = ToolTextScanner(["Bash"])
    pieces: list[Piece] = []
    at, turn = 0, 0
    while at < len(text):
        size = cuts[turn % len(cuts)]
        pieces += scanner.feed(text[at : at + size])
        at, turn = at + size, turn + 1
    pieces += scanner.finish()
    assert merge(pieces) == whole
    if not any(kind == "tool" for kind, _ in whole):
        assert "".join(value for _, value in whole if isinstance(value, str)) == text


def merge(pieces: list[Piece]) -> list[Piece]:
    merged: list[Piece] = []
    for piece in pieces:
        if piece[0] == "text" and merged and merged[-1][0] == "text":
            merged[-1] = ("text", merged[-1][1] + piece[1])
        else:
            merged.append(piece)
    return merged


def test_unclosed_markup_naming_no_offered_tool_stays_text() -> None:
    text = "The opening tag is <tool_call>answer"
    assert split_tool_text(text, ["Bash"]) == [("text", text)]


def test_parallel_calls_with_forgotten_closing_tags() -> None:
    text = (
        '<tool_call>{"name": "Bash", "arguments": {"command": "ls"}}\n'
        '<tool_call>{"name": "Bash", "arguments": {"command": "pwd"}}'
    )
    for pieces in (split_tool_text(text, ["Bash"]), feed_in_pieces(text, ["Bash"], 3)):
        assert [call["arguments"] for call in tool_pieces(pieces)] == [
            {"command": "ls"},
            {"command": "pwd"},
        ]


def test_indented_code_block_in_a_list_closes_and_scanning_resumes() -> None:
    text = (
        "Steps:\n1. Run:\n   ```bash\n   ls <dir>\n   ```\n"
        '<tool_call>{"name": "Bash", "arguments": {"command": "ls"}}</tool_call>'
    )
    for pieces in (split_tool_text(text, ["Bash"]), feed_in_pieces(text, ["Bash"], 1)):
        assert "".join(v for _, v in pieces if isinstance(v, str)) == text[: text.index("<tool")]
        assert [call["arguments"] for call in tool_pieces(pieces)] == [{"command": "ls"}]
