"""`client.models`: the LLM models the server can run."""

from __future__ import annotations

from corral.client.resources._base import AsyncResource, SyncResource
from corral.types.models import ModelList


class Models(SyncResource):
    """`/v1/models`."""

    def list(self) -> ModelList:
        """Every model the workspace can run, with prices, and the default."""
        return ModelList.model_validate(self._client.request("GET", "/v1/models").json())


class AsyncModels(AsyncResource):
    """`/v1/models`."""

    async def list(self) -> ModelList:
        """Every model the workspace can run, with prices, and the default."""
        response = await self._client.request("GET", "/v1/models")
        return ModelList.model_validate(response.json())
