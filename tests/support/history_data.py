"""Many conversation turns written straight into a store file (for the History view's paging test
and `bench.history_open`): one transaction, the schema's own triggers fill the FTS index."""

from __future__ import annotations

import time
from pathlib import Path

from proxy.store import db

WORDS = ("alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa")


def seed_turns(path: Path, count: int, sessions: int = 20) -> None:
    """`count` turns, alternating user/assistant, 7 s apart up to a minute ago (retention keeps
    them), over `sessions` sessions; turn n's text has two of WORDS and `item{n}`."""
    base = time.time() - 60 - count * 7
    conn = db.open_store(path)
    try:
        conn.execute("PRAGMA cache_size = -100000")
        rows = (
            (
                base + n * 7,
                f"sess-{n % sessions:04d}",
                f"req_{n // 2:08d}",
                "user" if n % 2 == 0 else "assistant",
                f"{WORDS[n % 10]} {WORDS[n * 7 % 10]} item{n}",
                None if n % 2 == 0 else "openai/gpt-4.1",
            )
            for n in range(count)
        )
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(
            "INSERT INTO turns (at, session_id, request_id, role, content, model) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            rows,
        )
        conn.execute("COMMIT")
    finally:
        conn.close()
