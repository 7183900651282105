"""Outbound webhooks: the endpoints a workspace registers, and their deliveries.

An endpoint's URL is checked like any destination the server reaches for someone else: a
private or own address is refused unless the operator lists the host; the sender checks the
addresses again when it connects. Its signing secret (`whsec_…`) is kept sealed.
"""

from __future__ import annotations

import base64
import ipaddress
import secrets as random
from collections.abc import Sequence
from typing import Any

import httpx

from corral.context import ServiceContext
from corral.domain import webhook_formats
from corral.errors import Conflict, InvalidRequest, NotFound
from corral.ids import new_id
from corral.pubsub.base import WEBHOOKS_CHANNEL
from corral.sandbox import ssrf
from corral.sandbox.egress import EgressPolicy, EgressRefused
from corral.services import audit
from corral.services.audit import Actor
from corral.services.context import Principal
from corral.storage import webhooks as webhook_store
from corral.storage.database import Connection
from corral.types.webhooks import (
    Delivery,
    Webhook,
    WebhookCreated,
    WebhookCreateParams,
    WebhookSecret,
    WebhookUpdateParams,
)

__all__ = [
    "create",
    "delete",
    "deliveries",
    "get",
    "list_webhooks",
    "resend",
    "secret",
    "update",
]


def _wire(row: dict[str, Any]) -> Webhook:
    return Webhook(
        id=row["id"],
        url=row["url"],
        description=row["description"],
        event_types=row["event_types"],
        format=row["format"],
        enabled=row["disabled_at"] is None,
        disabled_reason=row["disabled_reason"],
        created_at=row["created_at"],
        disabled_at=row["disabled_at"],
    )


async def _check_url(ctx: ServiceContext, url: str) -> None:
    """Refuse a URL the sender could never reach; an address given as such is vetted now.

    A name is resolved when the sender connects, and vetted then (it may change meanwhile).
    """
    policy = EgressPolicy(private_hosts=tuple(ctx.settings.network_private_hosts))
    try:
        policy.check_url(url)
        parsed = httpx.URL(url)
        if _is_address(parsed.host):
            port = parsed.port or (443 if parsed.scheme == "https" else 80)
            await policy.resolve(parsed.host, port)
    except (EgressRefused, ssrf.BlockedAddress) as refused:
        raise InvalidRequest(f"this URL cannot receive webhooks: {refused}", field="/url") from None


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _check_format(name: str, event_types: Sequence[str]) -> None:
    """Refuse a format this process lacks, or an event type the format cannot carry."""
    try:
        found = webhook_formats.find(name)
    except webhook_formats.UnregisteredFormat:
        raise InvalidRequest(
            f"this server has no webhook format {name!r}", field="/format"
        ) from None
    index = webhook_formats.unsupported(found, event_types)
    if index is not None:
        raise InvalidRequest(
            f"a {name!r} endpoint cannot carry {event_types[index]!r}: its format has no such "
            f"event (it carries {', '.join(sorted(found.event_types))})",
            field=f"/event_types/{index}",
        )


def _new_secret() -> str:
    return "whsec_" + base64.b64encode(random.token_bytes(24)).decode()


async def create(
    ctx: ServiceContext, actor: Actor, principal: Principal, params: WebhookCreateParams
) -> WebhookCreated:
    """Register an endpoint; its signing secret is in the answer (and at `…/secret`)."""
    await _check_url(ctx, params.url)
    _check_format(params.format, params.event_types)
    webhook_id, signing = new_id("whk"), _new_secret()
    now = ctx.clock()

    def tx(conn: Connection) -> dict[str, Any] | None:
        row = {
            "id": webhook_id,
            "workspace_id": principal.workspace_id,
            "url": params.url,
            "description": params.description,
            "format": params.format,
            "secret": ctx.secrets.seal({"value": signing}),
            "created_at": now,
        }
        webhook_store.insert(conn, row, params.event_types)
        audit.record(
            conn,
            actor,
            "webhook.created",
            workspace_id=principal.workspace_id,
            target_id=webhook_id,
            now=now,
            details={
                "url": params.url,
                "event_types": list(params.event_types),
                "format": params.format,
            },
        )
        return webhook_store.get(conn, principal.workspace_id, webhook_id)

    row = await ctx.database.write(tx)
    assert row is not None
    return WebhookCreated(**_wire(row).model_dump(), secret=signing)


async def list_webhooks(ctx: ServiceContext, principal: Principal) -> list[Webhook]:
    """The workspace's endpoints."""
    rows = await ctx.database.read(webhook_store.listed, principal.workspace_id)
    return [_wire(row) for row in rows]


async def _found(ctx: ServiceContext, principal: Principal, webhook_id: str) -> dict[str, Any]:
    row = await ctx.database.read(webhook_store.get, principal.workspace_id, webhook_id)
    if row is None:
        raise NotFound(f"no webhook {webhook_id!r}")
    return row


async def get(ctx: ServiceContext, principal: Principal, webhook_id: str) -> Webhook:
    """One endpoint."""
    return _wire(await _found(ctx, principal, webhook_id))


async def secret(ctx: ServiceContext, principal: Principal, webhook_id: str) -> WebhookSecret:
    """The endpoint's signing secret."""
    row = await _found(ctx, principal, webhook_id)
    return WebhookSecret(secret=ctx.secrets.open(row["secret"])["value"])


async def update(
    ctx: ServiceContext,
    actor: Actor,
    principal: Principal,
    webhook_id: str,
    params: WebhookUpdateParams,
) -> Webhook:
    """Change an endpoint; enabling one Corral disabled sends its failed deliveries no more."""
    values: dict[str, Any] = {}
    if params.event_types is not None:
        endpoint = await _found(ctx, principal, webhook_id)
        _check_format(endpoint["format"], params.event_types)
    if params.url is not None:
        await _check_url(ctx, params.url)
        values["url"] = params.url
    if params.description is not None:
        values["description"] = params.description
    if params.enabled is not None:
        disabled_at = None if params.enabled else ctx.clock()
        values |= {"disabled_at": disabled_at, "disabled_reason": None}
    now = ctx.clock()

    def tx(conn: Connection) -> bool:
        changed = webhook_store.update(
            conn, principal.workspace_id, webhook_id, values, params.event_types
        )
        if changed:
            audit.record(
                conn,
                actor,
                "webhook.updated",
                workspace_id=principal.workspace_id,
                target_id=webhook_id,
                now=now,
                details=params.model_dump(mode="json", exclude_unset=True),
            )
        return changed

    if not await ctx.database.write(tx):
        raise NotFound(f"no webhook {webhook_id!r}")
    return await get(ctx, principal, webhook_id)


async def delete(ctx: ServiceContext, actor: Actor, principal: Principal, webhook_id: str) -> None:
    """Delete an endpoint and its deliveries."""
    now = ctx.clock()

    def tx(conn: Connection) -> bool:
        removed = webhook_store.remove(conn, principal.workspace_id, webhook_id)
        if removed:
            audit.record(
                conn,
                actor,
                "webhook.deleted",
                workspace_id=principal.workspace_id,
                target_id=webhook_id,
                now=now,
                details={},
            )
        return removed

    if not await ctx.database.write(tx):
        raise NotFound(f"no webhook {webhook_id!r}")


async def deliveries(
    ctx: ServiceContext, principal: Principal, webhook_id: str, *, limit: int
) -> list[Delivery]:
    """The endpoint's deliveries, newest first."""
    await _found(ctx, principal, webhook_id)
    rows = await ctx.database.read(
        webhook_store.deliveries, principal.workspace_id, webhook_id, limit=limit
    )
    return [Delivery.model_validate(row) for row in rows]


async def resend(
    ctx: ServiceContext, principal: Principal, webhook_id: str, message_id: str
) -> Delivery:
    """Send a delivery again now (same `webhook-id`, a fresh retry schedule)."""
    endpoint = await _found(ctx, principal, webhook_id)
    if endpoint["disabled_at"] is not None:
        raise Conflict(f"webhook {webhook_id!r} is disabled: enable it to send deliveries again")
    if not await ctx.database.write(
        webhook_store.resend, principal.workspace_id, webhook_id, message_id, ctx.clock()
    ):
        raise NotFound(f"webhook {webhook_id!r} has no delivery {message_id!r}")
    await ctx.broker.publish(WEBHOOKS_CHANNEL)
    [row] = await ctx.database.read(
        webhook_store.deliveries, principal.workspace_id, webhook_id, limit=1, message=message_id
    )
    return Delivery.model_validate(row)
