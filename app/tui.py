"""The Textual app with the proxy running inside it (minimal until the full TUI lands)."""

from __future__ import annotations

from collections import deque

from textual.app import App, ComposeResult
from textual.widgets import DataTable, Footer, Header, Static

from proxy.events import REQUEST_FAILED, REQUEST_FINISHED, REQUEST_STARTED, ProxyEvent
from proxy.runner import PortInUseError, ProxyThread
from proxy.settings import Settings


class ProxyApp(App[None]):
    """Shows where the proxy listens and one row per request."""

    TITLE = "claude-proxy"
    BINDINGS = [("q", "quit", "Quit")]

    def __init__(self, settings: Settings) -> None:
        super().__init__()
        self.settings = settings
        self.proxy = ProxyThread(settings)
        self.events: deque[ProxyEvent] = deque(maxlen=10_000)
        self.error: str | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="status")
        yield DataTable(id="requests")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("request", "requested", "model", "status")
        status = self.query_one("#status", Static)
        try:
            self.proxy.start()
        except PortInUseError as exc:
            status.update(f"[b red]error:[/] {exc.strerror}")
            return
        self.proxy.service.bus.subscribe(self.events.append)
        url = self.proxy.server.url
        status.update(f"listening on {url}   ANTHROPIC_BASE_URL={url} claude")
        self.set_interval(1 / 25, self._drain)

    def _drain(self) -> None:
        if not self.events:
            return
        table = self.query_one(DataTable)
        with self.batch_update():
            while self.events:
                event = self.events.popleft()
                if event.kind == REQUEST_STARTED:
                    d = event.data
                    table.add_row(event.request_id, d["requested"], d["model"], "…", key=event.request_id)
                elif event.kind in (REQUEST_FINISHED, REQUEST_FAILED):
                    status = "ok" if event.kind == REQUEST_FINISHED else f"error {event.data['status']}"
                    try:
                        table.update_cell(event.request_id, table.ordered_columns[3].key, status)
                    except Exception:
                        pass

    def on_unmount(self) -> None:
        self.proxy.stop()


def run_tui(settings: Settings) -> int:
    """Run the full-screen app; returns the exit code."""
    ProxyApp(settings).run()
    return 0
