"""What callers hand the store (plain dicts) and how they become rows, on the writer's thread."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, NamedTuple, TypedDict

import orjson

# Tool arguments can be whole files: the record keeps a glimpse, not a copy.
ARG_PREVIEW = 200
TOOL_CALLS_LIMIT = 1500
# Rows stay under a page (no overflow pages to read in a scan): short columns are cut.
TEXT_LIMIT = 300
ERROR_LIMIT = 1000
ROLES = ("user", "assistant")

Redact = Callable[[str], str]
"""Masks keys in a text (the proxy's redactor); runs on the writer's thread."""


class RequestRecord(TypedDict, total=False):
    """One finished (or failed) request. Only `id` and `started_at` are required.

    The store owns the dict once submitted: the caller must not change it afterwards.
    """

    id: str
    started_at: float
    """Unix time the request arrived."""
    session_id: str | None
    client: str | None
    endpoint: str
    """`messages` (default) or `count_tokens`."""
    requested_model: str | None
    model: str | None
    """The routed `provider/model` that served the request."""
    provider: str | None
    preset: str | None
    reason: str | None
    """Why this model was chosen (rule, pin, marker, tier)."""
    stream: bool
    status: int | None
    """HTTP status the client saw (200 on success)."""
    error_type: str | None
    error_message: str | None
    """Already masked by the caller: the store never sees a key."""
    ttft: float | None
    duration: float | None
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    cost: float
    stop_reason: str | None
    tool_calls: list[dict[str, Any]] | None
    """`{"name": ..., "input": ...}` per call, or the answer's content blocks (only `tool_use`
    ones are kept). An input given as JSON text is parsed on the writer's thread; shortened."""
    origin: str
    """`client` (default), `probe` or `replay`."""
    request_body: Any
    """Only when RECORD_BODIES is on."""
    response_body: Any


class TurnRecord(TypedDict, total=False):
    """One conversation turn, as `proxy/history.py` records it."""

    at: float
    """Unix time of the turn."""
    session_id: str | None
    request_id: str | None
    role: str
    """`user` or `assistant`."""
    content: str
    model: str | None
    key: str | None
    """Dedupe key: a second turn with the same key is ignored."""


REQUEST_COLUMNS = (
    "id",
    "started_at",
    "session_id",
    "client",
    "endpoint",
    "requested_model",
    "model",
    "provider",
    "preset",
    "reason",
    "stream",
    "status",
    "error_type",
    "error_message",
    "ttft",
    "duration",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "cost",
    "stop_reason",
    "tool_calls",
    "origin",
)
TURN_COLUMNS = ("at", "session_id", "request_id", "role", "content", "model", "key")

BODIES_COLUMNS = ("request_id", "request", "response")


class Insert(NamedTuple):
    """An INSERT of one table's rows, `rows` at a time (one statement, one step for them all)."""

    table: str
    columns: tuple[str, ...]
    conflict: str
    """What a row whose key is taken does (the same for each row of a many-row statement)."""

    def sql(self, rows: int = 1) -> str:
        """The statement inserting `rows` rows, in their order."""
        one = f"({', '.join('?' * len(self.columns))})"
        return (
            f"INSERT INTO {self.table} ({', '.join(self.columns)}) "
            f"VALUES {', '.join([one] * rows)} {self.conflict}"
        )


REQUESTS = Insert("requests", REQUEST_COLUMNS, "ON CONFLICT(id) DO NOTHING")
BODIES = Insert("request_bodies", BODIES_COLUMNS, "ON CONFLICT(request_id) DO NOTHING")
TURNS = Insert("turns", TURN_COLUMNS, "ON CONFLICT DO NOTHING")
INSERT_REQUEST = REQUESTS.sql()
INSERT_BODIES = BODIES.sql()
INSERT_TURN = TURNS.sql()


def _shorten(value: Any, limit: int = ARG_PREVIEW) -> Any:
    if isinstance(value, str):
        return value if len(value) <= limit else value[:limit] + "…"
    if isinstance(value, dict):
        return {str(k): _shorten(v, limit) for k, v in value.items()}
    if isinstance(value, list):
        return [_shorten(v, limit) for v in value[:20]]
    return value


def _parsed(value: Any) -> Any:
    """A tool input as an object: JSON text is parsed (text that is not JSON stays text)."""
    if isinstance(value, str | bytes):
        if not value:
            return {}
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return value
    return value if value is not None else {}


def tool_calls_text(calls: Any, redact: Redact | None = None) -> str | None:
    """Tool calls as compact JSON: names and parsed arguments, long strings cut (None when none).

    `calls` may be an answer's content blocks: only the `tool_use` ones count.
    """
    if not calls or not isinstance(calls, list):
        return None
    short = [
        {"name": str(c.get("name", "?")), "input": _shorten(_parsed(c.get("input")))}
        for c in calls
        if isinstance(c, dict) and c.get("type", "tool_use") == "tool_use"
    ]
    if not short:
        return None
    text = orjson.dumps(short, option=orjson.OPT_NON_STR_KEYS, default=str).decode()
    if len(text) > TOOL_CALLS_LIMIT:
        # Still valid JSON when cut: the names matter most.
        text = orjson.dumps([{"name": c["name"]} for c in short]).decode()
    return redact(text) if redact is not None else text


def _text(value: Any, limit: int = TEXT_LIMIT) -> str | None:
    """A text column: None stays None, anything else becomes a string, cut at `limit`."""
    if value is None:
        return None
    text = value if isinstance(value, str) else str(value)
    return text if len(text) <= limit else text[:limit] + "…"


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


def request_row(record: RequestRecord, redact: Redact | None = None) -> tuple[Any, ...]:
    """The `requests` row of a record: defaults filled in, types coerced, long texts cut.

    `redact` masks keys in the free texts (error message, tool arguments).
    """
    get = record.get
    error = _text(get("error_message"), ERROR_LIMIT)
    if error is not None and redact is not None:
        error = redact(error)
    if not isinstance(record["id"], str):
        raise ValueError(f"request id must be a string, not {type(record['id']).__name__}")
    status = record.get("status")
    return (
        record["id"],
        float(record["started_at"]),
        _text(get("session_id")),
        _text(get("client")),
        _text(get("endpoint")) or "messages",
        _text(get("requested_model")),
        _text(get("model")),
        _text(get("provider")),
        _text(get("preset")),
        _text(get("reason")),
        1 if get("stream") else 0,
        None if status is None else int(status),
        _text(get("error_type")),
        error,
        _number(get("ttft")),
        _number(get("duration")),
        int(record.get("input_tokens") or 0),
        int(record.get("output_tokens") or 0),
        int(record.get("cache_read_tokens") or 0),
        int(record.get("cache_write_tokens") or 0),
        float(record.get("cost") or 0.0),
        _text(get("stop_reason")),
        tool_calls_text(get("tool_calls"), redact),
        _text(get("origin")) or "client",
    )


def _json(value: Any, redact: Redact | None) -> bytes | None:
    if value is None:
        return None
    data = orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS, default=str)
    if redact is None:
        return data
    # A mask is plain text (`sk-...abcd`): the JSON stays valid.
    return redact(data.decode()).encode()


def bodies_row(
    record: RequestRecord, redact: Redact | None = None
) -> tuple[str, bytes | None, bytes | None] | None:
    """The `request_bodies` row (keys masked by `redact`), or None when it carries no bodies."""
    request, response = record.get("request_body"), record.get("response_body")
    if request is None and response is None:
        return None
    return (record["id"], _json(request, redact), _json(response, redact))


def turn_row(turn: TurnRecord) -> tuple[Any, ...]:
    """The `turns` row of a turn (ValueError when it is not one)."""
    get = turn.get
    role, content = turn["role"], turn["content"]
    if role not in ROLES or not isinstance(content, str):
        raise ValueError(f"not a turn: role {role!r}, content {type(content).__name__}")
    return (
        float(turn["at"]),
        _text(get("session_id")),
        _text(get("request_id")),
        role,
        content,
        _text(get("model")),
        _text(get("key")),
    )


def export_time(stamp: Any) -> float | None:
    """Unix time of an export's `timestamp` (ISO 8601; without a zone it is UTC), None if not one."""
    if not isinstance(stamp, str):
        return None
    try:
        when = datetime.fromisoformat(stamp)
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


def turn_from_export(item: dict[str, Any], fallback_at: float) -> TurnRecord:
    """A turn from one message of a history JSON export (validated by the caller).

    Its key is a digest of the whole message, so importing the same file twice adds nothing. A
    timestamp that is not ISO 8601 (hand-written files) becomes `fallback_at`.
    """
    fields = [item.get(k) for k in ("timestamp", "role", "content", "session_id", "request_id")]
    digest = hashlib.blake2b(orjson.dumps(fields), digest_size=12).hexdigest()
    at = export_time(item.get("timestamp"))
    return {
        "at": fallback_at if at is None else at,
        "session_id": item.get("session_id"),
        "request_id": item.get("request_id"),
        "role": item["role"],
        "content": item["content"],
        "model": item.get("model_used"),
        "key": f"import:{digest}",
    }
