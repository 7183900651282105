"""One named page class per listed resource, for the OpenAPI document.

`Page[Agent]` and `AgentPage` carry the same JSON; the subclass only gives the schema a name a
client generator can use (pydantic names a parametrized generic `Page_Agent_`). The routes
declare these; services build plain `Page[...]` values.
"""

from __future__ import annotations

from corral.types.agents import Agent, AgentVersion
from corral.types.audit import AuditEvent
from corral.types.common import Page
from corral.types.environments import EnvironmentInfo
from corral.types.files import File
from corral.types.keys import ApiKey
from corral.types.permissions import Approval
from corral.types.routines import Fire, Routine
from corral.types.runs import Run
from corral.types.secrets import Secret
from corral.types.sessions import SessionSummary
from corral.types.webhooks import Delivery, Webhook
from corral.types.workspaces import Workspace


class AgentPage(Page[Agent]):
    """A page of agents, at their latest version."""


class AgentVersionPage(Page[AgentVersion]):
    """A page of one agent's versions."""


class ApiKeyPage(Page[ApiKey]):
    """A page of the workspace's API keys."""


class ApprovalPage(Page[Approval]):
    """A page of approvals."""


class AuditEventPage(Page[AuditEvent]):
    """A page of the audit log."""


class DeliveryPage(Page[Delivery]):
    """A page of a webhook's deliveries."""


class EnvironmentPage(Page[EnvironmentInfo]):
    """A page of stored environments."""


class FilePage(Page[File]):
    """A page of uploaded files."""


class FirePage(Page[Fire]):
    """A page of a routine's fires."""


class RoutinePage(Page[Routine]):
    """A page of routines."""


class RunPage(Page[Run]):
    """A page of runs."""


class SecretPage(Page[Secret]):
    """A page of the vault's secrets (never their values)."""


class SessionSummaryPage(Page[SessionSummary]):
    """A page of sessions, without their conversations."""


class WebhookPage(Page[Webhook]):
    """A page of webhook endpoints."""


class WorkspacePage(Page[Workspace]):
    """A page of the server's workspaces."""
