"""Tool-call recovery on the stream translator: calls written as text, names, broken arguments.

`RecoveringTranslator` is the `StreamTranslator` for requests that offered tools (when recovery
is on). It changes three things and leaves the event grammar alone:

* answer text goes through a `ToolTextScanner`: text-form calls become `tool_use` blocks, the
  markup never reaches the client; text that cannot start markup goes out at once;
* a native `tool_calls` block is held until it closes, then sent whole (start, ONE
  `input_json_delta`, stop) with the offered name and its arguments checked against the schema:
  valid arguments go out byte for byte, broken ones repaired and typed;
* a call of a tool that was not offered, or one cut off at max_tokens, becomes a short text.

Each call that needed any of this leaves one entry in `repairs` (see `RepairRecord`).
"""

from __future__ import annotations

from typing import Any, TypedDict

import orjson

from proxy.translate.stream_translator import Event, StreamTranslator, new_tool_id
from proxy.translate.tool_args import Repair, match_tool_name, repair_input
from proxy.translate.tool_formats import ToolCallText
from proxy.translate.tool_text import ToolTextScanner

_emit_text = StreamTranslator._text
SHORT = 200
"""Characters of `before`/`after` kept in a repair record (the debug log shows them)."""
MAX_NAMES = 40
NOTICE = "[claude-proxy] "


class RepairRecord(TypedDict):
    """One tool call the proxy had to recover, rename, repair or refuse."""

    tool: str
    """The offered name it was sent as, else the model's own name."""
    format: str
    """`native` for `tool_calls`, else the markup it was written in (`hermes`, `glm`, ...)."""
    kinds: list[str]
    """What was done: `text_call`, `renamed`, `json_repair`, `coerced:integer`, ..."""
    ok: bool
    """False when the call was refused or its arguments are still missing something."""
    before: str
    after: str


def offered_tools(tools: Any) -> dict[str, dict[str, Any]]:
    """`{name: input_schema}` of the client tools a request offered (server tools left out)."""
    offered: dict[str, dict[str, Any]] = {}
    if not isinstance(tools, list):
        return offered
    for tool in tools:
        if not isinstance(tool, dict) or not isinstance(tool.get("name"), str):
            continue
        if tool.get("type") not in (None, "custom") and "input_schema" not in tool:
            continue  # web_search_20250305 and friends: no upstream model calls these itself
        schema = tool.get("input_schema")
        offered[tool["name"]] = schema if isinstance(schema, dict) else {}
    return offered


def shorten(value: Any) -> str:
    """A short one-line form of a name/arguments pair for the debug log."""
    text = value if isinstance(value, str) else orjson.dumps(value).decode()
    return text if len(text) <= SHORT else text[: SHORT - 1] + "…"


class RecoveringTranslator(StreamTranslator):
    """A StreamTranslator that recovers text-form calls and repairs every tool block it sends."""

    def __init__(self, model: str, input_tokens: int, offered: dict[str, dict[str, Any]]) -> None:
        super().__init__(model, input_tokens)
        self.offered = offered
        self.scanner = ToolTextScanner(offered)
        self.repairs: list[RepairRecord] = []

    # -- answer text ------------------------------------------------------------------------
    def _text(self, text: str, events: list[Event]) -> None:
        scanner = self.scanner
        # scanner.plain(text), inlined: this runs for every text delta of the answer.
        if scanner.quiet and "<" not in text and "[" not in text and "\n" not in text:
            _emit_text(self, text, events)
            return
        self._pieces(scanner.feed(text), events)

    def _pieces(self, pieces: list[Any], events: list[Event]) -> None:
        for kind, value in pieces:
            if kind == "text":
                _emit_text(self, value, events)
            else:
                self._text_call(value, events)

    def finish(self) -> list[Event]:
        """Flush held reasoning and text (unclosed calls are tried as such), then close."""
        events: list[Event] = []
        for kind, piece in self.think_tags.flush():
            if kind == "thinking":
                self._thinking(piece, events)
            elif piece:
                self._text(piece, events)
        self._pieces(self.scanner.finish(), events)
        return events + super().finish()

    def _text_call(self, call: ToolCallText, events: list[Event]) -> None:
        """A call found in the text: a whole tool_use block, or a text saying why not."""
        raw_name = call["name"]
        kinds = ["text_call", *call.get("repairs", ())]
        before = shorten(f"{raw_name} {shorten(call['arguments'])}")
        name = match_tool_name(raw_name, self.offered)
        if name is None:
            self._refuse(raw_name, call["format"], kinds, before, events, cut_off=False)
            return
        if self._cut_off(kinds):
            self._refuse(name, call["format"], kinds, before, events, cut_off=True)
            return
        repair = repair_input(call["arguments"], self.offered.get(name))
        if name != raw_name:
            kinds.append("renamed")
        arguments = orjson.dumps(repair.input).decode()
        self._close(events)
        index = self.block_count
        self.block_count += 1
        tool_id = new_tool_id()
        events += _tool_block(index, tool_id, name, arguments)
        self.tool_blocks += 1
        self.output_chars += len(arguments)
        self.tools.append({"id": tool_id, "name": name, "arguments": arguments})
        self._record(name, call["format"], [*kinds, *repair.kinds], repair, before, arguments)

    # -- native tool_calls: held while open, sent whole when the block closes ----------------
    def _start_pending_tool(self, events: list[Event], name: str) -> None:
        self._close(events)
        # The base opens the block into a scratch list: content_block_start is sent at close.
        super()._start_pending_tool([], name)

    def _tool_args(self, args: str, events: list[Event]) -> None:
        if args:
            self.output_chars += len(args)
            self.tools[-1]["arguments"] += args

    def _close(self, events: list[Event]) -> None:
        if self.open_kind != "tool_use":
            super()._close(events)
            return
        index = self.block_count - 1
        tool = self.tools[-1]
        raw_name, raw_args = tool["name"], tool["arguments"]
        if self.open_tool_index is not None:
            self.closed_tool_indexes.add(self.open_tool_index)
        self.open_kind = None
        self.open_tool_index = None
        self.open_tool_id = None
        before = shorten(f"{raw_name} {raw_args}")
        name = match_tool_name(raw_name, self.offered)
        repair = repair_input(raw_args, self.offered.get(name) if name else None)
        kinds = list(repair.kinds)
        if name is None or self._cut_off(kinds):
            self.tools.pop()
            self.tool_blocks -= 1
            self.block_count -= 1  # the refusal text takes the held block's index
            self._refuse(
                name or raw_name, "native", kinds, before, events, cut_off=name is not None
            )
            super()._close(events)  # the refusal's text block ends where the tool block would
            return
        # Valid arguments that already fit the schema go out as the upstream wrote them.
        arguments = (
            raw_args if not kinds and raw_args.strip() else orjson.dumps(repair.input).decode()
        )
        if name != raw_name:
            kinds.insert(0, "renamed")
        tool["name"], tool["arguments"] = name, arguments
        events += _tool_block(index, tool["id"], name, arguments)
        if kinds:
            self._record(name, "native", kinds, repair, before, arguments)

    # -- refusals and records ---------------------------------------------------------------
    def _cut_off(self, kinds: list[str]) -> bool:
        """A call the answer's max_tokens cut short: running half a Write does harm."""
        return self.finish_reason == "length" and ("truncated" in kinds or "unclosed" in kinds)

    def _refuse(
        self,
        name: str,
        fmt: str,
        kinds: list[str],
        before: str,
        events: list[Event],
        *,
        cut_off: bool,
    ) -> None:
        if cut_off:
            kinds.append("cut_off")
            notice = (
                f"The answer reached max_tokens in the middle of a call of {name}, "
                "so the call was not run."
            )
        else:
            kinds.append("tool_not_offered")
            names = list(self.offered)
            listed = ", ".join(names[:MAX_NAMES]) + (", ..." if len(names) > MAX_NAMES else "")
            notice = (
                f"The model called a tool this request did not offer ({name}), so the call "
                f"was not run. Offered tools: {listed or 'none'}."
            )
        gap = ""
        if self.open_kind == "text" and self.text:
            last = self.text[-1]
            gap = "" if last.endswith("\n\n") else "\n" if last.endswith("\n") else "\n\n"
        _emit_text(self, gap + NOTICE + notice, events)
        self.repairs.append(
            RepairRecord(tool=name, format=fmt, kinds=kinds, ok=False, before=before, after="")
        )

    def _record(
        self, name: str, fmt: str, kinds: list[str], repair: Repair, before: str, after: str
    ) -> None:
        self.repairs.append(
            RepairRecord(
                tool=name,
                format=fmt,
                kinds=list(dict.fromkeys(kinds)),
                ok=repair.ok,
                before=before,
                after=shorten(after),
            )
        )


def _tool_block(index: int, tool_id: str, name: str, arguments: str) -> list[Event]:
    return [
        {
            "type": "content_block_start",
            "index": index,
            "content_block": {"type": "tool_use", "id": tool_id, "name": name, "input": {}},
        },
        {
            "type": "content_block_delta",
            "index": index,
            "delta": {"type": "input_json_delta", "partial_json": arguments},
        },
        {"type": "content_block_stop", "index": index},
    ]
