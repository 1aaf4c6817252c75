"""The model picker: the /models catalogue, filtered as you type; `b` / `s` assign big / small."""

from __future__ import annotations

from typing import Any

from rich.style import Style
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Input, Static

from app.client import formatting as fmt
from app.client.model_search import search
from screens.base import FitTable, ViewScreen, fit_columns
from screens.context import ScreenContext

LABELS = {
    "id": "model",
    "provider": "provider",
    "context": "context",
    "price": "$/Mtok in/out",
    "caps": "caps",
    "key": "key",
}
WIDE = {"provider": 9, "context": 7, "price": 13, "caps": 4, "key": 21}
# 80 columns: the provider is the id's prefix anyway, and the key column only says whether the
# provider has one (the variable to set is in the line under the list for the highlighted row).
NARROW = {"context": 4, "price": 10, "caps": 4, "key": 3}
ID_WIDTH = (24, 48)
WIDE_FROM = 100


def capabilities(model: dict[str, Any]) -> str:
    """'T I R' for tools, images, reasoning; '-' where missing, '?' when unknown."""
    letters = []
    for key, letter in (("tools", "T"), ("images", "I"), ("reasoning", "R")):
        value = model.get(key)
        letters.append("?" if value is None else letter if value else "-")
    return "".join(letters)


def model_cells(model: dict[str, Any], greyed: bool, wide: bool = True) -> dict[str, Text]:
    """One catalogue row; keyless providers dimmed, with the variable to set."""
    style = Style(dim=True) if greyed else Style()
    price_in = fmt.per_mtok(model.get("input_cost_per_mtok"))
    price = f"{price_in}/{fmt.per_mtok(model.get('output_cost_per_mtok'))}"
    key = "✓"
    if greyed:
        key = f"set {model.get('key_var')}" if wide else "✗"
    return {
        "id": Text(str(model.get("id", "")), style=style, no_wrap=True),
        "provider": Text(str(model.get("provider", "")), style=style),
        "context": Text(fmt.context(model.get("context_window")), style=style, justify="right"),
        "price": Text(price, style=style, justify="right"),
        "caps": Text(capabilities(model), style=style),
        "key": Text(key, style=style, no_wrap=True),
    }


class ModelTable(FitTable):
    """The catalogue rows; the keys act on the highlighted model."""

    BINDINGS = [
        Binding(
            "b", "assign('big')", "Use as big", id="models.big", tooltip="Make this the big model"
        ),
        Binding(
            "s",
            "assign('small')",
            "Use as small",
            id="models.small",
            tooltip="Make this the small (haiku-class) model",
        ),
        Binding("slash", "search", "Search", id="models.search", tooltip="Back to the search box"),
    ]

    def action_assign(self, tier: str) -> None:
        """Assign the highlighted model to big or small."""
        screen = self.screen
        assert isinstance(screen, ModelPickerScreen)
        screen.assign(tier)

    def action_search(self) -> None:
        """Focus the search box."""
        self.screen.query_one("#model-search", Input).focus()


class ModelPickerScreen(ViewScreen):
    """Searchable catalogue; the list is fetched from the proxy, never copied into app state."""

    HELP_KEYS = (
        ("↓ Enter", "To the list", "from the search box"),
        ("↑ ↓", "Select", "a model, then b or s"),
    )
    TITLE_TEXT = "Models · type to filter · ↓ list · b/s big/small · caps Tools Images Reasoning"

    def __init__(self, ctx: ScreenContext) -> None:
        super().__init__(ctx)
        self.models: list[dict[str, Any]] = []
        self.shown = 0

    def compose_body(self) -> ComposeResult:
        yield Input(
            placeholder="search models, e.g. 'gemini flash' or 'openai mini'", id="model-search"
        )
        yield ModelTable(NARROW, {"id": ID_WIDTH}, id="models", cursor_type="row")
        yield Static("loading the catalogue…", id="models-count", classes="hint")

    def on_mount(self) -> None:
        """Columns now, rows when the catalogue arrives."""
        self.wide: bool | None = None
        self._set_columns(self.size.width >= WIDE_FROM)
        self.query_one("#model-search", Input).focus()
        self.load()

    def reopen(self) -> None:
        """Shown again: an empty search, focused, over the catalogue fetched again."""
        box = self.query_one("#model-search", Input)
        with box.prevent(Input.Changed):
            box.value = ""
        box.focus()
        self.load()

    @work(exclusive=True, group="models", exit_on_error=False)
    async def load(self) -> None:
        """Fetch /models from the proxy loop."""
        listing = await self.backend.model_list()
        self.models = list(listing.get("models", []))
        self.refilter()

    def _greyed(self, model: dict[str, Any]) -> bool:
        # The proxy decides whether a provider can be reached (a key, or none needed).
        return model.get("key_usable", model.get("key_configured")) is False

    def refilter(self) -> None:
        """Show the models matching the search (a search result list: rebuilt per keystroke)."""
        query = self.query_one("#model-search", Input).value
        table = self.query_one(ModelTable)
        shown = search(self.models, query)
        table.clear()
        keys = [str(column.key.value) for column in table.ordered_columns]
        for model in shown:
            cells = model_cells(model, self._greyed(model), wide=bool(self.wide))
            table.add_row(*(cells[k] for k in keys), key=str(model["id"]))
        self.shown = len(shown)
        self._hint()

    def _hint(self) -> None:
        """The count, and what the highlighted model needs when its provider has no key."""
        count = f"{self.shown} of {len(self.models)} models"
        model = self.highlighted
        entry = next((m for m in self.models if m["id"] == model), None) if model else None
        if entry is not None and self._greyed(entry):
            text = f"{count} · {model}: no key, set {entry.get('key_var')} (k)"
        else:
            text = f"{count} · dimmed: provider key not set"
        self.query_one("#models-count", Static).update(text)

    @on(DataTable.RowHighlighted, "#models")
    def _highlighted(self) -> None:
        self._hint()

    def _set_columns(self, wide: bool) -> None:
        """Narrow or wide column set (the rows are a search result: rebuilt, not updated)."""
        if wide == self.wide:
            return
        self.wide = wide
        table = self.query_one(ModelTable)
        table.clear(columns=True)
        table.fixed = WIDE if wide else NARROW
        labels = LABELS if wide else {**LABELS, "context": "ctx", "price": "$/M in/out"}
        table.add_columns_from({k: v for k, v in labels.items() if k == "id" or k in table.fixed})
        fit_columns(table, table.fixed, table.flex)
        if self.models:
            self.refilter()

    def on_resize(self) -> None:
        """Switch column sets at WIDE_FROM columns."""
        self._set_columns(self.size.width >= WIDE_FROM)

    @on(Input.Changed, "#model-search")
    def _search(self) -> None:
        self.refilter()

    @on(Input.Submitted, "#model-search")
    def _to_list(self) -> None:
        self.query_one(ModelTable).focus()

    def on_key(self, event: Any) -> None:
        """↓ from the search box goes to the list (the box itself has no use for it)."""
        search = self.query_one("#model-search", Input)
        if event.key == "down" and search.has_focus:
            self.query_one(ModelTable).focus()
            event.stop()

    @property
    def highlighted(self) -> str | None:
        """The model id under the cursor."""
        table = self.query_one(ModelTable)
        if not table.row_count:
            return None
        row_key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
        return str(row_key.value) if row_key.value is not None else None

    def assign(self, tier: str) -> None:
        """Make the highlighted model big or small (the app does the switch in a worker)."""
        model = self.highlighted
        if model is None:
            return
        entry = next((m for m in self.models if m["id"] == model), {})
        if self._greyed(entry):
            self.notify(
                f"No key for {entry.get('provider')}: set {entry.get('key_var')} (press k).",
                severity="warning",
            )
        self.ctx.assign_model(tier, model)
