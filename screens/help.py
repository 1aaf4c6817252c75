"""The help screen: every key, generated from the bindings so it can never go stale."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Markdown

from screens.base import ViewScreen

INTRO = """\
**claude-proxy** serves the Anthropic Messages API and forwards each request to the model
mapped to it: *haiku*-class requests go to the **small** model, every other Claude model to the
**big** one. Point Claude Code at it with the command in the bar under the header (`c` copies it).
"""

OUTRO = """
### Elsewhere
- **Model picker**: type to filter, `↓` to the list, `b` / `s` assign big / small.
- **Presets**: `Enter` applies, `n` saves the current big/small, `Delete` removes a user preset.
- **Request detail**: `r` replays the request on another model, side by side.
- **History**: `x` export, `c` clear, `p` toggle persistence, `Tab` sessions.
- **Command palette** (`ctrl+p`): every action, each preset, and *use as big/small* for any model.
"""


def _key(binding: Binding) -> str:
    return {"question_mark": "?", "escape": "Esc", "enter": "Enter"}.get(binding.key, binding.key)


def bindings_table(bindings: list[Binding]) -> str:
    """A Markdown list of keys (the digits folded into one line)."""
    rows = []
    for binding in bindings:
        if binding.action.startswith("apply_preset"):
            continue
        rows.append(f"- `{_key(binding)}` **{binding.description}**: {binding.tooltip}")
    rows.append("- `1`-`9` **Presets**: apply preset 1-9 (anywhere but in a text input)")
    rows.append("- `ctrl+p` **Palette**: every action, searchable")
    return "\n".join(rows)


class HelpScreen(ViewScreen):
    """Keys and where things are."""

    TITLE_TEXT = "Help"

    def compose_body(self) -> ComposeResult:
        bindings = [b for b in self.app.BINDINGS if isinstance(b, Binding)]
        with VerticalScroll(id="help"):
            yield Markdown(INTRO + "\n### Keys\n" + bindings_table(bindings) + "\n" + OUTRO)
