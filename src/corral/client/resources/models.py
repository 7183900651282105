"""`client.models`: the LLM models the server can run."""

from __future__ import annotations

from typing import TYPE_CHECKING

from corral.types.models import ModelList

if TYPE_CHECKING:
    from corral.client._client import AsyncCorral, Corral


class Models:
    """`/v1/models`."""

    def __init__(self, client: Corral) -> None:
        self._client = client

    def list(self) -> ModelList:
        """Every model the workspace can run, with prices, and the default."""
        return ModelList.model_validate(self._client.request("GET", "/v1/models").json())


class AsyncModels:
    """`/v1/models`."""

    def __init__(self, client: AsyncCorral) -> None:
        self._client = client

    async def list(self) -> ModelList:
        """Every model the workspace can run, with prices, and the default."""
        response = await self._client.request("GET", "/v1/models")
        return ModelList.model_validate(response.json())
