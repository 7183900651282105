"""The models this server can run: the catalog, the keys it holds, and one adapter per provider.

Keys come from the run first (bring-your-own-key), then from the provider's standard environment
variable (`ANTHROPIC_API_KEY`…); base URLs from the catalog entry, then the provider's variable
(`OPENAI_BASE_URL`…), then the catalog's provider default.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from dataclasses import dataclass

from corral.errors import InvalidRequest
from corral.providers.base import Provider
from corral.providers.catalog import Catalog, CatalogEntry, ProviderConfig
from corral.providers.scripted import ScriptedModel
from corral.types.errors import ErrorCode


class MissingProviderKey(InvalidRequest):
    """The model's provider needs a key and neither the run nor the server has one."""

    code = ErrorCode.MISSING_PROVIDER_KEY


@dataclass(frozen=True)
class Endpoint:
    """Where and with which key to call a model's provider, and whether it streams."""

    base_url: str | None
    api_key: str | None
    stream: bool = True


class ModelRegistry:
    """Resolves model ids and hands out the adapter and endpoint for each."""

    def __init__(
        self,
        catalog: Catalog,
        *,
        environ: Mapping[str, str] | None = None,
        default: str = "test",
    ) -> None:
        self.catalog = catalog
        self._environ = dict(environ or {})
        self._adapters: dict[tuple[str, str], Provider] = {}
        self.default = default
        catalog.resolve(default, field="CORRAL_DEFAULT_MODEL")

    def entries(self) -> list[CatalogEntry]:
        """Every model of the catalog."""
        return list(self.catalog.entries.values())

    def resolve(self, model_id: str, *, field: str = "/model") -> CatalogEntry:
        """The entry for `model_id`, or `InvalidModel` listing candidates."""
        return self.catalog.resolve(model_id, field=field)

    def config(self, entry: CatalogEntry) -> ProviderConfig:
        """The provider of an entry."""
        return self.catalog.providers[entry.provider]

    def server_key(self, provider: str) -> str | None:
        """The key the server holds for a provider, if any."""
        config = self.catalog.providers.get(provider)
        if config is None or config.key_env is None:
            return None
        return self._environ.get(config.key_env) or None

    def key_name(self, entry: CatalogEntry) -> str | None:
        """The name of the entry's provider key (`ANTHROPIC_API_KEY`), if it needs one.

        A workspace secret of that name is the workspace's own key for the provider.
        """
        config = self.config(entry)
        return config.key_env if config.key_required else None

    def has_key(self, entry: CatalogEntry, run_keys: Mapping[str, str] | None = None) -> bool:
        """Whether a call to the entry's provider can be made with these keys."""
        config = self.config(entry)
        if not config.key_required:
            return True
        return bool((run_keys or {}).get(entry.provider) or self.server_key(entry.provider))

    def check_key(
        self, entry: CatalogEntry, run_keys: Mapping[str, str] | None, *, field: str
    ) -> None:
        """Refuse a run that could not call its provider."""
        if not self.has_key(entry, run_keys):
            config = self.config(entry)
            raise MissingProviderKey(
                f"model {entry.qualified_id!r} needs a key for provider {entry.provider!r}: "
                f"pass api_keys.{entry.provider}, store a workspace secret {config.key_env} or "
                f"set {config.key_env} on the server",
                field=field,
            )

    def endpoint(self, entry: CatalogEntry, run_keys: Mapping[str, str] | None) -> Endpoint:
        """The base URL and key to call the entry's provider with."""
        config = self.config(entry)
        env_url = self._environ.get(config.base_url_env) if config.base_url_env else None
        key = (run_keys or {}).get(entry.provider) or self.server_key(entry.provider)
        if key is None and not config.key_required:
            key = "none"  # local servers ignore it, but the SDKs insist on one
        return Endpoint(
            base_url=entry.base_url or env_url or config.base_url,
            api_key=key,
            stream=config.stream,
        )

    async def provider(self, entry: CatalogEntry) -> Provider:
        """The adapter that speaks the entry's API (one per provider and API, shared by runs).

        The first one of an API imports its SDK, which takes a second or more: that happens in
        a thread, so the event loop keeps heartbeating the runs it holds meanwhile.
        """
        key = (entry.provider, entry.api)
        adapter = self._adapters.get(key)
        if adapter is None:
            made = await asyncio.to_thread(_adapter, entry, self.config(entry))
            adapter = self._adapters.setdefault(key, made)
        return adapter

    async def aclose(self) -> None:
        """Close the adapters' connections."""
        for adapter in self._adapters.values():
            close = getattr(adapter, "aclose", None)
            if close is not None:
                with contextlib.suppress(Exception):
                    await close()
        self._adapters.clear()


def _adapter(entry: CatalogEntry, config: ProviderConfig) -> Provider:
    """A new adapter for the entry's API; the SDKs load only when first needed."""
    if entry.api == "test":
        return ScriptedModel()
    if entry.api == "anthropic":
        from corral.providers.anthropic import AnthropicProvider

        return AnthropicProvider()
    if entry.api == "openai-responses":
        from corral.providers.openai_responses import OpenAIResponsesProvider

        return OpenAIResponsesProvider()
    from corral.providers.openai_chat import OpenAIChatProvider

    return OpenAIChatProvider(
        config.name, replay_reasoning=config.replay_reasoning, url_variable=config.base_url_env
    )
