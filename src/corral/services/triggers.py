"""A routine's triggers: checked and stored, and shown with their next times or their URL.

A webhook trigger's URL holds a random token: found by its hash, shown from a sealed copy.
"""

from __future__ import annotations

import hashlib
import secrets as random
from datetime import datetime
from typing import Any

from corral.context import ServiceContext
from corral.domain.payloads import InvalidQuery, compile_query
from corral.domain.schedules import InvalidSchedule, Schedule
from corral.errors import InvalidRequest, SecretNotFound
from corral.ids import new_id
from corral.services import secrets as secret_service
from corral.services.context import Principal
from corral.storage.routines import TriggerRecord
from corral.types.routines import (
    ScheduleTriggerParams,
    TriggerParams,
    TriggerType,
    WebhookTriggerParams,
)

__all__ = ["HOOK_PATH", "TOKEN_PREFIX", "rows", "to_wire"]

HOOK_PATH = "/v1/hooks/"
TOKEN_PREFIX = "hook_"


def to_wire(
    ctx: ServiceContext, trigger: TriggerRecord, now: datetime, active: bool
) -> dict[str, Any]:
    """A trigger as the API shows it: a schedule with its next times, a webhook with its URL."""
    config = trigger.config
    if trigger.type == TriggerType.SCHEDULE:
        # Counted on from the stored next time, which a scheduler may not have fired yet, so
        # the list always starts with `next_fire_at`.
        start = trigger.next_fire_at if active else None
        try:
            schedule = Schedule.parse(config["cron"], config["timezone"])
            upcoming = [start, *schedule.upcoming(start, 4)] if start else schedule.upcoming(now)
        except InvalidSchedule:
            upcoming = []
        return {
            "id": trigger.id,
            "type": trigger.type,
            "cron": config["cron"],
            "timezone": config["timezone"],
            "next_fire_at": trigger.next_fire_at if active else None,
            "upcoming": upcoming,
        }
    token = ctx.secrets.open(trigger.token)["value"] if trigger.token else ""
    return {
        "id": trigger.id,
        "type": trigger.type,
        "path": HOOK_PATH + token,
        "verify": config.get("verify"),
        "filter": config.get("filter"),
        "dedupe": config.get("dedupe"),
    }


async def rows(
    ctx: ServiceContext,
    principal: Principal,
    routine_id: str,
    given: list[TriggerParams],
    existing: tuple[TriggerRecord, ...] = (),
) -> list[dict[str, Any]]:
    """The stored form of the given triggers, checked; a kept trigger keeps its id and URL."""
    now = ctx.clock()
    known = {trigger.id: trigger for trigger in existing}
    rows = []
    for index, params in enumerate(given):
        field = f"/triggers/{index}"
        kept = known.get(params.id) if params.id else None
        if params.id and (kept is None or kept.type != params.type):
            raise InvalidRequest(
                f"this routine has no {params.type} trigger {params.id!r}", field=f"{field}/id"
            )
        # Every row has every column, so that the rows can be inserted in one statement.
        row: dict[str, Any] = {
            "id": params.id or new_id("trg"),
            "routine_id": routine_id,
            "workspace_id": principal.workspace_id,
            "type": params.type,
            "next_fire_at": None,
            "token": None,
            "token_hash": None,
        }
        if isinstance(params, ScheduleTriggerParams):
            try:
                schedule = Schedule.parse(params.cron, params.timezone)
            except InvalidSchedule as invalid:
                raise InvalidRequest(str(invalid), field=f"{field}/cron") from None
            row["config"] = {"cron": schedule.cron, "timezone": schedule.timezone}
            row["next_fire_at"] = schedule.next_after(now)
        else:
            row["config"] = await _webhook_config(ctx, principal, params, field)
            if kept is None:
                token = TOKEN_PREFIX + random.token_urlsafe(32)
                row["token"] = ctx.secrets.seal({"value": token})
                row["token_hash"] = hashlib.sha256(token.encode()).hexdigest()
        rows.append(row)
    return rows


async def _webhook_config(
    ctx: ServiceContext, principal: Principal, params: WebhookTriggerParams, field: str
) -> dict[str, Any]:
    for query, where in (
        (params.filter, "filter"),
        (params.dedupe.key if params.dedupe else None, "dedupe/key"),
    ):
        if query is not None:
            try:
                compile_query(query)
            except InvalidQuery as invalid:
                raise InvalidRequest(
                    f"invalid JSONPath: {invalid}", field=f"{field}/{where}"
                ) from None
    if params.verify is not None and not await secret_service.has_secret(
        ctx, principal.workspace_id, params.verify.secret
    ):
        raise SecretNotFound(
            f"no secret {params.verify.secret!r} in this workspace", field=f"{field}/verify/secret"
        )
    return params.model_dump(mode="json", exclude={"type", "id"})
