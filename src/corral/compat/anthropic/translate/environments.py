"""An environment's `config` as a Corral environment, and back.

`packages.pip` and `packages.npm` become setup commands run in the sandbox before the first
turn; the other package managers need root in the sandbox, which Corral's sandbox never gives,
so they are refused. What a limited network allows beyond its hosts is kept in two metadata
keys, which answers hide.
"""

from __future__ import annotations

import shlex
from typing import Any

from corral.compat.anthropic.wire.environments import CloudConfig, LimitedNetwork, SelfHostedConfig
from corral.errors import InvalidRequest

MCP_KEY = "anthropic.allow_mcp_servers"
PACKAGES_KEY = "anthropic.allow_package_managers"
HIDDEN_KEYS = frozenset({MCP_KEY, PACKAGES_KEY})

REGISTRY_HOSTS = ("pypi.org", "files.pythonhosted.org", "registry.npmjs.org")
"""What `allow_package_managers` lets a limited network reach."""

_PIP = "python3 -m pip install --quiet --user -- "
_NPM = "npm install --global --silent -- "
_REFUSED_MANAGERS = ("apt", "cargo", "gem", "go")


def corral_config(
    config: CloudConfig | SelfHostedConfig | None,
) -> tuple[dict[str, Any], dict[str, str]]:
    """The Corral environment of a `config`, and the hidden metadata it needs."""
    if isinstance(config, SelfHostedConfig):
        raise InvalidRequest(
            "self-hosted environments are not available: Corral runs the sandbox itself "
            "(use a cloud config)",
            field="/config/type",
        )
    hidden: dict[str, str] = {}
    networking: dict[str, Any] = {"mode": "open", "allowed_hosts": []}
    setup: list[str] = []
    if config is not None and isinstance(config.networking, LimitedNetwork):
        net = config.networking
        hosts = list(net.allowed_hosts or [])
        hidden[MCP_KEY] = str(bool(net.allow_mcp_servers)).lower()
        hidden[PACKAGES_KEY] = str(bool(net.allow_package_managers)).lower()
        if net.allow_package_managers:
            hosts += [h for h in REGISTRY_HOSTS if h not in hosts]
        networking = {"mode": "limited", "allowed_hosts": hosts}
    if config is not None and config.packages is not None:
        packages = config.packages
        for manager in _REFUSED_MANAGERS:
            if getattr(packages, manager):
                raise InvalidRequest(
                    f"{manager} packages need root in the sandbox, which Corral never gives: "
                    "install with pip or npm, or in a setup command",
                    field=f"/config/packages/{manager}",
                )
        if packages.pip:
            setup.append(_PIP + shlex.join(packages.pip))
        if packages.npm:
            setup.append(_NPM + shlex.join(packages.npm))
    return {"networking": networking, "setup": setup}, hidden


def _packages(setup: list[str]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {
        "apt": [],
        "cargo": [],
        "gem": [],
        "go": [],
        "npm": [],
        "pip": [],
    }
    for command in setup:
        for prefix, manager in ((_PIP, "pip"), (_NPM, "npm")):
            if command.startswith(prefix):
                found[manager] += shlex.split(command[len(prefix) :])
    return found


def config_view(config: dict[str, Any], metadata: dict[str, str]) -> dict[str, Any]:
    """A Corral environment as the API's `cloud` config."""
    networking = config.get("networking") or {}
    if networking.get("mode", "open") == "open":
        shown: dict[str, Any] = {"type": "unrestricted"}
    else:
        packages_allowed = metadata.get(PACKAGES_KEY) == "true"
        hosts = [
            h
            for h in networking.get("allowed_hosts") or []
            if not (packages_allowed and h in REGISTRY_HOSTS)
        ]
        shown = {
            "type": "limited",
            "allowed_hosts": hosts,
            "allow_mcp_servers": metadata.get(MCP_KEY) == "true",
            "allow_package_managers": packages_allowed,
        }
    return {
        "type": "cloud",
        "networking": shown,
        "packages": {"type": "packages", **_packages(config.get("setup") or [])},
    }


def visible(metadata: dict[str, str]) -> dict[str, str]:
    """Metadata without the keys the server keeps."""
    return {k: v for k, v in metadata.items() if k not in HIDDEN_KEYS}
