"""The one state machine: OpenAI-style chunk dicts in, Anthropic stream event dicts out.

Non-streaming answers go through it too (one chunk holding the whole message), so both paths
agree on blocks, ids, signatures, stop reasons and usage.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from proxy.translate.think_tags import ThinkTagSplitter

SIGNATURE_PREFIX = "claude-proxy."
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
}
Event = dict[str, Any]


def new_message_id() -> str:
    """A fresh Anthropic-style message id."""
    return "msg_" + secrets.token_hex(12)


def new_tool_id() -> str:
    """A fresh Anthropic-style tool_use id, for upstreams that send none."""
    return "toolu_" + secrets.token_hex(12)


def is_proxy_signature(signature: object) -> bool:
    """True for thinking signatures this proxy made (Anthropic would reject them)."""
    return isinstance(signature, str) and signature.startswith(SIGNATURE_PREFIX)


class StreamTranslator:
    """Turns one upstream answer's chunks into Anthropic events; one instance per request."""

    def __init__(self, model: str, input_tokens: int = 0) -> None:
        self.model = model
        self.message_id = new_message_id()
        self.estimated_input_tokens = input_tokens
        self.block_count = 0
        self.open_kind: str | None = None
        self.open_tool_index: int | None = None
        self.open_tool_id: str | None = None
        self.tool_args_sent = False
        self.closed_tool_indexes: set[int] = set()
        self.pending_tool: dict[str, Any] | None = None
        self.thinking_hash: Any = None
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

    # -- block management -------------------------------------------------------------------
    def _close(self, events: list[Event]) -> None:
        if self.open_kind is None:
            return
        index = self.block_count - 1
        if self.open_kind == "thinking":
            # The upstream's own signature (Anthropic via LiteLLM) beats ours: it can go back.
            signature = self.thinking_signature
            if signature is None:
                digest = self.thinking_hash.hexdigest()[:40] if self.thinking_hash else ""
                signature = SIGNATURE_PREFIX + digest
            events.append(
                {
                    "type": "content_block_delta",
                    "index": index,
                    "delta": {"type": "signature_delta", "signature": signature},
                }
            )
            self.thinking_hash = None
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

    def feed(self, chunk: dict[str, Any]) -> list[Event]:
        """Translate one OpenAI chat.completion.chunk dict."""
        events: list[Event] = []
        usage = chunk.get("usage")
        if usage:
            self.usage = usage
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") or choice.get("message") or {}
            reasoning = delta.get("reasoning_content") or delta.get("reasoning")
            if reasoning and isinstance(reasoning, str):
                self._thinking(reasoning, events)
            blocks = delta.get("thinking_blocks")
            if blocks and isinstance(blocks, list):
                self._thinking_blocks(blocks, events)
            content = delta.get("content")
            if content and isinstance(content, str):
                for kind, piece in self.think_tags.feed(content):
                    if kind == "thinking":
                        self._thinking(piece, events)
                    else:
                        self._text(piece, events)
            calls = delta.get("tool_calls")
            if calls:
                for position, call in enumerate(calls):
                    self._tool(call, position, events)
            reason = choice.get("finish_reason")
            if reason:
                self.finish_reason = reason
                matched = choice.get("stop_reason")
                if isinstance(matched, str):
                    self.stop_sequence = matched
        return events

    def finish(self) -> list[Event]:
        """Close the last block, then message_delta (stop reason, usage) and message_stop."""
        events: list[Event] = []
        for kind, piece in self.think_tags.flush():
            if kind == "thinking":
                self._thinking(piece, events)
            else:
                self._text(piece, events)
        if self.pending_tool is not None:
            self._start_pending_tool(events, name=self.pending_tool.get("name") or "unknown_tool")
        if self.block_count == 0:
            self._open("text", {"type": "text", "text": ""}, events)
        self._close(events)
        self.finished = True
        events.append(
            {
                "type": "message_delta",
                "delta": {"stop_reason": self.stop_reason(), "stop_sequence": self.stop_sequence},
                "usage": self.final_usage(),
            }
        )
        events.append({"type": "message_stop"})
        return events

    def stop_reason(self) -> str:
        """The Anthropic stop_reason for what the upstream said (tool calls win over `stop`)."""
        if self.stop_sequence is not None:
            return "stop_sequence"
        reason = STOP_REASONS.get(self.finish_reason or "stop", "end_turn")
        if self.tool_blocks and reason == "end_turn":
            return "tool_use"
        if reason == "tool_use" and not self.tool_blocks:
            return "end_turn"
        return reason

    def final_usage(self) -> dict[str, int]:
        """Anthropic usage from the upstream's numbers, or estimates when it sent none."""
        usage = self.usage or {}
        prompt = usage.get("prompt_tokens")
        completion = usage.get("completion_tokens")
        details = usage.get("prompt_tokens_details") or {}
        cached = details.get("cached_tokens") if isinstance(details, dict) else None
        cached = cached if isinstance(cached, int) else 0
        if not isinstance(prompt, int):
            prompt = self.estimated_input_tokens
        if not isinstance(completion, int):
            completion = max(1, self.output_chars // 4) if self.output_chars else 0
        return {
            "input_tokens": max(0, prompt - cached),
            "output_tokens": completion,
            "cache_read_input_tokens": cached,
            "cache_creation_input_tokens": 0,
        }

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
            self.thinking_hash = hashlib.sha256()
        self.thinking_hash.update(text.encode())
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
            elif isinstance(block.get("signature"), str) and block["signature"]:
                if self.open_kind != "thinking":
                    self._thinking(block.get("thinking") or "", events)
                self.thinking_signature = block["signature"]

    def _tool(self, call: dict[str, Any], position: int, events: list[Event]) -> None:
        index = call.get("index")
        index = index if isinstance(index, int) else position
        call_id = call.get("id") or None
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
                self._start_pending_tool(events, name)
        elif call_id is None and name is None and index in self.closed_tool_indexes:
            # Arguments for a tool whose block is already closed cannot be delivered in order.
            self.dropped.append(f"late arguments for tool call {index}")
        else:
            if pending is not None:
                self._start_pending_tool(events, pending.get("name") or "unknown_tool")
            self.pending_tool = {"index": index, "id": call_id, "args": args, "name": name}
            if name:
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


def _json_delta(index: int, partial: str) -> Event:
    return {
        "type": "content_block_delta",
        "index": index,
        "delta": {"type": "input_json_delta", "partial_json": partial},
    }
