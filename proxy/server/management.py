"""The management API: thin JSON routes over ProxyService (the TUI calls the same methods)."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from proxy.core.errors import ProxyError
from proxy.server.event_stream import HUB
from proxy.server.keys import SERVICE
from proxy.server.messages import json_response, read_json, serve_messages
from proxy.server.request_detail import RING
from proxy.state import turns
from proxy.state.model_list import preset_dict
from proxy.state.service import ProxyService

SWITCH_FIELDS = frozenset({"preset", "big_model", "small_model", "preserve_conversation"})
PRESET_FIELDS = frozenset({"name", "big_model", "small_model", "description", "rules"})


def _bad(message: str) -> ProxyError:
    return ProxyError(400, "invalid_request_error", message)


async def _object(request: web.Request, allowed: frozenset[str] | None = None) -> dict[str, Any]:
    body = await read_json(request)
    if not isinstance(body, dict):
        raise _bad("request body must be a JSON object")
    if allowed is not None:
        unknown = sorted(set(body) - allowed)
        if unknown:
            raise _bad(f"{unknown[0]}: unknown field; allowed: {', '.join(sorted(allowed))}")
    return body


def _optional_str(body: dict[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is not None and not isinstance(value, str):
        raise _bad(f"{key}: must be a string")
    return value


def _query_int(request: web.Request, key: str, default: int | None) -> int | None:
    raw = request.query.get(key)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise _bad(f"{key}: must be a non-negative integer, got {raw!r}") from None
    if value < 0:
        raise _bad(f"{key}: must be a non-negative integer, got {raw!r}")
    return value


def _service(request: web.Request) -> ProxyService:
    return request.app[SERVICE]


async def get_config(request: web.Request) -> web.Response:
    """GET /config."""
    return json_response(_service(request).config_snapshot())


async def switch_model(request: web.Request) -> web.Response:
    """POST /switch_model: {"preset"} or {"big_model", "small_model"}, preserve_conversation."""
    service = _service(request)
    body = await _object(request, SWITCH_FIELDS)
    preserve = body.get("preserve_conversation", True)
    if not isinstance(preserve, bool):
        raise _bad("preserve_conversation: must be true or false")
    old = service.pair
    pair = await service.switch_model(
        preset=_optional_str(body, "preset"),
        big=_optional_str(body, "big_model"),
        small=_optional_str(body, "small_model"),
        preserve_conversation=preserve,
    )
    return json_response(
        {
            "status": "ok",
            "big_model": pair.big,
            "small_model": pair.small,
            "active_preset": pair.preset,
            "previous": {
                "big_model": old.big,
                "small_model": old.small,
                "active_preset": old.preset,
            },
            "conversation_cleared": not preserve,
        }
    )


async def get_models(request: web.Request) -> web.Response:
    """GET /models."""
    return json_response(_service(request).model_list())


async def get_presets(request: web.Request) -> web.Response:
    """GET /presets: every preset in display order, and any presets file error."""
    store = _service(request).presets
    return json_response(
        {
            "presets": [preset_dict(p) for p in store.list()],
            "user_file": str(store.user_path),
            "error": store.error,
        }
    )


async def save_preset(request: web.Request) -> web.Response:
    """POST /presets {name, big_model, small_model, description}: save a user preset."""
    body = await _object(request, PRESET_FIELDS)
    for key in ("name", "big_model", "small_model"):
        if not isinstance(body.get(key), str) or not body[key].strip():
            raise _bad(f"{key}: field required (a non-empty string)")
    preset = await _service(request).save_preset(
        body["name"],
        body["big_model"],
        body["small_model"],
        _optional_str(body, "description") or "",
        body.get("rules"),
    )
    return json_response({"status": "saved", "preset": preset_dict(preset)}, status=201)


async def get_sessions(request: web.Request) -> web.Response:
    """GET /sessions: the sessions seen in history and the models pinned to some of them."""
    service = _service(request)
    return json_response(
        {"sessions": service.history.sessions(), "pins": dict(service.session_pins)}
    )


async def pin_session(request: web.Request) -> web.Response:
    """POST /sessions/{id}/model {"model": ...}: pin a model for one Claude Code session."""
    body = await _object(request, frozenset({"model"}))
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise _bad("model: field required (a non-empty model string)")
    session_id = request.match_info["id"]
    pins = await _service(request).pin_session(session_id, model)
    return json_response({"session": session_id, "model": pins[session_id], "pins": pins})


async def unpin_session(request: web.Request) -> web.Response:
    """DELETE /sessions/{id}/model: back to the normal mapping for that session."""
    session_id = request.match_info["id"]
    pins = await _service(request).pin_session(session_id, None)
    return json_response({"session": session_id, "model": None, "pins": pins})


async def delete_preset(request: web.Request) -> web.Response:
    """DELETE /presets/{name}: remove a user preset."""
    name = request.match_info["name"]
    await _service(request).delete_preset(name)
    return json_response({"status": "deleted", "name": name})


async def get_conversation(request: web.Request) -> web.Response:
    """GET /conversation?limit=N&session=ID."""
    history = _service(request).history
    session = request.query.get("session") or None
    everything = history.messages(session=session)
    limit = _query_int(request, "limit", None)
    shown = everything if limit is None else everything[-limit:] if limit else []
    return json_response({"messages": shown, "total_count": len(everything)})


async def delete_conversation(request: web.Request) -> web.Response:
    """DELETE /conversation: forget the history, and the event replay and request bodies held."""
    service = _service(request)
    removed = len(service.history)
    await service.clear_history()
    request.app[HUB].clear()
    request.app[RING].entries.clear()
    return json_response({"status": "cleared", "removed": removed})


async def conversation_status(request: web.Request) -> web.Response:
    """GET /conversation/status."""
    return json_response(_service(request).history.status())


async def conversation_enable(request: web.Request) -> web.Response:
    """POST /conversation/enable {"file_path"}: persist history to that JSON file."""
    body = await _object(request, frozenset({"file_path"}))
    path = body.get("file_path")
    if not isinstance(path, str) or not path.strip():
        raise _bad("file_path: field required (a non-empty string)")
    return json_response(await _service(request).enable_persistence(path))


async def conversation_disable(request: web.Request) -> web.Response:
    """POST /conversation/disable: stop persisting."""
    return json_response(await _service(request).disable_persistence())


async def conversation_export(request: web.Request) -> web.Response:
    """GET /conversation/export?format=json|markdown."""
    fmt = request.query.get("format", "json")
    text = await _service(request).export_history(fmt)
    kind, ext = ("application/json", "json") if fmt == "json" else ("text/markdown", "md")
    return web.Response(
        text=text,
        content_type=kind,
        headers={"Content-Disposition": f'attachment; filename="conversation.{ext}"'},
    )


async def conversation_import(request: web.Request) -> web.Response:
    """POST /conversation/import: a previous JSON export."""
    service = _service(request)
    added = await service.import_history(await _object(request))
    return json_response(
        {"status": "imported", "imported": added, "total_count": len(service.history)}
    )


async def conversation_continue(request: web.Request) -> web.StreamResponse:
    """POST /conversation/continue: a Messages request served with the history in front."""
    body = await _object(request)
    messages = body.get("messages")
    if not isinstance(messages, list):
        raise _bad("messages: field required (a list)")
    history = _service(request).history.messages(
        limit=_query_int(request, "limit", None), session=request.query.get("session") or None
    )
    body = {**body, "messages": turns.prepend_history(turns.as_alternating(history), messages)}
    return await serve_messages(request, body)


async def debug_logs(request: web.Request) -> web.Response:
    """GET /debug_logs?log_type=...&limit=N[&format=json|jsonl] (jsonl: one entry a line, an export)."""
    log_type = request.query.get("log_type", "all")
    limit = _query_int(request, "limit", 100)
    fmt = request.query.get("format", "json")
    if fmt not in ("json", "jsonl"):
        raise _bad(f"format: must be json or jsonl, got {fmt!r}")
    try:
        entries = _service(request).debug.entries(log_type, limit or 0)
    except ValueError as exc:
        raise _bad(f"log_type: {exc}") from None
    if fmt == "jsonl":
        lines = b"".join(orjson.dumps(entry, default=str) + b"\n" for entry in entries)
        return web.Response(
            body=lines,
            content_type="application/x-ndjson",
            headers={"Content-Disposition": 'attachment; filename="claude-proxy-debug.jsonl"'},
        )
    return json_response({"entries": entries, "log_type": log_type, "count": len(entries)})


async def _flush_history(app: web.Application) -> None:
    # A turn finished just before shutdown is still waiting for its delayed save.
    await app[SERVICE].history.flush()


def install(app: web.Application) -> None:
    """Add the management routes to an app."""
    r = app.router
    r.add_get("/config", get_config)
    r.add_post("/switch_model", switch_model)
    r.add_get("/models", get_models)
    r.add_get("/presets", get_presets)
    r.add_post("/presets", save_preset)
    r.add_delete("/presets/{name}", delete_preset)
    r.add_get("/sessions", get_sessions)
    r.add_post("/sessions/{id}/model", pin_session)
    r.add_delete("/sessions/{id}/model", unpin_session)
    r.add_get("/conversation", get_conversation)
    r.add_delete("/conversation", delete_conversation)
    r.add_get("/conversation/status", conversation_status)
    r.add_post("/conversation/enable", conversation_enable)
    r.add_post("/conversation/disable", conversation_disable)
    r.add_get("/conversation/export", conversation_export)
    r.add_post("/conversation/import", conversation_import)
    r.add_post("/conversation/continue", conversation_continue)
    r.add_get("/debug_logs", debug_logs)
    app.on_cleanup.append(_flush_history)
