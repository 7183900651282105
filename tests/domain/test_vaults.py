"""What a session's vault credentials add to a run's spec, and what they refuse."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from corral.domain import vaults as vault_rules
from corral.domain.budgets import Budget
from corral.domain.run_spec import McpServerSpec, Networking, RunEnvironment, RunSpec
from corral.errors import InvalidRequest
from corral.types.vaults import VaultCredential

NOW = datetime(2026, 1, 1, tzinfo=UTC)
SPEC = RunSpec(
    model="test",
    environment=RunEnvironment(variables={"T": "given", "KEEP": "kept"}),
    tools=(
        McpServerSpec(
            name="remote", url="https://mcp.example.com/mcp", headers={"authorization": "x"}
        ),
        McpServerSpec(name="other", url="https://other.example.com/mcp"),
        McpServerSpec(name="local", command="server"),
    ),
    limits=Budget(max_turns=1, max_tool_calls_per_turn=1, max_output_tokens=None, timeout_s=1),
)


def credential(**fields: Any) -> VaultCredential:
    base: dict[str, Any] = {
        "id": "vcrd_1",
        "vault_id": "vlt_1",
        "kind": "environment_variable",
        "display_name": None,
        "metadata": {},
        "mcp_server_url": None,
        "variable": "T",
        "allowed_hosts": ["*.example.com"],
        "expires_at": None,
        "secret_name": "vault.vcrd_1",
        "created_at": NOW,
        "updated_at": NOW,
        "archived_at": None,
    }
    return VaultCredential.model_validate(base | fields)


def bearer(number: int, url: str, **fields: Any) -> VaultCredential:
    defaults = {"kind": "static_bearer", "variable": None, "allowed_hosts": None}
    name = f"vcrd_{number}"
    return credential(
        **(defaults | fields), id=name, mcp_server_url=url, secret_name=f"vault.{name}"
    )


def test_a_bearer_credential_authorizes_only_the_servers_at_its_url_and_the_first_wins():
    applied = vault_rules.apply(
        SPEC,
        [bearer(1, "https://MCP.example.com/mcp/"), bearer(2, "https://mcp.example.com/mcp")],
        now=NOW,
    )

    remote, other, local = applied.tools
    assert remote.headers == {"Authorization": "Bearer ${secret:vault.vcrd_1}"}
    assert other.headers == {} and local.headers == {}
    assert applied.environment == SPEC.environment


def test_a_variable_credential_sets_its_variable_over_the_environment_s():
    applied = vault_rules.apply(
        SPEC,
        [credential(allowed_hosts=None), credential(id="vcrd_2", secret_name="vault.vcrd_2")],
        now=NOW,
    )

    assert applied.environment.variables == {"T": "${secret:vault.vcrd_1}", "KEEP": "kept"}
    assert applied.tools == SPEC.tools


def test_an_expired_oauth_token_is_refused_only_where_it_would_be_used():
    expired = {"kind": "mcp_oauth", "expires_at": NOW - timedelta(seconds=1)}
    unused = bearer(1, "https://elsewhere.example.com", **expired)

    assert vault_rules.apply(SPEC, [unused], now=NOW) == SPEC
    with pytest.raises(InvalidRequest, match="does not refresh"):
        vault_rules.apply(SPEC, [bearer(2, "https://mcp.example.com/mcp", **expired)], now=NOW)


@pytest.mark.parametrize(
    ("mode", "hosts", "contained"),
    [
        ("none", (), True),
        ("open", (), False),
        ("limited", ("api.example.com", "a.b.example.com:443"), True),
        ("limited", ("*.api.example.com",), True),
        ("limited", ("example.com",), False),
        ("limited", ("api.example.com", "pypi.org"), False),
    ],
    ids=["no-network", "open", "subdomains", "narrower-wildcard", "apex", "one-outside"],
)
def test_a_limited_variable_needs_a_network_that_reaches_only_its_hosts(mode, hosts, contained):
    networking = Networking(mode=mode, allowed_hosts=hosts)
    try:
        vault_rules.check_contained(credential(), networking)
        verdict = True
    except InvalidRequest:
        verdict = False

    assert verdict is contained


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("https://MCP.example.com/mcp/", "https://mcp.example.com/mcp", True),
        ("https://mcp.example.com:443/mcp", "https://mcp.example.com/mcp", True),
        ("http://mcp.example.com/mcp", "https://mcp.example.com/mcp", False),
        ("https://mcp.example.com/mcp", "https://mcp.example.com/other", False),
    ],
    ids=["case-and-slash", "default-port", "scheme", "path"],
)
def test_a_credential_s_url_names_a_server_up_to_case_default_port_and_trailing_slash(a, b, same):
    assert vault_rules.same_server(a, b) is same
