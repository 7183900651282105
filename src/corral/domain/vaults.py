"""What the credentials of a session's vaults add to a run's spec, and when they may not.

The credentials arrive already read and ordered: the session's vaults in the order it names them,
each vault's credentials oldest first. The first credential for an MCP server, or for a variable,
wins. The spec only ever gets references (`${secret:NAME}`), which the worker fills in when the
run starts, as it does for any other reference.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from datetime import datetime
from urllib.parse import urlsplit

from corral.domain.run_spec import McpServerSpec, Networking, RunSpec
from corral.errors import InvalidRequest
from corral.types.vaults import VaultCredential

__all__ = ["BEARER_KINDS", "apply", "check_contained", "check_current", "same_server"]

BEARER_KINDS = frozenset({"static_bearer", "mcp_oauth"})
"""The kinds whose value is the bearer token of one remote MCP server."""
_DEFAULT_PORTS = {("http", 80), ("https", 443)}


def _server_key(url: str) -> str:
    """The URL as far as it names a server.

    The case of scheme and host, a default port and a trailing slash do not count.
    """
    parts = urlsplit(url.strip())
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    try:
        port = parts.port
    except ValueError:
        return url.strip()
    netloc = host if port is None or (scheme, port) in _DEFAULT_PORTS else f"{host}:{port}"
    query = f"?{parts.query}" if parts.query else ""
    return f"{scheme}://{netloc}{parts.path.rstrip('/')}{query}"


def same_server(a: str, b: str) -> bool:
    """Whether two URLs name the same MCP server."""
    return _server_key(a) == _server_key(b)


def _covered(host: str, patterns: Iterable[str]) -> bool:
    """Whether every host the environment's `host` pattern lets through matches a pattern."""
    name = host.rpartition(":")[0] if ":" in host else host
    name = name.lower()
    for pattern in (p.lower() for p in patterns):
        if pattern == name:
            return True
        if pattern.startswith("*.") and name.removeprefix("*.").endswith(pattern[1:]):
            return True
    return False


def check_contained(
    credential: VaultCredential, networking: Networking, *, field: str | None = None
) -> None:
    """Refuse a variable limited to some hosts in a sandbox that can reach others.

    The sandbox holds the value itself, so the only way to keep it to those hosts is a network
    that reaches nothing else.
    """
    hosts = credential.allowed_hosts
    if hosts is None or networking.mode == "none":
        return
    outside = (
        ["any host"]
        if networking.mode == "open"
        else [h for h in networking.allowed_hosts if not _covered(h, hosts)]
    )
    if outside:
        raise InvalidRequest(
            f"credential {credential.id} of vault {credential.vault_id} limits its value to "
            f"{', '.join(hosts)}, but the session's environment can reach {', '.join(outside)}: "
            "the sandbox holds the value itself, so limit the environment's network to those "
            "hosts, or make the credential's networking unrestricted",
            field=field,
        )


def check_current(credential: VaultCredential, now: datetime, *, field: str | None = None) -> None:
    """Refuse an OAuth access token past its expiry: this server does not refresh tokens."""
    if credential.kind == "mcp_oauth" and credential.expires_at and credential.expires_at <= now:
        raise InvalidRequest(
            f"the access token of credential {credential.id} (vault {credential.vault_id}) "
            f"expired at {credential.expires_at.isoformat()}, and this server does not refresh "
            "OAuth tokens: update the credential with a new access_token",
            field=field,
        )


def _with_bearer(headers: dict[str, str], secret_name: str) -> dict[str, str]:
    kept = {k: v for k, v in headers.items() if k.lower() != "authorization"}
    return {**kept, "Authorization": f"Bearer ${{secret:{secret_name}}}"}


def apply(
    spec: RunSpec,
    credentials: Sequence[VaultCredential],
    *,
    now: datetime,
    field: str | None = None,
) -> RunSpec:
    """The spec with each credential where it belongs.

    A bearer credential sets `Authorization` on the remote MCP servers at its URL; a variable
    credential sets its variable in the sandbox's environment (over one the spec has).
    """
    tools = list(spec.tools)
    served: set[int] = set()
    variables = dict(spec.environment.variables)
    set_by_vault: set[str] = set()
    for credential in credentials:
        if credential.kind in BEARER_KINDS and credential.mcp_server_url:
            for index, tool in enumerate(tools):
                if (
                    index in served
                    or not isinstance(tool, McpServerSpec)
                    or tool.url is None
                    or not same_server(tool.url, credential.mcp_server_url)
                ):
                    continue
                check_current(credential, now, field=field)
                headers = _with_bearer(tool.headers, credential.secret_name)
                tools[index] = dataclasses.replace(tool, headers=headers)
                served.add(index)
        elif credential.variable and credential.variable not in set_by_vault:
            check_contained(credential, spec.environment.networking, field=field)
            variables[credential.variable] = f"${{secret:{credential.secret_name}}}"
            set_by_vault.add(credential.variable)
    if not served and not set_by_vault:
        return spec
    environment = dataclasses.replace(spec.environment, variables=variables)
    return dataclasses.replace(spec, tools=tuple(tools), environment=environment)
