"""Inbound webhooks: a delivery to a trigger's URL is checked, recorded and answered at once.

The request does only what must be answered now: find the trigger by its token, count it
against the trigger's rate, check the signature with the workspace's secret, and record the
payload as a fire. The routine's filter, dedupe key and template run later, in a worker (see
`services.firing`), so no part of a routine's configuration runs in the request.
"""

from __future__ import annotations

import hashlib
import urllib.parse
from collections.abc import Mapping
from typing import Any

import orjson

from corral.context import ServiceContext
from corral.domain.hook_signatures import BadSignature, verify
from corral.domain.storable import unstorable
from corral.errors import InvalidRequest, InvalidSignature, NotFound, RoutinePaused
from corral.ids import new_id
from corral.pubsub.base import ROUTINES_CHANNEL
from corral.services import secrets as secret_service
from corral.services.limits import Limiter
from corral.services.triggers import TOKEN_PREFIX
from corral.storage import routine_fires as fire_store
from corral.storage import routines as routine_store
from corral.types.routines import (
    FireStatus,
    HookAccepted,
    RoutineStatus,
    TriggerType,
    VerifyScheme,
)

__all__ = ["accept"]

KEPT_HEADERS_MAX = 64
_DROPPED_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization", "x-api-key"})


async def accept(
    ctx: ServiceContext, limiter: Limiter, token: str, body: bytes, headers: Mapping[str, str]
) -> HookAccepted:
    """Record a delivery to the trigger with this token as a fire; its id is the answer."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 100:
        raise NotFound("no webhook trigger has this URL")
    found = await ctx.database.read(
        routine_store.by_token, hashlib.sha256(token.encode()).hexdigest()
    )
    if found is None:
        raise NotFound("no webhook trigger has this URL")
    trigger, routine_status = found
    await limiter.hook(trigger.id)
    if routine_status != RoutineStatus.ACTIVE:
        raise RoutinePaused("the routine of this webhook is paused")
    verification = trigger.config.get("verify")
    if verification is not None:
        name = verification["secret"]
        secret = (await secret_service.reveal(ctx, trigger.workspace_id, [name])).get(name)
        if secret is None:
            raise InvalidSignature(f"the secret {name!r} that verifies this webhook is gone")
        try:
            verify(VerifyScheme(verification["scheme"]), secret, body, headers)
        except BadSignature as bad:
            raise InvalidSignature(f"the signature does not verify: {bad}") from None
    now = ctx.clock()
    fire_id = new_id("fire")
    await ctx.database.write(
        fire_store.insert_fire,
        {
            "id": fire_id,
            "routine_id": trigger.routine_id,
            "workspace_id": trigger.workspace_id,
            "trigger_type": TriggerType.WEBHOOK,
            "trigger_id": trigger.id,
            "status": FireStatus.PENDING,
            "payload": _payload(body, headers.get("content-type", "")),
            "headers": _kept_headers(headers),
            "created_at": now,
        },
    )
    await ctx.broker.publish(ROUTINES_CHANNEL)
    return HookAccepted(fire_id=fire_id)


def _payload(body: bytes, content_type: str) -> Any:
    """The delivery's JSON: the body, or the `payload` field of a form (as GitHub can send)."""
    if content_type.startswith("application/x-www-form-urlencoded"):
        fields = urllib.parse.parse_qs(body.decode(errors="replace"))
        if "payload" not in fields:
            raise InvalidRequest("a form delivery needs a `payload` field", field="/payload")
        body = fields["payload"][0].encode()
    if not body.strip():
        return {}
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise InvalidRequest("the body is not JSON", field="/") from None
    problem = unstorable(payload, "")
    if problem is not None:
        raise InvalidRequest(f"the payload at {problem[0]} {problem[1]}", field=problem[0])
    return payload


def _kept_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The headers a template may read: all but credentials, lower-cased."""
    kept: dict[str, str] = {}
    for name, value in headers.items():
        lowered = name.lower()
        if lowered not in _DROPPED_HEADERS and len(kept) < KEPT_HEADERS_MAX:
            kept[lowered] = value[:2000]
    return kept
