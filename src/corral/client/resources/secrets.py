"""`client.secrets`: the workspace's vault, whose values go in and never come out.

Answers carry names, descriptions and versions only, and a value is sent in the request body
alone: no repr, log line or exception message holds it. `create` and `update` are never
retried, since a repeat would answer `conflict` or add a second version.
"""

from __future__ import annotations

from corral.client._http import NOT_GIVEN, clean_body
from corral.client._pagination import AsyncPage, SyncPage
from corral.client.resources._base import AsyncResource, SyncResource
from corral.client.resources._common import segment
from corral.types.secrets import Secret


def _path(name: str) -> str:
    return f"/v1/secrets/{segment(name)}"


class Secrets(SyncResource):
    """`/v1/secrets`."""

    def create(self, *, name: str, value: str, description: str = NOT_GIVEN) -> Secret:
        """Store a secret at version 1; a taken name raises `ConflictError` (use `update`)."""
        body = clean_body({"name": name, "value": value, "description": description})
        response = self._client.request("POST", "/v1/secrets", json=body, retry=False)
        return Secret.model_validate(response.json())

    def list(self) -> SyncPage[Secret]:
        """The workspace's secrets, by name, without values."""
        return self._page("/v1/secrets", Secret, {})

    def retrieve(self, name: str) -> Secret:
        """A secret's metadata and every version (newest first), without values."""
        return Secret.model_validate(self._client.request("GET", _path(name)).json())

    def update(self, name: str, *, value: str, description: str = NOT_GIVEN) -> Secret:
        """Give a secret a new value: a new version, the one used from now on.

        Without `description`, the secret keeps the one it has.
        """
        body = clean_body({"value": value, "description": description})
        response = self._client.request("PUT", _path(name), json=body, retry=False)
        return Secret.model_validate(response.json())

    def delete(self, name: str) -> None:
        """Delete a secret and all its versions."""
        self._client.request("DELETE", _path(name))


class AsyncSecrets(AsyncResource):
    """`/v1/secrets`."""

    async def create(self, *, name: str, value: str, description: str = NOT_GIVEN) -> Secret:
        """Store a secret at version 1; a taken name raises `ConflictError` (use `update`)."""
        body = clean_body({"name": name, "value": value, "description": description})
        response = await self._client.request("POST", "/v1/secrets", json=body, retry=False)
        return Secret.model_validate(response.json())

    async def list(self) -> AsyncPage[Secret]:
        """The workspace's secrets, by name, without values."""
        return await self._page("/v1/secrets", Secret, {})

    async def retrieve(self, name: str) -> Secret:
        """A secret's metadata and every version (newest first), without values."""
        return Secret.model_validate((await self._client.request("GET", _path(name))).json())

    async def update(self, name: str, *, value: str, description: str = NOT_GIVEN) -> Secret:
        """Give a secret a new value: a new version, the one used from now on.

        Without `description`, the secret keeps the one it has.
        """
        body = clean_body({"value": value, "description": description})
        response = await self._client.request("PUT", _path(name), json=body, retry=False)
        return Secret.model_validate(response.json())

    async def delete(self, name: str) -> None:
        """Delete a secret and all its versions."""
        await self._client.request("DELETE", _path(name))
