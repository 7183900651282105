"""API key verification, workspace creation and the first-start bootstrap."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from datetime import datetime
from pathlib import Path
from typing import Any

from corral import private_files
from corral.context import ServiceContext
from corral.domain.event_log import format_time
from corral.errors import (
    Conflict,
    Forbidden,
    InsufficientScope,
    Unauthorized,
    Unavailable,
    WorkspaceSuspended,
)
from corral.ids import new_id
from corral.security import keys as key_rules
from corral.services.context import Principal
from corral.storage import keys as key_store
from corral.storage import runs as run_store
from corral.storage import workspaces as workspace_store
from corral.storage.database import Connection
from corral.storage.keys import VerifiedKey

logger = logging.getLogger(__name__)

DEFAULT_WORKSPACE = "default"
ADMIN_KEY_FILE = "admin.key"


TOUCH_EVERY_S = 60.0
"""How often a key's `last_used_at` is written, at most."""


class KeyCache:
    """Verified keys remembered for `key_cache_s`, so most requests skip the database.

    `forget_all` empties it; every API node calls it when a key is revoked or rotated anywhere
    (`KEYS_CHANNEL`), so the cache never outlives a revocation by more than a broker hop.
    """

    def __init__(self, ttl_s: float) -> None:
        self._ttl_s = ttl_s
        self._entries: dict[str, tuple[float, Principal]] = {}
        self._touched: dict[str, float] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def get(self, key_hash: str) -> Principal | None:
        """The principal remembered for this key hash, if still fresh."""
        entry = self._entries.get(key_hash)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def put(self, key_hash: str, principal: Principal) -> None:
        """Remember a verified key."""
        if self._ttl_s > 0:
            if len(self._entries) > 10_000:
                self._entries.clear()
            self._entries[key_hash] = (time.monotonic() + self._ttl_s, principal)

    def forget_all(self, _message: str = "") -> None:
        """Verify every key against the database again."""
        self._entries.clear()

    def touch(self, key_id: str, write: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Run `write` (recording the key's use) unless it ran for this key lately."""
        now = time.monotonic()
        if self._touched.get(key_id, -TOUCH_EVERY_S) > now - TOUCH_EVERY_S:
            return
        if len(self._touched) > 10_000:
            self._touched.clear()
        self._touched[key_id] = now
        task = asyncio.ensure_future(write())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


async def authenticate(ctx: ServiceContext, cache: KeyCache, token: str | None) -> Principal:
    """The principal behind a presented key, or `Unauthorized`."""
    if not token:
        raise Unauthorized()
    key_hash = key_rules.hash_key(token)
    principal = cache.get(key_hash)
    if principal is None:
        found = await ctx.database.read(key_store.find_by_hash, key_hash, ctx.clock())
        if found is None:
            raise Unauthorized("the API key is not valid")
        if found.workspace_suspended:
            raise WorkspaceSuspended(f"the workspace {found.workspace_name!r} is suspended")
        principal = _principal(found)
        cache.put(key_hash, principal)
    if principal.expires_at is not None and principal.expires_at <= ctx.clock():
        raise Unauthorized(f"the API key expired at {format_time(principal.expires_at)}")
    cache.touch(principal.key_id, lambda: _touch(ctx, principal.key_id))
    return principal


async def principal_of_key(ctx: ServiceContext, key_id: str) -> Principal:
    """The principal of a key known by id (what a routine acts as).

    `Unauthorized` once it is revoked or expired, `WorkspaceSuspended` while its workspace is.
    """
    found = await ctx.database.read(key_store.find_by_id, key_id)
    if found is None:
        raise Unauthorized(f"the API key {key_id} was revoked")
    if found.workspace_suspended:
        raise WorkspaceSuspended(f"the workspace {found.workspace_name!r} is suspended")
    principal = _principal(found)
    if principal.expires_at is not None and principal.expires_at <= ctx.clock():
        raise Unauthorized(f"the API key {key_id} expired at {format_time(principal.expires_at)}")
    return principal


def _principal(found: VerifiedKey) -> Principal:
    key = found.key
    return Principal(
        workspace_id=key.workspace_id,
        workspace_name=found.workspace_name,
        key_id=key.id,
        key_name=key.name,
        scopes=list(key.scopes),
        agents=list(key.agents) if key.agents is not None else None,
        expires_at=key.expires_at,
        limits=_own_limits(found.workspace_limits, key.rate_limit_per_minute),
    )


def _own_limits(workspace: dict[str, float], key_rate: int | None) -> dict[str, float]:
    """The caller's rates in place of the server's: its workspace's, and its key's own."""
    if key_rate is None:
        return workspace
    return {**workspace, "key_requests_per_minute": key_rate}


async def _touch(ctx: ServiceContext, key_id: str) -> None:
    try:
        await ctx.database.write(key_store.touch, key_id, ctx.clock())
    except Unavailable:
        logger.info("could not record a key's use", extra={"action": "auth.touch_failed"})


def allows(principal: Principal, scope: str) -> bool:
    """Whether the key allows `scope`."""
    return key_rules.allows(principal.scopes, scope)


def require_scope(principal: Principal, scope: str) -> None:
    """Refuse with `insufficient_scope` unless the key allows `scope`."""
    if not allows(principal, scope):
        raise InsufficientScope(f"this key lacks the {scope!r} scope", required_scope=scope)


def require_session_scope(principal: Principal, session_id: str | None, scope: str) -> None:
    """Refuse with `insufficient_scope` a run of a session unless the key also allows `scope`.

    A session's runs are its messages: reading one takes `sessions:read`, and sending, answering,
    cancelling or deleting one `sessions:write`, whichever route is used.
    """
    if session_id is not None and not allows(principal, scope):
        raise InsufficientScope(
            f"this key lacks the {scope!r} scope, which runs of sessions need",
            required_scope=scope,
        )


def require_agent_allowed(
    principal: Principal, *, agent_id: str | None, agent_name: str | None, field: str
) -> None:
    """Refuse with `forbidden` a run of an agent outside the key's allow-list.

    An inline `agent_spec` is no listed agent, so such a key cannot run one.
    """
    allowed = principal.agents
    if allowed is None or (agent_id is not None and {agent_id, agent_name} & set(allowed)):
        return
    listed = ", ".join(allowed)
    if agent_id is None:
        raise Forbidden(
            f"this key may only run the agents {listed}, not an inline agent_spec", field=field
        )
    raise Forbidden(
        f"this key may not run the agent {agent_name or agent_id!r}; it may run {listed}",
        field=field,
    )


async def require_run_session_scope(
    ctx: ServiceContext, principal: Principal, run_id: str, scope: str
) -> None:
    """`require_session_scope` for a run known by its id; a missing run is left to the caller."""
    if allows(principal, scope):
        return  # no need to look the run up
    session_id = await ctx.database.read(run_store.session_of, principal.workspace_id, run_id)
    require_session_scope(principal, session_id, scope)


async def create_workspace(
    ctx: ServiceContext, name: str, *, scopes: list[str] | None = None, key: str | None = None
) -> tuple[str, str]:
    """Create a workspace with one key; returns (workspace id, the key in clear, shown once)."""
    workspace_id = new_id("ws")
    secret = key or key_rules.generate_key()
    now = ctx.clock()

    def tx(conn: Connection) -> None:
        if workspace_store.workspace_by_name(conn, name) is not None:
            raise Conflict(f"a workspace named {name!r} already exists", field="name")
        workspace_store.insert_workspace(conn, workspace_id=workspace_id, name=name, now=now)
        _add_admin_key(conn, workspace_id, secret, scopes or [key_rules.ADMIN_SCOPE], now)

    await ctx.database.write(tx)
    return workspace_id, secret


def _add_admin_key(
    conn: Connection, workspace_id: str, secret: str, scopes: list[str], now: datetime
) -> None:
    key_store.insert_key(
        conn,
        key_id=new_id("key"),
        workspace_id=workspace_id,
        name="admin",
        key_hash=key_rules.hash_key(secret),
        prefix=key_rules.display_prefix(secret),
        scopes=scopes,
        now=now,
    )


async def bootstrap(ctx: ServiceContext) -> str | None:
    """On first start, create the default workspace and an admin key.

    The key is `CORRAL_BOOTSTRAP_KEY` when set (added to an existing default workspace if it is
    not known yet), otherwise a random one written to `<data_dir>/admin.key` with mode 0600.
    Returns the key when one was created.
    """
    configured = (
        ctx.settings.bootstrap_key.get_secret_value() if ctx.settings.bootstrap_key else None
    )
    now = ctx.clock()

    def tx(conn: Connection) -> str | None:
        if configured is not None:
            if key_store.find_by_hash(conn, key_rules.hash_key(configured), now) is not None:
                return None
        elif key_store.count_keys(conn) > 0:
            return None
        workspace = workspace_store.workspace_by_name(conn, DEFAULT_WORKSPACE)
        if workspace is None:
            workspace_id = new_id("ws")
            workspace_store.insert_workspace(
                conn, workspace_id=workspace_id, name=DEFAULT_WORKSPACE, now=now
            )
        else:
            workspace_id = workspace["id"]
        secret = configured or key_rules.generate_key()
        _add_admin_key(conn, workspace_id, secret, [key_rules.ADMIN_SCOPE], now)
        return secret

    try:
        secret = await ctx.database.write(tx)
    except Conflict:
        return None  # another node bootstrapped at the same moment
    if secret is not None and configured is None:
        _write_key_file(ctx.settings.data_dir / ADMIN_KEY_FILE, secret)
        logger.info(
            "created the admin key",
            extra={
                "action": "auth.bootstrapped",
                "path": str(ctx.settings.data_dir / ADMIN_KEY_FILE),
            },
        )
    return secret


def _write_key_file(path: Path, secret: str) -> None:
    private_files.make_dir(path.parent)
    private_files.write_file(path, secret + "\n")
