"""`corral keys …` and `corral audit` as real processes: a secret printed once, then its life."""

from __future__ import annotations

import re
import uuid


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_create_prints_only_the_secret_which_then_works_until_revoked(cli, sdk):
    name = unique("reader")

    created = cli("keys", "create", name, "--scope", "runs:read", "--scope", "agents:read")
    secret = created.stdout.strip()
    [key] = [k for k in sdk.keys.list() if k.name == name]
    me = cli("whoami", "--json", env={"CORRAL_API_KEY": secret})
    listed, listed_json = cli.all(["keys", "list"], ["keys", "list", "--json"])
    revoked = cli("keys", "revoke", key.id)
    refused = cli("whoami", env={"CORRAL_API_KEY": secret}, ok=False)
    after = cli("keys", "list")

    assert secret.startswith(key.prefix) and len(created.stdout.splitlines()) == 1
    assert f"key {name} ({key.id}) created with agents:read, runs:read" in created.stderr
    assert "not shown again" in created.stderr
    assert me.json()["key"]["id"] == key.id
    assert re.search(
        rf"^{key.id}\s+{name}\s+\S+\s+agents:read,runs:read\s+any\s+active\s", listed.stdout, re.M
    )
    [shown] = [k for k in listed_json.json() if k["id"] == key.id]
    assert "secret" not in shown and shown["scopes"] == ["agents:read", "runs:read"]
    assert revoked.stdout.strip() == f"revoked key {name} ({key.id})"
    assert refused.returncode == 1 and refused.stderr.startswith("error: unauthorized:")
    assert re.search(rf"^{key.id}\s+{name}\s.*\srevoked\s", after.stdout, re.M)


def test_create_json_holds_the_secret_expiry_and_agents(cli):
    result = cli(
        "keys", "create", unique("bot"), "--scope", "runs:write",
        "--expires-at", "2099-01-31T18:00:00Z", "--agent", "helper", "--agent", "agt_1", "--json",
    )  # fmt: skip

    key = result.json()
    assert key["secret"].startswith(key["prefix"])
    assert key["expires_at"] == "2099-01-31T18:00:00Z"
    assert key["agents"] == ["helper", "agt_1"]
    assert result.stderr == ""


def test_rotate_prints_the_new_secret_and_the_old_one_works_for_the_grace(cli, sdk):
    key = sdk.keys.create(name=unique("ci"), scopes=["runs:read"])

    rotated = cli("keys", "rotate", key.id, "--grace", "600")
    new_secret = rotated.stdout.strip()
    prefix = sdk.keys.retrieve(key.id).prefix
    old, new = cli.all(
        ["--api-key", key.secret, "whoami", "--json"],
        ["--api-key", new_secret, "whoami", "--json"],
    )
    again = cli("keys", "rotate", key.id, "--json")
    stale = cli("--api-key", new_secret, "whoami", ok=False)

    assert new_secret != key.secret and new_secret.startswith(prefix)
    assert "the old one works 10 min more" in rotated.stderr
    assert old.json()["key"]["id"] == new.json()["key"]["id"] == key.id
    assert again.json()["id"] == key.id and again.json()["secret"] not in (key.secret, new_secret)
    assert stale.returncode == 1 and stale.stderr.startswith("error: unauthorized:")


def test_a_grant_beyond_the_key_in_use_is_refused_naming_the_scope(cli, sdk):
    keeper = sdk.keys.create(name=unique("keeper"), scopes=["keys:write"])

    result = cli(
        "keys", "create", unique("escalate"), "--scope", "runs:write",
        env={"CORRAL_API_KEY": keeper.secret}, ok=False,
    )  # fmt: skip

    assert result.returncode == 1
    assert result.stderr.startswith("error: forbidden: ")
    assert "(field: /scopes/0)" in result.stderr
    assert result.stdout == ""


def test_usage_errors_exit_2(cli):
    no_scope = cli("keys", "create", unique("x"), ok=False)
    bad_time = cli(
        "keys", "create", unique("x"), "--scope", "runs:read", "--expires-at", "soon", ok=False
    )
    bad_grace = cli("keys", "rotate", "key_x", "--grace", "-1", ok=False)

    assert no_scope.returncode == bad_time.returncode == bad_grace.returncode == 2
    assert "--scope" in no_scope.stderr
    assert "ISO 8601" in bad_time.stderr


def test_audit_lists_who_changed_which_key_newest_first(cli, sdk):
    key = sdk.keys.create(name=unique("audited"), scopes=["runs:read"])
    sdk.keys.revoke(key.id)

    table, revocations, limited = cli.all(
        ["audit", "-n", "2"],
        ["audit", "--action", "key.revoked", "--json"],
        ["audit", "--limit", "1", "--json"],
    )

    header, *rows = table.stdout.splitlines()
    assert header.split() == ["TIME", "ACTION", "ACTOR", "TARGET", "ADDRESS"]
    assert len(rows) == 2
    assert any(re.search(rf"\skey\.revoked\s+admin\s+{key.id}\s+127\.0\.0\.1$", r) for r in rows)
    [revocation] = [e for e in revocations.json() if e["target_id"] == key.id]
    assert (revocation["action"], revocation["actor"]) == ("key.revoked", "admin")
    assert len(limited.json()) == 1
