"""`client.keys`: the workspace's API keys.

A key's `secret` comes back only from `create` and `rotate`; every other answer leaves it out,
so keep it when you get it. Neither is retried: a repeat after a lost answer would make a second
key, or rotate twice, whose secret nobody has.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from corral.client._http import NOT_GIVEN, clean_body
from corral.client._pagination import AsyncPage, SyncPage
from corral.client.resources._base import AsyncResource, SyncResource
from corral.client.resources._common import segment
from corral.types.keys import ApiKey, ApiKeyWithSecret


def _create_body(
    name: str,
    scopes: Sequence[str],
    expires_at: datetime | None,
    agents: Sequence[str] | None,
    rate_limit_per_minute: int | None,
) -> dict[str, Any]:
    """The body of `POST /v1/keys`; an absent expiry, agent list or rate means none."""
    body: dict[str, Any] = {"name": name, "scopes": list(scopes)}
    if rate_limit_per_minute is not None:
        body["rate_limit_per_minute"] = rate_limit_per_minute
    if expires_at is not None:
        body["expires_at"] = expires_at.isoformat()
    if agents is not None:
        body["agents"] = list(agents)
    return body


class Keys(SyncResource):
    """`/v1/keys`."""

    def create(
        self,
        *,
        name: str,
        scopes: Sequence[str],
        expires_at: datetime | None = None,
        agents: Sequence[str] | None = None,
        rate_limit_per_minute: int | None = None,
    ) -> ApiKeyWithSecret:
        """Create a key with at most the scopes, lifetime and agents of the key in use.

        `expires_at` must carry a time zone; `agents` (names or ids) limits what the key may run;
        `rate_limit_per_minute` gives it a request rate of its own.
        """
        body = _create_body(name, scopes, expires_at, agents, rate_limit_per_minute)
        response = self._client.request("POST", "/v1/keys", json=body, retry=False)
        return ApiKeyWithSecret.model_validate(response.json())

    def list(self) -> SyncPage[ApiKey]:
        """Every key of the workspace, revoked ones included, oldest first."""
        return self._page("/v1/keys", ApiKey, {})

    def retrieve(self, key_id: str) -> ApiKey:
        """One key, without its secret."""
        response = self._client.request("GET", f"/v1/keys/{segment(key_id)}")
        return ApiKey.model_validate(response.json())

    def revoke(self, key_id: str) -> ApiKey:
        """Revoke a key: it stops working at once, on every server (revoking twice is a no-op)."""
        response = self._client.request("DELETE", f"/v1/keys/{segment(key_id)}")
        return ApiKey.model_validate(response.json())

    def rotate(self, key_id: str, *, grace_s: float = NOT_GIVEN) -> ApiKeyWithSecret:
        """Give a key a new secret; the old one keeps working `grace_s` seconds (default 0)."""
        response = self._client.request(
            "POST",
            f"/v1/keys/{segment(key_id)}/rotate",
            json=clean_body({"grace_s": grace_s}),
            retry=False,
        )
        return ApiKeyWithSecret.model_validate(response.json())


class AsyncKeys(AsyncResource):
    """`/v1/keys`."""

    async def create(
        self,
        *,
        name: str,
        scopes: Sequence[str],
        expires_at: datetime | None = None,
        agents: Sequence[str] | None = None,
        rate_limit_per_minute: int | None = None,
    ) -> ApiKeyWithSecret:
        """Create a key with at most the scopes, lifetime and agents of the key in use.

        `expires_at` must carry a time zone; `agents` (names or ids) limits what the key may run;
        `rate_limit_per_minute` gives it a request rate of its own.
        """
        body = _create_body(name, scopes, expires_at, agents, rate_limit_per_minute)
        response = await self._client.request("POST", "/v1/keys", json=body, retry=False)
        return ApiKeyWithSecret.model_validate(response.json())

    async def list(self) -> AsyncPage[ApiKey]:
        """Every key of the workspace, revoked ones included, oldest first."""
        return await self._page("/v1/keys", ApiKey, {})

    async def retrieve(self, key_id: str) -> ApiKey:
        """One key, without its secret."""
        response = await self._client.request("GET", f"/v1/keys/{segment(key_id)}")
        return ApiKey.model_validate(response.json())

    async def revoke(self, key_id: str) -> ApiKey:
        """Revoke a key: it stops working at once, on every server (revoking twice is a no-op)."""
        response = await self._client.request("DELETE", f"/v1/keys/{segment(key_id)}")
        return ApiKey.model_validate(response.json())

    async def rotate(self, key_id: str, *, grace_s: float = NOT_GIVEN) -> ApiKeyWithSecret:
        """Give a key a new secret; the old one keeps working `grace_s` seconds (default 0)."""
        response = await self._client.request(
            "POST",
            f"/v1/keys/{segment(key_id)}/rotate",
            json=clean_body({"grace_s": grace_s}),
            retry=False,
        )
        return ApiKeyWithSecret.model_validate(response.json())
