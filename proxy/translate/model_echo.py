"""The answer names the model the client asked for, also on the relayed Anthropic stream.

Only the first frame is touched (message_start): it is parsed and re-encoded once per request,
and every later byte passes through unread.
"""

from __future__ import annotations

import orjson

MESSAGE_START = b'"message_start"'
HEAD_LIMIT = 256 << 10
"""Bytes held back at most while waiting for the end of the first frame."""


def _first_frame_end(head: bytes) -> int:
    """Where the first SSE frame ends (after its blank line), or -1 while it is incomplete."""
    ends = [i + n for sep, n in ((b"\n\n", 2), (b"\r\n\r\n", 4)) if (i := head.find(sep)) >= 0]
    return min(ends) if ends else -1


def rewrite_message_start(head: bytes, model: str) -> bytes | None:
    """`head` with message_start's `message.model` set to `model`; None while more is needed.

    A first frame that is not message_start (an error frame, a comment), a line that is not
    JSON, or a head past HEAD_LIMIT comes back unchanged: the relay never holds bytes for long.
    """
    end = _first_frame_end(head)
    if end < 0:
        return None if len(head) < HEAD_LIMIT else head
    frame = head[:end]
    if MESSAGE_START not in frame:
        return head
    lines = frame.split(b"\n")
    for i, line in enumerate(lines):
        if not line.startswith(b"data:"):
            continue
        raw = line[5:].strip()
        try:
            event = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return head
        message = event.get("message") if isinstance(event, dict) else None
        if not isinstance(message, dict) or message.get("model") == model:
            return head
        message["model"] = model
        ending = b"\r" if line.endswith(b"\r") else b""
        lines[i] = b"data: " + orjson.dumps(event) + ending
        return b"\n".join(lines) + head[end:]
    return head
