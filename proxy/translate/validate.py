"""Validation of incoming Anthropic requests: types of the fields we use, everything else allowed."""

from __future__ import annotations

from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError

from proxy.core.errors import ProxyError
from proxy.translate.validate_fast import looks_valid

T = TypeVar("T", bound="CountTokensRequest")

MAX_MODEL_LENGTH = 256


class _Open(BaseModel):
    # New fields from newer clients must never be a 400.
    model_config = ConfigDict(extra="allow")


class Block(_Open):
    """One content block; its type decides what else it carries."""

    type: str


class Message(_Open):
    """A conversation turn; `system` turns come from Claude Code's mid-conversation-system beta."""

    role: Literal["user", "assistant", "system"]
    content: str | list[Block]


class Tool(_Open):
    """A client tool (with input_schema) or a server tool (with a versioned type)."""

    name: str
    input_schema: dict[str, Any] | None = None
    description: str | None = None
    type: str | None = None


class ToolChoice(_Open):
    """auto, any, tool (with name) or none."""

    type: Literal["auto", "any", "tool", "none"]
    name: str | None = None
    disable_parallel_tool_use: StrictBool | None = None


class TextBlock(_Open):
    """A system prompt block."""

    type: str = "text"
    text: str


class CountTokensRequest(_Open):
    """Body of /v1/messages/count_tokens."""

    model: str = Field(min_length=1)
    messages: list[Message]
    system: str | list[TextBlock] | None = None
    tools: list[Tool] | None = None
    tool_choice: ToolChoice | None = None
    thinking: dict[str, Any] | None = None


class MessagesRequest(CountTokensRequest):
    """Body of /v1/messages."""

    max_tokens: int = Field(ge=1)
    stream: StrictBool | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    top_k: int | None = Field(default=None, ge=0)
    stop_sequences: list[str] | None = None
    metadata: dict[str, Any] | None = None
    output_config: dict[str, Any] | None = None


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(p) for p in err["loc"]) or "body"
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)


def check_model_string(value: str, field: str = "model") -> str:
    """A model string of at most 256 printable characters (it is echoed in headers and logs)."""
    if len(value) > MAX_MODEL_LENGTH or not value.isprintable():
        raise ProxyError(
            400,
            "invalid_request_error",
            f"{field}: must be at most {MAX_MODEL_LENGTH} printable characters "
            "(no control characters)",
        )
    return value


def validate_messages(body: object) -> None:
    """Check a /v1/messages body, or raise a 400 naming the field."""
    _validate(MessagesRequest, body)


def validate_count_tokens(body: object) -> None:
    """Check a /v1/messages/count_tokens body, or raise a 400 naming the field."""
    _validate(CountTokensRequest, body)


def _validate(cls: type[T], body: object) -> None:
    if not isinstance(body, dict):
        raise ProxyError(400, "invalid_request_error", "request body must be a JSON object")
    # The common, valid body is checked by hand (pydantic over every block costs ~40 us on a
    # Claude Code request); pydantic decides, and words the error, for everything else.
    if not looks_valid(body, messages_request=cls is MessagesRequest):
        try:
            cls.model_validate(body)
        except ValidationError as exc:
            raise ProxyError(400, "invalid_request_error", _describe(exc)) from None
    check_model_string(body["model"])
    messages = body.get("messages")
    if isinstance(messages, list) and not messages:
        raise ProxyError(400, "invalid_request_error", "messages: at least one message is required")
