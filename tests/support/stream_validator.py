"""Strict validators for Anthropic Messages API responses (SSE streams and plain JSON).

Every check raises ``AssertionError`` with a message naming the offending frame.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = [
    "VALID_STOP_REASONS",
    "parse_sse",
    "validate_anthropic_message",
    "validate_anthropic_stream",
]

VALID_STOP_REASONS = frozenset(
    {"end_turn", "max_tokens", "stop_sequence", "tool_use", "pause_turn", "refusal"}
)
# Allowed delta types per content block type (blocks not listed take no deltas).
_DELTAS: dict[str, frozenset[str]] = {
    "text": frozenset({"text_delta", "citations_delta"}),
    "thinking": frozenset({"thinking_delta", "signature_delta"}),
    "redacted_thinking": frozenset(),
    "tool_use": frozenset({"input_json_delta"}),
    "server_tool_use": frozenset({"input_json_delta"}),
}


def _is_int(v: Any) -> bool:
    """An int that is not a bool."""
    return isinstance(v, int) and not isinstance(v, bool)


def _known_block(btype: Any) -> bool:
    """Whether ``btype`` is a content block type we accept."""
    return isinstance(btype, str) and (btype in _DELTAS or btype.endswith("_tool_result"))


def parse_sse(raw: bytes) -> list[tuple[str | None, dict]]:
    """Split an SSE body into (event name or None, parsed JSON data) frames.

    Handles LF/CRLF, multi-line data and ``:`` comments; non-JSON data raises AssertionError.
    """
    text = raw.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")
    frames: list[tuple[str | None, dict]] = []
    for n, block in enumerate(text.split("\n\n")):
        event: str | None = None
        data_lines: list[str] = []
        for line in block.split("\n"):
            if not line or line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "event":
                event = value
            elif name == "data":
                data_lines.append(value)
            elif name in ("id", "retry"):
                continue
            else:
                raise AssertionError(f"SSE frame {n}: unexpected line {line!r}")
        if event is None and not data_lines:
            continue
        if not data_lines:
            raise AssertionError(f"SSE frame {n}: event {event!r} has no data line")
        payload = "\n".join(data_lines)
        try:
            data = json.loads(payload)
        except ValueError as exc:
            raise AssertionError(f"SSE frame {n}: data is not JSON: {payload[:200]!r}") from exc
        if not isinstance(data, dict):
            raise AssertionError(f"SSE frame {n}: data is not a JSON object: {payload[:200]!r}")
        frames.append((event, data))
    return frames


def _check_error_envelope(data: dict[str, Any], where: str) -> None:
    """Require ``{"type": "error", "error": {"type": str, "message": str}}``."""
    assert data.get("type") == "error", f"{where}: error envelope type is {data.get('type')!r}"
    err = data.get("error")
    assert isinstance(err, dict), f"{where}: error envelope has no 'error' object: {data!r}"
    assert isinstance(err.get("type"), str) and err["type"], f"{where}: error.type missing: {err!r}"
    assert isinstance(err.get("message"), str), f"{where}: error.message missing: {err!r}"


def _check_usage(usage: Any, where: str) -> None:
    """Usage must have int input/output tokens; cache counters int or null."""
    assert isinstance(usage, dict), f"{where}: usage is not an object: {usage!r}"
    for key in ("input_tokens", "output_tokens"):
        assert _is_int(usage.get(key)), f"{where}: usage.{key} is not an int: {usage!r}"
    for key in ("cache_read_input_tokens", "cache_creation_input_tokens"):
        if usage.get(key) is not None:
            assert _is_int(usage[key]), f"{where}: usage.{key} is not an int: {usage!r}"


def _check_block(block: Any, where: str) -> None:
    """Validate one complete content block of a non-streaming message."""
    assert isinstance(block, dict), f"{where}: block is not an object: {block!r}"
    btype = block.get("type")
    assert _known_block(btype), f"{where}: unknown block type {btype!r}"
    if btype == "text":
        assert isinstance(block.get("text"), str), f"{where}: text block without text"
    elif btype == "thinking":
        assert isinstance(block.get("thinking"), str), f"{where}: thinking block without thinking"
        sig = block.get("signature")
        assert isinstance(sig, str) and sig, f"{where}: thinking block without signature"
    elif btype == "redacted_thinking":
        assert isinstance(block.get("data"), str), f"{where}: redacted_thinking without data"
    elif btype in ("tool_use", "server_tool_use"):
        assert isinstance(block.get("id"), str) and block["id"], f"{where}: {btype} without id"
        assert isinstance(block.get("name"), str) and block["name"], (
            f"{where}: {btype} without name"
        )
        assert isinstance(block.get("input"), dict), f"{where}: {btype} input is not an object"


def validate_anthropic_message(msg: dict) -> None:
    """Validate a non-streaming Messages API response; raises AssertionError on violations."""
    assert isinstance(msg, dict), f"message is not an object: {msg!r}"
    assert msg.get("type") == "message", f"message type is {msg.get('type')!r}, expected 'message'"
    assert msg.get("role") == "assistant", f"message role is {msg.get('role')!r}"
    assert isinstance(msg.get("id"), str) and msg["id"], "message has no id"
    assert isinstance(msg.get("model"), str), "message has no model"
    content = msg.get("content")
    assert isinstance(content, list), f"message content is not a list: {content!r}"
    for i, block in enumerate(content):
        _check_block(block, f"content[{i}]")
    stop = msg.get("stop_reason")
    assert stop in VALID_STOP_REASONS, f"invalid stop_reason {stop!r}"
    seq = msg.get("stop_sequence")
    assert seq is None or isinstance(seq, str), f"stop_sequence must be str or null: {seq!r}"
    if stop == "tool_use":
        assert any(b.get("type") == "tool_use" for b in content), (
            "stop_reason is tool_use but there is no tool_use block"
        )
    _check_usage(msg.get("usage"), "message")


def validate_anthropic_stream(raw: bytes) -> dict:
    """Validate an Anthropic Messages SSE body and return the reassembled final message.

    A final ``event: error`` frame is accepted; then ``{"type": "error", "error": ...}`` is returned.
    """
    frames = parse_sse(raw)
    assert frames, "stream has no frames"
    for pos, (event, data) in enumerate(frames):
        assert event is not None, (
            f"frame {pos}: missing 'event:' line (data type {data.get('type')!r})"
        )
        assert data.get("type") == event, (
            f"frame {pos}: event name {event!r} != data type {data.get('type')!r}"
        )

    message: dict[str, Any] | None = None
    blocks: list[dict[str, Any]] = []
    open_index: int | None = None
    partial_json: dict[int, str] = {}
    final_delta: dict[str, Any] | None = None
    stopped = False
    last = len(frames) - 1

    for pos, (event, data) in enumerate(frames):
        where = f"frame {pos} ({event})"
        assert not stopped, f"{where}: event after message_stop"
        if event == "error":
            assert pos == last, f"{where}: error event must be the final frame"
            _check_error_envelope(data, where)
            return {"type": "error", "error": data["error"]}
        if message is None:
            assert event == "message_start", f"{where}: first event must be message_start"
        if event == "message_start":
            assert message is None, f"{where}: duplicate message_start"
            m = data.get("message")
            assert isinstance(m, dict), f"{where}: message_start without message object"
            assert isinstance(m.get("id"), str) and m["id"], f"{where}: message has no id"
            assert m.get("type") == "message", f"{where}: message type is {m.get('type')!r}"
            assert m.get("role") == "assistant", f"{where}: message role is {m.get('role')!r}"
            assert isinstance(m.get("model"), str), f"{where}: message has no model"
            assert m.get("content") == [], (
                f"{where}: message content must be [], got {m.get('content')!r}"
            )
            assert m.get("stop_reason") is None, f"{where}: stop_reason must be null at start"
            _check_usage(m.get("usage"), where)
            message = dict(m)
            message["usage"] = dict(m["usage"])
        elif event == "ping":
            pass
        elif event == "content_block_start":
            assert final_delta is None, f"{where}: content block started after message_delta"
            assert open_index is None, (
                f"{where}: block {data.get('index')!r} started while block {open_index} is open"
            )
            index = data.get("index")
            assert index == len(blocks), (
                f"{where}: index {index!r}, expected {len(blocks)} (blocks must be numbered 0,1,2..)"
            )
            cb = data.get("content_block")
            assert isinstance(cb, dict), f"{where}: no content_block object"
            btype = cb.get("type")
            assert _known_block(btype), f"{where}: unknown content block type {btype!r}"
            block = dict(cb)
            if btype == "text":
                assert isinstance(cb.get("text"), str), f"{where}: text block start without text"
            elif btype == "thinking":
                assert isinstance(cb.get("thinking"), str), (
                    f"{where}: thinking start without thinking"
                )
                block["signature"] = cb.get("signature") or ""
            elif btype in ("tool_use", "server_tool_use"):
                assert isinstance(cb.get("id"), str) and cb["id"], f"{where}: {btype} without id"
                assert isinstance(cb.get("name"), str) and cb["name"], (
                    f"{where}: {btype} without name"
                )
                assert isinstance(cb.get("input", {}), dict), (
                    f"{where}: {btype} input not an object"
                )
                partial_json[index] = ""
            blocks.append(block)
            open_index = index
        elif event == "content_block_delta":
            index = data.get("index")
            assert open_index is not None, f"{where}: delta for index {index!r} with no open block"
            assert index == open_index, f"{where}: delta index {index!r} != open block {open_index}"
            delta = data.get("delta")
            assert isinstance(delta, dict), f"{where}: no delta object"
            block = blocks[open_index]
            dtype = delta.get("type")
            allowed = _DELTAS.get(block["type"], frozenset())
            assert dtype in allowed, f"{where}: {dtype!r} not allowed in a {block['type']!r} block"
            if dtype == "text_delta":
                assert isinstance(delta.get("text"), str), f"{where}: text_delta without text"
                block["text"] += delta["text"]
            elif dtype == "citations_delta":
                block.setdefault("citations", []).append(delta.get("citation"))
            elif dtype == "thinking_delta":
                assert isinstance(delta.get("thinking"), str), (
                    f"{where}: thinking_delta without thinking"
                )
                block["thinking"] += delta["thinking"]
            elif dtype == "signature_delta":
                assert isinstance(delta.get("signature"), str), (
                    f"{where}: signature_delta without signature"
                )
                block["signature"] += delta["signature"]
            elif dtype == "input_json_delta":
                pj = delta.get("partial_json")
                assert isinstance(pj, str), f"{where}: input_json_delta without partial_json string"
                partial_json[open_index] += pj
        elif event == "content_block_stop":
            index = data.get("index")
            assert open_index is not None, f"{where}: stop for index {index!r} with no open block"
            assert index == open_index, f"{where}: stop index {index!r} != open block {open_index}"
            block = blocks[open_index]
            if block["type"] in ("tool_use", "server_tool_use"):
                text = partial_json.pop(open_index)
                if text.strip():
                    try:
                        parsed = json.loads(text)
                    except ValueError as exc:
                        raise AssertionError(
                            f"{where}: tool_use partial_json does not parse: {text!r}"
                        ) from exc
                    assert isinstance(parsed, dict), (
                        f"{where}: tool_use input is not an object: {text!r}"
                    )
                    block["input"] = parsed
                else:
                    block["input"] = block.get("input") or {}
            elif block["type"] == "thinking":
                assert block["signature"], (
                    f"{where}: thinking block {index} stopped without a signature"
                )
            open_index = None
        elif event == "message_delta":
            assert message is not None
            assert open_index is None, f"{where}: message_delta while block {open_index} is open"
            assert final_delta is None, f"{where}: more than one message_delta"
            delta = data.get("delta")
            assert isinstance(delta, dict), f"{where}: no delta object"
            stop = delta.get("stop_reason")
            assert stop in VALID_STOP_REASONS, f"{where}: invalid stop_reason {stop!r}"
            seq = delta.get("stop_sequence")
            assert seq is None or isinstance(seq, str), f"{where}: bad stop_sequence {seq!r}"
            usage = data.get("usage")
            assert isinstance(usage, dict), f"{where}: no usage object"
            assert _is_int(usage.get("output_tokens")), f"{where}: usage.output_tokens not an int"
            for key, value in usage.items():
                if value is not None:
                    assert _is_int(value) or isinstance(value, dict), (
                        f"{where}: usage.{key} has a bad value {value!r}"
                    )
            final_delta = data
        elif event == "message_stop":
            assert final_delta is not None, f"{where}: message_stop without a message_delta"
            stopped = True
        else:
            raise AssertionError(f"{where}: unknown event type {event!r}")

    if open_index is not None:
        raise AssertionError(f"stream ended with block {open_index} still open")
    assert final_delta is not None, "stream ended without message_delta"
    assert stopped, "stream ended without message_stop"
    assert message is not None

    stop_reason = final_delta["delta"]["stop_reason"]
    if stop_reason == "tool_use":
        assert any(b["type"] == "tool_use" for b in blocks), (
            "stop_reason is tool_use but no tool_use block was streamed"
        )
    message["content"] = blocks
    message["stop_reason"] = stop_reason
    message["stop_sequence"] = final_delta["delta"].get("stop_sequence")
    message["usage"].update({k: v for k, v in final_delta["usage"].items() if v is not None})
    validate_anthropic_message(message)
    return message
