"""The model catalog: which model ids exist, who serves them, and the adapter for each."""

from __future__ import annotations

from dataclasses import dataclass

from corral.errors import InvalidModel
from corral.providers.base import Provider
from corral.providers.scripted import ScriptedModel


@dataclass(frozen=True, kw_only=True)
class CatalogEntry:
    """One model of the catalog."""

    id: str
    provider: str
    context_window: int
    input_per_mtok: float | None = None
    output_per_mtok: float | None = None

    def cost_usd(self, input_tokens: int, output_tokens: int) -> float:
        """What a call with these token counts costs."""
        if self.input_per_mtok is None or self.output_per_mtok is None:
            return 0.0
        return (input_tokens * self.input_per_mtok + output_tokens * self.output_per_mtok) / 1e6


TEST_MODEL = CatalogEntry(id="test", provider="corral", context_window=1_000_000)


class ModelRegistry:
    """Resolves model ids to catalog entries and provider adapters."""

    def __init__(self, default: str = "test") -> None:
        self._entries = {TEST_MODEL.id: TEST_MODEL}
        self._providers: dict[str, Provider] = {"corral": ScriptedModel()}
        self.default = default if default in self._entries else TEST_MODEL.id

    def entries(self) -> list[CatalogEntry]:
        """Every model the server can run."""
        return list(self._entries.values())

    def resolve(self, model_id: str, *, field: str = "/model") -> CatalogEntry:
        """The entry for `model_id`, or `InvalidModel` listing what exists."""
        name = model_id.split("/", 1)[1] if model_id.startswith("corral/") else model_id
        entry = self._entries.get(name)
        if entry is None:
            raise InvalidModel(
                f"unknown model {model_id!r}",
                field=field,
                candidates=sorted(self._entries),
            )
        return entry

    def provider(self, entry: CatalogEntry) -> Provider:
        """The adapter that serves the entry."""
        return self._providers[entry.provider]
