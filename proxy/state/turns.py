"""Turning Messages API content into short history text, and spotting which turn is new."""

from __future__ import annotations

import hashlib
from itertools import compress, repeat
from operator import itemgetter
from typing import Any

from proxy.translate.tool_input import call_text

ROLES = ("user", "assistant")
REMINDER = "<system-reminder>"
# Tool output can be whole files; history keeps a glimpse, not a copy.
TOOL_PREVIEW = 200


def _clip(text: str, limit: int = TOOL_PREVIEW) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[:limit] + "…"


def _tool_result_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for block in content:
            if not isinstance(block, dict):
                continue
            if block.get("type") == "text":
                parts.append(str(block.get("text", "")))
            elif block.get("type") == "image":
                parts.append("[image]")
        return " ".join(parts)
    return ""


def summarise(content: Any, keep_reminders: bool = False) -> str:
    """Plain text of a message's content: text as is, tools and images as short bracketed notes.

    Claude Code's `<system-reminder>` blocks are context, not the user's words: left out unless
    `keep_reminders`.
    """
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    parts: list[str] = []
    for block in content:
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "text":
            text = str(block.get("text", ""))
            if keep_reminders or not text.lstrip().startswith(REMINDER):
                parts.append(text)
        elif kind == "tool_use":
            name = str(block.get("name", "?"))
            parts.append(f"[tool_use {call_text(name, block.get('input') or {}, TOOL_PREVIEW)}]")
        elif kind == "tool_result":
            label = "tool_error" if block.get("is_error") else "tool_result"
            parts.append(f"[{label}: {_clip(_tool_result_text(block.get('content')))}]")
        elif kind in ("image", "document"):
            parts.append(f"[{kind}]")
        # thinking / redacted_thinking are the model's scratchpad: not part of the conversation.
    return "\n".join(filter(None, parts))


def digest(text: str) -> str:
    """A short stable fingerprint of some text."""
    return hashlib.blake2b(text.encode("utf-8", "replace"), digest_size=8).hexdigest()


def conversation(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The user/assistant messages of a request body (mid-conversation `system` entries dropped)."""
    messages = body.get("messages")
    if not isinstance(messages, list):
        return []
    return [m for m in messages if isinstance(m, dict) and m.get("role") in ROLES]


def newest_user_turn(body: dict[str, Any]) -> tuple[str, str] | None:
    """(key, text) of the last user message; the key is the same each time the turn is resent.

    Claude Code resends the whole history on every turn and moves `cache_control` around, so the
    key is built from the summarised text of the thread's first message, the turn's position and
    its own text, never from raw JSON.
    """
    fast = _conversation_roles(body)
    if fast is None:
        turns = conversation(body)
        index = next((i for i in range(len(turns) - 1, -1, -1) if turns[i]["role"] == "user"), None)
        if index is None:
            return None
    else:
        # The last user message (usually the last message), found by C loops.
        turns, roles = fast
        index = len(roles) - 1
        if not roles or roles[index] != "user":
            roles.reverse()
            try:
                index -= roles.index("user")
            except ValueError:
                return None
    content = turns[index].get("content")
    if content.__class__ is str:
        raw = text = content
    else:
        raw = summarise(content, keep_reminders=True)
        # Without reminder blocks both summaries are the same text.
        text = raw if not _has_reminder(content) else summarise(content)
    own = digest(raw)
    thread = own if index == 0 else _thread_digest(turns[0].get("content"))
    return f"{thread}:{index}:{own}", text


_THREADS: list[tuple[Any, str]] = []
"""The newest threads' first message content and its digest, newest first (a few sessions)."""
THREADS_KEPT = 8


def _thread_digest(content: Any) -> str:
    # A thread's first message comes back with every turn: one C comparison finds it again.
    threads = _THREADS
    for position, (seen, value) in enumerate(threads):
        if seen == content:
            if position:
                threads.insert(0, threads.pop(position))
            return value
    value = digest(summarise(content, keep_reminders=True))
    threads.insert(0, (content, value))
    del threads[THREADS_KEPT:]
    return value


_ROLE = itemgetter("role")
_ROLE_SET = frozenset(ROLES)


def _conversation_roles(body: dict[str, Any]) -> tuple[list[Any], list[str]] | None:
    """`conversation(body)` and its roles when every message is a dict with a hashable role
    (the common case), by C loops; None otherwise (then `conversation` decides)."""
    messages = body.get("messages")
    if messages.__class__ is not list:
        return None
    try:
        roles = list(map(_ROLE, messages))  # a message that is not a dict raises here
        if _ROLE_SET.issuperset(roles):
            if all(map(isinstance, messages, repeat(dict))):
                return messages, roles
            return None
        kept = list(map(_ROLE_SET.__contains__, roles))
    except (KeyError, TypeError):
        return None
    if not all(map(isinstance, messages, repeat(dict))):
        return None
    return list(compress(messages, kept)), list(compress(roles, kept))


def _has_reminder(content: Any) -> bool:
    if not isinstance(content, list):
        return False
    for block in content:
        if isinstance(block, dict) and block.get("type") == "text":
            text = block.get("text")
            if isinstance(text, str) and text.lstrip().startswith(REMINDER):
                return True
    return False


def as_alternating(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """History records as Messages turns: same-role neighbours merged, starting with a user turn."""
    turns: list[dict[str, Any]] = []
    for record in records:
        role, text = record.get("role"), record.get("content")
        if role not in ROLES or not isinstance(text, str) or not text.strip():
            continue
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"] += "\n\n" + text
        else:
            turns.append({"role": role, "content": text})
    # The Messages API wants the first turn to be the user's.
    while turns and turns[0]["role"] != "user":
        turns.pop(0)
    return turns


def _blocks(content: Any) -> list[Any]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return list(content) if isinstance(content, list) else []


def prepend_history(history: list[dict[str, Any]], messages: list[Any]) -> list[Any]:
    """`messages` with the history turns in front, merging at the seam so roles still alternate."""
    if not history:
        return list(messages)
    if not messages or not isinstance(messages[0], dict):
        return [*history, *messages]
    first = messages[0]
    if history[-1]["role"] != first.get("role"):
        return [*history, *messages]
    seam = {
        "role": first.get("role"),
        "content": _blocks(history[-1]["content"]) + _blocks(first.get("content")),
    }
    return [*history[:-1], seam, *messages[1:]]
