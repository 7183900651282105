"""Which tool calls run at once, which wait for a person, and which are refused.

A run's permissions come from its agent, then its session, then the run itself: a later layer's
`default` replaces an earlier one, its per-tool entries win over theirs, and its rules are tried
before theirs. A call's policy is the first of these that speaks about it:

1. a rule for its tool (or its MCP server) whose condition the call meets;
2. the entry for its exact name (`bash`, `github__create_issue`);
3. the entry for its MCP server (`github`);
4. the default (`allow` when no layer sets one).

A rule's `command_prefix` allows, asks or denies by the start of a `command` argument. A command
that chains or substitutes other commands (`;`, `&&`, `|`, `$(`, a backtick, a redirection or a
line break) never meets a prefix: `git status; curl evil` is not `git status`.

Calls the caller executes (client tools) are not governed: the caller decides as it runs them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

__all__ = [
    "Permissions",
    "Policy",
    "Rule",
    "Verdict",
    "merge_permissions",
    "parse_permissions",
]

CHAINING = frozenset(";&|<>`\n\r") | {"$("}
"""What lets one command line run another: such a line meets no prefix."""


class Policy(StrEnum):
    """What happens to a call."""

    ALLOW = "allow"
    """It runs at once."""
    ASK = "ask"
    """It waits until a person allows or denies it."""
    DENY = "deny"
    """It never runs; the model is told it was refused."""


@dataclass(frozen=True, slots=True)
class Rule:
    """A policy for the calls of one tool (or MCP server) that meet a condition."""

    tool: str
    policy: Policy
    command_prefix: tuple[str, ...] = ()
    """The call's `command` argument starts with one of these, as whole words (empty: any)."""

    def matches(self, names: Sequence[str], arguments: Mapping[str, Any]) -> bool:
        """Whether the rule speaks about this call."""
        if self.tool not in names:
            return False
        if not self.command_prefix:
            return True
        command = arguments.get("command")
        return isinstance(command, str) and _starts_with_any(command, self.command_prefix)

    def to_json(self) -> dict[str, Any]:
        """The rule as stored."""
        stored: dict[str, Any] = {"tool": self.tool, "policy": self.policy.value}
        if self.command_prefix:
            stored["command_prefix"] = list(self.command_prefix)
        return stored


@dataclass(frozen=True, slots=True)
class Verdict:
    """A call's policy, and which part of the permissions gave it (shown to the approver)."""

    policy: Policy
    source: str
    """`rules[0]`, `tools.bash`, `tools.github` or `default`."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Permissions:
    """The permissions a run executes under."""

    default: Policy | None = None
    """None: not set by this layer (`allow` if no layer sets it)."""
    tools: Mapping[str, Policy] = field(default_factory=dict)
    rules: tuple[Rule, ...] = ()
    approval_timeout_s: float | None = None
    """How long a call may wait for its decision; None: as long as it takes."""

    def __bool__(self) -> bool:
        return bool(self.default or self.tools or self.rules or self.approval_timeout_s)

    def decide(
        self, name: str, arguments: Mapping[str, Any], *, server: str | None = None
    ) -> Verdict:
        """The policy of a call of tool `name` (of MCP server `server`, if it is one of its)."""
        names = (name,) if server is None else (name, server)
        for index, rule in enumerate(self.rules):
            if rule.matches(names, arguments):
                return Verdict(rule.policy, f"rules[{index}]")
        for key in names:
            policy = self.tools.get(key)
            if policy is not None:
                return Verdict(policy, f"tools.{key}")
        if self.default is not None:
            return Verdict(self.default, "default")
        return Verdict(Policy.ALLOW, "default")

    def to_json(self) -> dict[str, Any]:
        """The permissions as stored: only what is set."""
        stored: dict[str, Any] = {}
        if self.default is not None:
            stored["default"] = self.default.value
        if self.tools:
            stored["tools"] = {name: policy.value for name, policy in self.tools.items()}
        if self.rules:
            stored["rules"] = [rule.to_json() for rule in self.rules]
        if self.approval_timeout_s is not None:
            stored["approval_timeout_s"] = self.approval_timeout_s
        return stored


def parse_permissions(data: Mapping[str, Any] | None) -> Permissions:
    """Stored or validated permissions, typed (absent: none)."""
    if not data:
        return Permissions()
    default = data.get("default")
    timeout = data.get("approval_timeout_s")
    return Permissions(
        default=Policy(default) if default else None,
        tools={name: Policy(value) for name, value in (data.get("tools") or {}).items()},
        rules=tuple(
            Rule(
                tool=rule["tool"],
                policy=Policy(rule["policy"]),
                command_prefix=tuple(rule.get("command_prefix") or ()),
            )
            for rule in data.get("rules") or ()
        ),
        approval_timeout_s=float(timeout) if timeout is not None else None,
    )


def merge_permissions(layers: Iterable[Permissions]) -> Permissions:
    """Layers from the most general (the agent's) to the most specific (the run's)."""
    default: Policy | None = None
    tools: dict[str, Policy] = {}
    rules: tuple[Rule, ...] = ()
    timeout: float | None = None
    for layer in layers:
        default = layer.default if layer.default is not None else default
        tools.update(layer.tools)
        rules = layer.rules + rules
        timeout = layer.approval_timeout_s if layer.approval_timeout_s is not None else timeout
    return Permissions(default=default, tools=tools, rules=rules, approval_timeout_s=timeout)


def _starts_with_any(command: str, prefixes: Iterable[str]) -> bool:
    line = command.strip()
    if any(mark in line for mark in CHAINING):
        return False
    words = line.split()
    for prefix in prefixes:
        wanted = prefix.split()
        if wanted and words[: len(wanted)] == wanted:
            return True
    return False
