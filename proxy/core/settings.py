"""Start-up configuration: environment and `.env`, validated once with pydantic."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

Provider = Literal["openai", "google", "anthropic"]

DEFAULT_MODELS: dict[str, tuple[str | None, str | None]] = {
    "openai": ("openai/gpt-4.1", "openai/gpt-4.1-mini"),
    "google": ("gemini/gemini-2.5-pro", "gemini/gemini-2.5-flash"),
    # None means "send the requested Claude model to Anthropic unchanged".
    "anthropic": (None, None),
}

# Which environment variable feeds which field; the first one set wins.
ENV_NAMES: dict[str, tuple[str, ...]] = {
    "openai_api_key": ("OPENAI_API_KEY",),
    "gemini_api_key": ("GEMINI_API_KEY", "GOOGLE_API_KEY"),
    "anthropic_api_key": ("ANTHROPIC_API_KEY",),
    "openai_api_base": ("OPENAI_API_BASE", "OPENAI_BASE_URL"),
    "gemini_api_base": ("GEMINI_API_BASE",),
    "anthropic_api_base": ("ANTHROPIC_API_BASE",),
    "preferred_provider": ("PREFERRED_PROVIDER",),
    "big_model": ("BIG_MODEL",),
    "small_model": ("SMALL_MODEL",),
    "host": ("HOST",),
    "port": ("PORT",),
    "log_level": ("LOG_LEVEL",),
    "upstream_engine": ("UPSTREAM_ENGINE",),
    "connect_timeout": ("CONNECT_TIMEOUT",),
    "request_timeout": ("REQUEST_TIMEOUT",),
    "stream_idle_timeout": ("STREAM_IDLE_TIMEOUT",),
    "forward_client_key": ("FORWARD_CLIENT_KEY",),
    "conversation_limit": ("CONVERSATION_LIMIT",),
    "conversation_file": ("CONVERSATION_FILE",),
    "presets_file": ("PRESETS_FILE",),
    "debug_log_limit": ("DEBUG_LOG_LIMIT",),
    "proxy_api_key": ("PROXY_API_KEY",),
    "max_retries": ("MAX_RETRIES",),
    "retry_max_time": ("RETRY_MAX_TIME",),
    "fallback_models": ("FALLBACK_MODELS",),
    "requests_per_minute": ("REQUESTS_PER_MINUTE",),
    "max_concurrency": ("MAX_CONCURRENCY",),
    "queue_timeout": ("QUEUE_TIMEOUT",),
    "max_body_bytes": ("MAX_BODY_BYTES",),
    "proxy_server_enabled": ("PROXY_SERVER_ENABLED",),
    "proxy_url": ("PROXY_URL",),
    "data_dir": ("DATA_DIR",),
    "max_file_bytes": ("MAX_FILE_BYTES",),
    "allowed_hosts": ("ALLOWED_HOSTS",),
    "cors_origins": ("CORS_ORIGINS",),
    "keepalive_timeout": ("KEEPALIVE_TIMEOUT",),
    "body_timeout": ("BODY_TIMEOUT",),
    "max_event_subscribers": ("MAX_EVENT_SUBSCRIBERS",),
    "retention_days": ("RETENTION_DAYS",),
    "store_max_mb": ("STORE_MAX_MB",),
    "record_bodies": ("RECORD_BODIES",),
    "store_enabled": ("STORE_ENABLED",),
}


class ConfigError(Exception):
    """A configuration value the proxy cannot start with; the message says what to fix."""


class Settings(BaseModel):
    """Everything the proxy reads from its environment at start."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    openai_api_key: str | None = Field(default=None, repr=False)
    """Key for OpenAI or the OpenAI-compatible server at `openai_api_base`."""
    gemini_api_key: str | None = Field(default=None, repr=False)
    """Key for Google AI Studio (Gemini)."""
    anthropic_api_key: str | None = Field(default=None, repr=False)
    """Key for Anthropic; never the one Claude Code sends to this proxy."""
    openai_api_base: str | None = None
    """OpenAI-compatible base URL (vLLM, Ollama, LM Studio, OpenRouter, a LiteLLM gateway)."""
    gemini_api_base: str | None = None
    """Gemini API base URL; the public endpoint when unset."""
    anthropic_api_base: str | None = None
    """Anthropic API base URL; the public endpoint when unset. Never read from ANTHROPIC_BASE_URL."""
    preferred_provider: Provider = "openai"
    """Provider for bare model names and the default big/small models."""
    big_model: str | None = None
    """Target for sonnet/opus-class requests; None with anthropic means pass-through."""
    small_model: str | None = None
    """Target for haiku-class requests; None with anthropic means pass-through."""
    host: str = "127.0.0.1"
    """Listen address."""
    port: int = Field(default=8082, ge=0, le=65535)
    """Listen port; 0 picks a free one."""
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    """Log verbosity."""
    upstream_engine: Literal["native", "litellm"] = "native"
    """native: own OpenAI and Anthropic transports, LiteLLM for the rest; litellm: LiteLLM for all."""
    connect_timeout: float = Field(default=10.0, gt=0)
    """Seconds to wait for an upstream connection."""
    request_timeout: float = Field(default=600.0, gt=0)
    """Seconds a whole upstream request may take."""
    stream_idle_timeout: float = Field(default=300.0, gt=0)
    """Seconds without a byte from a streaming upstream before the stream is failed."""
    forward_client_key: bool = False
    """Pass the client's own x-api-key to an Anthropic upstream instead of ANTHROPIC_API_KEY."""
    conversation_limit: int = Field(default=1000, ge=1)
    """Most conversation messages kept in history; the oldest are dropped first."""
    conversation_file: str | None = None
    """JSON file that persists the conversation history (loaded at start when it exists)."""
    presets_file: str | None = None
    """User presets file; default `$XDG_CONFIG_HOME/claude-proxy/presets.toml`."""
    debug_log_limit: int = Field(default=1000, ge=1)
    """Entries kept in the in-memory debug log ring."""

    proxy_api_key: str | None = Field(default=None, repr=False)
    """Key clients must send (x-api-key or Bearer) on every route but /health; required off loopback."""
    max_retries: int = Field(default=2, ge=0, le=10)
    """Retries of an upstream 429/5xx/connection error before the first byte reached the client."""
    retry_max_time: float = Field(default=30.0, ge=0)
    """Upper bound in seconds on all retry waits of one request."""
    fallback_models: tuple[str, ...] = ()
    """Models tried in order when the target still fails after retries (comma list)."""
    requests_per_minute: int = Field(default=0, ge=0)
    """Per-client request rate limit (token bucket); 0 turns it off."""
    max_concurrency: int = Field(default=0, ge=0)
    """Cap on concurrent upstream requests, extra ones queue; 0 turns it off."""
    queue_timeout: float = Field(default=30.0, ge=0)
    """Seconds a request may wait in the concurrency queue before a 429."""
    max_body_bytes: int = Field(default=32 * 1024 * 1024, ge=1024)
    """Largest accepted request body (Claude Code sends large contexts and images)."""
    proxy_server_enabled: bool = True
    """TUI only: false attaches the TUI to the proxy at `proxy_url` instead of embedding one."""
    proxy_url: str | None = None
    """Base URL of the proxy the TUI attaches to (`--attach`); its key is PROXY_API_KEY."""
    max_file_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)
    """Largest history file the proxy reads (a bigger one is refused, never loaded)."""
    allowed_hosts: tuple[str, ...] = ()
    """Extra names accepted in the Host header (reverse proxy, Docker service); loopback always."""
    cors_origins: tuple[str, ...] = ()
    """Web origins allowed to call the proxy from a browser; none by default."""
    keepalive_timeout: float = Field(default=60.0, gt=0)
    """Seconds an idle connection stays open; also the time a client has to send its headers."""
    body_timeout: float = Field(default=60.0, gt=0)
    """Seconds a client has to send the whole request body."""
    max_event_subscribers: int = Field(default=32, ge=1)
    """Most /events streams open at once; more get a 503."""

    @field_validator("allowed_hosts", "cors_origins", mode="before")
    @classmethod
    def _split_names(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(v.strip().lower().rstrip("/") for v in value.split(",") if v.strip())
        return value

    @field_validator("allowed_hosts", "cors_origins")
    @classmethod
    def _wildcard_needs_key(cls, value: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        if "*" in value and not info.data.get("proxy_api_key"):
            raise ValueError(
                "'*' accepts every web page or DNS name; it is allowed only with PROXY_API_KEY "
                "set (then every request still needs the key). List the names instead."
            )
        return value

    # The durable record (proxy/store): one SQLite file in the data folder.
    data_dir: str | None = None
    """The data folder (the store, files named over HTTP); default `$XDG_DATA_HOME/claude-proxy`."""
    retention_days: int = Field(default=90, ge=0)
    """Recorded requests and turns older than this many days are pruned; 0 keeps them all."""
    store_max_mb: int = Field(default=1024, ge=0)
    """Size cap of the store in MB: past it the oldest rows are pruned first; 0: no cap."""
    record_bodies: bool = False
    """Also record request and answer bodies (keys masked), for detail and replay after a restart."""
    store_enabled: bool = True
    """Record every request in the store (`--no-store` turns it off for one run)."""

    @field_validator("fallback_models", mode="before")
    @classmethod
    def _split_models(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(m.strip() for m in value.split(",") if m.strip())
        return value

    @field_validator("preferred_provider", mode="before")
    @classmethod
    def _lower_provider(cls, value: object) -> object:
        if isinstance(value, str):
            value = value.strip().lower()
            return "google" if value == "gemini" else value
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("upstream_engine", mode="before")
    @classmethod
    def _lower_engine(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("openai_api_base", "gemini_api_base", "anthropic_api_base", "proxy_url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"must be an http(s) URL, got {value!r}")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _fill_default_models(self) -> Settings:
        big, small = DEFAULT_MODELS[self.preferred_provider]
        if self.big_model is None and big is not None:
            object.__setattr__(self, "big_model", big)
        if self.small_model is None and small is not None:
            object.__setattr__(self, "small_model", small)
        return self

    def upstream_bases(self) -> dict[str, str | None]:
        """Configured upstream base URLs by provider (None: the provider's public endpoint)."""
        return {
            "openai": self.openai_api_base,
            "gemini": self.gemini_api_base,
            "anthropic": self.anthropic_api_base,
        }


def read_env_file(path: Path) -> dict[str, str]:
    """Parse a `.env` file into a dict; a missing file is empty."""
    if not path.is_file():
        return {}
    from dotenv import dotenv_values

    return {k: v for k, v in dotenv_values(path).items() if v is not None}


def load_settings(
    environ: Mapping[str, str] | None = None,
    env_file: Path | None = None,
    *,
    listen_checks: bool = True,
    **overrides: object,
) -> Settings:
    """Build Settings from `.env` (lowest), the environment, then explicit overrides (highest).

    `listen_checks=False` skips the listen-address checks (a TUI attached elsewhere binds nothing).
    """
    env: dict[str, str] = {}
    if env_file is not None:
        env.update(read_env_file(env_file))
    env.update(os.environ if environ is None else environ)
    raw: dict[str, object] = {}
    for field, names in ENV_NAMES.items():
        for name in names:
            value = env.get(name)
            if value is not None and value.strip() != "":
                raw[field] = value.strip()
                break
    raw.update({k: v for k, v in overrides.items() if v is not None})
    try:
        settings = Settings.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            field = str(err["loc"][0]) if err["loc"] else "?"
            variables = "/".join(ENV_NAMES.get(field, (field.upper(),)))
            problems.append(f"{variables}: {err['msg']}")
        raise ConfigError("invalid configuration: " + "; ".join(problems)) from None
    if listen_checks:
        check_no_loop(settings)
        check_bind(settings)
    return settings


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach."""
    return host in ("127.0.0.1", "localhost", "::1") or host.startswith("127.")


def check_bind(settings: Settings) -> None:
    """Refuse to listen beyond loopback without PROXY_API_KEY: anyone could spend your keys."""
    if not is_loopback(settings.host) and not settings.proxy_api_key:
        raise ConfigError(
            f"refusing to listen on {settings.host} without PROXY_API_KEY: every machine that can "
            "reach this address could use your provider keys. Set PROXY_API_KEY (clients then send "
            "it as x-api-key or Authorization: Bearer) or listen on 127.0.0.1."
        )


_LOCAL_HOSTS = {"127.0.0.1", "localhost", "0.0.0.0", "::1", "::", ""}


def _same_endpoint(host_a: str, port_a: int, host_b: str, port_b: int) -> bool:
    if port_a != port_b:
        return False
    if host_a == host_b:
        return True
    return host_a in _LOCAL_HOSTS and host_b in _LOCAL_HOSTS


def check_no_loop(settings: Settings) -> None:
    """Refuse upstream bases that point at this proxy's own listen address."""
    if settings.port == 0:
        return
    for provider, base in settings.upstream_bases().items():
        if base is None:
            continue
        parts = urlsplit(base)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        if _same_endpoint(parts.hostname or "", port, settings.host, settings.port):
            raise ConfigError(
                f"{provider} upstream base {base} points at this proxy's own address "
                f"{settings.host}:{settings.port}: requests would loop. "
                "Set the provider's *_API_BASE to the real upstream (ANTHROPIC_BASE_URL is for "
                "Claude Code, not for the proxy)."
            )
