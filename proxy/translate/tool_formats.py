"""Parsers for the tool-call markup open models write into their text, one per format.

Each parser takes the span between a format's markers and returns the calls in it, or None when
the span is not a tool call after all (the scanner then releases it as text). Arguments stay as
the model wrote them: argument text (repaired later) or, for XML-like formats, a dict of raw
string values that the repair step coerces to the schema's types.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, NotRequired, TypedDict

import orjson

from proxy.translate.tool_args import repair_json_text


class ToolCallText(TypedDict):
    """One tool call found in the text: the model's raw name, its arguments, the format."""

    name: str
    arguments: str | dict[str, Any]
    format: str
    repairs: NotRequired[list[str]]


# Keys a JSON tool-call object may carry; an object with any other key is not a call.
CALL_KEYS = frozenset(
    {
        "name",
        "arguments",
        "parameters",
        "args",
        "input",
        "type",
        "id",
        "function",
        "tool_name",
        "tool",
    }
)
_ARG_KEYS = ("arguments", "parameters", "args", "input")
_NAME = r"[A-Za-z_][\w.\-:]*"
_MISTRAL_NAMED = re.compile(r"\s*(" + _NAME + r")\s*(?:\[ARGS\])?\s*(?=[{\[\"])")
_GLM_HEAD = re.compile(r"\s*(" + _NAME + r")\s*")
_GLM_PAIR = re.compile(r"<arg_key>(.*?)</arg_key>\s*<arg_value>(.*?)(?:</arg_value>|$)", re.DOTALL)
_QWEN_FUNCTION = re.compile(r"<function=([^>\n]+)>(.*?)(?:</function>|$)", re.DOTALL)
_QWEN_PARAMETER = re.compile(
    r"<parameter=([^>\n]+)>(.*?)(?:</parameter>|(?=<parameter=)|(?=</function>)|$)", re.DOTALL
)
_FENCED = re.compile(r"^\s*```[\w-]*\s*\n?(.*?)\n?\s*```\s*$", re.DOTALL)
KIMI_ARGS = "<|tool_call_argument_begin|>"
KIMI_CALL_BEGIN, KIMI_CALL_END = "<|tool_call_begin|>", "<|tool_call_end|>"
DEEPSEEK_SEP = "<｜tool▁sep｜>"
DEEPSEEK_CALL_BEGIN, DEEPSEEK_CALL_END = "<｜tool▁call▁begin｜>", "<｜tool▁call▁end｜>"


def load_json(text: str) -> tuple[Any, list[str]]:
    """Strict JSON when it is valid, json-repair's reading otherwise, with what was repaired."""
    try:
        return orjson.loads(text), []
    except orjson.JSONDecodeError:
        kinds: list[str] = []
        return repair_json_text(text, kinds), kinds


def call_from_object(value: Any, fmt: str, repairs: list[str]) -> ToolCallText | None:
    """A call from a `{"name": ..., "arguments": ...}`-like object, or None if it is not one."""
    if not isinstance(value, dict) or not value.keys() <= CALL_KEYS:
        return None
    name = value.get("name") or value.get("tool_name") or value.get("tool")
    args: Any = None
    function = value.get("function")
    if isinstance(function, dict):
        name = function.get("name") or name
        args = function.get("arguments", function.get("parameters"))
    elif isinstance(function, str) and not name:
        name = function
    for key in _ARG_KEYS:
        if key in value:
            args = value[key]
            break
    if not isinstance(name, str) or not name.strip():
        return None
    if args is None:
        args = {}
    if not isinstance(args, dict | str):
        return None
    call = ToolCallText(name=name.strip(), arguments=args, format=fmt)
    if repairs:
        call["repairs"] = list(repairs)
    return call


def parse_json_calls(text: str, fmt: str) -> list[ToolCallText] | None:
    """Calls from one JSON call object or an array of them (Hermes, Mistral, Llama)."""
    text = text.strip()
    if not text or text[0] not in "{[":
        return None
    value, repairs = load_json(text)
    items = value if isinstance(value, list) else [value]
    calls = [call_from_object(item, fmt, repairs) for item in items]
    if not calls or any(call is None for call in calls):
        return None
    return [call for call in calls if call is not None]


def parse_tool_call_tag(body: str) -> list[ToolCallText] | None:
    """The inside of `<tool_call>...</tool_call>`: Hermes JSON, Qwen3-Coder XML or GLM."""
    stripped = body.strip()
    fenced = _FENCED.match(stripped)
    if fenced:
        stripped = fenced.group(1).strip()
    if stripped.startswith("<function="):
        return parse_qwen_xml(stripped)
    if stripped[:1] in ("{", "["):
        return parse_json_calls(stripped, "hermes")
    return parse_glm(stripped)


def parse_qwen_xml(text: str) -> list[ToolCallText] | None:
    """Qwen3-Coder: `<function=NAME><parameter=K>V</parameter>...</function>`, values as text."""
    calls: list[ToolCallText] = []
    for match in _QWEN_FUNCTION.finditer(text):
        args: dict[str, Any] = {}
        for param in _QWEN_PARAMETER.finditer(match.group(2)):
            args[param.group(1).strip()] = _xml_value(param.group(2))
        calls.append(ToolCallText(name=match.group(1).strip(), arguments=args, format="qwen3_xml"))
    return calls or None


def parse_glm(text: str) -> list[ToolCallText] | None:
    """GLM-4.5/4.6: `NAME<arg_key>K</arg_key><arg_value>V</arg_value>...`; also NAME then JSON."""
    head = _GLM_HEAD.match(text)
    if not head:
        return None
    name, rest = head.group(1), text[head.end() :]
    if rest.startswith("{"):
        return [ToolCallText(name=name, arguments=rest, format="name_json")]
    args: dict[str, Any] = {}
    end = 0
    for pair in _GLM_PAIR.finditer(rest):
        if rest[end : pair.start()].strip():
            return None
        args[pair.group(1).strip()] = _xml_value(pair.group(2))
        end = pair.end()
    if rest[end:].strip():
        return None
    return [ToolCallText(name=name, arguments=args, format="glm")]


def parse_mistral(text: str) -> list[ToolCallText] | None:
    """What follows `[TOOL_CALLS]`: a JSON array of calls, or `NAME[ARGS]{...}` / `NAME{...}`."""
    stripped = text.strip()
    if stripped[:1] in ("{", "["):
        return parse_json_calls(stripped, "mistral")
    named = _MISTRAL_NAMED.match(stripped)
    if not named:
        return None
    args = stripped[named.end() :].strip()
    return [ToolCallText(name=named.group(1), arguments=args, format="mistral")]


def parse_kimi(body: str) -> list[ToolCallText] | None:
    """Kimi K2: `functions.NAME:IDX<|tool_call_argument_begin|>{...}` (the raw name is kept)."""
    name, sep, args = body.partition(KIMI_ARGS)
    if not sep or not name.strip():
        return None
    return [ToolCallText(name=name.strip(), arguments=args.strip(), format="kimi")]


def parse_deepseek(body: str) -> list[ToolCallText] | None:
    """DeepSeek V3 (`function<sep>NAME` + fenced JSON) and V3.1+ (`NAME<sep>{...}`)."""
    left, sep, right = body.partition(DEEPSEEK_SEP)
    if not sep:
        return None
    if left.strip() == "function":
        name, _, rest = right.partition("\n")
        fenced = _FENCED.match(rest)
        args = fenced.group(1) if fenced else rest
    else:
        name, args = left, right
    if not name.strip():
        return None
    return [ToolCallText(name=name.strip(), arguments=args.strip(), format="deepseek")]


def parse_kimi_section(body: str) -> list[ToolCallText] | None:
    """Kimi K2's `<|tool_calls_section_begin|>` ... `_end|>`: one or more calls."""
    return _section(body, KIMI_CALL_BEGIN, KIMI_CALL_END, parse_kimi)


def parse_deepseek_section(body: str) -> list[ToolCallText] | None:
    """DeepSeek's calls section (`tool▁calls▁begin` to `_end` tokens); R1 may drop a call's begin."""
    return _section(body, DEEPSEEK_CALL_BEGIN, DEEPSEEK_CALL_END, parse_deepseek)


def _section(
    body: str, begin: str, end: str, parse: Callable[[str], list[ToolCallText] | None]
) -> list[ToolCallText] | None:
    calls: list[ToolCallText] = []
    for part in body.split(end):
        part = part.strip()
        if not part:
            continue
        found = parse(part.removeprefix(begin))
        if not found:
            return None
        calls.extend(found)
    return calls or None


def _xml_value(raw: str) -> str:
    # Qwen3-Coder and GLM put each value on its own lines; the newlines are markup, not value.
    if raw.startswith("\n"):
        raw = raw[1:]
    if raw.endswith("\n"):
        raw = raw[:-1]
    return raw


def mark_unclosed(calls: list[ToolCallText]) -> list[ToolCallText]:
    """Note on calls found in a span the answer ended inside that their markup never closed.

    Whether the arguments themselves were cut short is for the JSON repair to say (`truncated`).
    """
    for call in calls:
        repairs = call.setdefault("repairs", [])
        if "unclosed" not in repairs:
            repairs.append("unclosed")
    return calls
