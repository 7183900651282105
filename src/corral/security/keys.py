"""API keys: how they look, how they are hashed, and what their scopes allow.

Keys carry 256 random bits, so a plain SHA-256 is the right hash: there is nothing to guess, and
verification stays one indexed lookup.
"""

from __future__ import annotations

import hashlib
import secrets

KEY_PREFIX = "crl_"
ADMIN_SCOPE = "admin"
SCOPES = frozenset(
    {
        ADMIN_SCOPE,
        "agents:read",
        "agents:write",
        "audit:read",
        "keys:read",
        "keys:write",
        "secrets:read",
        "secrets:write",
        "routines:read",
        "routines:write",
        "runs:read",
        "runs:write",
        "sessions:read",
        "sessions:write",
        "webhooks:read",
        "webhooks:write",
    }
)


def generate_key() -> str:
    """A new secret API key."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    """The stored form of a key."""
    return hashlib.sha256(key.encode()).hexdigest()


def display_prefix(key: str) -> str:
    """The first characters of a key, safe to show in listings."""
    return key[:12]


def allows(scopes: list[str], required: str) -> bool:
    """Whether a key with `scopes` may perform an operation needing `required`.

    `admin` allows everything, and `x:write` implies `x:read`.
    """
    if ADMIN_SCOPE in scopes or required in scopes:
        return True
    resource, _, action = required.partition(":")
    return action == "read" and f"{resource}:write" in scopes
