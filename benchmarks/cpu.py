"""CPU and memory accounting from /proc (Linux only): the server's and the whole machine's.

Every figure is shown next to the CPU spent by the server, by the load generator and by
everything else on the machine. A reader can then tell a slow server from a starved one, and
the figures are only comparable when that third share is small.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

CLOCK_TICKS_PER_S = os.sysconf("SC_CLK_TCK")

QUIET_OTHER_CPU_PCT = 20.0
"""Above this much CPU used by other processes, the machine was too busy for fair figures."""


def process_cpu_s(pid: int) -> float:
    """User plus system CPU seconds used so far by process `pid` (all its threads)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    # The command name in field 2 may contain spaces; every field after it is numeric.
    fields = stat[stat.rindex(")") + 2 :].split()
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) / CLOCK_TICKS_PER_S


def process_memory_mb(pid: int) -> tuple[float, float]:
    """Resident memory of process `pid` now and at its peak (VmRSS, VmHWM), in MiB."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            values[name] = int(rest.split()[0]) / 1024  # the kernel reports kB
    return values["VmRSS"], values["VmHWM"]


def process_pss_kib(pid: int) -> int:
    """Proportional set size of process `pid`: its private pages plus its share of shared ones."""
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])  # the kernel reports kB
    return 0


def process_name(pid: int) -> str:
    """The command name of process `pid` (`comm`, at most 15 characters)."""
    return Path(f"/proc/{pid}/comm").read_text().strip()


def children_named(parent: int, name: str) -> list[int]:
    """Pids of the live children of process `parent` whose command name is `name`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # it exited meanwhile
            continue
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        if ppid == parent and comm == name:
            found.append(int(entry.name))
    return sorted(found)


def meminfo_kib() -> dict[str, int]:
    """The machine's memory counters (/proc/meminfo) in KiB, `MemAvailable` among them."""
    values = {}
    for line in Path("/proc/meminfo").read_text().splitlines():
        name, _, rest = line.partition(":")
        values[name] = int(rest.split()[0])
    return values


def machine_busy_s() -> float:
    """CPU seconds all cores have spent busy since boot (anything but idle and I/O wait).

    Time stolen by the hypervisor counts as busy: it is CPU this machine could not use.
    """
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[:8])
    return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS_PER_S


def load_average() -> tuple[float, float, float]:
    """The 1, 5 and 15 minute load averages."""
    one, five, fifteen = Path("/proc/loadavg").read_text().split()[:3]
    return float(one), float(five), float(fifteen)


@dataclass(frozen=True, kw_only=True)
class CpuReading:
    """CPU seconds of the server, of the fake provider and of the whole machine, at one instant."""

    server_s: float | None
    """None when the server is not a local process we can watch."""
    machine_s: float
    provider_s: float | None = None
    """The fake model provider's, when one is running (`benchmarks.fake_provider`)."""

    def since(self, earlier: CpuReading) -> CpuReading:
        """The CPU seconds spent between `earlier` and this reading."""
        return CpuReading(
            server_s=_difference(self.server_s, earlier.server_s),
            machine_s=self.machine_s - earlier.machine_s,
            provider_s=_difference(self.provider_s, earlier.provider_s),
        )


def _difference(later: float | None, earlier: float | None) -> float | None:
    return None if later is None or earlier is None else later - earlier
