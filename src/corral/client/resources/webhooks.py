"""`client.webhooks`: endpoints Corral tells when runs end, and what it delivered to them.

The signing secret comes back from `create` and from `secret(id)`; keep it to verify deliveries
(Standard Webhooks). `create` is never retried: a repeat after a lost answer would register the
endpoint twice, and it would get every event twice. A resend is safe to repeat (the receiver
drops repeats by `webhook-id`), so it is retried like a read.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import Any

from corral.client._http import NOT_GIVEN, clean_body
from corral.client._pagination import AsyncPage, SyncPage
from corral.client.resources._base import AsyncResource, SyncResource
from corral.client.resources._common import segment
from corral.types.webhooks import (
    Delivery,
    Webhook,
    WebhookCreated,
    WebhookFormat,
    WebhookSecret,
)


def _path(webhook_id: str, *rest: str) -> str:
    return "/".join([f"/v1/webhooks/{segment(webhook_id)}", *map(segment, rest)])


def _create_body(
    url: str, event_types: Sequence[str], description: str, format: str
) -> dict[str, Any]:
    return clean_body(
        {
            "url": url,
            "event_types": list(event_types),
            "description": description,
            "format": format,
        }
    )


def _update_body(
    url: str, event_types: Sequence[str], description: str, enabled: bool
) -> dict[str, Any]:
    """Only the fields given: one left out keeps its value."""
    types = event_types if event_types is NOT_GIVEN else list(event_types)
    return clean_body(
        {"url": url, "event_types": types, "description": description, "enabled": enabled}
    )


def _deliveries(body: dict[str, Any]) -> builtins.list[Delivery]:
    return [Delivery.model_validate(item) for item in body["data"]]


class Webhooks(SyncResource):
    """`/v1/webhooks`."""

    def create(
        self,
        *,
        url: str,
        event_types: Sequence[str],
        description: str = NOT_GIVEN,
        format: WebhookFormat = NOT_GIVEN,
    ) -> WebhookCreated:
        """Register an endpoint for these event types; the answer holds its signing secret.

        `format="anthropic"` writes its messages as the Claude Managed Agents API's session
        events, for `anthropic`'s `client.beta.webhooks.unwrap()`; the default is Corral's own.
        """
        body = _create_body(url, event_types, description, format)
        response = self._client.request("POST", "/v1/webhooks", json=body, retry=False)
        return WebhookCreated.model_validate(response.json())

    def list(self) -> SyncPage[Webhook]:
        """The workspace's endpoints, without their secrets."""
        return self._page("/v1/webhooks", Webhook, {})

    def retrieve(self, webhook_id: str) -> Webhook:
        """One endpoint: `enabled` and `disabled_reason` say whether Corral stopped it."""
        return Webhook.model_validate(self._client.request("GET", _path(webhook_id)).json())

    def update(
        self,
        webhook_id: str,
        *,
        url: str = NOT_GIVEN,
        event_types: Sequence[str] = NOT_GIVEN,
        description: str = NOT_GIVEN,
        enabled: bool = NOT_GIVEN,
    ) -> Webhook:
        """Change what is given; `enabled=True` turns an endpoint Corral disabled back on."""
        body = _update_body(url, event_types, description, enabled)
        response = self._client.request("PATCH", _path(webhook_id), json=body)
        return Webhook.model_validate(response.json())

    def delete(self, webhook_id: str) -> None:
        """Delete an endpoint and its deliveries."""
        self._client.request("DELETE", _path(webhook_id))

    def secret(self, webhook_id: str) -> WebhookSecret:
        """The endpoint's signing secret (`whsec_…`); needs `webhooks:write`."""
        response = self._client.request("GET", _path(webhook_id, "secret"))
        return WebhookSecret.model_validate(response.json())

    def deliveries(self, webhook_id: str, *, limit: int | None = None) -> builtins.list[Delivery]:
        """The endpoint's latest deliveries (at most `limit`, server default 50), newest first."""
        response = self._client.request(
            "GET", _path(webhook_id, "deliveries"), params={"limit": limit}
        )
        return _deliveries(response.json())

    def resend(self, webhook_id: str, message_id: str) -> Delivery:
        """Send a delivery again now, under the same `message_id`, with a fresh retry schedule."""
        path = _path(webhook_id, "deliveries", message_id, "resend")
        return Delivery.model_validate(self._client.request("POST", path).json())


class AsyncWebhooks(AsyncResource):
    """`/v1/webhooks`."""

    async def create(
        self,
        *,
        url: str,
        event_types: Sequence[str],
        description: str = NOT_GIVEN,
        format: WebhookFormat = NOT_GIVEN,
    ) -> WebhookCreated:
        """Register an endpoint for these event types; the answer holds its signing secret.

        `format="anthropic"` writes its messages as the Claude Managed Agents API's session
        events, for `anthropic`'s `client.beta.webhooks.unwrap()`; the default is Corral's own.
        """
        body = _create_body(url, event_types, description, format)
        response = await self._client.request("POST", "/v1/webhooks", json=body, retry=False)
        return WebhookCreated.model_validate(response.json())

    async def list(self) -> AsyncPage[Webhook]:
        """The workspace's endpoints, without their secrets."""
        return await self._page("/v1/webhooks", Webhook, {})

    async def retrieve(self, webhook_id: str) -> Webhook:
        """One endpoint: `enabled` and `disabled_reason` say whether Corral stopped it."""
        response = await self._client.request("GET", _path(webhook_id))
        return Webhook.model_validate(response.json())

    async def update(
        self,
        webhook_id: str,
        *,
        url: str = NOT_GIVEN,
        event_types: Sequence[str] = NOT_GIVEN,
        description: str = NOT_GIVEN,
        enabled: bool = NOT_GIVEN,
    ) -> Webhook:
        """Change what is given; `enabled=True` turns an endpoint Corral disabled back on."""
        body = _update_body(url, event_types, description, enabled)
        response = await self._client.request("PATCH", _path(webhook_id), json=body)
        return Webhook.model_validate(response.json())

    async def delete(self, webhook_id: str) -> None:
        """Delete an endpoint and its deliveries."""
        await self._client.request("DELETE", _path(webhook_id))

    async def secret(self, webhook_id: str) -> WebhookSecret:
        """The endpoint's signing secret (`whsec_…`); needs `webhooks:write`."""
        response = await self._client.request("GET", _path(webhook_id, "secret"))
        return WebhookSecret.model_validate(response.json())

    async def deliveries(
        self, webhook_id: str, *, limit: int | None = None
    ) -> builtins.list[Delivery]:
        """The endpoint's latest deliveries (at most `limit`, server default 50), newest first."""
        response = await self._client.request(
            "GET", _path(webhook_id, "deliveries"), params={"limit": limit}
        )
        return _deliveries(response.json())

    async def resend(self, webhook_id: str, message_id: str) -> Delivery:
        """Send a delivery again now, under the same `message_id`, with a fresh retry schedule."""
        path = _path(webhook_id, "deliveries", message_id, "resend")
        return Delivery.model_validate((await self._client.request("POST", path)).json())
