"""The garbage collector, tuned for a UI that shares its process (and GIL) with the proxy.

Measured under 20 instant streams: CPython's default thresholds (700, 10, 10) promote nearly
everything that lives a few tens of ms (queued events, render caches, stream state) to the old
generation, so a full collection ran every second or two, and each walked the whole heap (a few
hundred thousand objects from Textual, aiohttp and LiteLLM) with both threads stopped: 200-400 ms
without a key press handled. A larger young generation lets short-lived objects die before they
are promoted, and `gc.freeze()` takes the start-up heap out of full collections altogether
(frozen objects are never collected, which module-level and app-lifetime objects are anyway).
The app restores the collector when it exits, for processes that run more than one app (tests).
"""

from __future__ import annotations

import gc

from proxy.core.lazy_litellm import is_ready

THRESHOLDS = (50_000, 20, 10)
"""Young-generation size, then how many collections of each generation before the next one."""


class HeapPolicy:
    """Tunes the collector while the app runs; freezes the heap once up, again once LiteLLM is."""

    def __init__(self) -> None:
        self.saved: tuple[int, int, int] | None = None
        self.app_frozen = False
        self.litellm_frozen = False

    def start(self) -> None:
        """Raise the thresholds (called when the app mounts)."""
        if self.saved is None:
            self.saved = gc.get_threshold()
            gc.set_threshold(*THRESHOLDS)

    def settle(self) -> None:
        """Called every frame; freezes at most twice in the app's life (each is O(1))."""
        if self.litellm_frozen or self.saved is None:
            return
        if not self.app_frozen:
            self.app_frozen = True
            gc.freeze()
        if is_ready():
            self.litellm_frozen = True
            gc.freeze()

    def stop(self) -> None:
        """Give the frozen objects back to the collector and restore its thresholds."""
        if self.saved is not None:
            gc.unfreeze()
            gc.set_threshold(*self.saved)
            self.saved = None
