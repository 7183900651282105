"""Readiness: is the database reachable and at the schema this version expects?"""

from __future__ import annotations

from typing import Any

from corral.context import ServiceContext
from corral.errors import ServiceError
from corral.storage import migrate


async def readiness(ctx: ServiceContext) -> dict[str, Any]:
    """A report with `status` `ready` or `unavailable`."""
    expected = migrate.head_revision()
    try:
        current = await migrate.current_revision(ctx.database)
    except ServiceError as error:
        return {"status": "unavailable", "database": "unreachable", "detail": error.message}
    if current != expected:
        return {
            "status": "unavailable",
            "database": "ok",
            "schema": "behind",
            "revision": current,
            "expected": expected,
        }
    return {
        "status": "ready",
        "database": "ok",
        "schema": "current",
        "revision": current,
        "sandbox": ctx.sandbox.as_dict(),
    }
