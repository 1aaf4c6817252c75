"""The one state machine: OpenAI-style chunk dicts in, Anthropic stream event dicts out.

Non-streaming answers go through it too (one chunk holding the whole message), so both paths
agree on blocks, ids, signatures, stop reasons and usage.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable
from random import getrandbits
from typing import Any

from proxy.translate import carrier
from proxy.translate.carrier import SIGNATURE_PREFIX, is_proxy_signature
from proxy.translate.sse import coalesce
from proxy.translate.think_tags import ThinkTagSplitter

__all__ = ["SIGNATURE_PREFIX", "StreamTranslator", "is_proxy_signature", "new_message_id"]
STOP_REASONS = {
    "stop": "end_turn",
    "end_turn": "end_turn",
    "length": "max_tokens",
    "max_tokens": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "tool_use": "tool_use",
    "content_filter": "refusal",
    "stop_sequence": "stop_sequence",
    "refusal": "refusal",
}
# Provider finish reasons that mean "blocked" even where the OpenAI-style one says `stop`
# (LiteLLM maps Gemini's MODEL_ARMOR to stop and keeps the native reason beside it).
BLOCKED = frozenset(
    {
        "SAFETY",
        "RECITATION",
        "BLOCKLIST",
        "PROHIBITED_CONTENT",
        "SPII",
        "MODEL_ARMOR",
        "IMAGE_SAFETY",
        "IMAGE_PROHIBITED_CONTENT",
        "content_filter",
        "refusal",
    }
)
THOUGHT_SEPARATOR = "__thought__"
"""LiteLLM appends a Gemini function call's thought signature to its id after this."""
TOOL_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
"""What Anthropic (and so Claude Code's history) accepts as a tool_use id."""
Event = dict[str, Any]
TEXT_DELTA_KEYS = frozenset({"role", "content", "refusal"})
"""Delta keys `feed` has nothing to do for beyond `content` (`refusal` text is not relayed):
a delta of these alone is plain text to `feed_batch`."""


def new_message_id() -> str:
    """A fresh Anthropic-style message id (`msg_` and 24 hex digits)."""
    # Unique, not secret (the client and every /events reader see it): no system call per
    # request, as for the exchange's request id.
    return f"msg_{getrandbits(96):024x}"


def new_tool_id() -> str:
    """A fresh Anthropic-style tool_use id, for upstreams that send none."""
    return "toolu_" + secrets.token_hex(12)


def client_tool_id(raw: str) -> str:
    """A tool id Anthropic accepts for an upstream's id: as it is when valid, else a safe
    spelling of it (`functions.Bash:0` -> `functions_Bash_0`), else a hash (too long)."""
    if TOOL_ID.fullmatch(raw):
        return raw
    cleaned = re.sub(r"[^A-Za-z0-9_-]", "_", raw)
    if 0 < len(cleaned) <= 64:
        return cleaned
    return "toolu_" + hashlib.sha256(raw.encode()).hexdigest()[:24]


def tool_call_signature(call: dict[str, Any]) -> str | None:
    """A Gemini thought signature on a tool call: LiteLLM's provider_specific_fields, or the
    `extra_content.google` of Gemini's own OpenAI-compatible API."""
    for holder in (call, call.get("function")):
        fields = holder.get("provider_specific_fields") if isinstance(holder, dict) else None
        if isinstance(fields, dict) and isinstance(fields.get("thought_signature"), str):
            return str(fields["thought_signature"])
    extra = call.get("extra_content")
    google = extra.get("google") if isinstance(extra, dict) else None
    if isinstance(google, dict) and isinstance(google.get("thought_signature"), str):
        return str(google["thought_signature"])
    return None


class StreamTranslator:
    """Turns one upstream answer's chunks into Anthropic events; one instance per request."""

    scanner: Any = None
    """The tool-call text scanner of a RecoveringTranslator (None: text goes out as it is)."""

    def __init__(self, model: str, input_tokens: int = 0, origin: str = "") -> None:
        self.model = model
        self.message_id = new_message_id()
        self.estimated_input_tokens = input_tokens
        self.origin = origin
        """Fingerprint of the upstream (carrier.origin_of): state it hands out goes back only
        to it."""
        self.carry: dict[str, Any] | None = None
        """Upstream state for the open thinking block, sent out in its signature (carrier)."""
        self.client_ids: dict[str, str] = {}
        """Upstream tool id -> the id the client gets (computed once per call)."""
        self.pending_signatures: dict[str, str] = {}
        """Client tool id -> thought signature not yet placed in a thinking block."""
        self.tool_signatures: dict[str, str] = {}
        """Client tool id -> thought signature, for the server-side memory."""
        self.renamed: dict[str, str] = {}
        """Client tool id -> the upstream's own id, where they differ."""
        self.block_count = 0
        self.open_kind: str | None = None
        self.open_tool_index: int | None = None
        self.open_tool_id: str | None = None
        self.tool_args_sent = False
        self.closed_tool_indexes: set[int] = set()
        self.pending_tool: dict[str, Any] | None = None
        self.thinking_signature: str | None = None
        self.think_tags = ThinkTagSplitter()
        self.finish_reason: str | None = None
        self.stop_sequence: str | None = None
        self.usage: dict[str, Any] | None = None
        self.tool_blocks = 0
        self.output_chars = 0
        self.text: list[str] = []
        self.tools: list[dict[str, Any]] = []
        self.dropped: list[str] = []
        self.finished = False
        self.sent_usage: dict[str, int] | None = None
        """The usage `finish` sent in message_delta (the summary's too: nothing comes after)."""

    # -- block management -------------------------------------------------------------------
    def _close(self, events: list[Event]) -> None:
        if self.open_kind is None:
            return
        index = self.block_count - 1
        if self.open_kind == "thinking":
            # The upstream's own signature (Anthropic via LiteLLM) beats ours: it can go back.
            signature = self.thinking_signature
            if signature is None:
                signature = self._proxy_signature(index)
            self.carry = None
            events.append(
                {
                    "type": "content_block_delta",
                    "index": index,
                    "delta": {"type": "signature_delta", "signature": signature},
                }
            )
            self.thinking_signature = None
        elif self.open_kind == "tool_use":
            if not self.tool_args_sent:
                events.append(_json_delta(index, "{}"))
                self.tools[-1]["arguments"] += "{}"
            if self.open_tool_index is not None:
                self.closed_tool_indexes.add(self.open_tool_index)
        events.append({"type": "content_block_stop", "index": index})
        self.open_kind = None
        self.open_tool_index = None
        self.open_tool_id = None

    def _open(self, kind: str, block: dict[str, Any], events: list[Event]) -> int:
        self._close(events)
        index = self.block_count
        self.block_count += 1
        self.open_kind = kind
        events.append({"type": "content_block_start", "index": index, "content_block": block})
        return index

    # -- public API -------------------------------------------------------------------------
    def start(self) -> list[Event]:
        """message_start and ping: sent before the first upstream byte arrives."""
        usage = {"input_tokens": self.estimated_input_tokens, "output_tokens": 0}
        message: dict[str, Any] = {
            "id": self.message_id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": usage,
        }
        return [{"type": "message_start", "message": message}, {"type": "ping"}]

    def feed_batch(self, chunks: list[dict[str, Any]]) -> list[Event]:
        """`sse.coalesce` of the events of `feed` for each chunk, plain text merged as it comes.

        A fast upstream hands over hundreds of one-word chunks per read. The chunks that hold
        text alone, while a text block is open and nothing else reads its text (the think-tag
        splitter is off, a tool-call scanner would let it out as it is: ToolTextScanner.plain),
        are taken here without a call each, their text gathered into one event per run; any
        other chunk goes through `feed`.
        """
        events: list[Event] = []
        text = self.text
        add_text, scanner = text.append, self.scanner
        runs: list[tuple[Event, int, int]] = []  # each run's event and its pieces in self.text
        run: Event | None = None  # events[-1] while it gathers the pieces from text[first:]
        first = 0
        ready = self._plain_ready()
        try:
            for chunk in chunks:
                if ready:
                    # A chunk of another shape fails one of these tests, or raises (a choice or
                    # delta that is not an object): either way it goes through `_feed`.
                    try:
                        choices: Any = chunk.get("choices")
                        if len(choices) == 1 and not chunk.get("usage"):
                            choice = choices[0]
                            if not choice.get("finish_reason"):
                                delta = choice.get("delta")
                                if delta.keys() <= TEXT_DELTA_KEYS:
                                    content = delta.get("content")
                                    if (
                                        content.__class__ is str
                                        and content
                                        and (
                                            scanner is None
                                            or (
                                                "<" not in content
                                                and "[" not in content
                                                and "\n" not in content
                                            )
                                        )
                                    ):
                                        if run is None:
                                            first = len(text)
                                            run = {
                                                "type": "content_block_delta",
                                                "index": self.block_count - 1,
                                                "delta": {"type": "text_delta", "text": content},
                                            }
                                            events.append(run)
                                        add_text(content)
                                        continue
                    except (AttributeError, TypeError, KeyError):
                        pass
                if run is not None:
                    runs.append((run, first, len(text)))
                    run = None
                self._feed(chunk, events)
                ready = self._plain_ready()
        finally:
            if run is not None:
                runs.append((run, first, len(text)))
            for event, low, high in runs:
                if high - low > 1:
                    joined = "".join(text[low:high])
                    event["delta"] = {"type": "text_delta", "text": joined}
                    self.output_chars += len(joined)
                else:
                    self.output_chars += len(text[low])
        return coalesce(events)

    def _plain_ready(self) -> bool:
        """True when plain text goes out as it is, as a delta of the open text block."""
        scanner = self.scanner
        return (
            self.open_kind == "text"
            and self.think_tags.mode == "off"
            and (scanner is None or scanner.quiet)
        )

    def feed(self, chunk: dict[str, Any]) -> list[Event]:
        """Translate one OpenAI chat.completion.chunk dict."""
        events: list[Event] = []
        self._feed(chunk, events)
        return events

    def _feed(self, chunk: dict[str, Any], events: list[Event]) -> None:
        usage = chunk.get("usage")
        if usage:
            self.usage = usage
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") or choice.get("message") or {}
            details = delta.get("reasoning_details")
            if details and isinstance(details, list):
                # OpenRouter and others: the typed list is the whole truth (`reasoning` repeats it).
                self._reasoning_details(details, events)
            else:
                reasoning = delta.get("reasoning_content") or delta.get("reasoning")
                if reasoning and isinstance(reasoning, str):
                    self._thinking(reasoning, events)
            blocks = delta.get("thinking_blocks")
            if blocks and isinstance(blocks, list):
                self._thinking_blocks(blocks, events)
            content = delta.get("content")
            if content:
                if isinstance(content, str):
                    self._content_text(content, events)
                elif isinstance(content, list):
                    self._content_parts(content, events)
            calls = delta.get("tool_calls")
            if calls:
                for position, call in enumerate(calls):
                    self._tool(call, position, events)
            reason = choice.get("finish_reason")
            if reason:
                self._finish_reason(reason, choice)

    def _content_text(self, content: str, events: list[Event]) -> None:
        for kind, piece in self.think_tags.feed(content):
            if kind == "thinking":
                self._thinking(piece, events)
            else:
                self._text(piece, events)

    def _finish_reason(self, reason: str, choice: dict[str, Any]) -> None:
        self.finish_reason, matched = finish_of(reason, choice)
        if matched is not None:
            self.stop_sequence = matched

    def finish(self) -> list[Event]:
        """Close the last block, then message_delta (stop reason, usage) and message_stop."""
        events: list[Event] = []
        for kind, piece in self.think_tags.flush():
            if kind == "thinking":
                self._thinking(piece, events)
            else:
                self._text(piece, events)
        if self.pending_tool is not None:
            self._start_tool(events, self.pending_tool.get("name") or "unknown_tool")
        # A refusal says so in its stop_reason; an empty text block would only be noise.
        if self.block_count == 0 and self.stop_reason() != "refusal":
            self._open("text", {"type": "text", "text": ""}, events)
        self._close(events)
        self.finished = True
        events.append(
            {
                "type": "message_delta",
                "delta": {"stop_reason": self.stop_reason(), "stop_sequence": self.stop_sequence},
                "usage": (usage := self.final_usage()),
            }
        )
        self.sent_usage = usage
        events.append({"type": "message_stop"})
        return events

    def plain_answer(
        self, message: dict[str, Any], choice: dict[str, Any], usage: Any
    ) -> dict[str, Any] | None:
        """The message a whole answer of plain text alone comes to, without the events; None
        for any other answer (reasoning, tool calls, a possible think tag, text that could hold
        a call in text form when a scanner looks for one), which is fed instead. Equal to
        `translated.fed_whole`'s (tested)."""
        if self.block_count:
            return None
        scanner = self.scanner
        text: Any = message.get("content")
        scanned = scanner is not None and (
            text.__class__ is not str or not scanner.passes_whole(text)
        )
        plain = plain_message(
            self.model,
            lambda: self.estimated_input_tokens,
            message,
            choice,
            usage,
            scanned,
            self.message_id,
        )
        if plain is not None:
            self.think_tags.mode = "off"
            if usage:
                self.usage = usage
            self._finish_reason(choice.get("finish_reason") or "stop", choice)
            self.output_chars += len(text)
            self.text.append(text)
            self.block_count = 1
            self.finished = True
        return plain

    def stop_reason(self) -> str:
        """The Anthropic stop_reason for what the upstream said (tool calls win over `stop`)."""
        return stop_reason_of(self.finish_reason, self.stop_sequence, self.tool_blocks)

    def final_usage(self) -> dict[str, int]:
        """Anthropic usage from the upstream's numbers, or estimates when it sent none."""
        return usage_of(self.usage, lambda: self.estimated_input_tokens, self.output_chars)

    # -- content kinds ----------------------------------------------------------------------
    def _text(self, text: str, events: list[Event]) -> None:
        if self.open_kind != "text":
            self._open("text", {"type": "text", "text": ""}, events)
        self.output_chars += len(text)
        self.text.append(text)
        events.append(
            {
                "type": "content_block_delta",
                "index": self.block_count - 1,
                "delta": {"type": "text_delta", "text": text},
            }
        )

    def _thinking(self, text: str, events: list[Event]) -> None:
        # A signed block is complete: more reasoning after it is a new (interleaved) block.
        if self.open_kind != "thinking" or self.thinking_signature is not None:
            self._open("thinking", {"type": "thinking", "thinking": "", "signature": ""}, events)
        if not text:
            return
        self.output_chars += len(text)
        events.append(
            {
                "type": "content_block_delta",
                "index": self.block_count - 1,
                "delta": {"type": "thinking_delta", "thinking": text},
            }
        )

    def _thinking_blocks(self, blocks: list[Any], events: list[Event]) -> None:
        """LiteLLM's `thinking_blocks`: signatures for the open thinking block, redacted blocks."""
        for block in blocks:
            if not isinstance(block, dict):
                continue
            if block.get("type") == "redacted_thinking" and isinstance(block.get("data"), str):
                self._open(
                    "redacted_thinking",
                    {"type": "redacted_thinking", "data": block["data"]},
                    events,
                )
                self._close(events)
            elif (
                isinstance(block.get("signature"), str)
                and block["signature"]
                and block["signature"] not in PLACEHOLDER_SIGNATURES
            ):
                if self.open_kind != "thinking":
                    self._thinking(block.get("thinking") or "", events)
                self.thinking_signature = block["signature"]

    def _tool(self, call: dict[str, Any], position: int, events: list[Event]) -> None:
        index = call.get("index")
        index = index if isinstance(index, int) else position
        call_id = call.get("id") or None
        if call_id is not None:
            call_id = self.client_ids.get(call_id) or self._new_tool_id(call, str(call_id))
        function = call.get("function") or {}
        name = function.get("name") or None
        args = function.get("arguments")
        if isinstance(args, dict):
            import orjson

            args = orjson.dumps(args).decode()
        args = args if isinstance(args, str) else ""
        same_tool = (
            self.open_kind == "tool_use"
            and index == self.open_tool_index
            and (call_id is None or call_id == self.open_tool_id)
        )
        pending = self.pending_tool
        if same_tool:
            self._tool_args(args, events)
        elif pending is not None and pending["index"] == index and call_id in (None, pending["id"]):
            pending["args"] += args
            if name:
                self._start_tool(events, name)
        elif call_id is None and name is None and index in self.closed_tool_indexes:
            # Arguments for a tool whose block is already closed cannot be delivered in order.
            self.dropped.append(f"late arguments for tool call {index}")
        else:
            if pending is not None:
                self._start_tool(events, pending.get("name") or "unknown_tool")
            self.pending_tool = {"index": index, "id": call_id, "args": args, "name": name}
            if name:
                self._start_tool(events, name)

    def _new_tool_id(self, call: dict[str, Any], raw: str) -> str:
        """The client's id for a new upstream tool id; a thought signature in it (LiteLLM's
        `<id>__thought__<signature>`) or beside it is kept for a thinking block."""
        upstream_id, signature = raw, None
        if THOUGHT_SEPARATOR in raw:
            upstream_id, _, signature = raw.partition(THOUGHT_SEPARATOR)
        signature = tool_call_signature(call) or signature
        client_id = client_tool_id(upstream_id) if upstream_id else new_tool_id()
        self.client_ids[raw] = client_id
        if client_id != upstream_id and upstream_id:
            self.renamed[client_id] = upstream_id
        if signature:
            self.pending_signatures[client_id] = signature
        return client_id

    def _start_tool(self, events: list[Event], name: str) -> None:
        """Start the pending tool; a thought signature it carries goes first, in a thinking
        block's signature (the open one, or an empty one of its own), which Claude Code sends
        back verbatim with the call."""
        pending = self.pending_tool
        tool_id = pending.get("id") if pending is not None else None
        signature = self.pending_signatures.pop(tool_id, None) if tool_id else None
        if tool_id and signature:
            self.tool_signatures[tool_id] = signature
            if self.open_kind != "thinking" or self.thinking_signature is not None:
                self._open(
                    "thinking", {"type": "thinking", "thinking": "", "signature": ""}, events
                )
            self._carry("tool", {tool_id: signature})
        self._start_pending_tool(events, name)

    def _start_pending_tool(self, events: list[Event], name: str) -> None:
        pending = self.pending_tool
        assert pending is not None
        self.pending_tool = None
        tool_id = pending["id"] or new_tool_id()
        block: dict[str, Any] = {"type": "tool_use", "id": tool_id, "name": name, "input": {}}
        self._open("tool_use", block, events)
        self.open_tool_index = pending["index"]
        self.open_tool_id = pending["id"]
        self.tool_args_sent = False
        self.tool_blocks += 1
        self.tools.append({"id": tool_id, "name": name, "arguments": ""})
        if pending["args"]:
            self._tool_args(pending["args"], events)

    def _tool_args(self, args: str, events: list[Event]) -> None:
        if not args:
            return
        self.tool_args_sent = True
        self.output_chars += len(args)
        self.tools[-1]["arguments"] += args
        events.append(_json_delta(self.block_count - 1, args))

    # -- reasoning in other dialects --------------------------------------------------------
    def _proxy_signature(self, index: int) -> str:
        """The signature of a thinking block this proxy made: a carrier when the upstream
        handed out state for it, else a plain marker (Anthropic-bound history drops both)."""
        carry, self.carry = self.carry, None
        if carry:
            return carrier.pack({"o": self.origin, **carry})
        return f"{SIGNATURE_PREFIX}{self.message_id}.{index}"

    def _carry(self, key: str, value: Any) -> None:
        """Add upstream state to the open thinking block's carrier."""
        carry = self.carry if self.carry is not None else {}
        self.carry = carry
        if isinstance(value, dict):
            carry.setdefault(key, {}).update(value)
        elif isinstance(value, list):
            carry.setdefault(key, []).extend(value)
        else:
            carry[key] = value

    def _reasoning_details(self, details: list[Any], events: list[Event]) -> None:
        """OpenRouter-style `reasoning_details`: text and summaries become thinking, encrypted
        items redacted_thinking; each item's metadata rides in the carrier to go back."""
        for entry in details:
            if not isinstance(entry, dict):
                continue
            kind = entry.get("type")
            if kind == "reasoning.encrypted":
                if isinstance(entry.get("data"), str) and entry["data"]:
                    data = carrier.pack({"o": self.origin, "rd": [entry]})
                    self._open(
                        "redacted_thinking", {"type": "redacted_thinking", "data": data}, events
                    )
                    self._close(events)
                continue
            field = "summary" if kind == "reasoning.summary" else "text"
            text = entry.get(field)
            text = text if isinstance(text, str) else ""
            signature = entry.get("signature")
            if not text and not (isinstance(signature, str) and signature):
                continue  # an empty opener
            if text or self.open_kind != "thinking":
                self._thinking(text, events)
            self._carry_detail({k: v for k, v in entry.items() if k != field}, len(text))

    def _carry_detail(self, meta: dict[str, Any], length: int) -> None:
        """Metadata of one reasoning_details item and the length of its text (`_n`, to cut the
        block's text back into items); pieces of one item (same type and index) merge, a
        signature arriving last included."""
        carry = self.carry if self.carry is not None else {}
        self.carry = carry
        items = carry.setdefault("rd", [])
        last = items[-1] if items else None
        if last is not None and (last.get("type"), last.get("index")) == (
            meta.get("type"),
            meta.get("index"),
        ):
            last.update({k: v for k, v in meta.items() if v not in (None, "")})
            last["_n"] += length
        else:
            items.append({**meta, "_n": length})

    def _content_parts(self, parts: list[Any], events: list[Event]) -> None:
        """Content as a list of parts (Mistral's magistral): `thinking` parts become a thinking
        block that goes back as Mistral's own parts, `text` parts text."""
        for part in parts:
            if not isinstance(part, dict):
                continue
            kind = part.get("type")
            if kind == "text" and isinstance(part.get("text"), str) and part["text"]:
                self._text(part["text"], events)
            elif kind == "thinking":
                inner = part.get("thinking")
                if isinstance(inner, list):
                    inner = "".join(
                        p["text"]
                        for p in inner
                        if isinstance(p, dict) and isinstance(p.get("text"), str)
                    )
                if isinstance(inner, str) and inner:
                    self._thinking(inner, events)
                    self._carry("parts", 1)


PLACEHOLDER_SIGNATURES = frozenset({"mistral"})
"""What LiteLLM puts in `thinking_blocks` for providers that sign nothing (its mistral/
provider): no one can verify it, and an Anthropic upstream would refuse it after a live
switch, so the proxy signs such a block itself (a carrier it strips before Anthropic)."""


def finish_of(reason: str, choice: dict[str, Any]) -> tuple[str, str | None]:
    """The finish reason a choice comes to (a blocked native reason is a content filter), and
    the stop sequence it matched, if it names one."""
    matched = choice.get("stop_reason")
    fields = choice.get("provider_specific_fields")
    native = choice.get("native_finish_reason") or (
        fields.get("native_finish_reason") if isinstance(fields, dict) else None
    )
    if native in BLOCKED:
        reason = "content_filter"
    return reason, matched if isinstance(matched, str) else None


def stop_reason_of(finish_reason: str | None, stop_sequence: str | None, tool_blocks: int) -> str:
    """The Anthropic stop_reason for what the upstream said (tool calls win over `stop`)."""
    if stop_sequence is not None:
        return "stop_sequence"
    reason = STOP_REASONS.get(finish_reason or "stop", "end_turn")
    if tool_blocks and reason == "end_turn":
        return "tool_use"
    if reason == "tool_use" and not tool_blocks:
        return "end_turn"
    return reason


def usage_of(usage: Any, estimate: Callable[[], int], output_chars: int) -> dict[str, int]:
    """Anthropic usage from the upstream's numbers, or estimates (`estimate()`: the input's,
    asked only when needed) when it sent none."""
    usage = usage or {}
    prompt = usage.get("prompt_tokens")
    completion = usage.get("completion_tokens")
    details = usage.get("prompt_tokens_details") or {}
    cached = details.get("cached_tokens") if isinstance(details, dict) else None
    if not isinstance(cached, int):
        cached = usage.get("num_cached_tokens")  # Mistral
    cached = cached if isinstance(cached, int) else 0
    if not isinstance(prompt, int):
        prompt = estimate()
    if not isinstance(completion, int):
        completion = max(1, output_chars // 4) if output_chars else 0
    else:
        completion += _uncounted_reasoning(usage, prompt, completion)
    return {
        "input_tokens": max(0, prompt - cached),
        "output_tokens": completion,
        "cache_read_input_tokens": cached,
        "cache_creation_input_tokens": 0,
    }


def plain_message(
    model: str,
    estimate: Callable[[], int],
    message: dict[str, Any],
    choice: dict[str, Any],
    usage: Any,
    scanned: bool,
    message_id: str | None = None,
) -> dict[str, Any] | None:
    """The message a whole answer of plain text alone comes to, without a translator; None for
    any other answer (reasoning, tool calls, a possible think tag; `scanned`: a tool-call
    scanner would look at the text), which the state machine takes instead."""
    text = message.get("content")
    if (
        scanned
        or text.__class__ is not str
        or message.get("tool_calls")
        or message.get("reasoning_content")
        or message.get("reasoning")
        or message.get("reasoning_details")
        or message.get("thinking_blocks")
    ):
        return None
    first = text.lstrip()[:1]
    if not first or first == "<":
        return None  # whitespace is held back, `<` may open <think>: the splitter decides
    reason, matched = finish_of(choice.get("finish_reason") or "stop", choice)
    return {
        "id": message_id or new_message_id(),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": text}],
        "stop_reason": stop_reason_of(reason, matched, 0),
        "stop_sequence": matched,
        "usage": usage_of(usage if usage else None, estimate, len(text)),
    }


def _uncounted_reasoning(usage: dict[str, Any], prompt: int, completion: int) -> int:
    """Reasoning tokens an upstream left out of completion_tokens (xAI): its total_tokens then
    adds them on top. OpenAI-style totals (reasoning inside completion) add nothing here."""
    details = usage.get("completion_tokens_details")
    reasoning = details.get("reasoning_tokens") if isinstance(details, dict) else None
    total = usage.get("total_tokens")
    if isinstance(reasoning, int) and reasoning > 0 and total == prompt + completion + reasoning:
        return reasoning
    return 0


def _json_delta(index: int, partial: str) -> Event:
    return {
        "type": "content_block_delta",
        "index": index,
        "delta": {"type": "input_json_delta", "partial_json": partial},
    }
