"""The markers of text-form tool calls, and cheap tests of whether held text may still be one."""

from __future__ import annotations

import re
from collections.abc import Callable

from proxy.translate.tool_formats import (
    ToolCallText,
    parse_deepseek,
    parse_deepseek_section,
    parse_kimi,
    parse_kimi_section,
    parse_qwen_xml,
    parse_tool_call_tag,
)

Parser = Callable[[str], list[ToolCallText] | None]

# marker -> (end marker, whether the marker is part of the parsed span, parser)
TAGS: dict[str, tuple[str, bool, Parser]] = {
    "<tool_call>": ("</tool_call>", False, parse_tool_call_tag),
    "<function=": ("</function>", True, parse_qwen_xml),
    "<|tool_call_begin|>": ("<|tool_call_end|>", False, parse_kimi),
    "<｜tool▁call▁begin｜>": ("<｜tool▁call▁end｜>", False, parse_deepseek),
    "<|tool_calls_section_begin|>": ("<|tool_calls_section_end|>", False, parse_kimi_section),
    "<｜tool▁calls▁begin｜>": ("<｜tool▁calls▁end｜>", False, parse_deepseek_section),
    # llama.cpp's DeepSeek-R1 tests accept this shortened opener too.
    "<｜tool▁calls｜>": ("<｜tool▁calls▁end｜>", False, parse_deepseek_section),
}
JSON_MARKERS = {"[TOOL_CALLS]": "mistral", "<|python_tag|>": "llama"}
EXPLICIT = (*TAGS, *JSON_MARKERS)
END_MARKERS = (
    "</tool_call>",
    "</function>",
    "<|tool_calls_section_end|>",
    "<｜tool▁calls▁end｜>",
    "<|eom_id|>",
    "<|eot_id|>",
    "<｜end▁of▁sentence｜>",
)
_EXPLICIT_RE = re.compile("|".join(re.escape(m) for m in EXPLICIT))
# A fence or a `{` counts as the first thing on its line; indentation (Markdown lists) is allowed.
_LINE_MARKER_RE = re.compile(r"(?m:^)[ \t]*(?:```|\{)")
FENCE_LINE_RE = re.compile(r"(?m:^)[ \t]*```")
FENCE_PARTIAL_RE = re.compile(r"[ \t]*`{1,2}")
MARKER_PREFIXES = frozenset(m[:i] for m in EXPLICIT for i in range(1, len(m)))
END_PREFIXES = frozenset(m[:i] for m in END_MARKERS for i in range(1, len(m)))
MAX_MARKER = max(len(m) for m in EXPLICIT)
_CALL_FIRST_KEYS = (
    "name",
    "function",
    "tool",
    "tool_name",
    "type",
    "id",
    "arguments",
    "parameters",
)
_FIRST_KEY = re.compile(r'\{\s*(?:"(\w*)("?))?')
MISTRAL_NAME_RE = re.compile(r"\s*[A-Za-z_][\w.\-:]{0,99}\s*(?:\[(?:A(?:R(?:G(?:S\]?)?)?)?)?)?\s*")
SEPARATORS = " \t\r\n;,"
_TAG_NAME = re.compile(r"[\w.\-:]{1,100}")
FENCE_LANGS = frozenset({"", "json", "jsonc", "json5", "tool_call", "tool_code", "xml", "tool"})


def find_marker(text: str, line_start: bool) -> tuple[int, str] | None:
    """The first marker in `text` as (position, marker); `line_start`: text[0] starts a line.

    One `find` per candidate character and a regex match there is several times cheaper than
    one regex search for all the markers at every position.
    """
    best: tuple[int, str] | None = None
    for char in "<[":
        at = text.find(char)
        while at >= 0 and (best is None or at < best[0]):
            found = _EXPLICIT_RE.match(text, at)
            if found is not None:
                best = (at, found.group())
                break
            at = text.find(char, at + 1)
    if "{" in text or "`" in text:
        # From 1 when text[0] is mid-line: `^` then only matches after a newline.
        line = _LINE_MARKER_RE.search(text, 0 if line_start else 1)
        if line is not None and (best is None or line.start() < best[0]):
            best = (line.start(), line.group())
    return best


def call_start(text: str) -> bool | None:
    """Whether `text` (starting at `{`) opens a call object: True, False, or None (undecided)."""
    found = _FIRST_KEY.match(text)
    if found is None:
        return False
    if found.end() == len(text):
        if found.group(2):
            return found.group(1) in _CALL_FIRST_KEYS
        key = found.group(1) or ""
        return None if any(k.startswith(key) for k in _CALL_FIRST_KEYS) else False
    if found.group(1) is None:
        return False
    return bool(found.group(2)) and found.group(1) in _CALL_FIRST_KEYS


def tag_body_start(body: str) -> bool | None:
    """Whether the inside of `<tool_call>` (so far) may be a call: True, False, or None."""
    text = body.lstrip()
    if not text:
        return None
    if text[0] in "{[`":
        return True
    if text[0] == "<":
        return body_start(text)
    name = _TAG_NAME.match(text)
    if name is None:
        return False
    rest = text[name.end() :].lstrip()
    if not rest:
        return None
    return rest[0] in "<{"


def body_start(body: str) -> bool | None:
    """Whether a fence body (so far) may hold a tool call: True, False, or None (undecided)."""
    text = body.lstrip()
    if not text:
        return None
    if text[0] == "{":
        return call_start(text)
    head = text[:MAX_MARKER]
    return any(head.startswith(marker) or marker.startswith(head) for marker in EXPLICIT)
