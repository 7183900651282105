"""The sandbox's parts on their own: the probe's tiers, the command line, the channel, rules."""

from __future__ import annotations

import asyncio
import marshal
import os
import socket
from pathlib import Path

import orjson
import pytest

from corral.sandbox import capabilities, launch
from corral.sandbox.channel import Channel, ChannelBroken
from corral.sandbox.inside import protocol
from corral.sandbox.network import BLOCKED_V4, BLOCKED_V6, ruleset

# --- the probe ---------------------------------------------------------------------------------


def test_without_bubblewrap_tools_are_refused_with_the_fix(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # no bwrap anywhere
    capabilities.probe.cache_clear()
    try:
        found = capabilities.probe("auto")
    finally:
        capabilities.probe.cache_clear()

    assert found.tier == "unavailable" and not found.enforced
    assert "bubblewrap" in found.detail
    assert found.fix is not None and "apt-get install bubblewrap" in found.fix


def test_the_unsafe_tier_is_only_what_the_operator_asked_for_and_says_so():
    found = capabilities.probe("none")

    assert found.tier == "none" and not found.enforced
    assert found.detail.startswith("UNSAFE")
    assert found.as_dict()["tier"] == "none"


def test_the_probe_reports_what_it_found_and_is_cached():
    first, second = capabilities.probe(), capabilities.probe()

    assert first is second
    assert first.tier in ("bwrap", "unavailable")
    assert set(first.as_dict()) >= {"tier", "cgroups", "networks", "disk_quota", "detail"}


# --- the command line --------------------------------------------------------------------------


def _plan(tmp_path: Path, **overrides: object) -> launch.Plan:
    values: dict[str, object] = {
        "uid": 2_000_000_123,
        "gid": 2_000_000_123,
        "disk": launch.DiskSource(path=tmp_path / "a b\tc" / "disk.img", is_image=True),
        "etc": tmp_path / "etc",
        "network": True,
        "toolchains": (Path("/root/.pyenv"),),
    }
    values.update(overrides)
    return launch.Plan(**values)  # type: ignore[arg-type]


def test_the_sandbox_gets_every_namespace_no_capabilities_and_an_unprivileged_user(tmp_path):
    argv = launch.argv(_plan(tmp_path), tmp_path / "fstab")

    dropping = argv[argv.index("--", argv.index("-c")) + 1 :]
    assert dropping[0].endswith("setpriv")
    assert "--reuid=2000000123" in dropping and "--no-new-privs" in dropping
    assert "--bounding-set=-all" in dropping
    for flag in (
        "--unshare-user",
        "--unshare-pid",
        "--unshare-ipc",
        "--unshare-uts",
        "--unshare-net",
        "--disable-userns",
        "--die-with-parent",
        "--new-session",
    ):
        assert flag in argv, flag  # fmt: skip
    assert ["--ro-bind", "/", "/"] not in [argv[i : i + 3] for i in range(len(argv))]


def test_secrets_are_masked_and_the_workspace_is_bound_at_a_neutral_path(tmp_path):
    argv = launch.argv(_plan(tmp_path), tmp_path / "fstab")
    pairs = {
        (argv[i + 1], argv[i + 2]) for i, arg in enumerate(argv) if arg in ("--bind", "--ro-bind")
    }

    assert (f"{launch.STAGE}/disk/workspace", "/workspace") in pairs
    if os.path.lexists("/etc/shadow"):
        assert (f"{launch.STAGE}/etc/empty", "/etc/shadow") in pairs
    assert not any(str(tmp_path) in source for source, _ in pairs)  # only staged paths


def test_the_staging_table_escapes_paths_and_loop_mounts_the_disk(tmp_path):
    table = launch.fstab(_plan(tmp_path))

    disk_line = next(line for line in table.splitlines() if f"{launch.STAGE}/disk " in line)
    assert "a\\040b\\011c" in disk_line
    assert " ext4 loop,nosuid,nodev" in disk_line
    assert table.splitlines()[0].startswith(f"none {launch.STAGE} tmpfs")


def test_without_root_bubblewrap_binds_the_host_paths_itself(tmp_path):
    argv = launch.argv(_plan(tmp_path, rooted=False, disk=launch.DiskSource(
        path=tmp_path / "disk", is_image=False)))  # fmt: skip

    assert argv[0].endswith("bwrap")
    assert (str(tmp_path / "disk" / "workspace"), "/workspace") in {
        (argv[i + 1], argv[i + 2]) for i, arg in enumerate(argv) if arg == "--bind"
    }


# --- the channel -------------------------------------------------------------------------------


async def _pair() -> tuple[Channel, socket.socket]:
    ours, theirs = socket.socketpair()
    carrier, far_end = socket.socketpair()
    far_end.close()
    return await Channel.connect(ours, carrier), theirs


def _read_request(sock: socket.socket) -> dict[str, object]:
    head_len, payload_len = protocol.lengths(sock.recv(8, socket.MSG_WAITALL))
    head = marshal.loads(sock.recv(head_len, socket.MSG_WAITALL))
    if payload_len:
        sock.recv(payload_len, socket.MSG_WAITALL)
    return head  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        (protocol.frame(b"not json"), "not JSON"),
        (protocol.frame(b'["a list"]'), "does not match"),
        (protocol.frame(b'{"id": 999, "ok": true}'), "does not match"),
        (protocol.frame(b'{"id": 1, "ok": true}', b"unasked bytes"), "out of bounds"),
        (b"\xff\xff\xff\xff\x00\x00\x00\x00", "out of bounds"),
        (b"\x00\x00", "closed"),
    ],
    ids=["not-json", "not-an-object", "wrong-id", "unasked-payload", "huge-head", "cut-short"],
)
async def test_an_answer_out_of_protocol_breaks_the_channel(answer, problem):
    channel, peer = await _pair()

    async def misbehave() -> None:
        await asyncio.to_thread(_read_request, peer)
        peer.sendall(answer)
        peer.shutdown(socket.SHUT_WR)

    task = asyncio.create_task(misbehave())
    with pytest.raises(ChannelBroken, match=problem):
        await channel.request("ls", {"path": "."})
    await task
    channel.close()
    peer.close()


async def test_a_good_answer_is_read_with_its_payload():
    channel, peer = await _pair()

    async def answer() -> None:
        request = await asyncio.to_thread(_read_request, peer)
        head = orjson.dumps({"id": request["id"], "ok": True, "files": ["a"]})
        peer.sendall(protocol.frame(head, b"bytes"))

    task = asyncio.create_task(answer())
    got = await channel.request("read_files", {"paths": ["a"]}, max_payload=10)
    await task

    assert (got.ok, got.fields, got.payload) == (True, {"files": ["a"]}, b"bytes")
    channel.close()
    peer.close()


# --- the firewall of `open` environments -----------------------------------------------------


def test_open_rules_refuse_private_ranges_and_the_hosts_own_addresses_but_allow_dns():
    rules = ruleset(["192.0.2.2", "fd00::2", "203.0.113.9"], allowed_private=["10.1.2.3"])

    assert "10.0.0.0/8" in BLOCKED_V4 and "fc00::/7" in BLOCKED_V6
    assert "203.0.113.9" in rules and "fd00::2" in rules
    assert rules.index("10.0.2.3 meta l4proto") < rules.index("10.0.0.0/8")
    assert rules.index("10.1.2.3") < rules.index("10.0.0.0/8")
    assert "policy accept" in rules and "reject" in rules
