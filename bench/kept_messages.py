"""The real Claude Code's request bytes through the kept conversation: how much each request reuses.

    uv run python -m bench.kept_messages --version 2.1.332 --out DIR --no-namespace \\
        [--only write-edit-run,agent,compact]

Runs `bench.capture_claude_code`'s scenarios (the CLI installed as it says) and, as each scenario
ends, passes every /v1/messages request's raw bytes, in order, through a fresh
`ConversationCache` as the proxy does (cut, adopt, validate from the prefix, learn). One line per
request: its model, messages, how many were kept from an earlier request (-1: found but not
proved), whether the bytes are what orjson writes, and the size; a parse from the kept messages
that differs from `orjson.loads` stops the run.
"""

from __future__ import annotations

import sys
from typing import Any

import orjson

from bench import capture_claude_code, capture_server
from proxy.core.conversation_cache import ConversationCache
from proxy.core.spliced import parse_cut
from proxy.translate.validate_fast import valid_chars

_stop = capture_server.CaptureServer.stop


def report(requests: list[Any]) -> list[str]:
    """One line per Messages request of a scenario, its raw bytes through a fresh cache."""
    cache = ConversationCache()
    lines = []
    for rec in requests:
        if rec.path != "/v1/messages":
            continue
        raw = rec.raw
        whole = orjson.loads(raw)
        body, known, prefix = whole, 0, None
        found = cache.cut(raw)
        if found is not None:
            parsed = parse_cut(raw, [found.cut])
            if cache.adopt(parsed, found):
                if parsed != whole:
                    raise SystemExit(f"request {rec.seq}: the kept parse differs from orjson's")
                body, known, prefix = parsed, found.prefix.known, found.prefix
            else:
                known = -1
        each: list[int] = []
        if valid_chars(body, messages_request=True, prefix=prefix, each=each) >= 0:
            cache.learn(raw, body["messages"], prefix, each)
        lines.append(
            f"[kept] {rec.seq:02d} {str(body.get('model'))[:20]:20} "
            f"messages {len(body['messages']):3}  kept {known:3}  "
            f"orjson's bytes {orjson.dumps(whole) == raw}  {len(raw):,} B"
        )
    return lines


async def _reporting_stop(self: capture_server.CaptureServer) -> None:
    for line in report(self.requests):
        print(line, file=sys.stderr)
    await _stop(self)


def main(argv: list[str] | None = None) -> int:
    """``python -m bench.kept_messages``: `bench.capture_claude_code`'s arguments."""
    capture_server.CaptureServer.stop = _reporting_stop  # type: ignore[method-assign]
    return capture_claude_code.main(argv)


if __name__ == "__main__":
    sys.exit(main())
