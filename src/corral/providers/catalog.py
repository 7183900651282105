"""The model catalog: which models exist, who serves them, what they cost.

The shipped `catalog.yaml` can be extended or overridden by a file of the same shape. Model ids
are either a bare catalog id (`claude-haiku-4-5`, when exactly one provider serves it) or
`provider/model` to pin the provider; providers that serve whatever their server has loaded
(`any_model: true`: Ollama, vLLM…) accept any model name after their prefix.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from corral.errors import InvalidModel
from corral.providers.base import UsageUpdate

SHIPPED = Path(__file__).with_name("catalog.yaml")
APIS = ("anthropic", "openai-chat", "openai-responses", "test")
DEFAULT_CONTEXT_WINDOW = 128_000


class CatalogError(ValueError):
    """The catalog file is not valid."""


@dataclass(frozen=True, kw_only=True)
class Pricing:
    """US dollars per million tokens."""

    input: float
    output: float
    cache_read: float | None = None
    cache_write: float | None = None


@dataclass(frozen=True, kw_only=True)
class ProviderConfig:
    """How to reach one provider."""

    name: str
    api: str
    key_env: str | None = None
    base_url_env: str | None = None
    base_url: str | None = None
    key_required: bool = True
    any_model: bool = False
    replay_reasoning: bool = False
    stream: bool = True
    """False for servers that cannot stream (or stream tool calls badly): answers come whole."""


@dataclass(frozen=True, kw_only=True)
class CatalogEntry:
    """One model of the catalog."""

    id: str
    """The id Corral knows the model by, unique per provider."""
    provider: str
    context_window: int
    api: str
    vendor_model: str = ""
    """The provider's own id of the model (defaults to `id`)."""
    pricing: Pricing | None = None
    base_url: str | None = None
    """An endpoint of its own, overriding the provider's."""

    @property
    def qualified_id(self) -> str:
        """`provider/id`, unambiguous."""
        return f"{self.provider}/{self.id}"

    @property
    def model(self) -> str:
        """What to send the provider as the model."""
        return self.vendor_model or self.id

    def cost_usd(self, usage: UsageUpdate) -> float:
        """What a call with this usage costs; cache reads and writes at their own prices."""
        prices = self.pricing
        if prices is None:
            return 0.0
        fresh = max(0, usage.input_tokens - usage.cache_read_tokens - usage.cache_write_tokens)
        cache_read = prices.cache_read if prices.cache_read is not None else prices.input
        cache_write = prices.cache_write if prices.cache_write is not None else prices.input
        total = (
            fresh * prices.input
            + usage.cache_read_tokens * cache_read
            + usage.cache_write_tokens * cache_write
            + usage.output_tokens * prices.output
        )
        return total / 1_000_000


TEST_PROVIDER = ProviderConfig(name="corral", api="test", key_required=False)
TEST_MODEL = CatalogEntry(id="test", provider="corral", context_window=1_000_000, api="test")


@dataclass
class Catalog:
    """Every provider and model the server knows."""

    providers: dict[str, ProviderConfig] = field(default_factory=dict)
    entries: dict[str, CatalogEntry] = field(default_factory=dict)
    """By qualified id (`provider/id`)."""

    def resolve(self, model_id: str, *, field: str = "/model") -> CatalogEntry:
        """The entry `model_id` names, or `InvalidModel` with the candidates."""
        exact = self.entries.get(model_id)
        if exact is not None:
            return exact
        prefix, slash, name = model_id.partition("/")
        if slash and prefix in self.providers:
            return self._pinned(prefix, name, model_id, field)
        matches = [entry for entry in self.entries.values() if entry.id == model_id]
        if len(matches) == 1:
            return matches[0]
        if matches:
            raise InvalidModel(
                f"model {model_id!r} is served by several providers; name one",
                field=field,
                candidates=sorted(entry.qualified_id for entry in matches),
            )
        raise InvalidModel(
            f"unknown model {model_id!r}",
            field=field,
            candidates=self._near(model_id),
        )

    def _pinned(self, provider: str, name: str, model_id: str, field: str) -> CatalogEntry:
        entry = self.entries.get(f"{provider}/{name}")
        if entry is not None:
            return entry
        config = self.providers[provider]
        if config.any_model and name:
            return CatalogEntry(
                id=name, provider=provider, context_window=DEFAULT_CONTEXT_WINDOW, api=config.api
            )
        raise InvalidModel(
            f"provider {provider!r} has no model {name!r}",
            field=field,
            candidates=sorted(
                e.qualified_id for e in self.entries.values() if e.provider == provider
            ),
        )

    def _near(self, model_id: str) -> list[str]:
        """Catalog ids that share a word with the unknown one, else every id."""
        words = {w for w in model_id.lower().replace("/", "-").split("-") if len(w) > 2}
        near = [e.id for e in self.entries.values() if words & set(e.id.lower().split("-"))]
        return sorted(set(near or [e.id for e in self.entries.values()]))


def _pricing(raw: Any, where: str) -> Pricing | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise CatalogError(f"{where}: pricing must be a mapping")
    try:
        return Pricing(**{key: float(value) for key, value in raw.items()})
    except (TypeError, ValueError) as error:
        raise CatalogError(f"{where}: pricing: {error}") from None


def _merge(catalog: Catalog, document: Any, source: str) -> None:
    if not isinstance(document, Mapping):
        raise CatalogError(f"{source}: expected a mapping with `providers` and `models`")
    for name, raw in (document.get("providers") or {}).items():
        base = catalog.providers.get(name)
        values = {**(vars(base) if base else {}), **dict(raw), "name": name}
        if values.get("api") not in APIS:
            raise CatalogError(f"{source}: provider {name}: api must be one of {', '.join(APIS)}")
        try:
            catalog.providers[name] = ProviderConfig(**values)
        except TypeError as error:
            raise CatalogError(f"{source}: provider {name}: {error}") from None
    for index, raw in enumerate(document.get("models") or []):
        where = f"{source}: models[{index}]"
        if not isinstance(raw, Mapping) or not raw.get("id") or not raw.get("provider"):
            raise CatalogError(f"{where}: needs `id` and `provider`")
        provider = catalog.providers.get(raw["provider"])
        if provider is None:
            raise CatalogError(f"{where}: unknown provider {raw['provider']!r}")
        values = dict(raw)
        values["pricing"] = _pricing(values.get("pricing"), where)
        values.setdefault("api", provider.api)
        values.setdefault("context_window", DEFAULT_CONTEXT_WINDOW)
        values["vendor_model"] = values.pop("model", "") or ""
        try:
            entry = CatalogEntry(**values)
        except TypeError as error:
            raise CatalogError(f"{where}: {error}") from None
        catalog.entries[entry.qualified_id] = entry


def load(override: Path | None = None) -> Catalog:
    """The shipped catalog, with `override` merged over it."""
    catalog = Catalog(
        providers={TEST_PROVIDER.name: TEST_PROVIDER},
        entries={TEST_MODEL.qualified_id: TEST_MODEL},
    )
    _merge(catalog, yaml.safe_load(SHIPPED.read_text()), SHIPPED.name)
    if override is not None:
        try:
            document = yaml.safe_load(override.read_text())
        except (OSError, yaml.YAMLError) as error:
            raise CatalogError(f"{override}: {error}") from None
        _merge(catalog, document, str(override))
    return catalog
