"""Wire shapes shared by several resources: metadata, usage, pages."""

from __future__ import annotations

import json
from typing import Annotated, Generic, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

T = TypeVar("T")

METADATA_MAX_ENTRIES = 16
METADATA_MAX_BYTES = 4096
METADATA_KEY_PATTERN = r"^[A-Za-z0-9._-]{1,64}$"
METADATA_VALUE_MAX_CHARS = 256
INT32_MAX = 2_147_483_647
"""Largest agent version, event seq or session cursor: storage keeps them as 32-bit integers."""


def _check_metadata_size(value: dict[str, str]) -> dict[str, str]:
    if len(value) > METADATA_MAX_ENTRIES:
        raise ValueError(f"at most {METADATA_MAX_ENTRIES} entries are allowed, got {len(value)}")
    size = len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode())
    if size > METADATA_MAX_BYTES:
        raise ValueError(f"at most {METADATA_MAX_BYTES} bytes of JSON are allowed, got {size}")
    return value


MetadataKey = Annotated[str, StringConstraints(pattern=METADATA_KEY_PATTERN)]
MetadataValue = Annotated[str, StringConstraints(max_length=METADATA_VALUE_MAX_CHARS)]
Metadata = Annotated[dict[MetadataKey, MetadataValue], AfterValidator(_check_metadata_size)]

ProviderName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_.-]{0,39}$")]
ProviderKey = Annotated[str, StringConstraints(min_length=1, max_length=4096)]
ProviderKeys = Annotated[dict[ProviderName, ProviderKey], Field(max_length=16)]
"""Provider keys brought with a run, by provider (`{"anthropic": "sk-ant-…"}`, or a reference to
the workspace's vault, `{"anthropic": "${secret:NAME}"}`)."""
"""Flat string → string tags: at most 16 entries, keys `[A-Za-z0-9._-]{1,64}`, values at most
256 characters, 4 KB of JSON in all."""


class WireModel(BaseModel):
    """Base of every response object: field docstrings become OpenAPI descriptions."""

    model_config = ConfigDict(use_attribute_docstrings=True, protected_namespaces=())


class ParamsModel(BaseModel):
    """Base of every request body: unknown fields are rejected and named."""

    model_config = ConfigDict(
        extra="forbid", use_attribute_docstrings=True, protected_namespaces=()
    )


class Usage(WireModel):
    """Tokens used and what they cost."""

    input_tokens: int = 0
    """Prompt tokens summed over every model call of the run."""
    output_tokens: int = 0
    """Generated tokens summed over every model call of the run."""
    cost_usd: float = 0.0
    """Cost computed from the model catalog's prices (0 for models without prices)."""


class Page(WireModel, Generic[T]):
    """One page of a list, newest first."""

    data: list[T]
    """The items of this page."""
    next_cursor: str | None = None
    """Pass as `cursor` to get the next page; null on the last page."""


Limit = Annotated[int, Field(ge=1, le=1000)]
VersionNumber = Annotated[int, Field(ge=1, le=INT32_MAX)]
"""An agent version: 1, 2, 3…"""
