"""Routines: an agent's work that starts by itself, on a schedule, a webhook or on demand."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field

from corral.types.agents import AgentName
from corral.types.common import (
    METADATA_MAX_ENTRIES,
    Metadata,
    ParamsModel,
    VersionNumber,
    WireModel,
)
from corral.types.runs import IdempotencyKey

ROUTINE_METADATA_MAX_ENTRIES = METADATA_MAX_ENTRIES - 2
"""A fire's run carries the routine's metadata and two keys of its own: `routine` and
`routine_fire`."""

TEMPLATE_MAX_CHARS = 16_384
RENDERED_MAX_CHARS = 1_048_576
"""The longest input a template may render."""
MAX_TRIGGERS = 10
DEDUPE_MAX_WINDOW_S = 7 * 24 * 3600


class CatchUp(StrEnum):
    """What a schedule does with the fires it missed while no server was up."""

    SKIP = "skip"
    ONCE = "once"


class Overlap(StrEnum):
    """What a fire does while a run the routine started before is still going."""

    SKIP = "skip"
    QUEUE = "queue"
    ALLOW = "allow"


class SessionMode(StrEnum):
    """Where a fire's run happens: on its own, in a new session, or in the routine's one."""

    NONE = "none"
    PER_FIRE = "per_fire"
    SHARED = "shared"


class RoutineStatus(StrEnum):
    """Whether a routine's schedules and webhooks fire."""

    ACTIVE = "active"
    PAUSED = "paused"


class TriggerType(StrEnum):
    """What set a fire off."""

    SCHEDULE = "schedule"
    WEBHOOK = "webhook"
    MANUAL = "manual"


class FireStatus(StrEnum):
    """Where a fire stands: waiting its turn, or what became of it."""

    PENDING = "pending"
    QUEUED = "queued"
    STARTED = "started"
    SKIPPED = "skipped"
    FILTERED = "filtered"
    DUPLICATE = "duplicate"
    FAILED = "failed"


class SkipReason(StrEnum):
    """Why a fire started no run."""

    OVERLAP = "overlap"
    """A run the routine started before was still going (`overlap: skip`)."""
    QUEUE_FULL = "queue_full"
    """Too many fires already waited for the running one (`overlap: queue`)."""
    MISSED = "missed"
    """The schedule's time passed while no server was up (`catch_up: skip`)."""
    TRIGGER_REMOVED = "trigger_removed"
    """The trigger was removed before the fire was handled."""
    PAUSED = "paused"
    """The routine was paused before the fire was handled."""


class VerifyScheme(StrEnum):
    """How an inbound webhook's signature is made."""

    STANDARD_WEBHOOKS = "standard_webhooks"
    GITHUB = "github"


def _check_metadata(value: dict[str, str]) -> dict[str, str]:
    if len(value) > ROUTINE_METADATA_MAX_ENTRIES:
        raise ValueError(
            f"at most {ROUTINE_METADATA_MAX_ENTRIES} entries are allowed (a fire's run adds "
            "`routine` and `routine_fire`)"
        )
    return value


# Templates and queries are compiled by the service, which names the field of one that does not.
InputTemplate = Annotated[str, Field(min_length=1, max_length=TEMPLATE_MAX_CHARS)]
PayloadQuery = Annotated[str, Field(min_length=1, max_length=1000)]
RoutineMetadata = Annotated[Metadata, AfterValidator(_check_metadata)]
SecretName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")]
EnvironmentId = Annotated[str, Field(min_length=1, max_length=40)]


class ScheduleTriggerParams(ParamsModel):
    """Fire on a cron schedule, read in a time zone."""

    type: Literal["schedule"]
    id: str | None = None
    """An existing trigger's id, to keep it when the routine's triggers are replaced."""
    cron: Annotated[str, Field(min_length=1, max_length=200)]
    """Five fields (minute hour day-of-month month day-of-week), or six with seconds first."""
    timezone: Annotated[str, Field(min_length=1, max_length=64)] = "UTC"
    """An IANA time zone, such as `Europe/Paris`."""


class Verification(ParamsModel):
    """How a webhook trigger checks that a delivery comes from its sender."""

    scheme: VerifyScheme
    """`standard_webhooks` (`webhook-signature`) or `github` (`X-Hub-Signature-256`)."""
    secret: SecretName
    """The name of the workspace secret holding the signing secret."""


class Dedupe(ParamsModel):
    """Drop a delivery whose key was already seen within the window."""

    key: PayloadQuery
    """A JSONPath query on the payload; its first match is the key."""
    window_s: Annotated[int, Field(ge=1, le=DEDUPE_MAX_WINDOW_S)] = 3600


class WebhookTriggerParams(ParamsModel):
    """Fire when a delivery reaches the trigger's own URL."""

    type: Literal["webhook"]
    id: str | None = None
    """An existing trigger's id, to keep it (and its URL) when the triggers are replaced."""
    verify: Verification | None = None
    filter: PayloadQuery | None = None
    """A JSONPath query run on `[payload]`: the trigger fires when it selects anything."""
    dedupe: Dedupe | None = None


TriggerParams = Annotated[ScheduleTriggerParams | WebhookTriggerParams, Field(discriminator="type")]
Triggers = Annotated[list[TriggerParams], Field(max_length=MAX_TRIGGERS)]


class RoutineCreateParams(ParamsModel):
    """Body of `POST /v1/routines`."""

    name: AgentName
    description: Annotated[str, Field(max_length=1000)] = ""
    agent: Annotated[str, Field(min_length=1, max_length=100)]
    """The stored agent each fire runs (name or id)."""
    agent_version: VersionNumber | None = None
    """Its version to run; without one, each fire runs its latest."""
    input: InputTemplate
    """The run's input: a template given `payload`, `headers`, `fire` and `routine`."""
    session: SessionMode = SessionMode.NONE
    environment_id: EnvironmentId | None = None
    """A stored environment the sessions it opens run in (a session mode only)."""
    metadata: RoutineMetadata = Field(default_factory=dict)
    triggers: Triggers = Field(default_factory=list)
    catch_up: CatchUp = CatchUp.SKIP
    overlap: Overlap = Overlap.SKIP
    paused: bool = False
    """Create it paused: nothing fires until it is resumed."""


class RoutineUpdateParams(ParamsModel):
    """Body of `PATCH /v1/routines/{id}`: the fields given replace the routine's."""

    description: Annotated[str, Field(max_length=1000)] | None = None
    agent: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    agent_version: VersionNumber | None = None
    input: InputTemplate | None = None
    environment_id: EnvironmentId | None = None
    """The environment of the sessions it opens from now on; null: the agent's own."""
    metadata: RoutineMetadata | None = None
    triggers: Triggers | None = None
    """The whole list: a trigger given with its `id` is kept, one left out is removed."""
    catch_up: CatchUp | None = None
    overlap: Overlap | None = None


class RunNowParams(ParamsModel):
    """Body of `POST /v1/routines/{id}/run`."""

    payload: Any = Field(default_factory=dict)
    """What the input template sees as `payload`."""
    idempotency_key: IdempotencyKey | None = None
    """Run at most once per key: a retry answers with the first fire."""


class PausedReason(WireModel):
    """Why a routine is paused: by request, or by Corral after a fire it could not start."""

    code: str
    """`manual`, or the error code that paused it (`not_found`, `key_revoked`...)."""
    message: str
    at: datetime


class ScheduleTrigger(WireModel):
    """A trigger that fires on a cron schedule."""

    id: str
    type: Literal["schedule"]
    cron: str
    timezone: str
    next_fire_at: datetime | None
    """The next time it fires while the routine is active."""
    upcoming: list[datetime]
    """Its next five times."""


class WebhookTrigger(WireModel):
    """A trigger that fires when its URL receives a delivery."""

    id: str
    type: Literal["webhook"]
    path: str
    """Where deliveries go: `POST` to this path of the server, with no API key."""
    verify: dict[str, Any] | None
    filter: str | None
    dedupe: dict[str, Any] | None


Trigger = Annotated[ScheduleTrigger | WebhookTrigger, Field(discriminator="type")]


class Routine(WireModel):
    """Work an agent does by itself."""

    id: str
    name: str
    description: str
    agent: str
    agent_version: int | None
    input: str
    session: SessionMode
    session_id: str | None
    """The session every fire talks to (`session: shared`)."""
    environment_id: str | None
    """The environment the sessions it opens run in (null: its agent's own)."""
    metadata: dict[str, str]
    triggers: list[Trigger]
    catch_up: CatchUp
    overlap: Overlap
    status: RoutineStatus
    paused_reason: PausedReason | None
    last_fired_at: datetime | None
    created_at: datetime
    updated_at: datetime


class FireError(WireModel):
    """Why a fire could not start its run."""

    code: str
    message: str


class Fire(WireModel):
    """One time a routine was set off, and what came of it."""

    id: str
    routine_id: str
    trigger: TriggerType
    trigger_id: str | None
    status: FireStatus
    reason: SkipReason | None
    """Why it was skipped."""
    error: FireError | None
    """Why it failed."""
    scheduled_at: datetime | None
    """The schedule's time it stands for."""
    missed: int
    """Earlier times of the schedule it stands for (missed while no server was up)."""
    run_id: str | None
    session_id: str | None
    created_at: datetime
    handled_at: datetime | None


class HookAccepted(WireModel):
    """The answer to a webhook delivery: accepted, to be handled shortly."""

    fire_id: str
    status: Literal["accepted"] = "accepted"
