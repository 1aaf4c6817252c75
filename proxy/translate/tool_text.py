"""Tool calls that open models write into their text, found while the text streams.

`ToolTextScanner(offered_names)` takes the answer's text deltas (`feed`, then `finish`) and
returns pieces: `("text", str)` for text the client should see, `("tool", ToolCallText)` for a
call written as markup. Text that cannot start markup comes back at once; only a suffix that may
be the start of a marker is held, and released as soon as it cannot be one.

Formats (markers): Hermes / Qwen 2.5-3 `<tool_call>{json}</tool_call>`; Qwen3-Coder
`<tool_call><function=N><parameter=K>V</parameter></function></tool_call>` (also without the
outer tag); GLM-4.5/4.6 `<tool_call>N<arg_key>K</arg_key><arg_value>V</arg_value></tool_call>`;
Mistral `[TOOL_CALLS][{json}]`, `[TOOL_CALLS]N[ARGS]{json}` and `[TOOL_CALLS]N{json}`; Llama 3.x
`<|python_tag|>{json}`; DeepSeek V3/V3.1 (fullwidth-bar tokens `tool▁call▁begin` ... `end`); Kimi K2
`<|tool_call_begin|>functions.N:0<|tool_call_argument_begin|>{json}<|tool_call_end|>`; any of
these inside a Markdown code fence.

Bare JSON (Llama without `<|python_tag|>`, small models): a `{` first on its line whose first
key is a call key (`name`, `function`, ...) is held until the object closes. It counts as a call
only when its name is an offered tool (after `match_tool_name`) AND nothing but more such objects
(separated by whitespace, `;` or `,`) follows up to the end of the answer; otherwise everything
held is released as text. The same holds for JSON calls in a code fence. So an answer that
explains or quotes a call is never executed. Explicit markers need no offered name: their calls
always come back as "tool" pieces and the caller decides (unknown name: a text answer).

Code fences may be indented (Markdown lists). Inside a code fence that is not a tool call (` ```python `, or a ` ```json ` whose body does not
start like a call) nothing is detected until the closing fence: code the user asked for that
happens to contain `<tool_call>` stays text. Whitespace, `;` and closing markers right after a
call are dropped; text between or after calls stays text.

How the stream translator uses this (issue 14 part 2, carried out in `tool_recovery.py`)
---------------------------------------------------------------------------------------
* Where: one scanner per request, only when the request offered tools and TOOL_CALL_RECOVERY is
  on (else today's path, untouched). It sits on the text path of `StreamTranslator.feed`, after
  `ThinkTagSplitter` (reasoning is never scanned), before `_text`; its `finish()` runs in
  `StreamTranslator.finish` right after the think-tag flush. Non-streaming answers and the
  LiteLLM engine already go through the same translator, so they get the same recovery.
  `offered` is `{tool["name"]: tool["input_schema"]}` from the request, built once.
* Text-form calls: a "text" piece goes to `_text`; a "tool" piece is resolved with
  `match_tool_name(raw, offered)`. Known: `repair_input(arguments, schema)`, then a `tool_use`
  block (fresh `toolu_` id, exact offered name), ONE `input_json_delta` with
  `orjson.dumps(repair.input)`, `content_block_stop`. Not offered: a text block naming the tool
  and the tools that exist, counted as a failed repair. A call is only known once its markup
  closes, so the client sees the text before it stream at once, then the whole block at once;
  `stop_reason` becomes `tool_use` (tool blocks already win over `stop`).
* Native `tool_calls`, where argument deltas meet repair: the name is matched when it arrives
  (`content_block_start` carries the offered name); the argument deltas of the open block are
  collected, not sent; when the block closes (next block or finish) `repair_arguments(text,
  schema)` runs once. `kinds == ()`: the upstream's own text goes out unchanged as one
  `input_json_delta` (valid JSON passes byte for byte); otherwise the repaired object does. Why
  hold instead of stream: deltas concatenate, so bytes once sent cannot be taken back, and a
  fault is often only visible at the end (`,}`, a cut-off string); Claude Code parses
  `partial_json` at `content_block_stop` anyway, so holding costs the user nothing visible but
  a long Write appearing at once. (Streaming a validated prefix and completing it with a
  repaired suffix is possible only when the repair touched the tail; not worth it now.)
* Cut-off calls: `truncated` (JSON open at the end) or `unclosed` (markup open) together with
  `finish_reason == "length"` should not run (a Write with half its content): send a text
  notice instead and keep `stop_reason: max_tokens`.
* Visibility: every recovered text call and every `Repair` with `kinds` or `ok=False` gives one
  debug-log entry (request id, model, format, kinds), per-model counters (recovered, repaired,
  failed) and a mark on the request row.
* Cost (`python -m bench.tool_text`, CPU per 5-20 character delta): the translator first asks
  `plain` (about 100 ns with the call; a mid-line delta without `<`, `[` or a newline), then
  `feed` (about 120 ns for prose, 650 ns for code-heavy Markdown). A delta ending in `<`, `[` or
  a fence's first backticks has that suffix held until the next.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Literal

from proxy.translate.json_span import JsonSpan
from proxy.translate.tool_args import match_tool_name
from proxy.translate.tool_formats import (
    ToolCallText,
    mark_unclosed,
    parse_json_calls,
    parse_mistral,
    parse_tool_call_tag,
)
from proxy.translate.tool_markers import (
    END_MARKERS,
    END_PREFIXES,
    FENCE_LANGS,
    FENCE_LINE_RE,
    FENCE_PARTIAL_RE,
    JSON_MARKERS,
    MARKER_PREFIXES,
    MAX_MARKER,
    MISTRAL_NAME_RE,
    SEPARATORS,
    TAGS,
    Parser,
    body_start,
    call_start,
    find_marker,
    tag_body_start,
)

# The hold tests only need the first characters of a span (the longest marker, a 100-char name).
HEAD = 160
TextPiece = tuple[Literal["text"], str]
ToolPiece = tuple[Literal["tool"], ToolCallText]
Piece = TextPiece | ToolPiece

TEXT, CODE, TAG, JSON_AFTER, BARE, TAIL, FENCE, AFTER = (
    "text",
    "code",
    "tag",
    "json_after",
    "bare",
    "tail",
    "fence",
    "after",
)


def _no_marker(text: str) -> bool:
    # Every explicit marker starts `<t`, `<f`, `<|`, `<` + fullwidth bar or `[T`; a lone `<` or
    # `[` at the end may still become one.
    if "<" in text and (
        text[-1] == "<" or "<t" in text or "<f" in text or "<|" in text or "<｜" in text
    ):
        return False
    return not ("[" in text and (text[-1] == "[" or "[T" in text))


def passes_at_start(text: str) -> bool:
    """`ToolTextScanner.passes_whole` of a new scanner: `text`, a whole answer, can start no
    call (no scanner needed to know it)."""
    return _no_marker(text) and "{" not in text and "`" not in text


class ToolTextScanner:
    """Splits one answer's streamed text into text and tool-call pieces; one per request."""

    def __init__(self, offered_names: Iterable[str]) -> None:
        self.offered = frozenset(offered_names)
        self.mode = TEXT
        self.buf = ""
        self.line_start = True
        self.quiet = False
        """Nothing held, plain text mode, mid-line: what `plain` needs to know in one test."""
        self.search_from = 0
        self.tag_end = ""
        self.tag_skip = 0
        self.tag_parser: Parser = parse_tool_call_tag
        self.tag_sure = False
        self.json_format = ""
        self.span: JsonSpan | None = None
        self.tail_calls: list[ToolCallText] = []
        self.tail_pos = 0
        self.steps: dict[str, Callable[[list[Piece], bool], bool]] | None = None
        """The step of each mode, made when the text first needs one (most answers never do)."""

    # -- public API -----------------------------------------------------------------------------
    def plain(self, text: str) -> bool:
        """True when `text` goes out exactly as it is and changes nothing held: the hot path.

        Mid-line, with nothing held, a delta without `<`, `[` or a newline can start no marker
        and leaves the line state as it was, so the caller may emit it without calling `feed`.
        """
        return self.quiet and "<" not in text and "[" not in text and "\n" not in text

    def passes_whole(self, text: str) -> bool:
        """True when `text`, the whole answer fed before anything else, goes out as it is: no
        piece of it could start a call (a whole plain answer skips the scanner on this)."""
        return not self.buf and self.mode is TEXT and self._passes(text)

    def feed(self, text: str) -> list[Piece]:
        """The pieces that are certain once `text` is appended to the answer."""
        if not text:
            return []
        if self.quiet and "<" not in text and "[" not in text and "\n" not in text:
            return [("text", text)]
        out: list[Piece] = []
        if self.buf:
            self.buf += text
            self._run(out, False)
        elif self._passes(text):
            self.line_start = line_start_after(text, self.line_start)
            out.append(("text", text))
        else:
            self.buf = text
            self._run(out, False)
        self.quiet = not self.buf and self.mode is TEXT and not self.line_start
        return out

    def _passes(self, text: str) -> bool:
        """With nothing held: whether `text` can start no marker (or, in code, no fence)."""
        if self.mode is TEXT:
            return _no_marker(text) and not (
                ("{" in text or "`" in text) and (self.line_start or "\n" in text)
            )
        return self.mode is CODE and "`" not in text

    def finish(self) -> list[Piece]:
        """Everything still held, at the end of the answer (unclosed calls are tried as such)."""
        out: list[Piece] = []
        self._run(out, True)
        if self.buf and self.mode is not AFTER:
            self._text(out, self.buf)
        self.buf = ""
        self.mode = TEXT
        self.quiet = not self.line_start
        return out

    # -- machinery --------------------------------------------------------------------------------
    def _run(self, out: list[Piece], final: bool) -> None:
        steps = self.steps
        while self.buf:
            if steps is None:
                steps = self.steps = self._steps()
            if not steps[self.mode](out, final):
                break

    def _steps(self) -> dict[str, Callable[[list[Piece], bool], bool]]:
        return {
            TEXT: self._step_text,
            CODE: self._step_code,
            TAG: self._step_tag,
            JSON_AFTER: self._step_json_after,
            BARE: self._step_bare,
            TAIL: self._step_tail,
            FENCE: self._step_fence,
            AFTER: self._step_after,
        }

    def _text(self, out: list[Piece], text: str) -> None:
        if not text:
            return
        self.line_start = line_start_after(text, self.line_start)
        if out and out[-1][0] == "text":
            out[-1] = ("text", out[-1][1] + text)
        else:
            out.append(("text", text))

    def _calls(self, out: list[Piece], calls: list[ToolCallText]) -> None:
        out.extend(("tool", call) for call in calls)
        self.line_start = True

    def _release(self, out: list[Piece], end: int, mode: str = TEXT) -> bool:
        """Hand buf[:end] over as text and carry on in `mode`."""
        self._text(out, self.buf[:end])
        self.buf = self.buf[end:]
        self.mode = mode
        self.span = None
        self.tail_calls = []
        return True

    def _offered(self, calls: list[ToolCallText] | None) -> bool:
        return bool(calls) and all(
            match_tool_name(call["name"], self.offered) is not None for call in calls or ()
        )

    # -- one step per mode: True when it moved on, False when it needs more text ---------------
    def _step_text(self, out: list[Piece], final: bool) -> bool:
        buf = self.buf
        found = find_marker(buf, self.line_start)
        if found is None:
            keep = len(buf) if final else self._hold_from(buf)
            self._text(out, buf[:keep])
            self.buf = buf[keep:]
            return False
        start, marker = found
        if marker[0] in " \t":
            core = marker.lstrip(" \t")
            start, marker = start + len(marker) - len(core), core  # the indentation stays text
        self._text(out, buf[:start])
        self.buf = buf[start:]
        if marker == "```":
            self.mode, self.search_from = FENCE, 3
        elif marker == "{":
            self.mode, self.span = BARE, None
        elif marker in JSON_MARKERS:
            self.mode, self.span = JSON_AFTER, None
            self.json_format, self.tag_skip = JSON_MARKERS[marker], len(marker)
        else:
            self.tag_end, keep_marker, self.tag_parser = TAGS[marker]
            self.tag_sure = False
            self.tag_skip = 0 if keep_marker else len(marker)
            self.mode, self.search_from = TAG, len(marker)
        return True

    def _hold_from(self, buf: str) -> int:
        """Where a suffix that may still become a marker starts (len(buf) when there is none)."""
        size = len(buf)
        low = max(0, size - MAX_MARKER)
        at = max(buf.rfind("<", low), buf.rfind("[", low))
        if at >= 0 and buf[at:] in MARKER_PREFIXES:
            return at
        return self._fence_hold(buf)

    def _fence_hold(self, buf: str) -> int:
        """Where a last line that may still become a fence (`  ``) starts, else len(buf)."""
        if buf[-1] != "`":
            return len(buf)
        line = buf.rfind("\n") + 1
        if (line or self.line_start) and FENCE_PARTIAL_RE.fullmatch(buf, line):
            return line
        return len(buf)

    def _step_code(self, out: list[Piece], final: bool) -> bool:
        buf = self.buf
        # Search from 1 when buf[0] is mid-line: `^` then only matches after a newline.
        found = FENCE_LINE_RE.search(buf, 0 if self.line_start else 1)
        if found is not None:
            return self._release(out, found.end())
        keep = len(buf) if final else self._fence_hold(buf)
        self._text(out, buf[:keep])
        self.buf = buf[keep:]
        return False

    def _step_tag(self, out: list[Piece], final: bool) -> bool:
        buf = self.buf
        end = buf.find(self.tag_end, self.search_from)
        stop = end + len(self.tag_end)
        if self.tag_end == "</tool_call>":
            # Parallel calls whose closing tags were forgotten: the next opener ends this one.
            opener = buf.find("<tool_call>", max(self.search_from, self.tag_skip))
            if opener >= 0 and (end < 0 or opener < end):
                end = stop = opener
        body_end = end if end >= 0 else len(buf)
        # Whenever a span turns out not to be a call, only its marker is released as text and
        # the rest is scanned again: the outcome then never depends on how the text was cut.
        if self.tag_end == "</tool_call>" and not self.tag_sure:
            verdict = tag_body_start(buf[self.tag_skip : min(body_end, self.tag_skip + HEAD)])
            if verdict is False:
                # `<tool_call>` named in prose: released now rather than holding the whole answer.
                return self._release(out, self.tag_skip)
            self.tag_sure = verdict is True
        if end < 0 and not final:
            self.search_from = max(self.search_from, len(buf) - len(self.tag_end))
            return False
        body = buf[self.tag_skip : body_end]
        if end < 0:
            # An unclosed span is weak evidence: a call only when it names an offered tool.
            calls = self.tag_parser(body)
            if not calls or not self._offered(calls):
                return self._release(out, self.tag_skip or 1)
            self._calls(out, mark_unclosed(calls))
            self.buf = ""
            return False
        calls = self.tag_parser(body)
        if not calls:
            return self._release(out, self.tag_skip or 1)
        self._calls(out, calls)
        self.buf, self.mode = buf[stop:], AFTER
        return True

    def _step_json_after(self, out: list[Piece], final: bool) -> bool:
        """After `[TOOL_CALLS]` or `<|python_tag|>`: JSON, or (Mistral) NAME[ARGS]{...}."""
        buf = self.buf
        if self.span is None:
            rest = buf[self.tag_skip :]
            body = rest.lstrip()
            if not body:
                return self._release(out, len(buf)) if final else False
            if body[0] in "{[":
                self.span = JsonSpan(len(buf) - len(body))
            else:
                named = MISTRAL_NAME_RE.match(rest)
                if self.json_format != "mistral" or named is None:
                    return self._release(out, self.tag_skip)
                if named.end() == len(rest):
                    return self._release(out, self.tag_skip) if final else False
                if rest[named.end()] not in '{"':
                    return self._release(out, self.tag_skip)
                self.span = JsonSpan(self.tag_skip + named.end())
        end = self.span.scan(buf)
        if end < 0:
            if not final:
                return False
            calls = self._parse_json_after(buf[self.tag_skip :])
            if not calls or not self._offered(calls):
                return self._release(out, self.tag_skip)
            self._calls(out, mark_unclosed(calls))
            self.buf, self.span = "", None
            return False
        calls = self._parse_json_after(buf[self.tag_skip : end])
        if not calls:
            return self._release(out, self.tag_skip)
        self._calls(out, calls)
        self.buf, self.mode, self.span = buf[end:], AFTER, None
        return True

    def _parse_json_after(self, text: str) -> list[ToolCallText] | None:
        if self.json_format == "mistral":
            return parse_mistral(text)
        return parse_json_calls(text, self.json_format)

    def _step_bare(self, out: list[Piece], final: bool) -> bool:
        """A `{` at a line start: held only while it may be a call object."""
        buf = self.buf
        if self.span is None:
            verdict = call_start(buf)
            if verdict is False or (verdict is None and final):
                return self._release(out, 1)
            if verdict is None:
                return False
            self.span = JsonSpan(0)
        end = self.span.scan(buf)
        if end < 0:
            if final:
                calls = parse_json_calls(buf, "json")
                if self._offered(calls):
                    assert calls is not None
                    self._calls(out, mark_unclosed(calls))
                    self.buf = ""
                    return False
                return self._release(out, len(buf))
            return False
        calls = parse_json_calls(buf[:end], "json")
        if not self._offered(calls):
            return self._release(out, end)
        assert calls is not None
        self.tail_calls, self.tail_pos, self.span = calls, end, None
        self.mode = TAIL
        return True

    def _step_tail(self, out: list[Piece], final: bool) -> bool:
        """After a bare JSON call: only more calls may follow, up to the end of the answer."""
        buf = self.buf
        at = self.tail_pos
        if self.span is None:
            while at < len(buf) and buf[at] in SEPARATORS:
                at += 1
            self.tail_pos = at
            if at == len(buf):
                if final:
                    self._calls(out, self.tail_calls)
                    self.buf, self.tail_calls = "", []
                return False
            if buf[at] != "{":
                return self._release(out, at)
            verdict = call_start(buf[at:])
            if verdict is False or (verdict is None and final):
                return self._release(out, at)
            if verdict is None:
                return False
            self.span = JsonSpan(at)
        end = self.span.scan(buf)
        if end < 0:
            if final:
                calls = parse_json_calls(buf[self.tail_pos :], "json")
                if self._offered(calls):
                    assert calls is not None
                    self._calls(out, [*self.tail_calls, *mark_unclosed(calls)])
                    self.buf, self.tail_calls = "", []
                    return False
                return self._release(out, len(buf))
            return False
        calls = parse_json_calls(buf[self.tail_pos : end], "json")
        if not self._offered(calls):
            return self._release(out, end)
        assert calls is not None
        self.tail_calls += calls
        self.tail_pos, self.span = end, None
        return True

    def _step_fence(self, out: list[Piece], final: bool) -> bool:
        """A ``` at a line start: held only while its body may be a tool call."""
        buf = self.buf
        newline = buf.find("\n", 3)
        if newline < 0:
            if final:
                return self._release(out, len(buf), CODE)
            if len(buf) > 40:  # a long info string: an ordinary code block
                return self._release(out, 3, CODE)
            return False
        if buf[3:newline].strip().lower() not in FENCE_LANGS:
            return self._release(out, newline + 1, CODE)
        fence = FENCE_LINE_RE.search(buf, max(newline + 1, self.search_from))
        close = fence.start() if fence is not None else -1
        if close < 0:
            verdict = body_start(buf[newline + 1 : newline + 1 + HEAD])
            if verdict is False:
                return self._release(out, newline + 1, CODE)
            if not final:
                self.search_from = max(newline + 1, buf.rfind("\n") + 1)
                return False
            close = stop = len(buf)
        else:
            assert fence is not None
            stop = fence.end()
            if body_start(buf[newline + 1 : min(close, newline + 1 + HEAD)]) is False:
                return self._release(out, newline + 1, CODE)
        pieces = split_tool_text(buf[newline + 1 : close], self.offered)
        calls = [piece[1] for piece in pieces if piece[0] == "tool"]
        if not calls or any(piece[1].strip() for piece in pieces if piece[0] == "text"):
            return self._release(out, stop)
        for call in calls:
            call["format"] = "fenced:" + call["format"]
        if all(call["format"] == "fenced:json" for call in calls):
            # A JSON call in a fence obeys the bare-JSON rule: it must end the answer.
            self.tail_calls, self.tail_pos, self.span = calls, stop, None
            self.mode = TAIL
            return True
        self._calls(out, calls)
        self.buf, self.mode = buf[stop:], AFTER
        return True

    def _step_after(self, out: list[Piece], final: bool) -> bool:
        """Right after a call: drop separators and closing markers, then back to text."""
        buf = self.buf
        at = 0
        while at < len(buf):
            if buf[at] in SEPARATORS:
                at += 1
                continue
            for end in END_MARKERS:
                if buf.startswith(end, at):
                    at += len(end)
                    break
            else:
                break
        self.buf = buf = buf[at:]
        if not buf or (buf in END_PREFIXES and not final):
            return False
        if buf in END_PREFIXES:
            self.buf = ""
            return False
        self.mode, self.line_start = TEXT, True
        return True


def line_start_after(text: str, before: bool) -> bool:
    """Whether only spaces or tabs follow the last newline once `text` is out (`before`: so far)."""
    last = text[-1]
    if last == "\n":
        return True
    if last != " " and last != "\t":
        return False
    newline = text.rfind("\n")
    return (newline >= 0 or before) and not text[newline + 1 :].strip(" \t")


def split_tool_text(text: str, offered_names: Iterable[str]) -> list[Piece]:
    """A whole (non-streamed) answer split into text and tool-call pieces."""
    scanner = ToolTextScanner(offered_names)
    pieces = scanner.feed(text) + scanner.finish()
    merged: list[Piece] = []
    for piece in pieces:
        if piece[0] == "text" and merged and merged[-1][0] == "text":
            merged[-1] = ("text", merged[-1][1] + piece[1])
        else:
            merged.append(piece)
    return merged


def tool_pieces(pieces: list[Piece]) -> list[dict[str, Any]]:
    """The tool calls among pieces (a helper for tests and logs)."""
    return [dict(piece[1]) for piece in pieces if piece[0] == "tool"]
