"""`corral sessions delete ID --purge` as a real process against the shared `corral serve`."""

from __future__ import annotations

import pytest

from corral.client import Corral, NotFoundError
from tests.cli.conftest import Cli


def test_a_purge_asks_first_then_erases_the_session_and_its_runs(cli: Cli, sdk: Corral):
    session = sdk.sessions.create(model="test")
    run = sdk.sessions.send(session.id, input="forget me")

    unconfirmed = cli("sessions", "delete", session.id, "--purge", ok=False)
    kept = sdk.sessions.retrieve(session.id)
    purged = cli("sessions", "delete", session.id, "--purge", "--yes", "--json")
    again = cli("sessions", "delete", session.id, "--purge", "--yes", ok=False)

    assert unconfirmed.returncode == 1
    assert unconfirmed.stderr.startswith("error: confirmation_required:")
    assert len(kept.messages) == 2
    assert purged.json() == {"id": session.id, "purged": True}
    with pytest.raises(NotFoundError):
        sdk.sessions.retrieve(session.id)
    with pytest.raises(NotFoundError):
        sdk.runs.retrieve(run.id)
    assert again.returncode == 1
    assert again.stderr.startswith("error: not_found:")


def test_delete_without_purge_ends_and_a_busy_session_is_not_purged(cli: Cli, sdk: Corral):
    session = sdk.sessions.create(model="test")
    sdk.sessions.messages.create(session.id, input="[[delay 30s]] slow")

    refused = cli("sessions", "delete", session.id, "--purge", "--yes", ok=False)
    ended = cli("sessions", "delete", session.id)
    purged = cli("sessions", "delete", session.id, "--purge", "-y")

    assert refused.returncode == 1
    assert refused.stderr.startswith("error: run_active:")
    assert ended.stdout.strip() == f"ended {session.id}"
    assert purged.stdout.strip() == f"purged {session.id}"
