"""SSE framing (Anthropic events -> bytes) and line splitting of upstream SSE streams."""

from __future__ import annotations

import re
from typing import Any

import orjson

from proxy.core.errors import envelope_bytes

# Precomputed frame prefixes: one bytes join per event instead of string formatting.
_PREFIX = {
    name: b"event: " + name.encode() + b"\ndata: "
    for name in (
        "message_start",
        "ping",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
        "error",
    )
}


def frame(event: dict[str, Any]) -> bytes:
    """One Anthropic SSE frame with its `event:` line (Claude Code ignores frames without it)."""
    name = event["type"]
    prefix = _PREFIX.get(name) or b"event: " + name.encode() + b"\ndata: "
    return prefix + orjson.dumps(event) + b"\n\n"


def frames(events: list[dict[str, Any]]) -> bytes:
    """Several frames in one buffer, for one write per network read."""
    return b"".join([frame(e) for e in events])


_MERGEABLE = {
    "text_delta": "text",
    "thinking_delta": "thinking",
    "input_json_delta": "partial_json",
}


def coalesce(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Merge runs of deltas of the same kind on the same block into one event each.

    One network read often holds many tiny chunks; fewer, larger frames cost less to encode,
    send and parse, and mean the same to the client.
    """
    if len(events) < 2:
        return events
    out: list[dict[str, Any]] = []
    run: list[str] = []
    for event in events:
        delta = event.get("delta") if event["type"] == "content_block_delta" else None
        field = _MERGEABLE.get(delta["type"]) if delta else None
        if run and field is not None:
            last = out[-1]
            if last["index"] == event["index"] and last["delta"]["type"] == delta["type"]:  # type: ignore[index]
                run.append(delta[field])  # type: ignore[index]
                continue
        if run:
            _close_run(out, run)
        out.append(event)
        run = [delta[field]] if field is not None else []  # type: ignore[index]
    if run:
        _close_run(out, run)
    return out


def _close_run(out: list[dict[str, Any]], run: list[str]) -> None:
    if len(run) > 1:
        last = out[-1]
        kind = last["delta"]["type"]
        out[-1] = {**last, "delta": {"type": kind, _MERGEABLE[kind]: "".join(run)}}
    run.clear()


def error_frame(error_type: str, message: str) -> bytes:
    """An `event: error` frame carrying the Anthropic envelope."""
    return _PREFIX["error"] + envelope_bytes(error_type, message) + b"\n\n"


_DATA_LINE = re.compile(rb"^data:(.*)$", re.MULTILINE).findall
"""The values of the lines that start with `data:` (`.` stops at a newline, `$` before one)."""


class LineTooLong(ValueError):
    """An SSE line grew past the splitter's cap without ending."""


class LineSplitter:
    """Accumulates network reads and yields complete `data:` payloads (bytes)."""

    def __init__(self, max_line: int | None = None) -> None:
        self.tail = b""
        self.max_line = max_line
        """Longest line held back while waiting for its end (None: no cap)."""

    def feed(self, data: bytes) -> list[bytes]:
        """Every complete data payload in `data` plus what was held back from earlier reads."""
        buf = self.tail + data if self.tail else data
        end = buf.rfind(b"\n") + 1  # the complete lines end there; 0: none
        self.tail = buf[end:] if end else buf
        if self.max_line is not None and len(self.tail) > self.max_line:
            raise LineTooLong(f"an SSE line passed {self.max_line} bytes without ending")
        if not end:
            return []
        lines = buf if end == len(buf) else buf[:end]
        if lines.startswith(b"data:") and lines.endswith(b"\n\n"):
            # Most reads: `data:` lines each followed by a blank line and nothing else. Split at
            # the event boundaries; when no piece holds a newline (one memchr over their join),
            # the pieces are exactly the lines' values the regex below would find, for a
            # fraction of its per-byte cost (and of `count`'s, which reads byte by byte).
            pieces = lines[5:-2].split(b"\n\ndata:")
            if b"\n" not in b"".join(pieces):
                out = list(map(bytes.strip, pieces))
                return [payload for payload in out if payload] if b"" in out else out
        # The `data:` lines' values found by the C regex engine (the blank lines between events,
        # half of all lines, never reach Python), then stripped as `line[5:].strip()` would.
        out = [value.strip() for value in _DATA_LINE(buf, 0, end)]
        if b"" in out:
            return [payload for payload in out if payload]
        return out

    def flush(self) -> list[bytes]:
        """A last data line the upstream did not end with a newline."""
        line, self.tail = self.tail.strip(), b""
        if line.startswith(b"data:") and line[5:].strip():
            return [line[5:].strip()]
        return []


def collect_message(events: list[dict[str, Any]]) -> dict[str, Any]:
    """Fold a translated event sequence into the equivalent non-streaming message."""
    message: dict[str, Any] = {}
    blocks: list[dict[str, Any]] = []
    partial: dict[int, list[str]] = {}
    for event in events:
        kind = event["type"]
        if kind == "message_start":
            message = dict(event["message"])
        elif kind == "content_block_start":
            blocks.append(dict(event["content_block"]))
        elif kind == "content_block_delta":
            index, delta = event["index"], event["delta"]
            block = blocks[index]
            dtype = delta["type"]
            if dtype == "text_delta":
                block["text"] += delta["text"]
            elif dtype == "thinking_delta":
                block["thinking"] += delta["thinking"]
            elif dtype == "signature_delta":
                block["signature"] = delta["signature"]
            elif dtype == "input_json_delta":
                partial.setdefault(index, []).append(delta["partial_json"])
        elif kind == "message_delta":
            message.update(event["delta"])
            message["usage"] = event["usage"]
    for index, pieces in partial.items():
        raw = "".join(pieces).strip() or "{}"
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError:
            value = {}
        blocks[index]["input"] = value if isinstance(value, dict) else {"value": value}
    message["content"] = blocks
    return message
