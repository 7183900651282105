"""The model catalog: resolving model ids, merging an override file, pricing, keys and endpoints."""

from __future__ import annotations

from pathlib import Path

import pytest

from corral.errors import InvalidModel
from corral.providers import catalog
from corral.providers.base import UsageUpdate
from corral.providers.catalog import CatalogEntry, CatalogError, Pricing
from corral.providers.registry import MissingProviderKey, ModelRegistry


@pytest.fixture(scope="module")
def shipped() -> catalog.Catalog:
    return catalog.load()


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "catalog.yaml"
    path.write_text(text)
    return path


def test_a_bare_id_served_by_one_provider_resolves_to_it(shipped):
    entry = shipped.resolve("claude-haiku-4-5")

    assert (entry.provider, entry.api) == ("anthropic", "anthropic")
    assert entry.model == "claude-haiku-4-5"
    assert entry.qualified_id == "anthropic/claude-haiku-4-5"


def test_the_shipped_catalog_prices_the_models_of_the_big_providers(shipped):
    assert shipped.resolve("claude-haiku-4-5").pricing == Pricing(
        input=1.0, output=5.0, cache_read=0.1, cache_write=1.25
    )
    assert shipped.resolve("gpt-4o-mini").api == "openai-chat"
    assert shipped.resolve("gpt-5").api == "openai-responses"
    assert shipped.resolve("deepseek-reasoner").provider == "deepseek"


def test_a_pinned_id_picks_the_provider(shipped):
    assert shipped.resolve("openai/gpt-4o").provider == "openai"
    assert shipped.resolve("test").provider == "corral"
    assert shipped.resolve("corral/test").id == "test"


def test_an_id_two_providers_serve_is_ambiguous_and_names_both(tmp_path):
    override = write(
        tmp_path,
        "models:\n  - {id: gpt-4o, provider: openrouter, model: openai/gpt-4o}\n",
    )
    merged = catalog.load(override)

    with pytest.raises(InvalidModel) as ambiguous:
        merged.resolve("gpt-4o", field="/agent_spec/model")

    assert ambiguous.value.details["candidates"] == ["openai/gpt-4o", "openrouter/gpt-4o"]
    assert ambiguous.value.field == "/agent_spec/model"
    assert merged.resolve("openrouter/gpt-4o").model == "openai/gpt-4o"


def test_local_servers_run_any_model_their_server_has(shipped):
    entry = shipped.resolve("ollama/llama3.1:8b")

    assert (entry.provider, entry.model, entry.api) == ("ollama", "llama3.1:8b", "openai-chat")
    assert entry.pricing is None


def test_a_hosted_provider_does_not_run_models_it_does_not_list(shipped):
    with pytest.raises(InvalidModel) as unknown:
        shipped.resolve("anthropic/claude-9")

    candidates = unknown.value.details["candidates"]
    assert "anthropic/claude-haiku-4-5" in candidates
    assert all(c.startswith("anthropic/") for c in candidates)


def test_an_override_adds_models_changes_prices_and_points_a_provider_elsewhere(tmp_path):
    override = write(
        tmp_path,
        """
providers:
  vllm: {base_url: "http://gpu-box:8000/v1"}
models:
  - {id: qwen3-32b, provider: vllm, model: Qwen/Qwen3-32B, context_window: 32768}
  - {id: claude-haiku-4-5, provider: anthropic, context_window: 200000,
     pricing: {input: 0.5, output: 2.5}}
""",
    )
    merged = catalog.load(override)

    qwen = merged.resolve("qwen3-32b")
    assert (qwen.model, qwen.context_window, qwen.api) == ("Qwen/Qwen3-32B", 32768, "openai-chat")
    assert merged.providers["vllm"].base_url == "http://gpu-box:8000/v1"
    assert merged.providers["vllm"].any_model  # the rest of the provider is kept
    assert merged.resolve("claude-haiku-4-5").pricing == Pricing(input=0.5, output=2.5)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("providers: {x: {api: soap}}", "api must be one of"),
        ("models: [{id: m}]", "needs `id` and `provider`"),
        ("models: [{id: m, provider: nobody}]", "unknown provider 'nobody'"),
        ("models: [{id: m, provider: openai, pricing: {input: cheap, output: 1}}]", "pricing"),
        ("models: [{id: m, provider: openai, colour: red}]", "colour"),
        ("[1, 2]", "expected a mapping"),
    ],
)
def test_a_bad_override_names_the_problem(tmp_path, text, message):
    with pytest.raises(CatalogError, match=message):
        catalog.load(write(tmp_path, text))


def test_cost_prices_cache_reads_and_writes_apart_from_fresh_input():
    entry = CatalogEntry(
        id="m",
        provider="p",
        api="anthropic",
        context_window=1,
        pricing=Pricing(input=3.0, output=15.0, cache_read=0.3, cache_write=3.75),
    )
    usage = UsageUpdate(
        input_tokens=1_000_000 + 200_000 + 100_000,
        output_tokens=10_000,
        cache_read_tokens=200_000,
        cache_write_tokens=100_000,
    )

    # 1M fresh at $3 + 200k cached at $0.30 + 100k written at $3.75 + 10k out at $15
    assert entry.cost_usd(usage) == pytest.approx(3.0 + 0.06 + 0.375 + 0.15)


def test_cost_of_a_model_without_prices_is_zero(shipped):
    usage = UsageUpdate(input_tokens=5000, output_tokens=5000)

    assert shipped.resolve("ollama/llama3.1").cost_usd(usage) == 0.0
    assert shipped.resolve("gpt-4o-mini").cost_usd(usage) == pytest.approx(
        (5000 * 0.15 + 5000 * 0.6) / 1e6
    )


def test_the_run_key_wins_over_the_server_key_and_a_missing_one_is_refused(shipped):
    registry = ModelRegistry(shipped, environ={"OPENAI_API_KEY": "sk-server"})
    gpt, claude = shipped.resolve("gpt-5"), shipped.resolve("claude-haiku-4-5")

    assert registry.endpoint(gpt, None).api_key == "sk-server"
    assert registry.endpoint(gpt, {"openai": "sk-run"}).api_key == "sk-run"
    assert registry.has_key(gpt) and not registry.has_key(claude)
    with pytest.raises(MissingProviderKey) as missing:
        registry.check_key(claude, None, field="/api_keys")
    assert missing.value.code == "missing_provider_key"
    assert "ANTHROPIC_API_KEY" in missing.value.message
    registry.check_key(claude, {"anthropic": "sk-ant"}, field="/api_keys")


def test_base_urls_come_from_the_entry_then_the_environment_then_the_catalog(tmp_path):
    override = write(
        tmp_path,
        "models:\n  - {id: big, provider: vllm, base_url: 'http://big-box/v1'}\n",
    )
    merged = catalog.load(override)
    registry = ModelRegistry(merged, environ={"VLLM_BASE_URL": "http://env-box/v1"})
    plain = ModelRegistry(merged, environ={})

    assert registry.endpoint(merged.resolve("big"), None).base_url == "http://big-box/v1"
    assert registry.endpoint(merged.resolve("vllm/small"), None).base_url == "http://env-box/v1"
    assert plain.endpoint(merged.resolve("vllm/small"), None).base_url == (
        "http://127.0.0.1:8000/v1"
    )
    assert plain.endpoint(merged.resolve("claude-haiku-4-5"), {"anthropic": "k"}).base_url is None


def test_local_servers_need_no_key(shipped):
    registry = ModelRegistry(shipped, environ={})
    local = shipped.resolve("ollama/llama3.1")

    registry.check_key(local, None, field="/api_keys")
    assert registry.endpoint(local, None).api_key  # the SDKs insist on one


def test_an_unknown_default_model_is_a_configuration_error(shipped):
    with pytest.raises(InvalidModel):
        ModelRegistry(shipped, default="gpt-0")
