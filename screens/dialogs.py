"""Small modal dialogs: a prompt, a confirmation, save-a-preset, choose a model."""

from __future__ import annotations

from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from app.client import formatting as fmt
from app.client.model_search import search
from screens.typeahead import TypeaheadInput, TypeaheadScreen

CANCEL = Binding("escape", "cancel", "Cancel", id="dialog.cancel", tooltip="Close the dialog")


class PromptScreen(TypeaheadScreen[str | None]):
    """One line of input; returns it, or None when cancelled."""

    BINDINGS = [CANCEL]

    def __init__(self, title: str, label: str, value: str = "", hint: str = "") -> None:
        super().__init__()
        self.title_text, self.label, self.value, self.hint = title, label, value, hint

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(self.title_text, classes="dialog-title")
            if self.hint:
                yield Static(self.hint, classes="hint")
            yield Label(self.label)
            yield TypeaheadInput(self.value, id="prompt")
            with Horizontal(classes="buttons"):
                yield Button("OK", variant="primary", id="ok")
                yield Button("Cancel", id="cancel")

    @on(Input.Submitted)
    @on(Button.Pressed, "#ok")
    def _ok(self) -> None:
        self.dismiss(self.query_one("#prompt", Input).value.strip() or None)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        """Close, returning None."""
        self.dismiss(None)


class ConfirmScreen(ModalScreen[bool]):
    """Yes / no."""

    BINDINGS = [
        CANCEL,
        Binding("y", "confirm", "Yes", id="dialog.yes", tooltip="Confirm"),
        Binding("n", "cancel", "No", id="dialog.no", tooltip="Cancel"),
    ]

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(self.question, classes="dialog-title")
            with Horizontal(classes="buttons"):
                yield Button("Yes", variant="error", id="yes")
                yield Button("No", id="no")

    @on(Button.Pressed, "#yes")
    def action_confirm(self) -> None:
        """Return True."""
        self.dismiss(True)

    @on(Button.Pressed, "#no")
    def action_cancel(self) -> None:
        """Return False."""
        self.dismiss(False)


class SavePresetScreen(TypeaheadScreen[tuple[str, str] | None]):
    """Name (and describe) the current big/small pair; returns (name, description)."""

    BINDINGS = [CANCEL]

    def __init__(self, big: str | None, small: str | None) -> None:
        super().__init__()
        self.big, self.small = big, small

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static("Save the current models as a preset", classes="dialog-title")
            yield Static(f"big {self.big}\nsmall {self.small}", classes="hint")
            yield Label("Name (letters, digits, _ - .)")
            yield TypeaheadInput(id="preset-name", placeholder="my_preset", enter_moves_on=True)
            yield Label("Description")
            yield TypeaheadInput(id="preset-description", placeholder="optional, one line")
            with Horizontal(classes="buttons"):
                yield Button("Save", variant="primary", id="ok")
                yield Button("Cancel", id="cancel")

    @on(Input.Submitted, "#preset-description")
    @on(Button.Pressed, "#ok")
    def _ok(self) -> None:
        name = self.query_one("#preset-name", Input).value.strip()
        if not name:
            self.query_one("#preset-name", Input).focus()
            return
        self.dismiss((name, self.query_one("#preset-description", Input).value.strip()))

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        """Close without saving."""
        self.dismiss(None)


class ChooseModelScreen(TypeaheadScreen[str | None]):
    """Pick a model from the catalogue by typing; returns its full id."""

    BINDINGS = [CANCEL]

    def __init__(self, models: list[dict[str, Any]], title: str, exclude: str = "") -> None:
        super().__init__()
        self.models = [m for m in models if m.get("id") != exclude]
        self.title_text = title

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide"):
            yield Static(self.title_text, classes="dialog-title")
            yield TypeaheadInput(
                placeholder="type to filter, Enter picks the highlighted model", id="filter"
            )
            yield OptionList(id="choices")

    def on_mount(self) -> None:
        """Fill the list."""
        self._fill("")

    def _fill(self, query: str) -> None:
        options = []
        # Models whose provider has a key first: those are the ones a replay can reach.
        found = search(self.models, query)
        found.sort(key=lambda m: m.get("key_configured") is False)
        for model in found:
            model_id = str(model.get("id", ""))
            price = (
                f"${fmt.per_mtok(model.get('input_cost_per_mtok'))}"
                f"/{fmt.per_mtok(model.get('output_cost_per_mtok'))} per Mtok"
            )
            no_key = "" if model.get("key_configured") is not False else "  (no key)"
            options.append(Option(f"{model_id}  ·  {price}{no_key}", id=model_id))
        choices = self.query_one(OptionList)
        choices.clear_options()
        choices.add_options(options[:300])
        if options:
            choices.highlighted = 0

    @on(Input.Changed, "#filter")
    def _filter(self, event: Input.Changed) -> None:
        self._fill(event.value)

    def on_key(self, event: Any) -> None:
        """↑/↓ move the list while typing in the filter."""
        choices = self.query_one(OptionList)
        if event.key in ("down", "up") and self.query_one("#filter", Input).has_focus:
            choices.action_cursor_down() if event.key == "down" else choices.action_cursor_up()
            event.stop()

    @on(Input.Submitted, "#filter")
    def _pick_highlighted(self) -> None:
        choices = self.query_one(OptionList)
        if choices.highlighted is not None:
            self.dismiss(choices.get_option_at_index(choices.highlighted).id)

    @on(OptionList.OptionSelected)
    def _picked(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        """Close without a choice."""
        self.dismiss(None)
