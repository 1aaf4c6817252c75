"""Fast typing into a dialog lands where the user meant it, in order.

Textual hands each key to the widget that has focus *when the app dispatches it*, and Tab moves
the focus only later, when its binding runs (after the key bubbled up to the app). Typed in one
burst (a paste-like `send-keys`, a fast typist), `name<Tab>description` therefore reached the name
field whole; and keys typed right after the key that opens a dialog, before its first field had
focus, reached the screen, which dropped them. Here Tab moves the focus at once, and a key that
waited in a field (or on the dialog) after the focus moved on is handed to the focused field.
"""

from __future__ import annotations

from typing import Any, TypeVar
from weakref import WeakSet

from textual import events
from textual.message_pump import MessagePump
from textual.screen import ModalScreen
from textual.widgets import Input

ResultT = TypeVar("ResultT")

_seen_by_field: WeakSet[events.Key] = WeakSet()
"""Keys a field has had (they bubble on to the dialog, which must not hand them back)."""


def _hand_over(event: events.Key, target: MessagePump) -> None:
    event.stop()
    event.prevent_default()
    target.post_message(events.Key(event.key, event.character))


class TypeaheadInput(Input):
    """An Input for dialogs: Tab moves on at once; keys that arrive after it did, follow."""

    def __init__(self, *args: Any, enter_moves_on: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.enter_moves_on = enter_moves_on
        """Enter moves to the next field (like Tab) instead of submitting."""

    async def _on_key(self, event: events.Key) -> None:
        _seen_by_field.add(event)
        focused = self.screen.focused
        if focused is not None and focused is not self:
            # Queued here before the focus moved on: it belongs to the field focused now.
            _hand_over(event, focused)
            return
        if event.key in ("tab", "shift+tab") or (event.key == "enter" and self.enter_moves_on):
            # Moved here, at once: the next key must find the focus where this one left it.
            event.stop()
            event.prevent_default()
            if event.key != "shift+tab":
                self.screen.focus_next()
            else:
                self.screen.focus_previous()
        # Otherwise Input._on_key runs next (Textual calls the handler of each class).


class TypeaheadScreen(ModalScreen[ResultT]):
    """A dialog that passes keys which reached it directly (no field had focus yet) to its field."""

    def focus_first_field(self) -> bool:
        """Focus the first field (typing right after the dialog opened goes there)."""
        field = next(iter(self.query(TypeaheadInput)), None)
        if field is not None:
            self.set_focus(field)
        return field is not None

    async def _on_key(self, event: events.Key) -> None:
        if event not in _seen_by_field:
            focused = self.focused
            if focused is None and self.focus_first_field():
                # Typed before the dialog focused its first field: that field is meant.
                focused = self.focused
            if isinstance(focused, TypeaheadInput):
                _hand_over(event, focused)
