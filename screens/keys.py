"""First run / settings: enter provider keys, masked, saved to `.env` with mode 0600."""

from __future__ import annotations

import asyncio
from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from app.client.envfile import update_env_file
from proxy.core.errors import mask_key

# (environment variable, settings field, masked in the input)
FIELDS = (
    ("OPENAI_API_KEY", "openai_api_key", True),
    ("GEMINI_API_KEY", "gemini_api_key", True),
    ("ANTHROPIC_API_KEY", "anthropic_api_key", True),
    ("OPENAI_API_BASE", "openai_api_base", False),
)


class KeysScreen(ModalScreen[bool]):
    """A form over the app; empty fields leave the current value alone."""

    # Type straight into the first field (the scrolling form itself could take focus first).
    AUTO_FOCUS = "Input"
    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="keys.cancel", tooltip="Close without saving"),
        Binding("ctrl+s", "save", "Save", id="keys.save", tooltip="Write the keys to .env"),
    ]

    def __init__(self, env_file: Path) -> None:
        super().__init__()
        self.env_file = env_file

    def compose(self) -> ComposeResult:
        settings = self.app.settings  # type: ignore[attr-defined]
        with VerticalScroll(classes="dialog", id="keys-dialog"):
            yield Static("Provider keys", classes="dialog-title")
            yield Static(
                f"Saved to {self.env_file} (file mode 0600) and used from the next request. "
                "Leave a field empty to keep it.",
                classes="hint",
            )
            for var, field, secret in FIELDS:
                current = getattr(settings, field)
                shown = (mask_key(current) if secret else current) if current else "not set"
                with Horizontal(classes="field"):
                    yield Label(var)
                    yield Input(password=secret, id=var, placeholder=f"now: {shown}")
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
        values = {var: self.query_one(f"#{var}", Input).value.strip() for var, _, _ in FIELDS}
        values = {k: v for k, v in values.items() if v}
        if not values:
            self.dismiss(False)
            return
        self.save(values)

    @work(exclusive=True, group="keys", exit_on_error=False)
    async def save(self, values: dict[str, str]) -> None:
        """Write `.env` in a thread, then give the running proxy the new keys."""
        try:
            path = await asyncio.to_thread(update_env_file, self.env_file, values)
        except OSError as exc:
            self.query_one("#keys-error", Static).update(f"Could not write {self.env_file}: {exc}")
            return
        changes = {field: values[var] for var, field, _ in FIELDS if var in values}
        app = self.app
        await app.backend.update_settings(**changes)  # type: ignore[attr-defined]
        app.settings = app.settings.model_copy(update=changes)  # type: ignore[attr-defined]
        app.notify(f"{', '.join(values)} saved to {path} (mode 0600)", title="keys saved")
        app.refresh_status()  # type: ignore[attr-defined]
        self.dismiss(True)
