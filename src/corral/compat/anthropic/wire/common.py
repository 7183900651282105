"""Shapes every part of the API shares: bases, metadata, pages, money and the error body."""

from __future__ import annotations

from typing import Annotated, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

T = TypeVar("T")


class Params(BaseModel):
    """Base of request bodies: unknown fields are refused and named, as the API does."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)


class Wire(BaseModel):
    """Base of answers."""

    model_config = ConfigDict(use_attribute_docstrings=True)


MetadataKey = Annotated[str, StringConstraints(min_length=1, max_length=64)]
MetadataValue = Annotated[str, StringConstraints(max_length=512)]
Metadata = Annotated[dict[MetadataKey, MetadataValue], Field(max_length=16)]
"""The API's limits: 16 pairs, keys up to 64 characters, values up to 512 (Corral's own limits
still apply when the object is stored; see `docs/anthropic.md`)."""

MetadataPatch = Annotated[dict[MetadataKey, MetadataValue | None], Field(max_length=16)]
"""An update's metadata: a string sets a key, null deletes it."""


class CursorPage(Wire, Generic[T]):
    """One page of a list; `next_page` goes back as `page` for the next one."""

    data: list[T]
    next_page: str | None = None


class MonetaryAmount(Params):
    """An amount of US dollars, as a decimal string."""

    amount: Annotated[str, Field(pattern=r"^\d{1,9}(\.\d{1,6})?$")]
    currency: Literal["USD"] = "USD"


class BudgetLimit(Params):
    """A hard ceiling on what a session may spend (Corral's session spend cap)."""

    type: Literal["limit"]
    max_list_cost: MonetaryAmount


class AnthropicErrorDetail(Wire):
    """What went wrong: `type` is one of the API's error types.

    Corral's own details of the error (`required_scope`, `candidates`…) come along.
    """

    model_config = ConfigDict(extra="allow", use_attribute_docstrings=True)

    type: str
    message: str
    code: str | None = None
    """Corral's machine-readable code (see the error codes); the SDK ignores it."""
    field: str | None = None
    """The offending field, as a JSON pointer, when one is to blame."""


class AnthropicErrorBody(Wire):
    """Every error answer: the SDK raises its typed exception from the status and this body."""

    type: Literal["error"] = "error"
    error: AnthropicErrorDetail
    request_id: str | None = None
