"""Presets: the list with their models; Enter applies, `n` saves the current pair, Delete removes."""

from __future__ import annotations

from typing import Any

from rich.style import Style
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Static

from app.client import formatting as fmt
from app.client.preset_health import models_by_id, preset_problems
from app.client.status import Status
from screens.base import FitTable, ViewScreen, fit_columns
from screens.context import ScreenContext
from screens.dialogs import ConfirmScreen, SavePresetScreen
from screens.status_bar import in_sight

LABELS = {
    "key": "#",
    "active": "",
    "name": "preset",
    "big": "big",
    "small": "small",
    "description": "description",
}
NAME_WIDTH = 18
"""The longest built-in name with its problem mark ("openai_reasoning !")."""
FIXED = {"key": 1, "active": 1, "name": NAME_WIDTH}
FLEX = {"big": (16, 32), "small": (16, 32), "description": (0, 90)}
# Below WIDE_FROM columns the models get the room: bare names, no description column (the
# highlighted preset's description and full model strings are in the box under the list).
NARROW_FLEX = {"big": (16, 38), "small": (16, 38)}
WIDE_FROM = 110


class PresetsScreen(ViewScreen):
    """The presets the service holds (built-ins and the user's), fetched when shown."""

    HELP_KEYS = (("Enter", "Apply", "the highlighted preset"),)
    TITLE_TEXT = "Presets · Enter/1-9 apply · 0 .env default · n save current · Del remove"
    BINDINGS = [
        Binding(
            "n", "save", "Save current", id="presets.save", tooltip="Save big/small as a preset"
        ),
        Binding("delete", "delete", "Delete", id="presets.delete", tooltip="Delete a user preset"),
    ]

    def __init__(self, ctx: ScreenContext) -> None:
        super().__init__(ctx)
        self.presets: list[Any] = []
        self.problems: dict[str, dict[str, str]] = {}
        """Per preset name: why its big/small model would not work (no key, unknown model)."""
        self.wide: bool | None = None

    def compose_body(self) -> ComposeResult:
        yield FitTable(FIXED, FLEX, id="presets", cursor_type="row")
        yield Static(id="preset-description", classes="hint")

    def on_mount(self) -> None:
        """Columns now; rows from the proxy; the marker follows the active preset."""
        table = self.query_one(FitTable)
        self._set_columns(self.size.width >= WIDE_FROM)
        table.focus()
        self.ctx.status.subscribe(self, self._status)
        self.ctx.resync.subscribe(self, lambda _: self.load())
        self.load()

    def on_screen_resume(self) -> None:
        """Back from the keys dialog (or another view): keys may have changed the marks."""
        if self.is_mounted:
            self.load()

    def reopen(self) -> None:
        """Shown again (its resume reloads the rows): the cursor on the first preset."""
        table = self.query_one(FitTable)
        table.focus()
        table.move_cursor(row=0)

    def on_resize(self) -> None:
        """The description column from WIDE_FROM columns up."""
        if self._set_columns(self.size.width >= WIDE_FROM):
            self.load()

    def _set_columns(self, wide: bool) -> bool:
        """Build the column set for this width; True when it changed."""
        if wide == self.wide:
            return False
        self.wide = wide
        table = self.query_one(FitTable)
        table.clear(columns=True)
        table.flex = FLEX if wide else NARROW_FLEX
        table.add_columns_from({k: v for k, v in LABELS.items() if k in FIXED or k in table.flex})
        fit_columns(table, table.fixed, table.flex)
        return True

    def _model(self, model: str) -> str:
        return model if self.wide else fmt.bare_model(model)

    @work(exclusive=True, group="presets", exit_on_error=False)
    async def load(self) -> None:
        """Fetch the presets and (re)fill the table, keeping the cursor."""
        presets = await self.backend.presets()
        rows = models_by_id(await self.backend.model_list())
        # Set together with the table's rows (no await between): a status change that lands
        # while the backend answers must find every listed preset in the table.
        self.presets = presets
        self.problems = {
            p.name: found for p in presets if (found := preset_problems(p.big, p.small, rows))
        }
        table = self.query_one(DataTable)
        row = table.cursor_row
        table.clear()
        active = self.backend.pair.preset
        error = Style(color=self.app.theme_variables.get("text-error"))
        for number, preset in enumerate(self.presets, 1):
            problems = self.problems.get(preset.name, {})
            label = self._label(preset, active, problems, error)
            cells = {
                "key": str(number) if number < 10 else "",
                "active": "●" if preset.name == active else "",
                "name": label,
                "big": Text(
                    self._model(preset.big),
                    style=error if "big" in problems else "",
                    overflow="ellipsis",
                ),
                "small": Text(
                    self._model(preset.small),
                    style=error if "small" in problems else "",
                    overflow="ellipsis",
                ),
                # Cut with an ellipsis: the whole text is in the box under the list.
                "description": Text(preset.description, no_wrap=True, overflow="ellipsis"),
            }
            table.add_row(
                *(cells[str(c.key.value)] for c in table.ordered_columns), key=preset.name
            )
        if table.row_count:
            table.move_cursor(row=min(row, table.row_count - 1))

    @staticmethod
    def _label(preset: Any, active: str | None, problems: dict[str, str], error: Style) -> Text:
        """The name, then " (user)" and the problem mark: a long name is cut, never the mark."""
        suffix = Text()
        if not preset.builtin:
            suffix.append(" (user)", style="dim")
        if problems:
            suffix.append(" !", style=error)
        name = preset.name
        room = NAME_WIDTH - len(suffix)
        if len(name) > room:
            name = name[: max(1, room - 1)] + "…"
        return Text(name, style="bold" if preset.name == active else "") + suffix

    def _status(self, status: Status) -> None:
        if not in_sight(self):
            return  # out of sight: its resume reloads the rows, marker included
        table = self.query_one(DataTable)
        for preset in self.presets:
            marker = "●" if preset.name == status.preset else ""
            if preset.name not in table.rows:
                continue
            if table.get_cell(preset.name, "active") != marker:
                table.update_cell(preset.name, "active", marker)

    @on(DataTable.RowHighlighted)
    def _describe(self, event: DataTable.RowHighlighted) -> None:
        preset = next((p for p in self.presets if p.name == event.row_key.value), None)
        if preset is not None:
            kind = "built-in" if preset.builtin else "user preset"
            problems = self.problems.get(preset.name, {})
            lines = [
                f"{preset.name} ({kind}): {preset.description}",
                f"big {preset.big} · small {preset.small}",
                *(f"! {tier} {why}" for tier, why in problems.items()),
            ]
            self.query_one("#preset-description", Static).update("\n".join(lines))

    @on(DataTable.RowSelected)
    def _apply(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value is not None:
            self.ctx.apply_preset(str(event.row_key.value))

    def action_save(self) -> None:
        """Ask for a name, then save the current big/small."""
        pair = self.backend.pair
        if pair.big is None or pair.small is None:
            self.notify("Pass-through has no models to save; pick big and small first.")
            return
        self.app.push_screen(SavePresetScreen(pair.big, pair.small), self._save)

    def _save(self, answer: tuple[str, str] | None) -> None:
        if answer is not None:
            self.save(*answer)

    # Not exclusive: a second save must not cancel the first one halfway through its write.
    @work(group="presets-change", exit_on_error=False)
    async def save(self, name: str, description: str) -> None:
        """Save through the service (validated there), then reload."""
        pair = self.backend.pair
        assert pair.big is not None and pair.small is not None
        await self.backend.save_preset(name, pair.big, pair.small, description)
        self.notify(f"saved preset {name}")
        self.load()

    def action_delete(self) -> None:
        """Delete the highlighted user preset, after a confirmation."""
        table = self.query_one(DataTable)
        if not table.row_count:
            return
        name = str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)
        preset = next((p for p in self.presets if p.name == name), None)
        if preset is None or preset.builtin:
            self.notify("Built-in presets cannot be deleted.", severity="warning")
            return

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.delete(name)

        self.app.push_screen(ConfirmScreen(f"Delete preset {name}?"), confirmed)

    @work(group="presets-change", exit_on_error=False)
    async def delete(self, name: str) -> None:
        """Delete through the service, then reload."""
        await self.backend.delete_preset(name)
        self.notify(f"deleted preset {name}")
        self.load()
