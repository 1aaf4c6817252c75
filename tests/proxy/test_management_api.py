"""GET /config, /models, /stats, /debug_logs over HTTP, and no key in any answer or log line."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from proxy.core.errors import mask_key
from tests.conftest import FAKE_KEYS, ProxyFactory
from tests.support.fake_upstream import FakeUpstream, Reply
from tests.support.mgmt import BIG, SMALL, ask, call, turn


async def test_config(make_proxy: ProxyFactory, upstream: FakeUpstream) -> None:
    proxy = await make_proxy(BIG_MODEL=BIG, SMALL_MODEL="anthropic/claude-haiku-4-5")
    await ask(proxy.url, turn("count me"))
    config = (await call(proxy.url, "GET", "/config")).json
    assert config["big_model"] == {"model": BIG, "provider": "openai", "passthrough": False}
    assert config["small_model"]["provider"] == "anthropic"
    assert config["active_preset"] is None
    assert config["preferred_provider"] == "openai"
    assert config["upstream_bases"]["openai"] == upstream.url + "/v1"
    assert config["keys"]["OPENAI_API_KEY"] == {
        "set": True,
        "masked": mask_key(FAKE_KEYS["OPENAI_API_KEY"]),
    }
    assert config["conversation"]["count"] == 2
    assert config["counters"] == {"total": 1, "in_flight": 0, "errors": 0}
    assert config["uptime_seconds"] >= 0


async def test_config_without_keys(make_proxy: ProxyFactory) -> None:
    proxy = await make_proxy(OPENAI_API_KEY="", GEMINI_API_KEY="", ANTHROPIC_API_KEY="")
    keys = (await call(proxy.url, "GET", "/config")).json["keys"]
    assert keys["GEMINI_API_KEY"] == {"set": False, "masked": None}


async def test_models(make_proxy: ProxyFactory) -> None:
    proxy = await make_proxy(
        BIG_MODEL="openrouter/some-lab/model-x", SMALL_MODEL=SMALL, GEMINI_API_KEY=""
    )
    body = (await call(proxy.url, "GET", "/models")).json
    models = {m["id"]: m for m in body["models"]}
    assert len(models) >= 60
    assert body["total_count"] == len(body["models"])
    for provider in ("openai", "gemini", "anthropic"):
        assert sum(m["provider"] == provider for m in models.values()) >= 5
    gpt = models["openai/gpt-4o"]
    assert gpt["context_window"] == 128000
    assert gpt["max_output"] == 16384
    assert gpt["input_cost_per_mtok"] == pytest.approx(2.5)
    assert gpt["tools"] is True
    assert gpt["images"] is True
    assert gpt["key_configured"] is True
    assert gpt["key_var"] == "OPENAI_API_KEY"
    assert set(gpt) >= {
        "id",
        "provider",
        "context_window",
        "max_output",
        "input_cost_per_mtok",
        "output_cost_per_mtok",
        "tools",
        "images",
        "reasoning",
        "key_configured",
        "key_var",
    }
    assert any(m["reasoning"] for m in models.values())
    assert models["gemini/gemini-2.5-pro"]["key_configured"] is False
    # Every model named by a preset or the config is listed, known to the catalogue or not.
    for preset in body["presets"]:
        assert preset["big_model"] in models
        assert preset["small_model"] in models
    assert models["gemini/gemini-3.1-pro-preview"]["in_catalogue"] is True
    assert models["openrouter/some-lab/model-x"]["source"] == "config"
    assert models["openrouter/some-lab/model-x"]["key_configured"] is None
    assert [p["name"] for p in body["presets"]][:2] == ["openai_premium", "gemini_balanced"]
    assert body["providers"]["gemini"]["key_configured"] is False
    assert body["providers"]["openai"]["key_configured"] is True


async def test_stats(make_proxy: ProxyFactory, upstream: FakeUpstream) -> None:
    proxy = await make_proxy(BIG_MODEL=BIG, SMALL_MODEL=SMALL, MAX_RETRIES=0)
    upstream.script += [
        Reply(prompt_tokens=100, completion_tokens=50),
        # Long enough to count towards tok/s (a generation under 0.25 s does not).
        Reply(prompt_tokens=200, completion_tokens=20, delay_between_chunks=0.1),
        Reply(status=400, error_message="nope"),
    ]
    await ask(proxy.url, turn("a"))
    await ask(proxy.url, turn("b", stream=True))
    failed = await call(proxy.url, "POST", "/v1/messages", turn("c"))
    assert failed.status == 400
    await ask(proxy.url, turn("small", "claude-haiku-4-5"))
    stats = (await call(proxy.url, "GET", "/stats")).json
    big = stats["models"][BIG]
    assert big["requests"] == 3
    assert big["errors"] == 1
    assert big["in_flight"] == 0
    assert big["input_tokens"] == 300
    assert big["output_tokens"] == 70
    assert big["cost"] == pytest.approx(300 * 2e-6 + 70 * 8e-6)
    assert 0 < big["latency_p50"] <= big["latency_p95"]
    assert 0 < big["ttft_p50"] <= big["ttft_p95"]
    assert big["tokens_per_second"] > 0
    assert stats["models"][SMALL]["requests"] == 1
    assert stats["totals"]["requests"] == 4
    assert stats["totals"]["errors"] == 1
    assert stats["totals"]["input_tokens"] == 311
    assert stats["totals"]["in_flight"] == 0


async def test_debug_logs(make_proxy: ProxyFactory, upstream: FakeUpstream) -> None:
    proxy = await make_proxy(BIG_MODEL=BIG, SMALL_MODEL=SMALL, MAX_RETRIES=0, DEBUG_LOG_LIMIT=7)
    upstream.script.append(Reply(status=400, error_message="upstream says no"))
    await call(proxy.url, "POST", "/v1/messages", turn("fails"))
    await ask(proxy.url, turn("works"))
    await call(proxy.url, "POST", "/switch_model", {"preset": "openai_premium"})
    everything = (await call(proxy.url, "GET", "/debug_logs")).json
    kinds = [e["type"] for e in everything["entries"]]
    assert kinds == [
        "request",
        "model_mapping",
        "error",
        "request",
        "model_mapping",
        "response",
        "switch",
    ]
    entry = everything["entries"][1]
    assert set(entry) == {"id", "time", "type", "request_id", "summary", "details"}
    assert entry["details"]["model"] == BIG
    assert entry["details"]["tier"] == "big"
    assert "claude-sonnet-4-5 -> openai/gpt-4.1" in entry["summary"]
    errors = (await call(proxy.url, "GET", "/debug_logs?log_type=error")).json["entries"]
    assert len(errors) == 1
    assert "upstream says no" in errors[0]["summary"]
    assert errors[0]["details"]["status"] == 400
    last = (await call(proxy.url, "GET", "/debug_logs?limit=1")).json["entries"]
    assert [e["type"] for e in last] == ["switch"]
    # The ring is bounded: one more request pushes the oldest entries out.
    await ask(proxy.url, turn("more"))
    ring = (await call(proxy.url, "GET", "/debug_logs?limit=100")).json["entries"]
    assert len(ring) == 7
    assert ring[-1]["type"] == "response"
    bad = await call(proxy.url, "GET", "/debug_logs?log_type=nonsense")
    assert bad.status == 400
    assert "model_mapping" in bad.error
    bad_limit = await call(proxy.url, "GET", "/debug_logs?limit=x")
    assert bad_limit.status == 400
    assert "limit" in bad_limit.error


ENDPOINTS = [
    ("GET", "/config", None),
    ("GET", "/models", None),
    ("GET", "/presets", None),
    ("GET", "/stats", None),
    ("GET", "/debug_logs?limit=1000", None),
    ("GET", "/conversation", None),
    ("GET", "/conversation/status", None),
    ("GET", "/conversation/export?format=json", None),
    ("GET", "/conversation/export?format=markdown", None),
    ("POST", "/switch_model", {"big_model": "nosuch/x"}),
    ("POST", "/switch_model", {"preset": "nope"}),
    ("POST", "/conversation/import", {"messages": 1}),
    ("DELETE", "/presets/nope", None),
]


async def test_no_key_in_any_answer_or_log(
    make_proxy: ProxyFactory,
    upstream: FakeUpstream,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    proxy = await make_proxy(
        BIG_MODEL=BIG, SMALL_MODEL=SMALL, MAX_RETRIES=0, DATA_DIR=str(tmp_path)
    )
    keys = list(FAKE_KEYS.values())
    # An upstream that echoes a key in its error must not leak it either.
    upstream.script.append(Reply(status=401, error_message=f"bad key {keys[0]} for you"))
    leaky = turn(f"my key is {keys[1]}")
    await call(proxy.url, "POST", "/v1/messages", turn("first"))
    await ask(proxy.url, leaky)
    await ask(proxy.url, turn("second", stream=True), session="s")
    await call(proxy.url, "POST", "/switch_model", {"preset": "openai_premium"})
    await call(proxy.url, "POST", "/presets", {"name": "p", "big_model": BIG, "small_model": SMALL})
    await call(proxy.url, "POST", "/conversation/enable", {"file_path": str(tmp_path / "h.json")})
    texts: list[str] = []
    for method, path, body in ENDPOINTS:
        answer = await call(proxy.url, method, path, body)
        texts.append(answer.text)
    await proxy.stop()
    texts.append((tmp_path / "h.json").read_text())
    texts.append(caplog.text)
    texts.extend(str(r.msg) + str(r.args) for r in caplog.records)
    for text in texts:
        for key in keys:
            assert key not in text


async def test_key_set_while_running_is_masked(
    make_proxy: ProxyFactory, upstream: FakeUpstream
) -> None:
    """The TUI can swap in new settings (a new key); it is masked from then on, whatever its shape."""
    proxy = await make_proxy(BIG_MODEL=BIG, SMALL_MODEL=SMALL, MAX_RETRIES=0)
    secret = "plain-local-server-secret-42"
    service = proxy.service
    service.settings = service.settings.model_copy(update={"openai_api_key": secret})
    upstream.script.append(Reply(status=403, error_message=f"key {secret} is not allowed"))
    await call(proxy.url, "POST", "/v1/messages", turn("x"))
    await ask(proxy.url, turn(f"is {secret} mine?"))
    for path in ("/debug_logs", "/conversation", "/config"):
        text = (await call(proxy.url, "GET", path)).text
        assert secret not in text, path
    assert upstream.requests[-1].api_key == secret


async def test_stats_count_a_fallback_for_the_model_that_answered(
    make_proxy: ProxyFactory, upstream: FakeUpstream
) -> None:
    proxy = await make_proxy(
        BIG_MODEL=BIG, SMALL_MODEL=SMALL, MAX_RETRIES=0, FALLBACK_MODELS="openai/gpt-4o"
    )
    upstream.script += [Reply(status=500), Reply(text="from the fallback")]
    await ask(proxy.url, turn("fall back"))
    models = (await call(proxy.url, "GET", "/stats")).json["models"]
    assert models[BIG]["requests"] == 0
    assert models[BIG]["in_flight"] == 0
    assert models["openai/gpt-4o"]["requests"] == 1
    assert models["openai/gpt-4o"]["output_tokens"] == 7
    history = (await call(proxy.url, "GET", "/conversation")).json["messages"]
    assert history[1]["model_used"] == "openai/gpt-4o"
