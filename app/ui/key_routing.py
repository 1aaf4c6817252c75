"""Keys typed in a burst act one after the other: the App base class of ProxyApp.

Textual hands a key to the widget focused *when the app reads it*, and a binding that opens a
screen or moves the focus runs only once its key has bubbled back up to the app. A burst (a fast
typist, a paste-like `tmux send-keys`, `p n name<Tab>text<Enter>`) is read in one go, so every
key of it went to the widget focused before the first one acted: a dialog's name field swallowed
the description, keys after the one that opened a dialog were lost, `q s m` opened screens while
the app stopped. Here the app hands out one key at a time, and the next one only once the
previous one settled: a widget stopped it, or its bindings ran and the messages they sent on the
way (an Input's Submitted, which closes a dialog) were handled. Typed slowly, nothing changes.
While the app stops, keys do nothing but Ctrl+C.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import Any

from textual import events
from textual.app import App
from textual.dom import DOMNode
from textual.widgets import Input, TextArea

from screens.typeahead import TypeaheadScreen

FORCE_QUIT_KEYS = frozenset({"ctrl+c"})
STUCK_AFTER = 2.0
"""Seconds after which a key that never settled (its screen went away) no longer holds the next
ones back."""
POLL = 0.001
YIELDS = 200
"""Polls that only yield to the event loop (the widget that has the key is ready to run)."""


async def _pause(polls: int) -> int:
    """Yield to the widgets' tasks: at once the first times, then a millisecond at a time."""
    await asyncio.sleep(0 if polls < YIELDS else POLL)
    return polls + 1


class KeyRoutingApp(App[int]):
    """An App that hands out keys one at a time, each once the previous one settled."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._keys: deque[events.Key] = deque()
        self._in_hand: events.Key | None = None
        self._reached_app = False
        self._watchers: set[asyncio.Task[None]] = set()
        self.stopping = False
        """Set once quitting began: keys open nothing any more."""

    async def on_event(self, event: events.Event) -> None:
        """Keys read from the terminal queue up here; everything else goes on as usual."""
        if isinstance(event, events.Key) and not event.is_forwarded:
            if not self.stopping or event.key in FORCE_QUIT_KEYS:
                self._keys.append(event)
                await self._hand_out()
            return
        await super().on_event(event)

    async def _hand_out(self) -> None:
        """Hand the next key to Textual's own dispatch, unless one has not settled yet."""
        while self._keys and self._in_hand is None:
            event = self._keys.popleft()
            if self.stopping and event.key not in FORCE_QUIT_KEYS:
                continue
            if self.focused is None and isinstance(self.screen, TypeaheadScreen):
                # A dialog that just opened: its first field is where the typing goes.
                self.screen.focus_first_field()
            handed_to: DOMNode = self.focused or self.screen
            self._in_hand, self._reached_app = event, False
            await super().on_event(event)
            if not event.is_forwarded:
                # A priority binding took it at once.
                self._in_hand = None
            else:
                task = asyncio.create_task(self._settle(event, handed_to))
                self._watchers.add(task)
                task.add_done_callback(self._watchers.discard)

    async def _settle(self, event: events.Key, handed_to: DOMNode) -> None:
        """Wait (beside the app's own task, which must stay free) until `event` settled."""
        deadline = time.monotonic() + STUCK_AFTER
        polls = 0
        while not (event._stop_propagation or self._reached_app):
            if time.monotonic() > deadline or not handed_to.is_attached:
                break
            polls = await _pause(polls)
        else:
            if not (event.is_printable and isinstance(handed_to, Input | TextArea)):
                # What its handlers sent travels up from the widget: follow it to the screen.
                # (A character typed into a field moves nothing: a paste stays fast.)
                node: DOMNode | None = handed_to
                while node is not None and node is not self and node.is_attached:
                    passed = asyncio.get_running_loop().create_future()
                    node.call_later(passed.set_result, None)
                    while not passed.done() and node.is_attached and time.monotonic() < deadline:
                        polls = await _pause(polls)
                    node = node.parent
        self.call_later(self._release, event)

    async def _release(self, event: events.Key) -> None:
        if self._in_hand is event:
            self._in_hand = None
            await self._hand_out()

    async def _on_key(self, event: events.Key) -> None:
        # The key bubbled back up here. Textual calls App._on_key next (handlers run once per
        # class of the MRO), which runs its bindings from the focus now.
        if self.stopping and event.key not in FORCE_QUIT_KEYS:
            event.prevent_default()
        if event is self._in_hand:
            self.call_later(self._mark_reached, event)

    def _mark_reached(self, event: events.Key) -> None:
        if event is self._in_hand:
            self._reached_app = True
