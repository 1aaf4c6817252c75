"""The selected request's answer, streaming: text is appended once per frame, never per chunk."""

from __future__ import annotations

import asyncio
from typing import Any

from textual import work
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.content import Content
from textual.widgets import Markdown, Static
from textual.worker import Worker

from app.client import formatting as fmt
from app.client.requests import ERROR, LIVE, RequestRecord
from screens.context import forward_worker_state


def answer_text(record: RequestRecord) -> str:
    """Streamed text, or the final message's content when nothing streamed (tool calls, JSON)."""
    if record.chunks:
        return record.text
    if record.message:
        return fmt.content_text(record.message.get("content"))
    return ""


def title_for(record: RequestRecord) -> Content:
    """Border title: which request and which model answered."""
    return Content.assemble(
        "answer · ", (fmt.model_with_provider(record.model), "bold"), f" · {record.request_id}"
    )


class AnswerView(VerticalScroll):
    """A Markdown document fed by an append loop; switching request re-renders once."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.record: RequestRecord | None = None
        self._pending: list[str] = []
        self._wake = asyncio.Event()
        self._showing_final = False

    def compose(self) -> ComposeResult:
        yield Static(id="answer-error")
        yield Markdown(id="answer-text")

    def on_mount(self) -> None:
        """Start empty, titled for what it will hold."""
        self.border_title = "answer"
        self.query_one("#answer-error").display = False

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """A failure of the append loop goes to the app's one handler."""
        forward_worker_state(self, event)

    @property
    def source(self) -> str:
        """The Markdown source shown so far (what tests read)."""
        return self.query_one(Markdown).source

    def show(self, record: RequestRecord | None) -> None:
        """Display another request (full text once, then its new text per frame)."""
        self.record = record
        self._render_record()

    def feed(self, record: RequestRecord, new_text: str | None) -> None:
        """A frame touched `record`: append its new text, or re-render when it has just ended."""
        if record is not self.record:
            return
        if record.status != LIVE and not self._showing_final:
            # Its end brings the error or the final content (tool calls) in one re-render.
            self._render_record()
        elif new_text:
            self._pending.append(new_text)
            self._wake.set()

    def _render_record(self) -> None:
        record = self.record
        error = self.query_one("#answer-error", Static)
        if record is None:
            self.border_title = "answer"
            error.display = False
            self._run(None)
            return
        self.border_title = title_for(record)
        self._showing_final = record.status != LIVE
        error.display = record.status == ERROR
        if record.status == ERROR:
            error.update(
                Content.assemble(
                    (f"{record.http_status} {record.error_type}: ", "bold $text-error"),
                    (record.error or "", "$text-error"),
                )
            )
        self._run(record)

    def _run(self, record: RequestRecord | None) -> None:
        # Read the text and clear pending in one step: frames after this point go to pending.
        self._pending.clear()
        self._wake.clear()
        follow = record is not None and record.status == LIVE
        self._append_loop(answer_text(record) if record else "", follow)

    @work(exclusive=True, group="answer-stream", exit_on_error=False)
    async def _append_loop(self, initial: str, follow: bool) -> None:
        markdown = self.query_one(Markdown)
        await markdown.update(initial)
        # A live answer is followed at its end; a finished one is read from the top.
        if follow:
            self.scroll_end(animate=False)
        else:
            self.scroll_home(animate=False)
        while True:
            await self._wake.wait()
            self._wake.clear()
            text = "".join(self._pending)
            self._pending.clear()
            if text:
                follow = self.is_vertical_scroll_end
                await markdown.append(text)
                if follow:
                    self.scroll_end(animate=False)
