"""`sessions.delete(id, purge=True)`: a session erased through the SDK, in both flavours."""

from __future__ import annotations

import pytest

from corral.client import ConflictError, NotFoundError
from corral.types.sessions import Session, SessionStatus
from tests.client.conftest import drain


async def test_a_purged_session_and_its_runs_are_gone(sdk):
    session = await sdk.sessions.create(model="test")
    run = await sdk.sessions.send(session.id, input="forget me")

    purged = await sdk.sessions.delete(session.id, purge=True)

    assert purged is None
    with pytest.raises(NotFoundError):
        await sdk.sessions.retrieve(session.id)
    with pytest.raises(NotFoundError):
        await sdk.runs.retrieve(run.id)
    assert session.id not in [s.id for s in await drain(await sdk.sessions.list())]
    with pytest.raises(NotFoundError):
        await sdk.sessions.delete(session.id, purge=True)


async def test_delete_without_purge_ends_the_session_and_a_purge_of_a_busy_one_is_refused(sdk):
    session = await sdk.sessions.create(model="test")
    going = await sdk.sessions.messages.create(session.id, input="[[delay 30s]] slow")

    with pytest.raises(ConflictError) as refused:
        await sdk.sessions.delete(session.id, purge=True)
    ended = await sdk.sessions.delete(session.id)

    assert refused.value.code == "run_active"
    assert isinstance(ended, Session)
    assert ended.status == SessionStatus.ENDED
    assert (await sdk.runs.retrieve(going.id)).status == "cancelled"
    assert await sdk.sessions.delete(session.id, purge=True) is None
