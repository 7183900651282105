"""LLM models a workspace can run (named `models` like the providers' own APIs)."""

from __future__ import annotations

from corral.types.common import WireModel


class Pricing(WireModel):
    """Prices in US dollars per million tokens."""

    input_per_mtok: float
    output_per_mtok: float


class ModelInfo(WireModel):
    """One runnable model."""

    id: str
    provider: str
    context_window: int
    pricing: Pricing | None
    """Null when the model costs nothing (the test model) or has no known price."""


class ModelList(WireModel):
    """Body of `GET /v1/models`."""

    models: list[ModelInfo]
    default: str
