"""Environments started by a server that is not root; run as a script by test_unprivileged.py.

Prints one JSON object: the probe's verdict and what an agent saw and could do inside.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

from corral.errors import SandboxUnavailable
from corral.sandbox.capabilities import probe
from corral.sandbox.egress import EgressPolicy
from corral.sandbox.environment import Environment, EnvironmentSpec
from corral.sandbox.host import Host
from corral.sandbox.pool import Environments

LOOK_AROUND = """
id -u
wc -c < /etc/shadow
ls /proc | grep -c '^[0-9]'
grep -c : /proc/net/dev
touch /usr/corral-escape 2>/dev/null && echo wrote-system || echo system-read-only
echo inside > /workspace/note.txt
(exec 3<>/dev/tcp/127.0.0.1/{port}) 2>/dev/null && echo reached-host || echo host-unreachable
"""


async def bash(environment: Environment, command: str) -> str:
    answer = await environment.call("bash", {"command": command, "timeout_s": 20}, timeout_s=20)
    if not answer.ok:
        raise RuntimeError(answer.error)
    return answer.text("output")


async def main(workspaces: Path, port: int, marker: str) -> dict[str, Any]:
    capabilities = probe()
    seen: dict[str, Any] = {
        "server_uid": os.geteuid(),
        "tier": capabilities.tier,
        "dedicated_users": capabilities.dedicated_users,
        "networks": list(capabilities.networks),
        "detail": capabilities.detail,
    }
    if not capabilities.enforced:
        return seen
    host = Host(capabilities=capabilities, workspaces=workspaces)
    pool = Environments(host, idle_s=30, lock_wait_s=2)
    try:
        environment = await pool.acquire(
            EnvironmentSpec(key="run_unprivileged", network=EgressPolicy(mode="none"))
        )
        seen["inside"] = (await bash(environment, LOOK_AROUND.format(port=port))).split()
        await bash(environment, f"setsid sh -c 'exec -a {marker} sleep 300' >/dev/null 2>&1 &")
        await pool.release(environment, keep_warm=False)
        try:
            await pool.acquire(
                EnvironmentSpec(key="run_wants_open", network=EgressPolicy(mode="open"))
            )
            seen["open"] = "started"
        except SandboxUnavailable as refusal:
            seen["open"] = str(refusal)
    finally:
        await pool.close()
        host.close()
    return seen


if __name__ == "__main__":
    result = asyncio.run(main(Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3]))
    print(json.dumps(result))
