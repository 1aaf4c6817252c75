"""The help screen: the keys of the screen it was opened from, then the keys that work everywhere,
generated from the bindings so it can never go stale."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.content import Content
from textual.dom import DOMNode
from textual.widgets import Static

from screens.base import ViewScreen
from screens.context import ScreenContext

KEY_STYLE = "bold $text-accent"

INTRO = Content.assemble(
    ("claude-proxy", "bold"),
    " serves the Anthropic Messages API and forwards each request to the model mapped to it: ",
    ("haiku", "italic"),
    "-class requests go to the ",
    ("small", "bold"),
    " model, every other Claude model to the ",
    ("big", "bold"),
    " one. Point Claude Code at it with the command in the bar under the header (",
    ("c", KEY_STYLE),
    " copies it).",
)

OUTRO = [
    Content.assemble(
        ("Command palette", "bold"),
        " (",
        ("Ctrl+P", KEY_STYLE),
        "): every action, each preset, and ",
        ("use as big/small", "italic"),
        " for any model.",
    ),
    Content.assemble(
        "Every view has its own keys: press ", ("?", KEY_STYLE), " there to see them."
    ),
]

KEY_NAMES = {
    "question_mark": "?",
    "f1": "F1",
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


def heading(text: str) -> Content:
    """A section title."""
    return Content.styled(text, "bold $text-primary")


def bullets(lines: Iterable[Content]) -> list[Content]:
    """A bulleted list, one item a line."""
    return [Content.assemble("  • ", line) for line in lines]


def key_lines(keys: list[Key]) -> list[Content]:
    """One line a key: the key, its name, what it does."""
    return bullets(
        Content.assemble((k.key, KEY_STYLE), " ", (k.name, "bold"), f": {k.does}") for k in keys
    )


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
        # One Static, not a Markdown document: a Markdown of 25 list items mounts about a
        # hundred widgets, and `?` took 300+ ms to show.
        lines = [
            INTRO,
            Content(),
            heading(f"Keys here: {self.here_title}"),
            *(key_lines(self.here) or bullets([Content("(none of its own)")])),
            Content(),
            heading("Keys everywhere"),
            *key_lines(everywhere),
            Content(),
            heading("Elsewhere"),
            *bullets(OUTRO),
        ]
        with VerticalScroll(id="help"):
            yield Static(Content("\n").join(lines), id="help-text")

    def reopen(self) -> None:
        """Shown again: from the top."""
        self.query_one("#help", VerticalScroll).scroll_home(animate=False)
