"""What each HTTP route asks of the caller: one table, read by the route guards on every request.

A route's requirement lives here rather than beside its handler, so the whole access policy reads
in one place, and `check_coverage` can prove at start-up that no route is served without a row.
Rows are keyed by method and by the path template as FastAPI stores it (`route.path`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import Enum
from types import MappingProxyType

from fastapi import FastAPI
from starlette.routing import BaseRoute

from corral.console import PAGE_PATHS
from corral.security.keys import SCOPES

__all__ = [
    "ANY_KEY",
    "OPERATOR",
    "PUBLIC",
    "ROUTES",
    "Access",
    "Operation",
    "Requirement",
    "Scope",
    "ScopeTableMismatch",
    "app_routes",
    "check_coverage",
    "requirement",
    "served",
]


class Access(Enum):
    """A route that needs no particular scope."""

    PUBLIC = "public"
    """Answers without a key: probes, metrics and the API's own description."""
    ANY_KEY = "any key"
    """Answers any valid key, whatever its scopes."""
    OPERATOR = "operator"
    """Answers the server's operator key only (`CORRAL_OPERATOR_KEY`), no workspace's key."""


@dataclass(frozen=True, slots=True)
class Scope:
    """A route that needs a key allowing `name` (see `corral.security.keys.allows`)."""

    name: str

    def __post_init__(self) -> None:
        if self.name not in SCOPES:
            raise ValueError(f"{self.name!r} is not a scope; scopes are {sorted(SCOPES)}")


Requirement = Access | Scope
Operation = tuple[str, str]
"""(HTTP method, path template)."""

PUBLIC = Access.PUBLIC
ANY_KEY = Access.ANY_KEY
OPERATOR = Access.OPERATOR
_AGENTS_READ, _AGENTS_WRITE = Scope("agents:read"), Scope("agents:write")
_RUNS_READ, _RUNS_WRITE = Scope("runs:read"), Scope("runs:write")
_SESSIONS_READ, _SESSIONS_WRITE = Scope("sessions:read"), Scope("sessions:write")
_KEYS_READ, _KEYS_WRITE = Scope("keys:read"), Scope("keys:write")
_AUDIT_READ = Scope("audit:read")
_SECRETS_READ, _SECRETS_WRITE = Scope("secrets:read"), Scope("secrets:write")
_WEBHOOKS_READ, _WEBHOOKS_WRITE = Scope("webhooks:read"), Scope("webhooks:write")
_ROUTINES_READ, _ROUTINES_WRITE = Scope("routines:read"), Scope("routines:write")

_MANTYX = "/api/v1/workspaces/{workspaceSlug}"
_ANTHROPIC = "/anthropic/v1"
_VAULT_CREDENTIAL = f"{_ANTHROPIC}/vaults/{{vault_id}}/credentials/{{credential_id}}"
_SKILL_VERSION = f"{_ANTHROPIC}/skills/{{skill_id}}/versions/{{version}}"

ROUTES: Mapping[Operation, Requirement] = MappingProxyType(
    {
        # The service itself
        ("GET", "/healthz"): PUBLIC,
        ("GET", "/readyz"): PUBLIC,
        ("GET", "/metrics"): PUBLIC,
        ("GET", "/openapi.json"): PUBLIC,
        ("GET", "/docs"): PUBLIC,
        ("GET", "/redoc"): PUBLIC,
        ("GET", "/v1/models"): ANY_KEY,
        ("GET", "/v1/whoami"): ANY_KEY,
        # Agents
        ("POST", "/v1/agents"): _AGENTS_WRITE,
        ("GET", "/v1/agents"): _AGENTS_READ,
        ("GET", "/v1/agents/{agent}"): _AGENTS_READ,
        ("PATCH", "/v1/agents/{agent}"): _AGENTS_WRITE,
        ("DELETE", "/v1/agents/{agent}"): _AGENTS_WRITE,
        ("GET", "/v1/agents/{agent}/versions"): _AGENTS_READ,
        # Runs (a run of a session also takes the session's scope: see `services.auth`)
        ("POST", "/v1/runs"): _RUNS_WRITE,
        ("GET", "/v1/runs"): _RUNS_READ,
        ("GET", "/v1/runs/{run_id}"): _RUNS_READ,
        ("DELETE", "/v1/runs/{run_id}"): _RUNS_WRITE,
        ("GET", "/v1/runs/{run_id}/wait"): _RUNS_READ,
        ("POST", "/v1/runs/{run_id}/cancel"): _RUNS_WRITE,
        ("GET", "/v1/runs/{run_id}/events"): _RUNS_READ,
        ("GET", "/v1/runs/{run_id}/stream"): _RUNS_READ,
        ("POST", "/v1/runs/{run_id}/tool-results"): _RUNS_WRITE,
        ("GET", "/v1/runs/{run_id}/approvals"): _RUNS_READ,
        ("POST", "/v1/runs/{run_id}/approvals/{call_id}"): _RUNS_WRITE,
        ("GET", "/v1/approvals"): _RUNS_READ,
        ("GET", "/v1/runs/{run_id}/outputs"): _RUNS_READ,
        ("GET", "/v1/runs/{run_id}/outputs/{path:path}"): _RUNS_READ,
        ("GET", "/v1/usage"): _RUNS_READ,
        # Files belong to the runs that read and write them
        ("POST", "/v1/files"): _RUNS_WRITE,
        ("GET", "/v1/files"): _RUNS_READ,
        ("GET", "/v1/files/{file_id}"): _RUNS_READ,
        ("GET", "/v1/files/{file_id}/content"): _RUNS_READ,
        ("DELETE", "/v1/files/{file_id}"): _RUNS_WRITE,
        # Sessions
        ("POST", "/v1/sessions"): _SESSIONS_WRITE,
        ("GET", "/v1/sessions"): _SESSIONS_READ,
        ("GET", "/v1/sessions/{session_id}"): _SESSIONS_READ,
        ("PATCH", "/v1/sessions/{session_id}"): _SESSIONS_WRITE,
        ("DELETE", "/v1/sessions/{session_id}"): _SESSIONS_WRITE,
        ("POST", "/v1/sessions/{session_id}/messages"): _SESSIONS_WRITE,
        ("GET", "/v1/sessions/{session_id}/stream"): _SESSIONS_READ,
        # Archiving agents and sessions, and stored environments (under the agents' scopes)
        ("POST", "/v1/agents/{agent}/archive"): _AGENTS_WRITE,
        ("POST", "/v1/sessions/{session_id}/archive"): _SESSIONS_WRITE,
        ("POST", "/v1/environments"): _AGENTS_WRITE,
        ("GET", "/v1/environments"): _AGENTS_READ,
        ("GET", "/v1/environments/{environment}"): _AGENTS_READ,
        ("PATCH", "/v1/environments/{environment}"): _AGENTS_WRITE,
        ("POST", "/v1/environments/{environment}/archive"): _AGENTS_WRITE,
        ("DELETE", "/v1/environments/{environment}"): _AGENTS_WRITE,
        # The workspace's keys and its audit log
        ("POST", "/v1/keys"): _KEYS_WRITE,
        ("GET", "/v1/keys"): _KEYS_READ,
        ("GET", "/v1/keys/{key_id}"): _KEYS_READ,
        ("DELETE", "/v1/keys/{key_id}"): _KEYS_WRITE,
        ("POST", "/v1/keys/{key_id}/rotate"): _KEYS_WRITE,
        ("GET", "/v1/audit"): _AUDIT_READ,
        # The vault
        ("POST", "/v1/secrets"): _SECRETS_WRITE,
        ("GET", "/v1/secrets"): _SECRETS_READ,
        ("GET", "/v1/secrets/{name}"): _SECRETS_READ,
        ("PUT", "/v1/secrets/{name}"): _SECRETS_WRITE,
        ("DELETE", "/v1/secrets/{name}"): _SECRETS_WRITE,
        ("POST", "/v1/webhooks"): _WEBHOOKS_WRITE,
        ("GET", "/v1/webhooks"): _WEBHOOKS_READ,
        ("GET", "/v1/webhooks/{webhook_id}"): _WEBHOOKS_READ,
        # The secret signs what receivers trust: reading it is a write-level power.
        ("GET", "/v1/webhooks/{webhook_id}/secret"): _WEBHOOKS_WRITE,
        ("PATCH", "/v1/webhooks/{webhook_id}"): _WEBHOOKS_WRITE,
        ("DELETE", "/v1/webhooks/{webhook_id}"): _WEBHOOKS_WRITE,
        ("GET", "/v1/webhooks/{webhook_id}/deliveries"): _WEBHOOKS_READ,
        ("POST", "/v1/webhooks/{webhook_id}/deliveries/{message_id}/resend"): _WEBHOOKS_WRITE,
        # Routines, and the inbound webhooks that fire them (the URL's token is the credential)
        ("POST", "/v1/routines"): _ROUTINES_WRITE,
        ("GET", "/v1/routines"): _ROUTINES_READ,
        ("GET", "/v1/routines/{routine}"): _ROUTINES_READ,
        ("PATCH", "/v1/routines/{routine}"): _ROUTINES_WRITE,
        ("DELETE", "/v1/routines/{routine}"): _ROUTINES_WRITE,
        ("POST", "/v1/routines/{routine}/pause"): _ROUTINES_WRITE,
        ("POST", "/v1/routines/{routine}/resume"): _ROUTINES_WRITE,
        ("POST", "/v1/routines/{routine}/run"): _ROUTINES_WRITE,
        ("GET", "/v1/routines/{routine}/fires"): _ROUTINES_READ,
        ("GET", "/v1/routines/{routine}/fires/{fire_id}"): _ROUTINES_READ,
        ("POST", "/v1/hooks/{token}"): PUBLIC,
        # The server's workspaces, for its operator
        ("POST", "/v1/workspaces"): OPERATOR,
        ("GET", "/v1/workspaces"): OPERATOR,
        ("GET", "/v1/workspaces/{workspace}"): OPERATOR,
        ("PATCH", "/v1/workspaces/{workspace}"): OPERATOR,
        ("POST", "/v1/workspaces/{workspace}/suspend"): OPERATOR,
        ("POST", "/v1/workspaces/{workspace}/resume"): OPERATOR,
        ("DELETE", "/v1/workspaces/{workspace}"): OPERATOR,
        # The MANTYX facade (`corral.compat.mantyx`); its routes also check the workspace slug
        ("GET", f"{_MANTYX}/models"): ANY_KEY,
        ("POST", f"{_MANTYX}/agent-runs"): _RUNS_WRITE,
        ("GET", f"{_MANTYX}/agent-runs/{{runId}}"): _RUNS_READ,
        ("GET", f"{_MANTYX}/agent-runs/{{runId}}/stream"): _RUNS_READ,
        ("POST", f"{_MANTYX}/agent-runs/{{runId}}/tool-results"): _RUNS_WRITE,
        ("POST", f"{_MANTYX}/agent-runs/{{runId}}/cancel"): _RUNS_WRITE,
        ("POST", f"{_MANTYX}/agent-sessions"): _SESSIONS_WRITE,
        ("GET", f"{_MANTYX}/agent-sessions/{{sessionId}}"): _SESSIONS_READ,
        ("DELETE", f"{_MANTYX}/agent-sessions/{{sessionId}}"): _SESSIONS_WRITE,
        ("POST", f"{_MANTYX}/agent-sessions/{{sessionId}}/messages"): _SESSIONS_WRITE,
        # Any other path under the facade's prefix only answers the protocol's 404
        **dict.fromkeys(
            [
                (method, f"{_MANTYX}/{{path:path}}")
                for method in ("GET", "POST", "PUT", "PATCH", "DELETE")
            ],
            PUBLIC,
        ),
        # The Managed Agents facade (`corral.compat.anthropic`)
        ("POST", f"{_ANTHROPIC}/agents"): _AGENTS_WRITE,
        ("GET", f"{_ANTHROPIC}/agents"): _AGENTS_READ,
        ("GET", f"{_ANTHROPIC}/agents/{{agent_id}}"): _AGENTS_READ,
        ("POST", f"{_ANTHROPIC}/agents/{{agent_id}}"): _AGENTS_WRITE,
        ("GET", f"{_ANTHROPIC}/agents/{{agent_id}}/versions"): _AGENTS_READ,
        ("POST", f"{_ANTHROPIC}/agents/{{agent_id}}/archive"): _AGENTS_WRITE,
        ("POST", f"{_ANTHROPIC}/environments"): _AGENTS_WRITE,
        ("GET", f"{_ANTHROPIC}/environments"): _AGENTS_READ,
        ("GET", f"{_ANTHROPIC}/environments/{{environment_id}}"): _AGENTS_READ,
        ("POST", f"{_ANTHROPIC}/environments/{{environment_id}}"): _AGENTS_WRITE,
        ("POST", f"{_ANTHROPIC}/environments/{{environment_id}}/archive"): _AGENTS_WRITE,
        ("DELETE", f"{_ANTHROPIC}/environments/{{environment_id}}"): _AGENTS_WRITE,
        ("POST", f"{_ANTHROPIC}/sessions"): _SESSIONS_WRITE,
        ("GET", f"{_ANTHROPIC}/sessions"): _SESSIONS_READ,
        ("GET", f"{_ANTHROPIC}/sessions/{{session_id}}"): _SESSIONS_READ,
        ("POST", f"{_ANTHROPIC}/sessions/{{session_id}}"): _SESSIONS_WRITE,
        ("POST", f"{_ANTHROPIC}/sessions/{{session_id}}/archive"): _SESSIONS_WRITE,
        ("DELETE", f"{_ANTHROPIC}/sessions/{{session_id}}"): _SESSIONS_WRITE,
        ("POST", f"{_ANTHROPIC}/sessions/{{session_id}}/events"): _SESSIONS_WRITE,
        ("GET", f"{_ANTHROPIC}/sessions/{{session_id}}/events"): _SESSIONS_READ,
        ("GET", f"{_ANTHROPIC}/sessions/{{session_id}}/events/stream"): _SESSIONS_READ,
        ("GET", f"{_ANTHROPIC}/sessions/{{session_id}}/threads"): _SESSIONS_READ,
        ("GET", f"{_ANTHROPIC}/sessions/{{session_id}}/threads/{{thread_id}}"): _SESSIONS_READ,
        ("POST", f"{_ANTHROPIC}/sessions/{{session_id}}/threads/{{thread_id}}/archive"): (
            _SESSIONS_WRITE
        ),
        ("GET", f"{_ANTHROPIC}/sessions/{{session_id}}/threads/{{thread_id}}/events"): (
            _SESSIONS_READ
        ),
        ("GET", f"{_ANTHROPIC}/sessions/{{session_id}}/threads/{{thread_id}}/stream"): (
            _SESSIONS_READ
        ),
        # The Managed Agents facade's skills: each version is a skill archive upload (`/v1/files`)
        ("POST", f"{_ANTHROPIC}/skills"): _RUNS_WRITE,
        ("GET", f"{_ANTHROPIC}/skills"): _RUNS_READ,
        ("GET", f"{_ANTHROPIC}/skills/{{skill_id}}"): _RUNS_READ,
        ("DELETE", f"{_ANTHROPIC}/skills/{{skill_id}}"): _RUNS_WRITE,
        ("POST", f"{_ANTHROPIC}/skills/{{skill_id}}/versions"): _RUNS_WRITE,
        ("GET", f"{_ANTHROPIC}/skills/{{skill_id}}/versions"): _RUNS_READ,
        ("GET", _SKILL_VERSION): _RUNS_READ,
        ("DELETE", _SKILL_VERSION): _RUNS_WRITE,
        ("GET", f"{_SKILL_VERSION}/content"): _RUNS_READ,
        # The Managed Agents facade's deployments: routines, and their fires as runs
        ("POST", f"{_ANTHROPIC}/deployments"): _ROUTINES_WRITE,
        ("GET", f"{_ANTHROPIC}/deployments"): _ROUTINES_READ,
        ("GET", f"{_ANTHROPIC}/deployments/{{deployment_id}}"): _ROUTINES_READ,
        ("POST", f"{_ANTHROPIC}/deployments/{{deployment_id}}"): _ROUTINES_WRITE,
        ("POST", f"{_ANTHROPIC}/deployments/{{deployment_id}}/archive"): _ROUTINES_WRITE,
        ("POST", f"{_ANTHROPIC}/deployments/{{deployment_id}}/pause"): _ROUTINES_WRITE,
        ("POST", f"{_ANTHROPIC}/deployments/{{deployment_id}}/unpause"): _ROUTINES_WRITE,
        ("POST", f"{_ANTHROPIC}/deployments/{{deployment_id}}/run"): _ROUTINES_WRITE,
        ("GET", f"{_ANTHROPIC}/deployment_runs"): _ROUTINES_READ,
        ("GET", f"{_ANTHROPIC}/deployment_runs/{{deployment_run_id}}"): _ROUTINES_READ,
        # The Managed Agents facade's vaults: their credentials' values are workspace secrets
        ("POST", f"{_ANTHROPIC}/vaults"): _SECRETS_WRITE,
        ("GET", f"{_ANTHROPIC}/vaults"): _SECRETS_READ,
        ("GET", f"{_ANTHROPIC}/vaults/{{vault_id}}"): _SECRETS_READ,
        ("POST", f"{_ANTHROPIC}/vaults/{{vault_id}}"): _SECRETS_WRITE,
        ("POST", f"{_ANTHROPIC}/vaults/{{vault_id}}/archive"): _SECRETS_WRITE,
        ("DELETE", f"{_ANTHROPIC}/vaults/{{vault_id}}"): _SECRETS_WRITE,
        ("POST", f"{_ANTHROPIC}/vaults/{{vault_id}}/credentials"): _SECRETS_WRITE,
        ("GET", f"{_ANTHROPIC}/vaults/{{vault_id}}/credentials"): _SECRETS_READ,
        ("GET", _VAULT_CREDENTIAL): _SECRETS_READ,
        ("POST", _VAULT_CREDENTIAL): _SECRETS_WRITE,
        ("POST", f"{_VAULT_CREDENTIAL}/archive"): _SECRETS_WRITE,
        ("DELETE", _VAULT_CREDENTIAL): _SECRETS_WRITE,
        ("POST", f"{_VAULT_CREDENTIAL}/mcp_oauth_validate"): _SECRETS_READ,
        # Any other path under the facade's prefix only answers the API's 404
        **dict.fromkeys(
            [
                (method, "/anthropic/{path:path}")
                for method in ("GET", "POST", "PUT", "PATCH", "DELETE")
            ],
            PUBLIC,
        ),
        # The console's page: a file that asks the person for a key, then uses the API with it
        **dict.fromkeys([("GET", path) for path in PAGE_PATHS], PUBLIC),
    }
)
"""Every HTTP operation the app serves → what it asks of the caller."""


class ScopeTableMismatch(RuntimeError):
    """The routes and `ROUTES` disagree: a route would go unguarded, or a row is stale."""


SUBMITS: frozenset[Operation] = frozenset(
    {
        ("POST", "/v1/runs"),
        ("POST", "/v1/sessions/{session_id}/messages"),
        ("POST", f"{_MANTYX}/agent-runs"),
        ("POST", f"{_MANTYX}/agent-sessions/{{sessionId}}/messages"),
        ("POST", f"{_ANTHROPIC}/sessions"),
        ("POST", f"{_ANTHROPIC}/sessions/{{session_id}}/events"),
    }
)
"""The routes that submit work: each call counts against the workspace's `submits_per_minute`."""


def requirement(method: str, path: str) -> Requirement:
    """The requirement of the operation, or `ScopeTableMismatch` if the table lacks it."""
    found = ROUTES.get((method, path))
    if found is None:
        raise ScopeTableMismatch(f"no row in corral.api.scopes.ROUTES for {method} {path}")
    return found


def app_routes(app: FastAPI) -> Iterator[BaseRoute]:
    """The app's own routes and those of the routers `create_app` included.

    The included routers (`app.state.routers`, included without a prefix) are read rather
    than the routes FastAPI derives at the first request: deriving them all costs a fifth of a
    second, at every start.
    """
    yield from app.router.routes
    for router in getattr(app.state, "routers", ()):
        yield from router.routes


def served(app: FastAPI) -> set[Operation]:
    """Every (method, path template) the app's HTTP routes answer.

    `HEAD` beside `GET` is left out: Starlette adds it to every plain `GET` route.
    """
    operations: set[Operation] = set()
    for route in app_routes(app):
        path, methods = getattr(route, "path", None), getattr(route, "methods", None)
        if path is None or not methods:
            continue  # not an HTTP route: an included router, or a mount of static files
        operations.update((m, path) for m in methods if not (m == "HEAD" and "GET" in methods))
    return operations


def check_coverage(app: FastAPI, table: Mapping[Operation, Requirement] = ROUTES) -> None:
    """Refuse to start an app whose routes and `table` differ, naming every difference."""
    operations = served(app)
    unguarded = sorted(operations - table.keys())
    stale = sorted(table.keys() - operations)
    problems = []
    if unguarded:
        problems.append("no row for " + ", ".join(f"{m} {p}" for m, p in unguarded))
    if stale:
        problems.append("no route for " + ", ".join(f"{m} {p}" for m, p in stale))
    if problems:
        raise ScopeTableMismatch(
            "the routes and corral.api.scopes.ROUTES disagree: " + "; ".join(problems)
        )
