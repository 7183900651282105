"""`/v1/webhooks`: endpoints Corral tells of the workspace's events, and their deliveries."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from corral.api.deps import Guarded
from corral.api.openapi import BODY_ERRORS, KEYED_ERRORS, errors
from corral.api.responses import JSONBody, respond
from corral.api.routes.keys import actor
from corral.errors import Conflict, NotFound
from corral.services import webhooks as webhook_service
from corral.types.common import Page
from corral.types.pages import DeliveryPage, WebhookPage
from corral.types.webhooks import (
    Delivery,
    Webhook,
    WebhookCreated,
    WebhookCreateParams,
    WebhookSecret,
    WebhookUpdateParams,
)

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"], responses=errors(*KEYED_ERRORS))


@router.post("", status_code=201, response_model=WebhookCreated, responses=errors(*BODY_ERRORS))
async def create_webhook(params: WebhookCreateParams, call: Guarded, request: Request) -> JSONBody:
    """Register an endpoint; the answer holds its signing secret."""
    created = await webhook_service.create(call.ctx, actor(request, call), call.principal, params)
    return respond(created, 201)


@router.get("", response_model=WebhookPage)
async def list_webhooks(call: Guarded) -> JSONBody:
    """The workspace's endpoints."""
    return respond(Page(data=await webhook_service.list_webhooks(call.ctx, call.principal)))


@router.get("/{webhook_id}", response_model=Webhook, responses=errors(NotFound))
async def get_webhook(webhook_id: str, call: Guarded) -> JSONBody:
    """One endpoint."""
    return respond(await webhook_service.get(call.ctx, call.principal, webhook_id))


@router.get("/{webhook_id}/secret", response_model=WebhookSecret, responses=errors(NotFound))
async def get_webhook_secret(webhook_id: str, call: Guarded) -> JSONBody:
    """The endpoint's signing secret."""
    return respond(await webhook_service.secret(call.ctx, call.principal, webhook_id))


@router.patch("/{webhook_id}", response_model=Webhook, responses=errors(*BODY_ERRORS, NotFound))
async def update_webhook(
    webhook_id: str, params: WebhookUpdateParams, call: Guarded, request: Request
) -> JSONBody:
    """Change an endpoint, or turn it off and on (`enabled`)."""
    updated = await webhook_service.update(
        call.ctx, actor(request, call), call.principal, webhook_id, params
    )
    return respond(updated)


@router.delete("/{webhook_id}", status_code=204, responses=errors(NotFound))
async def delete_webhook(webhook_id: str, call: Guarded, request: Request) -> Response:
    """Delete an endpoint and its deliveries."""
    await webhook_service.delete(call.ctx, actor(request, call), call.principal, webhook_id)
    return Response(status_code=204)


@router.get("/{webhook_id}/deliveries", response_model=DeliveryPage, responses=errors(NotFound))
async def list_deliveries(
    webhook_id: str, call: Guarded, limit: Annotated[int, Query(ge=1, le=100)] = 50
) -> JSONBody:
    """The endpoint's deliveries, newest first, with their attempts' outcome."""
    found = await webhook_service.deliveries(call.ctx, call.principal, webhook_id, limit=limit)
    return respond(Page(data=found))


@router.post(
    "/{webhook_id}/deliveries/{message_id}/resend",
    response_model=Delivery,
    responses=errors(NotFound, Conflict),
)
async def resend_delivery(webhook_id: str, message_id: str, call: Guarded) -> JSONBody:
    """Send a delivery again now, under the same `webhook-id`."""
    return respond(await webhook_service.resend(call.ctx, call.principal, webhook_id, message_id))
