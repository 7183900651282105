"""Builds the context of a claimed run: a fresh start or a resumption from its checkpoint."""

from __future__ import annotations

from dataclasses import dataclass

from corral.context import ServiceContext
from corral.domain.conversation import Message, ToolCall, input_messages, parse_messages
from corral.domain.events import Usage
from corral.domain.run_spec import RunSpec, parse_run_spec
from corral.domain.secret_refs import fill, fill_spec, names_in, references
from corral.errors import SecretNotFound
from corral.providers.base import UsageUpdate
from corral.providers.registry import MissingProviderKey
from corral.runtime.accumulator import TurnResult
from corral.runtime.context import Journal, RunContext, RunState
from corral.runtime.lineage import Lineage
from corral.sandbox.pool import Environments
from corral.security.sealed import SealError
from corral.storage import events as event_log
from corral.storage import sessions as session_store
from corral.storage.runs import RunRecord

_JOURNAL_LIMIT = 1_000_000


async def prepare(
    run: RunRecord,
    services: ServiceContext,
    *,
    worker_id: str,
    environments: Environments,
    lineage: Lineage,
) -> RunContext:
    """The context to execute `run` with, picking up where a previous attempt stopped.

    Raises a `ServiceError` when the run cannot start (its model or its provider key is gone).
    """
    if run.checkpoint is not None:
        state = RunState.from_json(run.checkpoint)
    else:
        history: list[Message] = []
        if run.session_id is not None:
            stored = await services.database.read(session_store.messages, run.session_id)
            history = parse_messages(stored)
        state = RunState(messages=[*history, *input_messages(run.input)], history=len(history))
    journal = Journal()
    if run.last_seq > state.seq:
        journal = Journal.from_events(
            await services.database.read(
                event_log.read, run.id, after=state.seq, limit=_JOURNAL_LIMIT
            )
        )
    models = services.models
    entry = models.resolve(run.model)
    try:
        run_keys = services.secrets.open(run.api_keys) if run.api_keys else {}
    except SealError:
        raise MissingProviderKey(
            "the run's provider key was sealed with another secret key: every node must share "
            "CORRAL_SECRET_KEY"
        ) from None
    spec = parse_run_spec(run.spec)
    workspace_key = models.key_name(entry)
    secrets = await _secrets(run, spec, run_keys, services, workspace_key)
    run_keys = {provider: fill(key, secrets) for provider, key in run_keys.items()}
    if not run_keys.get(entry.provider) and workspace_key in secrets:
        run_keys[entry.provider] = secrets[workspace_key]
    models.check_key(entry, run_keys, field="/api_keys")
    return RunContext(
        run=run,
        spec=fill_spec(spec, secrets),
        secrets=secrets,
        state=state,
        journal=journal,
        worker_id=worker_id,
        services=services,
        entry=entry,
        provider=await models.provider(entry),
        endpoint=models.endpoint(entry, run_keys),
        environments=environments,
        lineage=lineage,
    )


async def _secrets(
    run: RunRecord,
    spec: RunSpec,
    run_keys: dict[str, str],
    services: ServiceContext,
    workspace_key: str | None,
) -> dict[str, str]:
    """The values of the secrets the run names (and of the workspace's provider key), now.

    Raises `SecretNotFound` for a secret deleted since the run was submitted.
    """
    wanted = {name: field for field, name in references(spec)}
    for provider, key in run_keys.items():
        wanted.update((name, f"/api_keys/{provider}") for name in names_in(key))
    names = set(wanted)
    if workspace_key is not None:
        names.add(workspace_key)
    if not names:
        return {}
    sealed = await services.vault.sealed(services.database, run.workspace_id)
    for name, field in wanted.items():
        if name not in sealed:
            raise SecretNotFound(f"the secret {name!r} the run refers to was deleted", field=field)
    try:
        return {
            name: services.secrets.open(sealed[name])["value"] for name in names & sealed.keys()
        }
    except SealError:
        raise SecretNotFound(
            "a secret the run refers to was sealed with another secret key: every node must "
            "share CORRAL_SECRET_KEY"
        ) from None


_NO_USAGE = Usage.parse({})
"""What a logged turn cost when its `usage` event is missing from the log."""


@dataclass(frozen=True)
class LoggedTurn:
    """A model turn a previous attempt logged whole after its last checkpoint."""

    turn: TurnResult
    cost_usd: float


def logged_turn(journal: Journal) -> LoggedTurn | None:
    """Take the journal's finished turn, if it has one, so the model is not called for it again.

    The log keeps the turn's text and tool calls but not its thinking blocks, which the turn
    rebuilt here goes without. Once taken, the journal's text belongs to no turn any more.
    """
    completed, usage = journal.turn, journal.usage or _NO_USAGE
    if completed is None:
        return None
    journal.turn = journal.usage = None
    journal.text = journal.thinking = ""
    calls = [ToolCall(c.call_id, c.name, c.input) for c in completed.tool_calls]
    turn = TurnResult(
        text=completed.text,
        thinking=[],
        tool_calls=calls,
        usage=UsageUpdate(
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cache_read_tokens=usage.cache_read_tokens,
            cache_write_tokens=usage.cache_write_tokens,
        ),
        stop_reason="tool_use" if calls else "end_turn",
    )
    return LoggedTurn(turn, usage.cost_usd)
