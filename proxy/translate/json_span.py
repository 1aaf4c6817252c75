"""Find where a streamed JSON value closes without re-reading what was already read."""

from __future__ import annotations

import re

_STRUCTURE = re.compile(r'["{}\[\]]')
_STRING_STOP = re.compile(r'["\\]')


class JsonSpan:
    """Tracks brackets and strings of the JSON value starting at `start`, across calls to scan."""

    __slots__ = ("depth", "in_string", "pos")

    def __init__(self, start: int) -> None:
        self.pos = start
        self.depth = 0
        self.in_string = False

    def scan(self, text: str) -> int:
        """The index just past the value's closing bracket in `text`, or -1 while it is open."""
        pos, depth, in_string = self.pos, self.depth, self.in_string
        size = len(text)
        end = -1
        while pos < size:
            if in_string:
                stop = _STRING_STOP.search(text, pos)
                if stop is None:
                    pos = size
                elif stop.group() == "\\":
                    if stop.end() >= size:
                        pos = stop.start()  # the escaped character has not arrived yet
                        break
                    pos = stop.end() + 1
                else:
                    in_string = False
                    pos = stop.end()
                    if depth <= 0:  # a top-level string value (arguments sent as a JSON string)
                        end = pos
                        break
                continue
            found = _STRUCTURE.search(text, pos)
            if found is None:
                pos = size
                break
            char = found.group()
            pos = found.end()
            if char == '"':
                in_string = True
            elif char in "{[":
                depth += 1
            else:
                depth -= 1
                if depth <= 0:
                    end = pos
                    break
        self.pos, self.depth, self.in_string = pos, depth, in_string
        return end
