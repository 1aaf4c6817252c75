"""The help screen: the keys of the screen it was opened from, then the keys that work everywhere,
generated from the bindings so it can never go stale."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.dom import DOMNode
from textual.widgets import Markdown

from screens.base import ViewScreen
from screens.context import ScreenContext

INTRO = """\
**claude-proxy** serves the Anthropic Messages API and forwards each request to the model
mapped to it: *haiku*-class requests go to the **small** model, every other Claude model to the
**big** one. Point Claude Code at it with the command in the bar under the header (`c` copies it).
"""

OUTRO = """
### Elsewhere
- **Command palette** (`Ctrl+P`): every action, each preset, and *use as big/small* for any model.
- Every view has its own keys: press `?` there to see them.
"""

KEY_NAMES = {
    "question_mark": "?",
    "escape": "Esc",
    "enter": "Enter",
    "end": "End",
    "home": "Home",
    "delete": "Delete",
    "slash": "/",
    "tab": "Tab",
    "down": "↓",
    "up": "↑",
}


@dataclass(frozen=True, slots=True)
class Key:
    """One line of the help: the key as printed, a short name, what it does."""

    key: str
    name: str
    does: str


def key_name(key: str) -> str:
    """How a Textual key is printed: 'question_mark' -> '?', 'ctrl+t' -> 'Ctrl+T'."""
    parts = [KEY_NAMES.get(part, part) for part in key.split("+")]
    if len(parts) > 1:
        return "+".join(part.capitalize() if len(part) > 1 else part.upper() for part in parts)
    return parts[0]


def from_bindings(bindings: Iterable[BindingType]) -> list[Key]:
    """Help lines for some bindings (the preset digits are folded into one line by the caller)."""
    keys = []
    for binding in bindings:
        if not isinstance(binding, Binding) or binding.action.startswith("apply_preset"):
            continue
        keys.append(Key(key_name(binding.key), binding.description, binding.tooltip))
    return keys


def screen_keys(screen: DOMNode) -> list[Key]:
    """Every key the screen and its widgets define in this project (not Textual's own widget
    keys), plus the keys a screen documents in `HELP_KEYS` (Textual widgets doing its work)."""
    keys: list[Key] = []
    seen: set[tuple[str, str]] = set()
    for node in (screen, *screen.walk_children()):
        for cls in type(node).__mro__:
            if not cls.__module__.startswith("screens.") or "BINDINGS" not in cls.__dict__:
                continue
            for key in from_bindings(cls.__dict__["BINDINGS"]):
                if (key.key, key.name) not in seen:
                    seen.add((key.key, key.name))
                    keys.append(key)
        for key_text, name, does in getattr(type(node), "HELP_KEYS", ()):
            if (key_text, name) not in seen:
                seen.add((key_text, name))
                keys.append(Key(key_text, name, does))
    return keys


def screen_title(screen: DOMNode) -> str:
    """The screen's name for the help: its HELP_TITLE, else the first part of its title line."""
    title = getattr(screen, "HELP_TITLE", "") or getattr(screen, "TITLE_TEXT", "")
    return str(title).split(" · ")[0] or type(screen).__name__


def keys_markdown(keys: list[Key]) -> str:
    """A Markdown list, one key a line."""
    return "\n".join(f"- `{k.key}` **{k.name}**: {k.does}" for k in keys)


class HelpScreen(ViewScreen):
    """Keys of the screen below it, then those that work everywhere."""

    TITLE_TEXT = "Help · Esc back"

    def __init__(
        self, ctx: ScreenContext, title: str, here: list[Key], everywhere: list[Key]
    ) -> None:
        super().__init__(ctx)
        self.here_title = title
        self.here = here
        self.everywhere = everywhere

    def compose_body(self) -> ComposeResult:
        everywhere = [
            *self.everywhere,
            Key("1-9", "Presets", "apply preset 1-9 (anywhere but in a text input)"),
            Key("Ctrl+P", "Palette", "every action, searchable"),
        ]
        text = (
            INTRO
            + f"\n### Keys here: {self.here_title}\n"
            + (keys_markdown(self.here) or "- (none of its own)")
            + "\n\n### Keys everywhere\n"
            + keys_markdown(everywhere)
            + "\n"
            + OUTRO
        )
        with VerticalScroll(id="help"):
            yield Markdown(text)
