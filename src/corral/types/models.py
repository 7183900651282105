"""LLM models a workspace can run (named `models` like the providers' own APIs)."""

from __future__ import annotations

from corral.types.common import WireModel


class Pricing(WireModel):
    """Prices in US dollars per million tokens."""

    input_per_mtok: float
    output_per_mtok: float
    cache_read_per_mtok: float | None = None
    """Prompt-cache hits (null: the input price)."""
    cache_write_per_mtok: float | None = None
    """Prompt-cache writes (null: the input price)."""


class ModelInfo(WireModel):
    """One runnable model."""

    id: str
    """What to pass as an agent's `model`: `provider/model`, or the bare model id when only
    one provider serves it."""
    provider: str
    model: str
    """The provider's own id of the model."""
    api: str
    """The wire API Corral speaks to it: `anthropic`, `openai-chat`, `openai-responses`."""
    context_window: int
    pricing: Pricing | None
    """Null when the model costs nothing (the test model, local servers) or has no known price."""
    requires_api_key: bool
    """True when the server holds no key for the provider: runs must bring one in `api_keys`."""


class ModelList(WireModel):
    """Body of `GET /v1/models`."""

    models: list[ModelInfo]
    default: str
