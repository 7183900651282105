"""Deployments as Corral routines, and deployment runs as their fires: pure mappings, no I/O.

A deployment's `user.message` events become the routine's input template, written so that it
renders to their text exactly (`domain.templates.literal`): blocks and events are joined by a
blank line, each join marked by a Jinja comment (which renders to nothing), so that the events
can be shown back as they were given.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from corral.compat.anthropic.wire.deployments import (
    CronScheduleParams,
    CronScheduleView,
    DeploymentAgent,
    DeploymentCreate,
    DeploymentObject,
    DeploymentRunError,
    DeploymentRunObject,
    DeploymentUpdate,
    ManualTriggerContext,
    ScheduleTriggerContext,
)
from corral.compat.anthropic.wire.events import TextContent, UserMessage
from corral.domain.schedules import InvalidSchedule, Schedule
from corral.domain.templates import literal, literal_text
from corral.errors import InvalidRequest
from corral.types.errors import ErrorCode
from corral.types.routines import (
    TEMPLATE_MAX_CHARS,
    Fire,
    FireStatus,
    Routine,
    RoutineStatus,
    ScheduleTrigger,
    TriggerType,
)

ARCHIVED = "archived"
"""The pause reason of an archived deployment's routine."""
NAME_KEY = "anthropic.name"
"""The routine metadata key that keeps a deployment name Corral's names cannot hold."""
BLOCK_JOIN = "\n\n{# text #}"
"""Between two text blocks of a message: renders as a blank line."""
EVENT_JOIN = "\n\n{# user.message #}"
"""Between two messages: renders as a blank line."""

_ROUTINE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_PAUSE_ERRORS: dict[str, str] = {
    ErrorCode.AGENT_ARCHIVED: "agent_archived_error",
    ErrorCode.ENVIRONMENT_ARCHIVED: "environment_archived_error",
}
_RUN_ERRORS: dict[str, str] = {
    **_PAUSE_ERRORS,
    ErrorCode.RATE_LIMITED: "session_rate_limited_error",
    ErrorCode.INVALID_REQUEST: "session_creation_rejected_error",
    ErrorCode.INVALID_MODEL: "session_creation_rejected_error",
    ErrorCode.MODEL_NOT_PRICED: "session_creation_rejected_error",
    ErrorCode.MISSING_PROVIDER_KEY: "session_creation_rejected_error",
    ErrorCode.SECRET_NOT_FOUND: "session_creation_rejected_error",
    ErrorCode.TEMPLATE_ERROR: "session_creation_rejected_error",
}
RUN_STATUSES = (FireStatus.STARTED, FireStatus.FAILED)
"""The fires that are deployment runs: those that opened their session, or failed to."""
RUN_TRIGGERS = (TriggerType.SCHEDULE, TriggerType.MANUAL)


def as_utc(moment: datetime | None) -> datetime | None:
    """A time of a query, in UTC (one given without a zone is read as UTC)."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def fits_routine_name(name: str) -> bool:
    """Whether a deployment's name can be its routine's name as it is."""
    return bool(_ROUTINE_NAME.fullmatch(name)) and not name.startswith(("rtn_", "agt_"))


def routine_name(name: str, token: str) -> str:
    """A routine name of its own for a deployment whose name cannot be one."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-._")[:48] or "deployment"
    return f"{slug}-{token}"


def refuse_unmapped(body: DeploymentCreate | DeploymentUpdate) -> None:
    """Refuse the parts of a deployment Corral does not map, naming them."""
    if body.vault_ids:
        raise InvalidRequest(
            "vaults are not available for deployments on this server", field="/vault_ids"
        )
    if body.resources:
        raise InvalidRequest(
            "session resources are not available on this server", field="/resources"
        )
    if body.budget is not None:
        raise InvalidRequest(
            "a deployment's sessions cannot be given a budget on this server", field="/budget"
        )


def input_template(events: list[Any]) -> str:
    """The routine input for a deployment's initial events: their text, literally."""
    messages = []
    for index, event in enumerate(events):
        at = f"/initial_events/{index}"
        if not isinstance(event, UserMessage):
            raise InvalidRequest(
                f"a deployment on this server sends user.message events, not {event.type}",
                field=at,
            )
        blocks = []
        for position, block in enumerate(event.content):
            if not isinstance(block, TextContent):
                raise InvalidRequest(
                    "a deployment's messages are text on this server",
                    field=f"{at}/content/{position}",
                )
            blocks.append(literal(block.text))
        messages.append(BLOCK_JOIN.join(blocks))
    template = EVENT_JOIN.join(messages)
    if not template:
        raise InvalidRequest("the message has no text", field="/initial_events/0/content/0/text")
    if len(template) > TEMPLATE_MAX_CHARS:
        raise InvalidRequest(
            f"the initial events' text is longer than this server keeps ({TEMPLATE_MAX_CHARS} "
            "characters, template syntax in it counting several)",
            field="/initial_events",
        )
    return template


def _message(blocks: list[str]) -> dict[str, Any]:
    return {"type": "user.message", "content": [{"type": "text", "text": b} for b in blocks]}


def initial_events(template: str) -> list[dict[str, Any]]:
    """The `user.message` events a routine's input stands for.

    A template not made from events (a routine made through Corral's own API) is shown as the
    text of one message.
    """
    events = []
    for message in template.split(EVENT_JOIN):
        blocks = [literal_text(block) for block in message.split(BLOCK_JOIN)]
        if any(block is None for block in blocks):
            return [_message([template])]
        events.append(_message([block for block in blocks if block is not None]))
    return events


def check_schedule(schedule: CronScheduleParams) -> None:
    """Refuse a schedule that cannot be read, naming its expression or its time zone."""
    try:
        Schedule.parse(schedule.expression, "UTC")
    except InvalidSchedule as invalid:
        raise InvalidRequest(str(invalid), field="/schedule/expression") from None
    try:
        Schedule.parse(schedule.expression, schedule.timezone)
    except InvalidSchedule as invalid:
        raise InvalidRequest(str(invalid), field="/schedule/timezone") from None


def schedule_trigger(schedule: CronScheduleParams) -> dict[str, Any]:
    """The routine trigger of a deployment's schedule."""
    return {"type": "schedule", "cron": schedule.expression, "timezone": schedule.timezone}


def first_schedule(routine: Routine) -> ScheduleTrigger | None:
    """The routine's schedule that is its deployment's (its first)."""
    return next((t for t in routine.triggers if isinstance(t, ScheduleTrigger)), None)


def archived_at(routine: Routine) -> datetime | None:
    """When the routine's deployment was archived (None: it is not)."""
    reason = routine.paused_reason
    if routine.status is RoutineStatus.PAUSED and reason is not None and reason.code == ARCHIVED:
        return reason.at
    return None


def _paused_reason(routine: Routine) -> dict[str, Any] | None:
    reason = routine.paused_reason
    if routine.status is not RoutineStatus.PAUSED or reason is None or reason.code == ARCHIVED:
        return None
    if reason.code == "manual":
        return {"type": "manual"}
    return {"type": "error", "error": {"type": _PAUSE_ERRORS.get(reason.code, "unknown_error")}}


def deployment_view(
    routine: Routine, *, agent_version: int, last_run_at: datetime | None
) -> DeploymentObject:
    """A routine as the API's deployment, its agent at `agent_version`."""
    archived = archived_at(routine)
    trigger = first_schedule(routine)
    schedule = None
    if trigger is not None:
        schedule = CronScheduleView(
            expression=trigger.cron,
            timezone=trigger.timezone,
            last_run_at=last_run_at,
            upcoming_runs_at=[] if archived else trigger.upcoming,
        )
    return DeploymentObject(
        id=routine.id,
        name=routine.metadata.get(NAME_KEY, routine.name),
        description=routine.description or None,
        agent=DeploymentAgent(id=routine.agent, version=agent_version),
        environment_id=routine.environment_id or "",
        initial_events=initial_events(routine.input),
        metadata={k: v for k, v in routine.metadata.items() if k != NAME_KEY},
        schedule=schedule,
        status="active" if archived else routine.status.value,
        paused_reason=_paused_reason(routine),
        created_at=routine.created_at,
        updated_at=routine.updated_at,
        archived_at=archived,
    )


def run_view(fire: Fire, agent: DeploymentAgent) -> DeploymentRunObject:
    """A routine's fire as the API's deployment run."""
    context: ScheduleTriggerContext | ManualTriggerContext = ManualTriggerContext()
    if fire.trigger == TriggerType.SCHEDULE and fire.scheduled_at is not None:
        context = ScheduleTriggerContext(scheduled_at=fire.scheduled_at)
    error = None
    if fire.status == FireStatus.FAILED:
        code, message = (fire.error.code, fire.error.message) if fire.error else ("", "failed")
        error = DeploymentRunError(type=_RUN_ERRORS.get(code, "unknown_error"), message=message)
    return DeploymentRunObject(
        id=fire.id,
        deployment_id=fire.routine_id,
        agent=agent,
        trigger_context=context,
        session_id=None if error else fire.session_id,
        error=error,
        created_at=fire.created_at,
    )
