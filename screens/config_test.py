"""Config test: a tiny probe to the big and the small model through the proxy, side by side."""

from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.widgets import Static

from app.client import formatting as fmt
from app.client.backend import Backend, CallResult
from screens.base import ModalView


def render_result(tier: str, result: CallResult | None) -> Content:
    """One line per tier: success with latency and answer, or the exact error."""
    head = Content.assemble((f"{tier:<6}", "bold"))
    if result is None:
        return head + Content.assemble(("probing…", "$text-muted"))
    if result.ok:
        message = result.message or {}
        answer = fmt.content_text(message.get("content")).strip().replace("\n", " ")[:60]
        return head + Content.assemble(
            ("✓ ok ", "bold $text-success"),
            f"{fmt.seconds(result.latency)}  {message.get('model', result.model)}  ",
            (repr(answer), "$text-muted"),
        )
    return head + Content.assemble(
        (f"✗ {result.status or 'no response'} ", "bold $text-error"),
        (result.error or "", "$text-error"),
    )


class ConfigTestScreen(ModalView[None]):
    """Runs both probes at once when shown; `t` runs them again."""

    BINDINGS = [
        Binding("escape", "dismiss_screen", "Close", id="test.close", tooltip="Close"),
        Binding("t", "probe", "Again", id="test.again", tooltip="Probe big and small again"),
    ]

    def __init__(self, backend: Backend) -> None:
        super().__init__()
        self.backend = backend

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide"):
            yield Static("Config test", classes="dialog-title")
            yield Static("A 16-token request to each model, through this proxy.", classes="hint")
            yield Static(render_result("big", None), id="probe-big")
            yield Static(render_result("small", None), id="probe-small")
            yield Static("Esc closes · t tests again", classes="hint")

    def on_mount(self) -> None:
        """Probe at once."""
        self.action_probe()

    def action_probe(self) -> None:
        """Probe big and small concurrently."""
        for tier in ("big", "small"):
            self.query_one(f"#probe-{tier}", Static).update(render_result(tier, None))
            self.probe(tier)

    @work(group="probe", exit_on_error=False)
    async def probe(self, tier: str) -> None:
        """Send one probe and show its outcome."""
        result = await self.backend.probe(tier)
        self.query_one(f"#probe-{tier}", Static).update(render_result(tier, result))

    def action_dismiss_screen(self) -> None:
        """Close the dialog."""
        self.dismiss(None)
