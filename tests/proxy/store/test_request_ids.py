"""Request ids grow with time, so the store's unique index on them takes each new one at its end."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import pytest

from proxy.state import exchange
from proxy.state.exchange import new_request_id
from proxy.store import commit, db, records


def test_ids_are_unique_and_in_the_order_they_were_made() -> None:
    ids = [new_request_id() for _ in range(10_000)]
    assert all(re.fullmatch(r"req_[0-9a-f]{20}", value) for value in ids)
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)


def test_a_later_millisecond_sorts_after_whatever_the_sequence(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Only this module's view of the clock: the time module itself is left alone.
    monkeypatch.setattr(
        exchange, "time", SimpleNamespace(time_ns=lambda: 1_800_000_000_000_000_000)
    )
    first = new_request_id()
    monkeypatch.setattr(
        exchange, "time", SimpleNamespace(time_ns=lambda: 1_800_000_000_001_000_000)
    )
    assert new_request_id() > first
    assert first.startswith(f"req_{1_800_000_000_000:012x}")


def test_stored_rows_keep_their_ids_in_insertion_order(tmp_path: Path) -> None:
    conn = db.open_store(tmp_path / "claude-proxy.db")
    made = [new_request_id() for _ in range(50)]
    rows = [records.request_row({"id": value, "started_at": 1_800_000_000.0}) for value in made]
    commit.write_rows(conn, rows, [], [])
    stored = [row[0] for row in conn.execute("SELECT id FROM requests ORDER BY seq")]
    conn.close()
    assert stored == made == sorted(made)
