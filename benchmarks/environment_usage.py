"""What environments use, read from /proc and their cgroups: memory by process and CPU."""

from __future__ import annotations

import os
from contextlib import suppress
from typing import Any

from benchmarks import cpu
from corral.sandbox import cgroups
from corral.sandbox.environment import Environment

MEMINFO_FIELDS = (
    "AnonPages", "Shmem", "Cached", "Buffers", "SUnreclaim", "SReclaimable", "KernelStack",
    "PageTables", "Percpu",
)  # fmt: skip
"""The /proc/meminfo counters whose change with the idle environments is reported: where the
drop of `MemAvailable` went."""


def memory_of(environments: list[Environment]) -> dict[str, Any]:
    """PSS of every process of the environments (by command name), and their cgroup charge."""
    pss_kib: dict[str, int] = {}
    processes = 0
    charge_kib = 0
    for environment in environments:
        group = environment.group
        for pid in sorted(group.members()) if group is not None else []:
            with suppress(OSError):  # gone meanwhile: it uses nothing any more
                name = cpu.process_name(pid)
                pss_kib[name] = pss_kib.get(name, 0) + cpu.process_pss_kib(pid)
                processes += 1
        charge_kib += memory_charge_kib(group)
    # slirp4netns is a child of this process, outside the environment's cgroup.
    slirps = cpu.children_named(os.getpid(), "slirp4netns")
    for pid in slirps:
        with suppress(OSError):
            pss_kib["slirp4netns"] = pss_kib.get("slirp4netns", 0) + cpu.process_pss_kib(pid)
    count = len(environments)
    if not count:
        return {"pss_mib_per_environment": None}
    return {
        "pss_mib_per_environment": sum(pss_kib.values()) / 1024 / count,
        "pss_mib_per_environment_by_process": {
            name: kib / 1024 / count for name, kib in sorted(pss_kib.items())
        },
        "processes_per_environment": processes / count,
        "slirp4netns_found": len(slirps),
        "cgroup_charge_mib_per_environment": charge_kib / 1024 / count,
    }


def memory_charge_kib(group: cgroups.Group | None) -> int:
    """Memory the kernel charges to the group: its processes' pages, page cache, kernel memory."""
    for path in group.dirs if group is not None else ():
        for name in ("memory.usage_in_bytes", "memory.current"):
            with suppress(OSError, ValueError):
                return int((path / name).read_text()) // 1024
    return 0


def cpu_stat(environment: Environment, key: str) -> int | None:
    """A counter of the environment's `cpu.stat` (v2 `usage_usec`, v1 or v2 `nr_throttled`)."""
    group = environment.group
    for path in group.dirs if group is not None else ():
        with suppress(OSError, ValueError):
            for line in (path / "cpu.stat").read_text().splitlines():
                name, _, value = line.partition(" ")
                if name == key:
                    return int(value)
    return None
