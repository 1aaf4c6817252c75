"""LineSplitter finds `data:` values by a split or one regex; it must say what a line-by-line reading
says."""

from __future__ import annotations

import random

import pytest

from proxy.translate.sse import LineSplitter, LineTooLong


class LineByLine:
    """The definition: split on newlines, keep `line[5:].strip()` of `data:` lines, drop empty."""

    def __init__(self, max_line: int | None = None) -> None:
        self.tail = b""
        self.max_line = max_line

    def feed(self, data: bytes) -> list[bytes]:
        lines = (self.tail + data).split(b"\n")
        self.tail = lines.pop()
        if self.max_line is not None and len(self.tail) > self.max_line:
            raise LineTooLong("too long")
        values = [line[5:].strip() for line in lines if line.startswith(b"data:")]
        return [value for value in values if value]


ATOMS = (
    b"data:",
    b"data: ",
    b"data:\t ",
    b"\n",
    b"\r\n",
    b"\r",
    b" ",
    b"\t",
    b"\x0b",
    b"\x0c",
    b'{"a":1}',
    b"[DONE]",
    b"event: x",
    b": ping",
    b"xdata:",
    b"data",
    b"\n\n",
    b"\xff",
    b"\x00",
)


def _read(splitter: LineSplitter | LineByLine, parts: list[bytes]) -> list[object]:
    out: list[object] = []
    for part in parts:
        try:
            out.append(splitter.feed(part))
        except LineTooLong:
            out.append("too long")
            break
    out.append(splitter.tail)
    return out


def test_random_streams_cut_anywhere_read_the_same() -> None:
    rng = random.Random(12)
    for _ in range(5_000):
        stream = b"".join(rng.choice(ATOMS) for _ in range(rng.randint(0, 30)))
        cuts = sorted(rng.sample(range(len(stream) + 1), min(len(stream) + 1, rng.randint(0, 5))))
        parts = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
        limit = rng.choice([None, 5, 20, 1000])
        assert _read(LineSplitter(limit), parts) == _read(LineByLine(limit), parts), parts


def test_reads_of_whole_events_read_the_same() -> None:
    # Reads that start with `data:` and end with a blank line take the splitter's split path;
    # values with newlines, blanks or other fields inside must send them back to the regex.
    rng = random.Random(13)
    for _ in range(5_000):
        events = [
            b"data:" + b"".join(rng.choice(ATOMS) for _ in range(rng.randint(0, 3))) + b"\n\n"
            for _ in range(rng.randint(1, 6))
        ]
        stream = b"".join(events)
        cut = rng.choice([len(stream), sum(map(len, events[: rng.randint(0, len(events))]))])
        parts = [stream[:cut], stream[cut:]]
        assert _read(LineSplitter(), parts) == _read(LineByLine(), parts), parts


@pytest.mark.parametrize(
    ("reads", "values"),
    [
        ([b'data: {"a":1}\n\ndata: [DONE]\n\n'], [[b'{"a":1}', b"[DONE]"]]),
        ([b'data:{"a":1}\r\n\r\n'], [[b'{"a":1}']]),
        ([b"event: ping\n: comment\ndata:   \n\n"], [[]]),
        ([b'data: {"a"', b":1}\n", b"\n"], [[], [b'{"a":1}'], []]),
        ([b"xdata: no\n data: no\ndata: yes \t\r\n"], [[b"yes"]]),
    ],
)
def test_the_cases_upstreams_send(reads: list[bytes], values: list[list[bytes]]) -> None:
    splitter = LineSplitter()
    assert [splitter.feed(read) for read in reads] == values


def test_a_line_longer_than_the_cap_without_an_end_is_refused() -> None:
    splitter = LineSplitter(max_line=8)
    assert splitter.feed(b"data: 1\ndata: 12") == [b"1"]
    with pytest.raises(LineTooLong):
        splitter.feed(b"345678")
