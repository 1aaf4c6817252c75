"""The selected request's answer as Markdown, streamed: each frame's new text is appended to a
`Markdown.get_stream`, which folds appends together whenever rendering falls behind."""

from __future__ import annotations

import asyncio
from typing import Any

from markdown_it import MarkdownIt
from textual import work
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.content import Content
from textual.widgets import Markdown, Static
from textual.widgets.markdown import MarkdownBlock, MarkdownStream
from textual.worker import Worker

from app.client import formatting as fmt
from app.client.requests import ERROR, LIVE, RequestRecord, stored_hint
from screens.context import forward_worker_state


def code_span(text: str) -> str:
    """`text` as a Markdown code span, whatever backticks it holds."""
    fence = "`"
    while fence in text:
        fence += "`"
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def tool_lines(record: RequestRecord) -> str:
    """The answer's tool calls, one Markdown paragraph each (empty while none are known)."""
    content = (record.message or {}).get("content")
    return "".join(f"\n\n→ {code_span(call)}" for call in fmt.tool_calls(content))


def answer_text(record: RequestRecord) -> str:
    """Streamed text (or the final message's text) followed by the tool calls, as Markdown."""
    if record.chunks:
        text = record.text
    else:
        content = (record.message or {}).get("content")
        if isinstance(content, list):
            text = "\n\n".join(
                str(b.get("text", ""))
                for b in content
                if isinstance(b, dict) and b.get("type") == "text"
            )
        else:
            text = content if isinstance(content, str) else ""
    calls = tool_lines(record)
    return text + calls if text else calls.lstrip("\n")


def title_for(record: RequestRecord) -> Content:
    """Border title: which request and which model answered."""
    return Content.assemble(
        "answer · ", (fmt.model_with_provider(record.model), "bold"), f" · {record.request_id}"
    )


SHOW, APPEND = "show", "append"


class AnswerView(VerticalScroll):
    """One Markdown document: rendered whole when another request is shown, appended to while
    the shown request streams.

    Both kinds of change go through one queue to one consumer, so they land in order: an
    append never reaches the document of the request shown before.
    """

    def __init__(self, bodies_recorded: bool | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.bodies_recorded = bodies_recorded
        """RECORD_BODIES of the proxy (None: unknown), for the hint on requests from the store."""
        self.record: RequestRecord | None = None
        self._changes: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
        self._sent: list[str] = []
        """Everything the document holds for the shown record (to append the end, not redo it)."""
        self._final = False
        self._follow = False
        """Keep the end in view as text arrives (until the reader scrolls up)."""
        self._consumer: Worker[None] | None = None

    def compose(self) -> ComposeResult:
        yield Static(id="answer-error")
        yield Static(id="answer-stored", classes="hint")
        # One parser for the pane's life: Textual builds a new one (linkify's patterns compiled
        # anew) for every append, each frame of a stream. This document's parses never overlap
        # (it holds a lock while parsing), so sharing one is safe.
        parser = MarkdownIt("gfm-like")
        yield Markdown(id="answer-text", parser_factory=lambda: parser)

    def on_mount(self) -> None:
        """Start empty, titled for what it will hold, and start applying changes."""
        self.border_title = "answer"
        self.query_one("#answer-error").display = False
        self.query_one("#answer-stored").display = False
        self._consumer = self._apply_changes()

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        """A reader who scrolls up stops following the end; back at the end, it follows again."""
        super().watch_scroll_y(old_value, new_value)
        if not self._final:
            self._follow = new_value >= self.max_scroll_y

    def on_resize(self) -> None:
        """The document grew (or the pane changed size): keep the end in view when following."""
        if self._follow:
            self.scroll_end(animate=False, immediate=True)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """A failure of the consumer goes to the app's one handler."""
        forward_worker_state(self, event)

    @property
    def source(self) -> str:
        """The Markdown source shown so far (what tests read); empty before it is composed."""
        found = self.query(Markdown)
        return found.first().source if found else ""

    @property
    def rendered(self) -> bool:
        """True when every change was applied and every line of `source` has its block (the
        blocks of an append are mounted a moment after `source` changed)."""
        markdown = self.query_one(Markdown)
        if not self._changes.empty() or markdown.source != "".join(self._sent):
            return False
        ends = [
            block.source_range[1]
            for block in markdown.query_children(MarkdownBlock)
            if block.source_range is not None
        ]
        lines = len(markdown.source.rstrip("\n").splitlines())
        return max(ends, default=0) >= lines

    def show(self, record: RequestRecord | None) -> None:
        """Display another request: its text so far at once, then what each frame adds."""
        self.record = record
        self._final = record is None or record.status != LIVE
        self._show_error(record)
        stored = self.query_one("#answer-stored", Static)
        stored.display = record is not None and record.stored
        if stored.display:
            stored.update(stored_hint(self.bodies_recorded))
        self.border_title = title_for(record) if record is not None else "answer"
        initial = answer_text(record) if record is not None else ""
        self._sent = [initial]
        self._changes.put_nowait((SHOW, initial))
        if self._consumer is not None and self._consumer.is_finished:
            # It failed (the app said so); the pane must not stay frozen on that request.
            self._consumer = self._apply_changes()

    def feed(self, record: RequestRecord, new_text: str | None) -> None:
        """A frame touched `record`: append its new text; at its end, the tool calls or error."""
        if record is not self.record:
            return
        if new_text:
            self._write(new_text)
        if record.status == LIVE or self._final:
            return
        self._final = True
        self._show_error(record)
        final, shown = answer_text(record), "".join(self._sent)
        if final.startswith(shown):
            self._write(final[len(shown) :])
        else:
            # A non-streamed answer, or one whose final text differs from the streamed one.
            self.show(record)

    def _show_error(self, record: RequestRecord | None) -> None:
        error = self.query_one("#answer-error", Static)
        error.display = record is not None and record.status == ERROR
        if record is not None and record.status == ERROR:
            error.update(
                Content.assemble(
                    (f"{record.http_status} {record.error_type}: ", "bold $text-error"),
                    (record.error or "", "$text-error"),
                )
            )

    def _write(self, text: str) -> None:
        if text:
            self._sent.append(text)
            self._changes.put_nowait((APPEND, text))

    @work(exclusive=True, group="answer-stream", exit_on_error=False)
    async def _apply_changes(self) -> None:
        """Apply queued changes in order: a show renders whole, appends go to the stream."""
        markdown = self.query_one(Markdown)
        stream = await self._open_stream(markdown)
        try:
            while True:
                changes = [await self._changes.get()]
                while not self._changes.empty():
                    changes.append(self._changes.get_nowait())
                # Only the newest show matters; the appends after it are its text.
                shows = [i for i, (kind, _) in enumerate(changes) if kind == SHOW]
                if shows:
                    await stream.stop()
                    shown = changes[shows[-1]][1]
                    changes = changes[shows[-1] + 1 :]
                    if self._final and not changes:
                        await markdown.update(shown)  # whole, parsed off the loop
                    else:
                        # Textual's update() leaves only the last line for the next append to
                        # parse again: after a text ending inside a code block, the block's
                        # opening line would be lost. append() marks the last block's start.
                        with self.app.batch_update():  # no empty frame in between
                            await markdown.update("")
                            if shown:
                                await markdown.append(shown)
                    self._scroll_for(live=not self._final)
                    stream = await self._open_stream(markdown)
                text = "".join(text for _, text in changes)
                if text:
                    await stream.write(text)
        finally:
            await stream.stop()

    @staticmethod
    async def _open_stream(markdown: Markdown) -> MarkdownStream:
        stream = Markdown.get_stream(markdown)
        # Let its task start: stopping a task that never ran raises CancelledError in the caller
        # (MarkdownStream.stop awaits it), which would end this consumer.
        await asyncio.sleep(0)
        return stream

    def _scroll_for(self, live: bool) -> None:
        # A live answer is followed at its end (until the reader scrolls up); a finished one
        # is read from the top. (Not `anchor()`: it scrolls to a negative offset while the
        # document is shorter than the pane, showing it at the bottom.)
        self._follow = live
        if live:
            self.scroll_end(animate=False)
        else:
            self.scroll_home(animate=False)
