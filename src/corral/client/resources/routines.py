"""`client.routines`: agent work that starts by itself (on a schedule or a webhook), or by hand.

`create` is never retried: a routine's name is unique, so a repeat after a lost answer would be
refused with `ConflictError` although the first one took. `run` sends an idempotency key (a
fresh one unless given), so retrying it never fires the routine twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from corral.client._http import NOT_GIVEN, clean_body, new_idempotency_key
from corral.client._pagination import AsyncPage, SyncPage
from corral.client.resources._base import AsyncResource, SyncResource
from corral.client.resources._common import segment
from corral.types.routines import (
    CatchUp,
    Fire,
    FireStatus,
    Overlap,
    Routine,
    ScheduleTrigger,
    ScheduleTriggerParams,
    SessionMode,
    WebhookTrigger,
    WebhookTriggerParams,
)

TriggerLike = (
    ScheduleTriggerParams | WebhookTriggerParams | ScheduleTrigger | WebhookTrigger | dict[str, Any]
)
"""A trigger as a dict, a params model, or one of a retrieved routine's triggers (kept by id)."""


def _path(routine: str, *rest: str) -> str:
    return "/".join([f"/v1/routines/{segment(routine)}", *map(segment, rest)])


def _trigger(trigger: TriggerLike) -> dict[str, Any]:
    """One trigger for a request body.

    A routine's own trigger goes back as its id and settings, so that `update(triggers=[...])`
    can keep it (and a webhook trigger its URL) next to new ones.
    """
    if isinstance(trigger, dict):
        return trigger
    if isinstance(trigger, ScheduleTrigger):
        return {
            "type": "schedule",
            "id": trigger.id,
            "cron": trigger.cron,
            "timezone": trigger.timezone,
        }
    if isinstance(trigger, WebhookTrigger):
        kept = {"verify": trigger.verify, "filter": trigger.filter, "dedupe": trigger.dedupe}
        return {
            "type": "webhook",
            "id": trigger.id,
            **{k: v for k, v in kept.items() if v is not None},
        }
    return trigger.model_dump(mode="json", exclude_unset=True)


def _routine_body(triggers: Sequence[TriggerLike] | Any, **fields: Any) -> dict[str, Any]:
    """Only the fields given: one left out takes its default, or keeps its value on update."""
    body = clean_body(fields)
    if triggers is not NOT_GIVEN:
        body["triggers"] = [_trigger(t) for t in triggers]
    return body


def _run_body(payload: Any, idempotency_key: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {"idempotency_key": idempotency_key or new_idempotency_key()}
    if payload is not None:
        body["payload"] = payload
    return body


class Routines(SyncResource):
    """`/v1/routines`; a routine is named by its id or its name."""

    def create(
        self,
        *,
        name: str,
        agent: str,
        input: str,
        description: str = NOT_GIVEN,
        agent_version: int | None = NOT_GIVEN,
        session: SessionMode | str = NOT_GIVEN,
        environment_id: str = NOT_GIVEN,
        metadata: dict[str, str] = NOT_GIVEN,
        triggers: Sequence[TriggerLike] = NOT_GIVEN,
        catch_up: CatchUp | str = NOT_GIVEN,
        overlap: Overlap | str = NOT_GIVEN,
        paused: bool = NOT_GIVEN,
    ) -> Routine:
        """Create a routine running `agent` on the `input` template; its schedules count from now.

        Without triggers it runs only by hand (`run`). A taken name raises `ConflictError`.
        """
        body = _routine_body(
            triggers,
            name=name,
            agent=agent,
            input=input,
            description=description,
            agent_version=agent_version,
            session=session,
            environment_id=environment_id,
            metadata=metadata,
            catch_up=catch_up,
            overlap=overlap,
            paused=paused,
        )
        response = self._client.request("POST", "/v1/routines", json=body, retry=False)
        return Routine.model_validate(response.json())

    def list(self, *, limit: int | None = None) -> SyncPage[Routine]:
        """Every routine of the workspace, newest first (iterating the page walks all pages)."""
        return self._page("/v1/routines", Routine, {"limit": limit})

    def retrieve(self, routine: str) -> Routine:
        """A routine, with each schedule's next times and each webhook trigger's `path`."""
        return Routine.model_validate(self._client.request("GET", _path(routine)).json())

    def update(
        self,
        routine: str,
        *,
        description: str = NOT_GIVEN,
        agent: str = NOT_GIVEN,
        agent_version: int | None = NOT_GIVEN,
        input: str = NOT_GIVEN,
        environment_id: str | None = NOT_GIVEN,
        metadata: dict[str, str] = NOT_GIVEN,
        triggers: Sequence[TriggerLike] = NOT_GIVEN,
        catch_up: CatchUp | str = NOT_GIVEN,
        overlap: Overlap | str = NOT_GIVEN,
    ) -> Routine:
        """Change what is given; `agent_version=None` runs the agent's latest version again.

        `environment_id=None` opens its sessions in its agent's own environment again.
        `triggers` replaces the whole list: pass the routine's own triggers to keep them.
        """
        body = _routine_body(
            triggers,
            description=description,
            agent=agent,
            agent_version=agent_version,
            input=input,
            environment_id=environment_id,
            metadata=metadata,
            catch_up=catch_up,
            overlap=overlap,
        )
        response = self._client.request("PATCH", _path(routine), json=body)
        return Routine.model_validate(response.json())

    def delete(self, routine: str) -> None:
        """Delete a routine and its fires; the runs it started stay."""
        self._client.request("DELETE", _path(routine))

    def pause(self, routine: str) -> Routine:
        """Stop its schedules and webhooks; `run` still fires it."""
        return Routine.model_validate(self._client.request("POST", _path(routine, "pause")).json())

    def resume(self, routine: str) -> Routine:
        """Make it active again; its schedules go on from now, without the times they missed."""
        response = self._client.request("POST", _path(routine, "resume"))
        return Routine.model_validate(response.json())

    def run(self, routine: str, *, payload: Any = None, idempotency_key: str | None = None) -> Fire:
        """Fire it now, paused or not; the fire has its `run_id` once a worker started the run.

        `payload` is what the input template sees as `payload`. With the same
        `idempotency_key`, a later call returns the first fire instead of firing again.
        """
        body = _run_body(payload, idempotency_key)
        return Fire.model_validate(
            self._client.request("POST", _path(routine, "run"), json=body).json()
        )

    def fires(
        self, routine: str, *, status: FireStatus | str | None = None, limit: int | None = None
    ) -> SyncPage[Fire]:
        """Its history, newest first: each fire, with its run or why it started none."""
        return self._page(_path(routine, "fires"), Fire, {"status": status, "limit": limit})

    def fire(self, routine: str, fire_id: str) -> Fire:
        """One fire of the routine."""
        return Fire.model_validate(
            self._client.request("GET", _path(routine, "fires", fire_id)).json()
        )


class AsyncRoutines(AsyncResource):
    """`/v1/routines`; a routine is named by its id or its name."""

    async def create(
        self,
        *,
        name: str,
        agent: str,
        input: str,
        description: str = NOT_GIVEN,
        agent_version: int | None = NOT_GIVEN,
        session: SessionMode | str = NOT_GIVEN,
        environment_id: str = NOT_GIVEN,
        metadata: dict[str, str] = NOT_GIVEN,
        triggers: Sequence[TriggerLike] = NOT_GIVEN,
        catch_up: CatchUp | str = NOT_GIVEN,
        overlap: Overlap | str = NOT_GIVEN,
        paused: bool = NOT_GIVEN,
    ) -> Routine:
        """Create a routine running `agent` on the `input` template; its schedules count from now.

        Without triggers it runs only by hand (`run`). A taken name raises `ConflictError`.
        """
        body = _routine_body(
            triggers,
            name=name,
            agent=agent,
            input=input,
            description=description,
            agent_version=agent_version,
            session=session,
            environment_id=environment_id,
            metadata=metadata,
            catch_up=catch_up,
            overlap=overlap,
            paused=paused,
        )
        response = await self._client.request("POST", "/v1/routines", json=body, retry=False)
        return Routine.model_validate(response.json())

    async def list(self, *, limit: int | None = None) -> AsyncPage[Routine]:
        """Every routine of the workspace, newest first (iterating the page walks all pages)."""
        return await self._page("/v1/routines", Routine, {"limit": limit})

    async def retrieve(self, routine: str) -> Routine:
        """A routine, with each schedule's next times and each webhook trigger's `path`."""
        return Routine.model_validate((await self._client.request("GET", _path(routine))).json())

    async def update(
        self,
        routine: str,
        *,
        description: str = NOT_GIVEN,
        agent: str = NOT_GIVEN,
        agent_version: int | None = NOT_GIVEN,
        input: str = NOT_GIVEN,
        environment_id: str | None = NOT_GIVEN,
        metadata: dict[str, str] = NOT_GIVEN,
        triggers: Sequence[TriggerLike] = NOT_GIVEN,
        catch_up: CatchUp | str = NOT_GIVEN,
        overlap: Overlap | str = NOT_GIVEN,
    ) -> Routine:
        """Change what is given; `agent_version=None` runs the agent's latest version again.

        `environment_id=None` opens its sessions in its agent's own environment again.
        `triggers` replaces the whole list: pass the routine's own triggers to keep them.
        """
        body = _routine_body(
            triggers,
            description=description,
            agent=agent,
            agent_version=agent_version,
            input=input,
            environment_id=environment_id,
            metadata=metadata,
            catch_up=catch_up,
            overlap=overlap,
        )
        response = await self._client.request("PATCH", _path(routine), json=body)
        return Routine.model_validate(response.json())

    async def delete(self, routine: str) -> None:
        """Delete a routine and its fires; the runs it started stay."""
        await self._client.request("DELETE", _path(routine))

    async def pause(self, routine: str) -> Routine:
        """Stop its schedules and webhooks; `run` still fires it."""
        response = await self._client.request("POST", _path(routine, "pause"))
        return Routine.model_validate(response.json())

    async def resume(self, routine: str) -> Routine:
        """Make it active again; its schedules go on from now, without the times they missed."""
        response = await self._client.request("POST", _path(routine, "resume"))
        return Routine.model_validate(response.json())

    async def run(
        self, routine: str, *, payload: Any = None, idempotency_key: str | None = None
    ) -> Fire:
        """Fire it now, paused or not; the fire has its `run_id` once a worker started the run.

        `payload` is what the input template sees as `payload`. With the same
        `idempotency_key`, a later call returns the first fire instead of firing again.
        """
        body = _run_body(payload, idempotency_key)
        response = await self._client.request("POST", _path(routine, "run"), json=body)
        return Fire.model_validate(response.json())

    async def fires(
        self, routine: str, *, status: FireStatus | str | None = None, limit: int | None = None
    ) -> AsyncPage[Fire]:
        """Its history, newest first: each fire, with its run or why it started none."""
        return await self._page(_path(routine, "fires"), Fire, {"status": status, "limit": limit})

    async def fire(self, routine: str, fire_id: str) -> Fire:
        """One fire of the routine."""
        response = await self._client.request("GET", _path(routine, "fires", fire_id))
        return Fire.model_validate(response.json())
