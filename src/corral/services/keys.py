"""Managing a workspace's API keys: create, list, revoke and rotate, each change audited.

A revocation or rotation is published on `KEYS_CHANNEL`, so every API node forgets the keys it
had verified at once instead of after its cache expires.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from corral.context import ServiceContext
from corral.errors import Conflict, Forbidden, InvalidRequest, NotFound
from corral.ids import new_id
from corral.pubsub.base import KEYS_CHANNEL
from corral.security import keys as key_rules
from corral.services import audit, auth
from corral.services.audit import Actor
from corral.services.context import Principal
from corral.storage import keys as key_store
from corral.storage.database import Connection
from corral.storage.keys import KeyRecord
from corral.types.keys import ApiKey, ApiKeyWithSecret, KeyCreateParams, KeyRotateParams


def to_wire(record: KeyRecord) -> ApiKey:
    """A key as the API shows it."""
    return ApiKey(
        id=record.id,
        name=record.name,
        prefix=record.prefix,
        scopes=record.scopes,
        agents=record.agents,
        created_at=record.created_at,
        created_by=record.created_by,
        expires_at=record.expires_at,
        last_used_at=record.last_used_at,
        revoked_at=record.revoked_at,
        rate_limit_per_minute=record.rate_limit_per_minute,
    )


def _check_grants(principal: Principal, params: KeyCreateParams, now: datetime) -> None:
    """Refuse a key that could do more than the key creating it."""
    for index, scope in enumerate(params.scopes):
        if scope not in key_rules.SCOPES:
            known = ", ".join(sorted(key_rules.SCOPES))
            raise InvalidRequest(
                f"unknown scope {scope!r}; the scopes are {known}", field=f"/scopes/{index}"
            )
        if not auth.allows(principal, scope):
            raise Forbidden(
                f"this key cannot grant {scope!r}, which it does not have",
                field=f"/scopes/{index}",
            )
    if params.expires_at is not None:
        if params.expires_at.tzinfo is None:
            raise InvalidRequest(
                "expires_at needs a time zone (say Z for UTC)", field="/expires_at"
            )
        if params.expires_at <= now:
            raise InvalidRequest("expires_at must be in the future", field="/expires_at")
    if principal.agents is not None:
        outside = sorted(set(params.agents or ()) - set(principal.agents))
        if params.agents is None or outside:
            raise Forbidden(
                "this key may only run some agents, so a key it creates must be limited to "
                f"those too ({', '.join(principal.agents)})",
                field="/agents",
            )
    if principal.expires_at is not None and (
        params.expires_at is None or params.expires_at > principal.expires_at
    ):
        raise Forbidden(
            "a key cannot outlive the key creating it (this one expires at "
            f"{principal.expires_at.isoformat()})",
            field="/expires_at",
        )


async def create(
    ctx: ServiceContext, actor: Actor, principal: Principal, params: KeyCreateParams
) -> ApiKeyWithSecret:
    """Create a key; its secret is in the answer, and nowhere else ever after."""
    now = ctx.clock()
    _check_grants(principal, params, now)
    key_id, secret = new_id("key"), key_rules.generate_key()
    scopes = sorted(set(params.scopes))

    def tx(conn: Connection) -> KeyRecord | None:
        key_store.insert_key(
            conn,
            key_id=key_id,
            workspace_id=principal.workspace_id,
            name=params.name,
            key_hash=key_rules.hash_key(secret),
            prefix=key_rules.display_prefix(secret),
            scopes=scopes,
            now=now,
            expires_at=params.expires_at,
            agents=params.agents,
            created_by=principal.key_id,
            rate_limit_per_minute=params.rate_limit_per_minute,
        )
        details = {
            "name": params.name,
            "scopes": scopes,
            "agents": params.agents,
            "rate_limit_per_minute": params.rate_limit_per_minute,
        }
        if params.expires_at is not None:
            details["expires_at"] = params.expires_at.isoformat()
        audit.record(
            conn,
            actor,
            "key.created",
            workspace_id=principal.workspace_id,
            target_id=key_id,
            now=now,
            details=details,
        )
        return key_store.get_key(conn, principal.workspace_id, key_id)

    record = await ctx.database.write(tx)
    assert record is not None
    return ApiKeyWithSecret(**to_wire(record).model_dump(), secret=secret)


async def list_keys(ctx: ServiceContext, principal: Principal) -> list[ApiKey]:
    """Every key of the workspace, revoked ones included."""
    records = await ctx.database.read(key_store.list_keys, principal.workspace_id)
    return [to_wire(record) for record in records]


async def get(ctx: ServiceContext, principal: Principal, key_id: str) -> ApiKey:
    """One key of the workspace."""
    record = await ctx.database.read(key_store.get_key, principal.workspace_id, key_id)
    if record is None:
        raise NotFound(f"no key {key_id!r}")
    return to_wire(record)


def _is_live_admin(record: KeyRecord, now: datetime) -> bool:
    return (
        record.revoked_at is None
        and key_rules.ADMIN_SCOPE in record.scopes
        and (record.expires_at is None or record.expires_at > now)
    )


async def revoke(ctx: ServiceContext, actor: Actor, principal: Principal, key_id: str) -> ApiKey:
    """Revoke a key on every node at once; revoking a revoked key changes nothing."""
    now = ctx.clock()

    def tx(conn: Connection) -> KeyRecord | None:
        record = key_store.get_key(conn, principal.workspace_id, key_id)
        if record is None or record.revoked_at is not None:
            return record
        others = [k for k in key_store.list_keys(conn, principal.workspace_id) if k.id != key_id]
        if _is_live_admin(record, now) and not any(_is_live_admin(k, now) for k in others):
            raise Conflict(
                "this is the workspace's last admin key; create another admin key first",
                field="/key_id",
            )
        key_store.revoke(conn, principal.workspace_id, key_id, now)
        audit.record(
            conn,
            actor,
            "key.revoked",
            workspace_id=principal.workspace_id,
            target_id=key_id,
            now=now,
            details={"name": record.name},
        )
        return key_store.get_key(conn, principal.workspace_id, key_id)

    record = await ctx.database.write(tx)
    if record is None:
        raise NotFound(f"no key {key_id!r}")
    await ctx.broker.publish(KEYS_CHANNEL, key_id)
    return to_wire(record)


async def rotate(
    ctx: ServiceContext,
    actor: Actor,
    principal: Principal,
    key_id: str,
    params: KeyRotateParams,
) -> ApiKeyWithSecret:
    """Give a key a new secret; the old one works `grace_s` longer, then never again."""
    now = ctx.clock()
    secret = key_rules.generate_key()
    previous_until = now + timedelta(seconds=params.grace_s) if params.grace_s > 0 else None

    def tx(conn: Connection) -> KeyRecord | None:
        rotated = key_store.rotate(
            conn,
            principal.workspace_id,
            key_id,
            key_hash=key_rules.hash_key(secret),
            prefix=key_rules.display_prefix(secret),
            previous_until=previous_until,
        )
        if not rotated:
            return None
        audit.record(
            conn,
            actor,
            "key.rotated",
            workspace_id=principal.workspace_id,
            target_id=key_id,
            now=now,
            details={"grace_s": params.grace_s},
        )
        return key_store.get_key(conn, principal.workspace_id, key_id)

    record = await ctx.database.write(tx)
    if record is None:
        raise NotFound(f"no live key {key_id!r}")
    await ctx.broker.publish(KEYS_CHANNEL, key_id)
    return ApiKeyWithSecret(**to_wire(record).model_dump(), secret=secret)
