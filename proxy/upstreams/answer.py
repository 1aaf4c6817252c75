"""An upstream's HTTP/1.1 answer read off its connection: the head, the body's framing (a
length, chunks, or the connection's end) and its inflation, one protocol per connection.

aiohttp's ResponseHandler and StreamReader serve any client: per HTTP chunk they make a dozen
Python calls (chunk begin and end, flow control, one buffered piece per chunk joined on read),
about 1.7 us a chunk, and a streamed answer comes as one chunk per token. Here the body is
handed over as one piece per network read, its chunks found by one regex each.
"""

from __future__ import annotations

import asyncio
import re
import zlib
from collections.abc import Callable
from typing import Any, NamedTuple

import aiohttp
from multidict import CIMultiDict, CIMultiDictProxy

MAX_HEAD = 1 << 16
"""Longest answer head (status line and headers) taken, in bytes."""
MAX_LINE = 8190
"""Longest chunk-size or trailer line taken (aiohttp's line limit)."""
HIGH_WATER = 1 << 18
"""Bytes of unread body after which the socket stops being read until the reader catches up."""
MAX_INFLATED_READ = 1 << 24
"""Most bytes one network read of a compressed body may inflate to: more is a compression bomb
(a legitimate JSON or SSE read inflates a few times, not a thousand), refused before it is
held in memory."""

_HEAD_END = re.compile(rb"\r?\n\r?\n")
_STATUS = re.compile(r"HTTP/1\.([01]) ([1-9][0-9][0-9])(?:[ \t][^\r\n]*)?\r?")
_FIELD = re.compile(
    r"([!#$%&'*+\-.^_`|~0-9A-Za-z]+):[ \t]*((?:[^\r\n]*[^ \t\r\n])?)[ \t]*\r?(?:\n|\Z)"
)
"""A header line: its name (a token) and its value without the blanks around it; each match
ends where the next line starts, so the matches of a valid head are back to back."""
_SIZE = re.compile(rb"([0-9a-fA-F]{1,15})[ \t]*(?:;[^\r\n]*)?\r?\n")
"""A chunk's size line: hex digits, optional extensions (ignored), CRLF (or a bare LF)."""
_SIZE_LINES = {b"%x\r\n" % size: size for size in range(1, 1 << 12)}
"""The size lines servers write (lower-case hex, CRLF) of chunks up to 4 KiB, by their bytes:
one slice and one lookup per chunk instead of a regex match and `int(..., 16)` (a streamed answer
is one chunk per token). Any other size line goes to `_SIZE`."""

# Where an answer's reading is: the bytes that come next mean...
_IDLE, _HEAD, _LENGTH, _CHUNKS, _TRAILERS, _TO_EOF = range(6)


class AnswerError(Exception):
    """The upstream's bytes are not an HTTP/1.1 answer this reader accepts."""


class Head(NamedTuple):
    """An answer's status line and headers, and its body as it comes."""

    status: int
    headers: CIMultiDictProxy[str]
    body: AnswerBody


class AnswerBody:
    """An answer's body as it arrives, read by one task: one piece per network read.

    The methods the transports use have aiohttp's StreamReader's names and meaning
    (`iter_any`, `read`, `read_nowait`, `is_eof`, `exception`, `on_eof`, `total_bytes`).
    """

    __slots__ = (
        "_eof_callbacks",
        "_exception",
        "_pieces",
        "_protocol",
        "_size",
        "_waiter",
        "eof",
        "total_bytes",
    )

    def __init__(self, protocol: AnswerProtocol | None = None) -> None:
        self._pieces: list[bytes] = []
        self._size = 0
        self.total_bytes = 0
        """Body bytes received so far (the clock's sign of life)."""
        self.eof = False
        self._exception: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._eof_callbacks: list[Callable[[], None]] = []
        self._protocol = protocol

    # -- the protocol's side ----------------------------------------------------------------
    def feed(self, data: bytes) -> None:
        """Body bytes from one network read."""
        self._pieces.append(data)
        self._size += len(data)
        self.total_bytes += len(data)
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)
        if self._size > HIGH_WATER and self._protocol is not None:
            self._protocol.pause()

    def feed_eof(self) -> None:
        """The body ended."""
        self.eof = True
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)
        callbacks, self._eof_callbacks = self._eof_callbacks, []
        for callback in callbacks:
            callback()

    def set_exception(self, exc: BaseException) -> None:
        """End the body with `exc`: the reader raises it (as aiohttp's does, before any
        unread bytes)."""
        self._exception = exc
        self._eof_callbacks.clear()
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_exception(exc)

    # -- the reader's side ------------------------------------------------------------------
    def is_eof(self) -> bool:
        """True once the body's end arrived (some of it may still be unread)."""
        return self.eof

    def exception(self) -> BaseException | None:
        """What ended the body, if it failed."""
        return self._exception

    def on_eof(self, callback: Callable[[], None]) -> None:
        """Call `callback` once the body has ended (at once if it has)."""
        if self.eof:
            callback()
        else:
            self._eof_callbacks.append(callback)

    def read_nowait(self) -> bytes:
        """Every byte received and not read yet."""
        if self._exception is not None:
            raise self._exception
        pieces = self._pieces
        if not pieces:
            return b""
        self._pieces = []
        self._size = 0
        protocol = self._protocol
        if protocol is not None and protocol.paused:
            protocol.resume()
        return pieces[0] if len(pieces) == 1 else b"".join(pieces)

    async def readany(self) -> bytes:
        """The bytes received and not read yet, waiting for some; b"" at the body's end."""
        if self._exception is not None:
            raise self._exception
        while not self._pieces and not self.eof:
            waiter = self._waiter = asyncio.get_running_loop().create_future()
            await waiter
        return self.read_nowait()

    async def read(self) -> bytes:
        """The whole body."""
        pieces: list[bytes] = []
        while True:
            piece = await self.readany()
            if not piece:
                return b"".join(pieces)
            pieces.append(piece)

    def iter_any(self) -> AnswerBody:
        """`async for piece in body.iter_any()`: the body one network read at a time."""
        return self

    def __aiter__(self) -> AnswerBody:
        return self

    async def __anext__(self) -> bytes:
        piece = await self.readany()
        if not piece:
            raise StopAsyncIteration
        return piece


class AnswerProtocol(asyncio.Protocol):
    """One upstream connection: sends a request, then reads its answer; one after another."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.should_close = False
        """Not to be used for another request (the upstream said so, or it misbehaved)."""
        self.paused = False
        self._state = _IDLE
        self._buffer = b""
        """Bytes received and not parsed yet: part of a head, a size line, a chunk's CRLF."""
        self._waiter: asyncio.Future[Head] | None = None
        self._body: AnswerBody | None = None
        self._left = 0
        """Body bytes still to come (a length) or left of the current chunk."""
        self._crlf = 0
        """Bytes of the CRLF after a chunk's data still to come."""
        self._inflate: Any = None
        """zlib's decompress object of a compressed body (None: plain)."""
        self._deflate = False
        """A `deflate` body whose first byte says whether it has zlib's header (RFC) or not."""
        self._gzip = False
        """A gzip body: members may follow one another; a deflate body must end its stream."""

    # -- asyncio -----------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def is_connected(self) -> bool:
        """True while the connection is open."""
        return self.transport is not None and not self.transport.is_closing()

    def send(self, data: bytes) -> asyncio.Future[Head]:
        """Write a request; the head of its answer, once it came (1xx answers skipped)."""
        assert self.transport is not None
        waiter = self._waiter = self.loop.create_future()
        self._state = _HEAD
        self.resume()  # a body that ended while reading was paused left it so
        self.transport.write(data)
        return waiter

    def data_received(self, data: bytes) -> None:
        try:
            self._received(data)
        except AnswerError as exc:
            self._broken(exc)

    def eof_received(self) -> bool:
        return False  # the transport closes; connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.should_close = True
        state, body = self._state, self._body
        self._state = _IDLE
        if state == _TO_EOF and body is not None:
            self._end_body(body)  # the connection's end is this body's end
        elif state == _HEAD:
            if isinstance(exc, OSError):
                self._fail_head(aiohttp.ClientOSError(*exc.args))
            else:
                self._fail_head(aiohttp.ServerDisconnectedError())
        elif body is not None:
            self._body = None
            reason = f": {exc!r}" if exc is not None else ""
            body.set_exception(
                aiohttp.ClientPayloadError(f"the connection closed before the answer's end{reason}")
            )

    def pause(self) -> None:
        """Stop reading the socket (the body's reader is behind)."""
        if not self.paused and self.transport is not None:
            self.paused = True
            self.transport.pause_reading()

    def resume(self) -> None:
        """Read the socket again."""
        if self.paused:
            self.paused = False
            if self.transport is not None:
                self.transport.resume_reading()

    def set_exception(self, exc: BaseException) -> None:
        """Fail the answer in progress with `exc` (a timeout); the connection is not kept."""
        self.should_close = True
        self._state = _IDLE
        self._fail_head(exc)
        body, self._body = self._body, None
        if body is not None:
            body.set_exception(exc)

    def abort(self) -> None:
        """Close the connection at once (its answer unread or not wanted)."""
        self.should_close = True
        if self.transport is not None:
            self.transport.abort()

    # -- parsing ---------------------------------------------------------------------------
    def _received(self, data: bytes) -> None:
        buf = self._buffer + data if self._buffer else data
        self._buffer = b""
        pos, end = 0, len(buf)
        pieces: list[bytes] = []
        body = self._body
        while pos < end:
            state = self._state
            if state == _CHUNKS:
                pos = self._chunks(buf, pos, pieces)
                if pos < 0:
                    break  # needs more bytes (kept in the buffer)
            elif state == _LENGTH:
                take = min(self._left, end - pos)
                pieces.append(buf[pos : pos + take] if take < end else buf)
                pos += take
                self._left -= take
                if not self._left:
                    self._state = _IDLE
            elif state == _TO_EOF:
                pieces.append(buf[pos:] if pos else buf)
                pos = end
            elif state == _TRAILERS:
                pos = self._trailers(buf, pos)
                if pos < 0:
                    break
            elif state == _HEAD:
                pos = self._head(buf, pos)
                if pos < 0:
                    break
                body = self._body
            else:
                # Bytes nobody asked for (after an answer's end): the connection is not reused.
                self.should_close = True
                break
        if body is not None and body is self._body:
            if pieces:
                self._feed(body, pieces[0] if len(pieces) == 1 else b"".join(pieces))
            if self._state == _IDLE:
                self._end_body(body)

    def _head(self, buf: bytes, pos: int) -> int:
        """Parse one answer head at `pos`; the position after it, -1 if incomplete."""
        end = buf.find(b"\r\n\r\n", pos)
        # Every blank line holds LF LF or LF CR LF: none before this one, it ends the head.
        if (
            end >= 0
            and buf.find(b"\n\n", pos, end + 2) < 0
            and buf.find(b"\n\r\n", pos, end + 2) < 0
        ):
            after = end + 4
        else:
            found = _HEAD_END.search(buf, pos)  # bare line feeds (rare): the regex
            if found is None:
                if len(buf) - pos > MAX_HEAD:
                    raise AnswerError("the answer's head is too long")
                self._buffer = buf[pos:]
                return -1
            end, after = found.start(), found.end()
        if end - pos > MAX_HEAD:
            raise AnswerError("the answer's head is too long")
        first, _, block = buf[pos:end].decode("utf-8", "surrogateescape").partition("\n")
        status = _STATUS.fullmatch(first)
        if status is None:
            raise AnswerError(f"not an HTTP/1.1 status line: {first[:40]!r}")
        # Every header line matched by one regex (in C); a line it does not match is refused.
        fields = _FIELD.findall(block) if block else []
        if len(fields) != (block.count("\n") + 1 if block else 0):
            raise AnswerError("a line of the answer's head is not a header")
        headers: CIMultiDict[str] = CIMultiDict(fields)
        code = int(status.group(2))
        if code < 200 and code != 101:
            return after  # informational (100 Continue, 103 Early Hints): the answer follows
        self._start_body(code, status.group(1) == "0", headers)
        return after

    def _start_body(self, code: int, http10: bool, headers: CIMultiDict[str]) -> None:
        connection = headers.get("Connection")
        if connection is not None or http10:
            connection = (connection or "").lower()
            if "close" in connection or (http10 and "keep-alive" not in connection):
                self.should_close = True
        self._inflate, self._deflate, self._gzip = None, False, False
        encoding = headers.get("Content-Encoding")
        if encoding is not None:
            encoding = encoding.strip().lower()
            if encoding in ("gzip", "x-gzip"):
                self._inflate, self._gzip = zlib.decompressobj(16 + zlib.MAX_WBITS), True
            elif encoding == "deflate":
                self._deflate = True
            elif encoding in ("br", "zstd"):
                raise AnswerError(f"the answer is compressed with {encoding}, not asked for")
        chunked = headers.get("Transfer-Encoding")
        lengths = headers.getall("Content-Length", [])
        if code in (204, 304):
            self._state = _IDLE
        elif chunked is not None:
            if chunked.rsplit(",", 1)[-1].strip().lower() == "chunked":
                self._state, self._left, self._crlf = _CHUNKS, 0, 0
                if lengths:
                    self.should_close = True  # both framings: read by the chunks, not reused
            else:
                self._state, self.should_close = _TO_EOF, True
        elif lengths:
            length = lengths[0]
            if len(lengths) > 1 or not length.isdigit():
                # Repeated (or listed) values must all be the same number.
                values = {value.strip() for line in lengths for value in line.split(",")}
                length = values.pop() if len(values) == 1 else ""
            if not length.isdigit() or not length.isascii():
                raise AnswerError("the answer's Content-Length is not one number")
            self._left = int(length)
            self._state = _LENGTH if self._left else _IDLE
        else:
            self._state, self.should_close = _TO_EOF, True
        body = self._body = AnswerBody(self)
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(Head(code, CIMultiDictProxy(headers), body))

    def _chunks(self, buf: bytes, pos: int, pieces: list[bytes]) -> int:
        """Take the chunks at `pos` into `pieces`; the position after them, -1 when the rest
        waits for more bytes."""
        end = len(buf)
        left, crlf = self._left, self._crlf
        size_at, append, size_of = _SIZE.match, pieces.append, _SIZE_LINES.get
        while True:
            if not (left or crlf):
                # Whole chunks whose size line is one servers write ("a9\r\n"), found by
                # slicing 4, 5 or 3 bytes (its length for 16-255, 256-4095, 1-15 bytes): no
                # line search, regex or int(). A size line of another shape, the last chunk, a
                # chunk cut by the read's end or its CRLF missing go the careful way below.
                while True:
                    size = size_of(buf[pos : pos + 4])
                    if size is not None:
                        start = pos + 4
                    else:
                        size = size_of(buf[pos : pos + 5])
                        if size is not None:
                            start = pos + 5
                        else:
                            size = size_of(buf[pos : pos + 3])
                            if size is None:
                                break
                            start = pos + 3
                    stop = start + size
                    if buf[stop : stop + 2] != b"\r\n":
                        break
                    append(buf[start:stop])
                    pos = stop + 2
            else:
                # The rest of a chunk cut between reads, then its CRLF (a bare LF taken).
                if left:
                    stop = pos + left
                    if stop > end:
                        append(buf[pos:] if pos else buf)
                        self._left, self._crlf = stop - end, 0
                        return end
                    append(buf[pos:stop])
                    pos, left, crlf = stop, 0, 2
                while crlf and pos < end:
                    byte = buf[pos]
                    if byte == 13 and crlf == 2:
                        crlf, pos = 1, pos + 1
                    elif byte == 10:
                        crlf, pos = 0, pos + 1
                    else:
                        raise AnswerError("a chunk is longer than its size says")
                if crlf:
                    self._left, self._crlf = 0, crlf
                    return end
            if pos >= end:
                self._left, self._crlf = 0, 0
                return end
            line = size_at(buf, pos)
            if line is None:
                if buf.find(b"\n", pos) >= 0 or end - pos > MAX_LINE:
                    raise AnswerError("not a chunk size line")
                self._left, self._crlf = 0, 0
                self._buffer = buf[pos:]
                return -1
            pos, left = line.end(), int(line.group(1), 16)
            if not left:
                self._state, self._left, self._crlf = _TRAILERS, 0, 0
                return pos
            stop = pos + left
            if buf.startswith(b"\r\n", stop):
                # The whole chunk and its CRLF are in this read: most chunks.
                append(buf[pos:stop])
                pos, left = stop + 2, 0

    def _trailers(self, buf: bytes, pos: int) -> int:
        """Skip the trailer lines after the last chunk; the position after the blank line
        that ends the body, -1 if it has not come yet."""
        while True:
            eol = buf.find(b"\n", pos)
            if eol < 0:
                if len(buf) - pos > MAX_LINE:
                    raise AnswerError("a trailer line is too long")
                self._buffer = buf[pos:]
                return -1
            blank = eol == pos or (eol == pos + 1 and buf[pos] == 13)
            pos = eol + 1
            if blank:
                self._state = _IDLE
                return pos

    def _feed(self, body: AnswerBody, data: bytes) -> None:
        if self._deflate:
            # RFC deflate has zlib's header (low nibble 8); some servers send it raw.
            self._deflate = False
            self._inflate = zlib.decompressobj(
                zlib.MAX_WBITS if data[0] & 0x0F == 8 else -zlib.MAX_WBITS
            )
        if self._inflate is not None:
            data = self._inflated(data)
            if not data:
                return
        body.feed(data)

    def _inflated(self, data: bytes) -> bytes:
        """What a compressed read inflates to (gzip members back to back taken in turn)."""
        inflate = self._inflate
        try:
            out = inflate.decompress(data, MAX_INFLATED_READ)
            while self._gzip and inflate.eof and inflate.unused_data:
                if len(out) >= MAX_INFLATED_READ:
                    break
                rest = inflate.unused_data
                inflate = self._inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
                out += inflate.decompress(rest, MAX_INFLATED_READ - len(out))
        except zlib.error as exc:
            raise AnswerError(f"cannot inflate the answer: {exc}") from None
        if inflate.unconsumed_tail or len(out) >= MAX_INFLATED_READ:
            raise AnswerError(
                f"the answer inflates past {MAX_INFLATED_READ >> 20} MiB from one read; refused"
            )
        return out

    def _end_body(self, body: AnswerBody) -> None:
        inflate, self._inflate = self._inflate, None
        self._body = None
        if inflate is not None:
            try:
                rest = inflate.flush()
                if not self._gzip and not inflate.eof:
                    raise zlib.error("the deflate stream ends early")
            except zlib.error as exc:
                body.set_exception(aiohttp.ClientPayloadError(f"cannot inflate the answer: {exc}"))
                return
            if rest:
                body.feed(rest)
        body.feed_eof()

    def _fail_head(self, exc: BaseException) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)

    def _broken(self, exc: AnswerError) -> None:
        """Bytes that are not HTTP: the head's wait or the body fails; the connection goes."""
        self.should_close = True
        self._state = _IDLE
        self._buffer = b""
        body, self._body = self._body, None
        if body is not None:
            body.set_exception(aiohttp.ClientPayloadError(str(exc)))
        else:
            self._fail_head(exc)
        if self.transport is not None:
            self.transport.abort()
