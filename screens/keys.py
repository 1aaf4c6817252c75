"""First run / settings: enter provider keys, masked; the backend saves them (`.env`, mode 0600)."""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Button, Input, Label, Static

from app.client.backend import KEY_SETTINGS, Backend, KeyFileError
from screens.base import ModalView
from screens.typeahead import TypeaheadInput


def is_secret(var: str) -> bool:
    """Keys are typed masked; an API base is not a secret."""
    return var.endswith("_KEY")


class KeysScreen(ModalView[bool]):
    """A form over the app; empty fields leave the current value alone."""

    # Type straight into the first field (the scrolling form itself could take focus first).
    AUTO_FOCUS = "Input"
    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="keys.cancel", tooltip="Close without saving"),
        Binding("ctrl+s", "save", "Save", id="keys.save", tooltip="Write the keys to .env"),
    ]

    def __init__(self, backend: Backend) -> None:
        super().__init__()
        self.backend = backend

    def compose(self) -> ComposeResult:
        current = self.backend.key_settings()
        with VerticalScroll(classes="dialog", id="keys-dialog"):
            yield Static("Provider keys", classes="dialog-title")
            yield Static(
                f"Saved to {self.backend.keys_file} (file mode 0600) and used from the next "
                "request. Leave a field empty to keep it.",
                classes="hint",
            )
            for var in KEY_SETTINGS:
                with Horizontal(classes="field"):
                    yield Label(var)
                    yield TypeaheadInput(
                        password=is_secret(var),
                        id=var,
                        placeholder=f"now: {current.get(var) or 'not set'}",
                    )
            yield Static(id="keys-error", classes="error-text")
            with Horizontal(classes="buttons"):
                yield Button("Save", variant="primary", id="save")
                yield Button("Cancel", id="cancel")

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        """Close without writing anything."""
        self.dismiss(False)

    @on(Button.Pressed, "#save")
    @on(Input.Submitted)
    def action_save(self) -> None:
        """Collect the non-empty fields and save them off the UI thread."""
        values = {var: self.query_one(f"#{var}", Input).value.strip() for var in KEY_SETTINGS}
        values = {k: v for k, v in values.items() if v}
        if not values:
            self.dismiss(False)
            return
        self.save(values)

    @work(exclusive=True, group="keys", exit_on_error=False)
    async def save(self, values: dict[str, str]) -> None:
        """The backend writes the file and gives the running proxy the keys (the header follows)."""
        try:
            path = await self.backend.save_keys(values)
        except KeyFileError as exc:
            self.query_one("#keys-error", Static).update(str(exc))
            return
        self.notify(f"{', '.join(values)} saved to {path} (mode 0600)", title="keys saved")
        self.dismiss(True)
