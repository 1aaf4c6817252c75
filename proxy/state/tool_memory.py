"""The second place tool-call state is kept: a bounded in-memory map, newest entries kept.

The first place is the client's history (a carrier in a thinking block's signature, see
translate/carrier.py). This map covers clients that drop thinking blocks; it is lost on a
restart, and then a Gemini 3 call whose signature is gone gets LiteLLM's documented placeholder
signature (`skip_thought_signature_validator`).
"""

from __future__ import annotations

import itertools
from collections import OrderedDict

from proxy.translate.carrier import Remembered

_VERSIONS = itertools.count(1)
MEMORY_SIZE = 4096
"""Tool calls remembered (about 2 KB each at most: a Gemini signature is 0.3-1.5 KB)."""


class ToolMemory:
    """Client tool id -> the upstream it came from, its own id and its thought signature."""

    def __init__(self, size: int = MEMORY_SIZE) -> None:
        self.size = size
        self.entries: OrderedDict[str, Remembered] = OrderedDict()
        self.version = next(_VERSIONS)
        """What `recall` answered at one version it answers all along it; a new one per change,
        unique in the process (the kept conversations that remember it are shared by every
        proxy of the process)."""

    def remember(self, origin: str, signatures: dict[str, str], renamed: dict[str, str]) -> None:
        """Keep what one answer handed out (nothing when it handed out nothing)."""
        if not signatures and not renamed:
            return
        for tool_id in signatures.keys() | renamed.keys():
            entry = Remembered(origin, renamed.get(tool_id), signatures.get(tool_id))
            self.entries[tool_id] = entry
            self.entries.move_to_end(tool_id)
        while len(self.entries) > self.size:
            self.entries.popitem(last=False)
        self.version = next(_VERSIONS)

    def recall(self, tool_id: str) -> Remembered | None:
        """What was kept for a tool id, if anything."""
        return self.entries.get(tool_id)
