"""Split `<think>...</think>` reasoning (DeepSeek-R1, Qwen and friends) out of streamed text."""

from __future__ import annotations

OPEN = "<think>"
CLOSE = "</think>"


class ThinkTagSplitter:
    """Streaming splitter: only a `<think>` at the very start of the answer counts as reasoning."""

    def __init__(self) -> None:
        self.mode = "detect"  # detect -> inside -> off, or detect -> off
        self.buffer = ""

    def feed(self, text: str) -> list[tuple[str, str]]:
        """Return (kind, piece) pairs, kind "thinking" or "text", for what is certain so far."""
        if self.mode == "off":
            return [("text", text)]
        self.buffer += text
        out: list[tuple[str, str]] = []
        if self.mode == "detect":
            stripped = self.buffer.lstrip()
            if stripped.startswith(OPEN):
                self.mode = "inside"
                self.buffer = stripped[len(OPEN) :]
            elif OPEN.startswith(stripped):
                return out  # still could be the opening tag
            else:
                self.mode = "off"
                piece, self.buffer = self.buffer, ""
                return [("text", piece)]
        # inside the think block
        end = self.buffer.find(CLOSE)
        if end >= 0:
            thought, rest = self.buffer[:end], self.buffer[end + len(CLOSE) :]
            self.buffer = ""
            self.mode = "off"
            if thought:
                out.append(("thinking", thought))
            rest = rest.lstrip("\n")
            if rest:
                out.append(("text", rest))
            return out
        # Hold back a tail that might be the start of "</think>".
        keep = 0
        for size in range(min(len(CLOSE) - 1, len(self.buffer)), 0, -1):
            if CLOSE.startswith(self.buffer[-size:]):
                keep = size
                break
        piece = self.buffer[: len(self.buffer) - keep]
        self.buffer = self.buffer[len(self.buffer) - keep :]
        if piece:
            out.append(("thinking", piece))
        return out

    def flush(self) -> list[tuple[str, str]]:
        """Whatever is still held back at the end of the answer."""
        piece, self.buffer = self.buffer, ""
        if not piece:
            return []
        return [("thinking" if self.mode == "inside" else "text", piece)]
