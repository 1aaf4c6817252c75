"""A request body parsed with the parts the proxy already knows spliced in.

Claude Code sends the same tools (`proxy.core.tools_cache`) and the conversation so far
(`proxy.core.conversation_cache`) on every request: the bytes of each known part are cut out
and parsed as a sentinel, and the kept parsed value takes its place once the parse proves the
cut was exactly that top-level part. Anything unproved parses the whole body.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from proxy.core.conversation_cache import CONVERSATIONS, ConversationCut
from proxy.core.conversation_cache import MIN_BYTES as MESSAGES_MIN_BYTES
from proxy.core.spliced import Cut, overlap, parse_cut
from proxy.core.tools_cache import MIN_BYTES as TOOLS_MIN_BYTES
from proxy.core.tools_cache import TOOLS, ToolsCut
from proxy.translate.model_swap import RawBody


class Known(NamedTuple):
    """The known parts a body was parsed with."""

    tools: ToolsCut | None = None
    messages: ConversationCut | None = None

    def raw_body(self, raw: bytes) -> RawBody:
        """`raw` with where the known parts sat in it, for the model swap and the checks."""
        tools, messages = self
        if tools is None and messages is None:
            return RawBody(raw)
        spans = [tools.span] if tools is not None else []
        if messages is not None:
            spans.append(messages.prefix.span)
        return RawBody(raw, tuple(sorted(spans)), messages.prefix if messages else None)


NOTHING = Known()


SMALLEST = min(TOOLS_MIN_BYTES, MESSAGES_MIN_BYTES)
"""Smaller bodies hold no known part worth cutting out."""


def parse_known(raw: bytes, scope: str = "") -> tuple[Any, Known]:
    """`raw` (sent by `scope`) parsed with the known parts it holds, or (None, NOTHING): parse
    it whole."""
    if len(raw) < SMALLEST:
        return None, NOTHING
    messages = CONVERSATIONS.cut(raw, scope) if len(raw) >= MESSAGES_MIN_BYTES else None
    # The kept messages come first in Claude Code's bodies: the tools are looked for after.
    tools = TOOLS.cut(raw, messages.prefix.span if messages is not None else None)
    if tools is not None and messages is not None and overlap(tools.cut, messages.cut):
        messages = None  # cannot both be top-level parts: keep the one proved before
    if tools is None and messages is None:
        return None, NOTHING
    cuts: list[Cut] = [part.cut for part in (tools, messages) if part is not None]
    body = parse_cut(raw, cuts)
    if tools is not None and not TOOLS.adopt(body, tools):
        return None, NOTHING
    if messages is not None and not CONVERSATIONS.adopt(body, messages):
        return None, NOTHING
    return body, Known(tools, messages)
