"""A footer that fits its line: when the keys do not fit, the app-wide view keys go first (they
keep working, and the help lists them), then the palette hint."""

from __future__ import annotations

from collections.abc import Hashable, Iterable

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

OPTIONAL = frozenset({"models", "presets", "history", "debug", "stats", "test_config"})
"""Actions of the app whose keys leave a crowded footer (all together)."""
PALETTE = "-command-palette"


def key_width(key: FooterKey) -> int:
    """Cells a compact footer key takes: ' k Description' as Textual draws it."""
    description = f" {key.description}" if key.description else ""
    return len(key.key_display) + len(description) + 1


def fitting(widgets: list[Widget], width: int) -> list[Widget]:
    """The widgets without the optional keys (and then the palette hint) that overflow `width`."""
    kept = list(widgets)

    def used(items: Iterable[Widget]) -> int:
        # The palette hint has a border cell on its left; a key group is rare here (a guess).
        return sum(
            key_width(w) + w.has_class(PALETTE) if isinstance(w, FooterKey) else 12 for w in items
        )

    if used(kept) <= width:
        return kept
    # All of them, not some: a footer that shows three of the six view keys reads as if the
    # other three did not exist.
    kept = [w for w in kept if not (isinstance(w, FooterKey) and w.action in OPTIONAL)]
    if used(kept) > width:
        kept = [w for w in kept if not w.has_class(PALETTE)]
    return kept


class FittingFooter(Footer):
    """Footer(compact=True) whose keys never run past the right edge (80 columns included)."""

    def __init__(self, show_command_palette: bool = True) -> None:
        super().__init__(compact=True, show_command_palette=show_command_palette)
        self._width = 0
        self._shows: Hashable = None
        """The bindings the keys on show were composed from."""

    def _binding_keys(self) -> Hashable:
        return tuple(
            (binding.key, binding.description, binding.action, enabled, tooltip)
            for _, binding, enabled, tooltip in self.screen.active_bindings.values()
        )

    def bindings_changed(self, screen: Screen[object]) -> None:
        """Compose the keys again only when they changed: a screen shown again, or a focus
        that moves within it, usually leaves them as they were (and composing them mounts a
        dozen widgets)."""
        if self._bindings_ready and screen is self.screen and self._binding_keys() == self._shows:
            return
        super().bindings_changed(screen)

    def compose(self) -> ComposeResult:
        if self._bindings_ready:
            self._shows = self._binding_keys()
        widgets = list(super().compose())
        width = self.size.width or self.app.size.width
        # What this composition fits: the first resize (to the same width) need not redo it.
        self._width = width
        kept = fitting(widgets, width)
        self.styles.grid_size_columns = sum(1 for w in kept if not w.has_class(PALETTE))
        yield from kept

    def on_resize(self) -> None:
        """Decide again what fits at the new width."""
        if self.size.width != self._width:
            self._width = self.size.width
            self.refresh(recompose=True)
