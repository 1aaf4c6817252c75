"""Request detail: the translated upstream request, the response, and replay on another model."""

from __future__ import annotations

from typing import Any

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Container, Horizontal, Vertical
from textual.content import Content
from textual.widgets import Markdown, Static, TabbedContent, TabPane, TextArea

from app.client import formatting as fmt
from app.client.backend import CallResult
from app.client.bridge import Frame
from app.client.requests import ERROR, LIVE, RequestRecord, stored_hint
from screens.answer_view import answer_text
from screens.base import ViewScreen
from screens.context import ScreenContext
from screens.dialogs import ChooseModelScreen

LOADING = "loading…"
"""What the JSON documents hold until the backend has rendered them."""


def summary(record: RequestRecord) -> Content:
    """One line: mapping, status, timings, tokens, cost."""
    if record.status == ERROR:
        state = (f"{record.http_status} {record.error_type}", "bold $text-error")
    elif record.status == LIVE:
        state = ("streaming…" if record.stream else "waiting…", "bold $text-warning")
    else:
        state = (f"200 {record.stop_reason or ''}", "bold $text-success")
    return Content.assemble(
        (record.requested, "bold"),
        " → ",
        (fmt.model_with_provider(record.model), "bold"),
        "  ",
        state,
        f"  ttft {fmt.seconds(record.ttft)}  total {fmt.seconds(record.latency)}"
        f"  tokens {fmt.tokens(record.input_tokens)}/{fmt.tokens(record.output_tokens)}"
        f"  {fmt.cost(record.cost)}  session {fmt.short_session(record.session_id)}",
    )


def side(title: str, model: str, facts: str, text: str, error: str | None) -> list[Any]:
    """The widgets of one side of the comparison."""
    head = Static(
        Content.assemble((title, "bold"), " ", (model, "bold $text-accent"), f"\n{facts}")
    )
    body: Any = (
        Static(Content.styled(error, "$text-error")) if error else Markdown(text or "(empty)")
    )
    return [head, body]


class DetailScreen(ViewScreen):
    """Tabs: response, upstream request, client request, replay comparison."""

    HELP_KEYS = (
        ("← →", "Tabs", "switch tabs (with the tab bar focused)"),
        ("Tab", "Focus", "from the tabs to the JSON documents and back"),
    )
    TITLE_TEXT = "Request detail · r replay on another model · ←→ on the tabs switch them"
    BINDINGS = [
        Binding("r", "replay", "Replay", id="detail.replay", tooltip="Resend to another model"),
    ]

    def __init__(self, ctx: ScreenContext, record: RequestRecord) -> None:
        super().__init__(ctx)
        self.record = record

    def compose_body(self) -> ComposeResult:
        yield Static(summary(self.record), id="detail-summary")
        if self.record.stored:
            yield Static(
                f"{stored_hint(self.backend.bodies_recorded)} No request or response JSON.",
                id="detail-stored",
                classes="hint",
            )
        with TabbedContent(id="detail-tabs"):
            with TabPane("Upstream request · response", id="tab-exchange"):
                yield Static(id="detail-error", classes="error-text")
                # Stacked in a small terminal, side by side in a large one.
                with Container(id="exchange"):
                    yield TextArea(LOADING, id="upstream-json", read_only=True, soft_wrap=True)
                    yield TextArea(LOADING, id="response-json", read_only=True, soft_wrap=True)
            with TabPane("Client request", id="tab-client"):
                yield TextArea(LOADING, id="client-json", read_only=True, soft_wrap=True)
            with TabPane("Replay", id="tab-replay"):
                yield Static("Press r to resend this request to another model.", id="replay-hint")
                yield Horizontal(id="compare")

    def on_resize(self) -> None:
        """Request and response side by side when there is room."""
        self.query_one("#exchange").set_class(self.size.width >= 120, "-wide")

    def on_mount(self) -> None:
        """Render the JSON (by the backend, off this thread) and follow the request while it runs."""
        self.query_one("#upstream-json").border_title = "translated upstream request"
        self.query_one("#response-json").border_title = "response"
        self.ctx.frames.subscribe(self, self._frame, immediate=True)
        self.render_record()

    def _frame(self, frame: Frame) -> None:
        record = frame.changed.get(self.record.request_id)
        if record is not None and record.status != LIVE:
            self.render_record()
        elif record is not None:
            self.query_one("#detail-summary", Static).update(summary(record))

    @work(exclusive=True, group="detail", exit_on_error=False)
    async def render_record(self) -> None:
        """Summary, error, and the three JSON documents."""
        record = self.record
        self.query_one("#detail-summary", Static).update(summary(record))
        error = self.query_one("#detail-error", Static)
        error.display = record.status == ERROR
        error.update(f"{record.http_status} {record.error_type}: {record.error}")
        texts = await self.backend.exchange_json(record)
        for widget_id, text in zip(
            ("response-json", "upstream-json", "client-json"), texts, strict=True
        ):
            area = self.query_one(f"#{widget_id}", TextArea)
            if area.text != text:
                area.load_text(text)

    def action_replay(self) -> None:
        """Pick a model, resend, compare."""
        self.choose_and_replay()

    @work(exclusive=True, group="replay", exit_on_error=False)
    async def choose_and_replay(self) -> None:
        """Ask which model, then send the same body there (non-streaming) and show both."""
        body = await self.backend.request_body(self.record)
        if body is None:
            self.notify("This request's body is no longer available to replay.", severity="warning")
            return
        listing = await self.backend.model_list()
        model = await self.app.push_screen_wait(
            ChooseModelScreen(
                list(listing.get("models", [])),
                f"Replay on which model? (was {self.record.model})",
                exclude=self.record.model,
            )
        )
        if not model:
            return
        await self.replay(body, model)

    async def replay(self, body: dict[str, Any], model: str) -> CallResult:
        """Send the replay and render the comparison."""
        self.query_one(TabbedContent).active = "tab-replay"
        self.query_one("#replay-hint", Static).update(f"replaying on {model}…")
        result = await self.backend.replay(body, model)
        usage = (result.message or {}).get("usage") or {}
        cost = await self.backend.replay_cost(model, usage) if result.ok else None
        self.show_comparison(result, cost)
        return result

    def show_comparison(self, result: CallResult, cost: float | None) -> None:
        """Original on the left, replay on the right."""
        record = self.record
        original_facts = (
            f"{fmt.seconds(record.latency)} · {fmt.tokens(record.input_tokens)}/"
            f"{fmt.tokens(record.output_tokens)} tok · {fmt.cost(record.cost, precise=True)}"
        )
        usage = (result.message or {}).get("usage") or {}
        replay_facts = (
            f"{fmt.seconds(result.latency)} · {fmt.tokens(usage.get('input_tokens'))}/"
            f"{fmt.tokens(usage.get('output_tokens'))} tok · {fmt.cost(cost, precise=True)}"
        )
        replay_text = fmt.content_text((result.message or {}).get("content"))
        error = None if result.ok else f"{result.status}: {result.error}"
        compare = self.query_one("#compare", Horizontal)
        compare.remove_children()
        original = side("original", record.model, original_facts, answer_text(record), record.error)
        compare.mount(Vertical(*original, classes="compare-side"))
        replayed = side("replay", result.model, replay_facts, replay_text, error)
        compare.mount(Vertical(*replayed, classes="compare-side", id="replay-side"))
        self.query_one("#replay-hint", Static).update(
            "Same request body, sent through this proxy without streaming. r replays again."
        )
