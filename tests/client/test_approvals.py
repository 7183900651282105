"""Tool calls held for a person: the inbox, decisions, and `run(on_approval=...)` deciding them.

The test model's `[[call wait …]]` makes it call the builtin `wait` tool, which needs no sandbox;
an agent whose permissions `ask` about `wait` holds that call until someone decides.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from corral.client import (
    Approval,
    ApprovalRequested,
    ApprovalStatus,
    ConflictError,
    Decision,
    NotFoundError,
)
from corral.client._decisions import as_decision, decision_body
from corral.settings import Settings
from corral.types.events import ApprovalDecided
from corral.types.runs import RunStatus
from tests.client.conftest import Awaited, awaited_client, drain
from tests.conftest import ADMIN_KEY, BACKENDS, LiveServer

WAIT = '[[call wait {"seconds": 0.01}]]'
ASK_WAIT = {"tools": {"wait": "ask"}}


def spec(permissions: dict[str, Any] | None = None) -> dict[str, Any]:
    """An inline test agent offering only the builtin `wait` tool, asking before it runs."""
    return {
        "model": "test",
        "builtin_tools": ["wait"],
        "permissions": ASK_WAIT if permissions is None else permissions,
    }


async def pending(sdk: Awaited, run_id: str) -> list[Approval]:
    """The run's approvals once one of them waits for a decision."""
    for _ in range(500):
        found = (await sdk.approvals.list(status="pending", run=run_id)).data
        if found:
            return list(found)
        await asyncio.sleep(0.02)
    raise AssertionError(f"run {run_id} never asked for approval")


async def test_a_held_call_waits_in_the_inbox_until_it_is_allowed(sdk):
    run = await sdk.runs.create(input=WAIT, agent_spec=spec(), metadata={"team": "red"})

    [approval] = await pending(sdk, run.id)
    by_metadata = (await sdk.approvals.list(status="pending", metadata={"team": "red"})).data
    other_team = (await sdk.approvals.list(metadata={"team": "blue"})).data
    of_run = await sdk.approvals.of_run(run.id)
    allowed = await sdk.approvals.allow(run.id, approval.call_id)
    ended = await sdk.runs.wait(run.id)

    assert isinstance(approval, Approval)
    assert (approval.run_id, approval.tool, approval.input) == (run.id, "wait", {"seconds": 0.01})
    assert (approval.policy, approval.status) == ("tools.wait", ApprovalStatus.PENDING)
    assert approval.metadata == {"team": "red"}
    assert [a.id for a in by_metadata] == [approval.id] and other_team == []
    assert of_run == [approval]
    assert allowed.status == ApprovalStatus.ALLOWED and allowed.decided_by
    assert (ended.status, ended.output) == (RunStatus.COMPLETED, "wait returned: waited 0.01 s")
    assert (await sdk.approvals.list(status="pending", run=run.id)).data == []


async def test_a_denial_tells_the_model_why_and_the_other_decision_conflicts(sdk):
    run = await sdk.runs.create(input=WAIT, agent_spec=spec())
    [approval] = await pending(sdk, run.id)

    denied = await sdk.approvals.deny(run.id, approval.call_id, message="not on a Friday")
    again = await sdk.approvals.decide(
        run.id, approval.call_id, decision="deny", message="not on a Friday"
    )
    with pytest.raises(ConflictError) as conflict:
        await sdk.approvals.allow(run.id, approval.call_id)
    with pytest.raises(NotFoundError):
        await sdk.approvals.allow(run.id, "call_nope")
    ended = await sdk.runs.wait(run.id)

    assert (denied.status, denied.message) == (ApprovalStatus.DENIED, "not on a Friday")
    assert again.decided_at == denied.decided_at
    assert conflict.value.code == "approval_conflict"
    assert ended.output.startswith("wait failed: a person denied")
    assert "not on a Friday" in ended.output


async def test_an_allow_may_edit_the_arguments(sdk):
    run = await sdk.runs.create(input=WAIT, agent_spec=spec())
    [approval] = await pending(sdk, run.id)

    allowed = await sdk.approvals.allow(run.id, approval.call_id, input={"seconds": 0.02})

    assert allowed.decided_input == {"seconds": 0.02}
    assert (await sdk.runs.wait(run.id)).output == "wait returned: waited 0.02 s"


@pytest.mark.parametrize(
    ("answer", "output"),
    [
        (True, "wait returned: waited 0.01 s"),
        (False, "wait failed: a person denied"),
        (Decision.deny("not now"), "wait failed: a person denied"),
        (Decision.allow({"seconds": 0.02}), "wait returned: waited 0.02 s"),
        ({"decision": "allow", "input": {"seconds": 0.03}}, "wait returned: waited 0.03 s"),
        ({"decision": "deny", "message": "nope"}, "wait failed: a person denied"),
    ],
    ids=["true", "false", "deny", "allow_edited", "allow_dict", "deny_dict"],
)
async def test_run_decides_held_calls_with_on_approval(sdk, answer, output):
    asked: list[ApprovalRequested] = []
    seen: list[Any] = []

    def decide(request: ApprovalRequested) -> Any:
        asked.append(request)
        return answer

    run = await sdk.run(input=WAIT, agent_spec=spec(), on_approval=decide, on_event=seen.append)

    [request] = asked
    assert isinstance(request, ApprovalRequested)
    assert (request.run_id, request.name, request.input) == (run.id, "wait", {"seconds": 0.01})
    assert request.policy == "tools.wait" and request.approval_id.startswith("apr")
    assert run.status == RunStatus.COMPLETED
    assert run.output.startswith(output)
    if isinstance(answer, Decision) and answer.message:
        assert answer.message in run.output
    [decided] = [e for e in seen if isinstance(e, ApprovalDecided)]
    assert decided.call_id == request.call_id


async def test_the_async_client_awaits_an_async_on_approval(acorral):
    async def decide(request: ApprovalRequested) -> Decision:
        await asyncio.sleep(0)
        return Decision.deny(f"{request.name} is not allowed today")

    run = await acorral.run(input=WAIT, agent_spec=spec(), on_approval=decide)

    assert run.output.startswith("wait failed: a person denied")
    assert "wait is not allowed today" in run.output


async def test_without_a_decision_here_run_waits_for_one_made_elsewhere(sdk):
    asked: list[str] = []

    def leave_it(request: ApprovalRequested) -> None:
        asked.append(request.call_id)

    followed = asyncio.create_task(
        sdk.run(input=WAIT, agent_spec=spec(), metadata={"who": "elsewhere"})
    )
    left = asyncio.create_task(sdk.run(input=WAIT, agent_spec=spec(), on_approval=leave_it))
    for _ in range(500):
        if len((await sdk.approvals.list(status="pending")).data) == 2:
            break
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.3)
    assert not followed.done() and not left.done()

    for approval in (await sdk.approvals.list(status="pending")).data:
        await sdk.approvals.allow(approval.run_id, approval.call_id)
    ran, also_ran = await asyncio.wait_for(asyncio.gather(followed, left), 30)

    assert ran.output == also_ran.output == "wait returned: waited 0.01 s"
    assert len(asked) == 1


async def test_following_again_asks_only_about_calls_still_pending(sdk):
    decided = await sdk.runs.create(input=WAIT, agent_spec=spec())
    waiting = await sdk.runs.create(input=WAIT, agent_spec=spec())
    [first] = await pending(sdk, decided.id)
    await pending(sdk, waiting.id)
    await sdk.approvals.allow(decided.id, first.call_id)
    asked: list[str] = []

    def allow(request: ApprovalRequested) -> bool:
        asked.append(request.run_id)
        return True

    done = await sdk.runs.follow(decided.id, on_approval=allow)
    also_done = await sdk.runs.follow(waiting.id, on_approval=allow)

    assert done.output == also_done.output == "wait returned: waited 0.01 s"
    assert asked == [waiting.id]


async def test_permissions_pass_through_agents_runs_and_sessions(sdk):
    agent = await sdk.agents.create(
        name="careful", model="test", builtin_tools=["wait"], permissions=ASK_WAIT
    )
    denied = await sdk.agents.update("careful", permissions={"tools": {"wait": "deny"}})
    overridden = await sdk.run(
        input=WAIT, agent="careful", permissions={"tools": {"wait": "allow"}}
    )
    refused = await sdk.run(input=WAIT, agent="careful")
    session = await sdk.sessions.create(agent="careful", permissions={"default": "ask"})
    in_session = await sdk.sessions.send(
        session.id,
        input=WAIT,
        permissions={"tools": {"wait": "ask"}},
        on_approval=lambda request: Decision.allow(),
    )
    queued = await sdk.sessions.messages.create(
        session.id, input=WAIT, permissions={"tools": {"wait": "allow"}}
    )

    assert agent.permissions.tools == {"wait": "ask"}
    assert denied.permissions.tools == {"wait": "deny"}
    assert overridden.output == "wait returned: waited 0.01 s"
    assert "does not allow this call" in refused.output
    assert in_session.output == "wait returned: waited 0.01 s"
    assert (await sdk.runs.wait(queued.id)).output == "wait returned: waited 0.01 s"
    assert [a.run_id for a in await sdk.approvals.of_run(in_session.id)] == [in_session.id]


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_on_approval_decides_on_every_backend(flavour: str, settings: Settings) -> None:
    async with (
        LiveServer(settings) as server,
        awaited_client(flavour, server.base_url, api_key=ADMIN_KEY) as sdk,
    ):
        allowed = await sdk.run(
            input=WAIT, agent_spec=spec({"default": "ask"}), on_approval=lambda request: True
        )
        denied = await sdk.run(
            input=WAIT, agent_spec=spec(), on_approval=lambda request: Decision.deny("no")
        )
        inbox = [a.status for a in await drain(await sdk.approvals.list(limit=1))]

    assert allowed.output == "wait returned: waited 0.01 s"
    assert denied.output.startswith("wait failed: a person denied")
    assert sorted(inbox) == [ApprovalStatus.ALLOWED, ApprovalStatus.DENIED]


def test_a_decision_goes_with_what_fits_it():
    assert Decision.allow().body() == {"decision": "allow"}
    assert Decision.deny("why").body() == {"decision": "deny", "message": "why"}
    assert decision_body("allow", input={"x": 1}) == {"decision": "allow", "input": {"x": 1}}
    with pytest.raises(ValueError, match="'message' goes with a deny"):
        decision_body("allow", message="hm")
    with pytest.raises(ValueError, match="'input' goes with an allow"):
        decision_body("deny", input={"x": 1})
    with pytest.raises(ValueError):
        decision_body("maybe")


def test_a_callback_answers_with_a_bool_a_decision_a_dict_or_nothing():
    assert as_decision(True) == Decision.allow()
    assert as_decision(False) == Decision.deny()
    assert as_decision(None) is None
    assert as_decision({"decision": "deny", "message": "m"}) == Decision.deny("m")
    with pytest.raises(ValueError):
        as_decision({"decision": "allow", "because": "x"})
    with pytest.raises(TypeError, match="got str"):
        as_decision("yes")  # type: ignore[arg-type]
