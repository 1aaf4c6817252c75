"""Claude Code sends the whole conversation on every request: parse and check each message once.

A session's next request repeats the messages of the one before, byte for byte up to where
Claude Code changed one (it moves its cache_control marker onto the newest turn), and adds a
few. The messages of a request are kept with the bytes orjson writes for each (when the body
held them so: compact JSON, as Claude Code sends) and what the validation walk counted for
each. A later body whose top-level messages start with some of those bytes, message for
message, is parsed with them cut out: a sentinel with a per-process nonce in their place, and
only a parse whose own top-level `messages[0]` is that sentinel (so the cut was exactly the
first messages of the top-level array, whatever else the body holds) takes the kept messages.
The checks that look at each message (validation, the token estimate's characters, the depth
bound, the swap's model search, foreign thinking) then skip them (`Prefix`).

Kept messages are shared by every request that repeats them, so they are read-only for
everyone: the proxy's code builds new dicts, and LiteLLM gets a private copy.
"""

from __future__ import annotations

import threading
from itertools import accumulate
from typing import Any, NamedTuple

import orjson

from proxy.core.spliced import Cut, Span, sentinel

KEY = b'"messages":['
ENTRIES = 8
"""Conversations kept: a Claude Code session runs its main agent and several subagents at once."""
MAX_BYTES = 8 * 1024 * 1024
"""A conversation larger than this is not kept."""
TOTAL_BYTES = 32 * 1024 * 1024
"""The kept conversations' bytes together (their parsed messages take a few times more): the
oldest go first."""
MIN_BYTES = 4096
"""Smaller bodies are not worth keeping: parsing and checking them is as cheap as finding them."""
SEARCHES = 4
"""Occurrences of the `"messages":[` bytes tried (the top-level key is the first in practice)."""
FOREIGN_MARK = b'"claude-proxy.'
"""How a thinking signature this proxy made starts in orjson's bytes
(`proxy.translate.carrier.SIGNATURE_PREFIX`): kept messages before the first holding it need no
foreign-thinking check."""


class Conversation:
    """One request's messages: parsed, as bytes (each after the first with its comma), and
    the validation walk's count of each (running totals)."""

    __slots__ = (
        "chunks",
        "derived",
        "head",
        "messages",
        "offsets",
        "scope",
        "size",
        "totals",
        "unmarked",
    )

    def __init__(
        self,
        messages: list[Any],
        chunks: list[bytes],
        totals: list[int],
        unmarked: int,
        derived: dict[Any, list[Any]] | None = None,
        scope: str = "",
    ) -> None:
        self.messages = messages
        self.scope = scope
        """Who sent it (the proxy's client identity): only their own later requests reuse it, so
        one client can neither share another's parsed messages nor time whether it sent some."""
        self.derived: dict[Any, list[Any]] = derived if derived is not None else {}
        """Values other code derived from each message, per key, in message order (see
        `derived_list`)."""
        self.chunks = chunks
        self.totals = totals
        self.unmarked = unmarked
        """How many leading messages hold no FOREIGN_MARK."""
        self.offsets = [0, *accumulate(map(len, chunks))]
        """Where each chunk starts, from the first message's first byte (and where all end)."""
        self.size = self.offsets[-1]
        self.head = b"".join(chunks[:-1])
        """Every chunk but the last, which Claude Code changes on the next turn (it moves
        its cache_control marker to the newest message)."""

    def derived_list(self, key: Any) -> list[Any]:
        """The values derived under `key` from this conversation's first messages, in order;
        the deriving code appends to it. A later conversation that keeps some of these
        messages starts with their values; each value must let its reader check which
        message it was derived from (they are shared, and another thread may append)."""
        found = self.derived.get(key)
        if found is None:
            found = self.derived[key] = []
        return found

    def matching(self, raw: bytes, start: int) -> int:
        """How many of the chunks `raw` holds one after the other from `start`."""
        chunks = self.chunks
        if not raw.startswith(chunks[0], start):
            return 0
        if raw.startswith(self.head, start):  # one memcmp for the common case
            last = raw.startswith(chunks[-1], start + len(self.head))
            return len(chunks) if last else len(chunks) - 1
        # A change further back: one C loop over the chunks, each where it is if all before it
        # matched.
        matched = list(map(raw.startswith, chunks, map(start.__add__, self.offsets)))
        return matched.index(False)


class Prefix(NamedTuple):
    """A body's leading messages that are a kept conversation's: `known` of them, in `span`."""

    conversation: Conversation
    known: int
    span: Span

    @property
    def chars(self) -> int:
        """What the validation walk counted for those messages."""
        return self.conversation.totals[self.known - 1]

    @property
    def unmarked(self) -> int:
        """Leading messages of the body known to hold no thinking this proxy signed."""
        return min(self.known, self.conversation.unmarked)


class ConversationCut(NamedTuple):
    """A kept conversation's messages found in a body's bytes, to be parsed as a sentinel."""

    cut: Cut
    prefix: Prefix


class ConversationCache:
    """The newest few conversations, newest first."""

    def __init__(self, entries: int = ENTRIES) -> None:
        self.size = entries
        self._entries: tuple[Conversation, ...] = ()
        self._lock = threading.Lock()  # proxies in several threads (tests, TUI) share it
        self._sentinel, self._splice = sentinel(KEY, "messages")
        self.hits = 0
        """Bodies parsed with kept messages (for tests and the benchmark)."""

    def cut(self, raw: bytes, scope: str = "") -> ConversationCut | None:
        """The longest run of `scope`'s kept messages that `raw`'s messages array starts with."""
        entries = self._entries
        if not entries:
            return None
        at = raw.find(KEY)
        for _ in range(SEARCHES):
            if at < 0:
                return None
            start = at + len(KEY)
            best: tuple[int, Conversation] | None = None
            for entry in entries:
                if entry.scope != scope:
                    continue
                count = entry.matching(raw, start)
                if count and (best is None or count > best[0]):
                    best = (count, entry)
            if best is not None:
                count, entry = best
                end = start + entry.offsets[count]
                prefix = Prefix(entry, count, Span(start, end))
                return ConversationCut(Cut(at, end, self._splice), prefix)
            at = raw.find(KEY, start)
        return None

    def adopt(self, body: Any, found: ConversationCut) -> bool:
        """Put the kept messages in `body` (parsed with `found.cut`) if the cut was its first
        messages."""
        if body.__class__ is not dict:
            return False
        messages = body.get("messages")
        if messages.__class__ is not list or not messages or messages[0] != self._sentinel:
            return False
        prefix = found.prefix
        body["messages"] = prefix.conversation.messages[: prefix.known] + messages[1:]
        self.hits += 1
        return True

    def learn(
        self,
        raw: bytes,
        messages: list[Any],
        prefix: Prefix | None,
        each: list[int],
        scope: str = "",
    ) -> Conversation | None:
        """Keep `messages` (parsed from `raw`, sent by `scope`; `each`: the validation walk's count
        of every message after `prefix`), as far as `raw` holds them as orjson writes them.

        Returns the kept conversation that starts with the most of `messages` (None: none)."""
        if len(raw) < MIN_BYTES:
            return None
        if prefix is None:
            base_chunks: list[bytes] = []
            base_totals: list[int] = []
            unmarked = 0
            pos = _first_message(raw)
            if pos < 0:
                return None
        else:
            kept = prefix.conversation
            base_chunks = kept.chunks[: prefix.known]
            base_totals = kept.totals[: prefix.known]
            unmarked = prefix.unmarked
            pos = prefix.span.end
        chunks = list(base_chunks)
        totals = list(base_totals)
        total = totals[-1] if totals else 0
        for message, chars in zip(messages[len(chunks) :], each, strict=False):
            chunk = orjson.dumps(message)
            if chunks:
                chunk = b"," + chunk
            if not raw.startswith(chunk, pos):
                break  # sent in another format from here: never found again either
            if unmarked == len(chunks) and FOREIGN_MARK not in chunk:
                unmarked += 1
            chunks.append(chunk)
            total += chars
            totals.append(total)
            pos += len(chunk)
        if not chunks:
            return None
        if len(chunks) == len(base_chunks):  # nothing new: the conversation it came from
            return prefix.conversation if prefix is not None else None
        derived = None
        if prefix is not None:
            count = prefix.known
            derived = {key: values[:count] for key, values in prefix.conversation.derived.items()}
        entry = Conversation(messages[: len(chunks)], chunks, totals, unmarked, derived, scope)
        if entry.size > MAX_BYTES:
            return None
        replaced = prefix.conversation if prefix is not None else None
        with self._lock:
            entries = [entry]
            budget = TOTAL_BYTES - entry.size
            for old in self._entries:
                if old is not replaced and len(entries) < self.size:
                    budget -= old.size
                    if budget < 0:
                        break
                    entries.append(old)
            self._entries = tuple(entries)
        return entry

    def clear(self) -> None:
        """Forget every kept conversation."""
        with self._lock:
            self._entries = ()


def _first_message(raw: bytes) -> int:
    # Where the first top-level message starts, as far as the bytes tell (`adopt` proves it
    # for any body that later uses what is learnt here).
    at = raw.find(KEY)
    return at + len(KEY) if at >= 0 else -1


CONVERSATIONS = ConversationCache()
"""The process' cache: bodies are parsed before anyone knows which proxy or model serves them."""
