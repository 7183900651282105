"""A seccomp filter for environments: system calls no agent needs answer EPERM.

Namespaces, capabilities and the unprivileged user already make most of these fail; the filter
takes the kernel code behind them out of the agent's reach too (keyrings, eBPF, io_uring,
userfaultfd, perf events, mount and module calls). Everything else is allowed, so ordinary
programs (compilers, interpreters, git, package managers, debuggers) work unchanged. It is a
classic BPF program built here, for the two architectures it knows; on others there is none,
and the capabilities report says so.
"""

from __future__ import annotations

import os
import platform
import struct

__all__ = ["ARCHITECTURES", "BLOCKED", "program", "supported"]

_SECCOMP_RET_ALLOW = 0x7FFF0000
_SECCOMP_RET_ERRNO = 0x00050000
_EPERM = 1
_LOAD_ABSOLUTE = 0x20  # BPF_LD | BPF_W | BPF_ABS
_JUMP_IF_EQUAL = 0x15  # BPF_JMP | BPF_JEQ | BPF_K
_JUMP_IF_AT_LEAST = 0x35  # BPF_JMP | BPF_JGE | BPF_K
_RETURN = 0x06  # BPF_RET | BPF_K
_X32_SYSCALL_BIT = 0x40000000

BLOCKED = (
    "keyctl", "add_key", "request_key", "bpf", "perf_event_open", "userfaultfd",
    "io_uring_setup", "io_uring_enter", "io_uring_register", "kexec_load", "kexec_file_load",
    "init_module", "finit_module", "delete_module", "mount", "umount2", "pivot_root",
    "open_tree", "move_mount", "fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr",
    "swapon", "swapoff", "reboot", "acct", "quotactl", "syslog", "setns", "unshare",
    "open_by_handle_at", "lookup_dcookie", "vhangup",
)  # fmt: skip
"""The calls refused, by name."""

ARCHITECTURES: dict[str, tuple[int, dict[str, int]]] = {
    "x86_64": (
        0xC000003E,
        {
            "keyctl": 250, "add_key": 248, "request_key": 249, "bpf": 321,
            "perf_event_open": 298, "userfaultfd": 323, "io_uring_setup": 425,
            "io_uring_enter": 426, "io_uring_register": 427, "kexec_load": 246,
            "kexec_file_load": 320, "init_module": 175, "finit_module": 313,
            "delete_module": 176, "mount": 165, "umount2": 166, "pivot_root": 155,
            "open_tree": 428, "move_mount": 429, "fsopen": 430, "fsconfig": 431, "fsmount": 432,
            "fspick": 433, "mount_setattr": 442, "swapon": 167, "swapoff": 168, "reboot": 169,
            "acct": 163, "quotactl": 179, "syslog": 103, "setns": 308, "unshare": 272,
            "open_by_handle_at": 304, "lookup_dcookie": 212, "vhangup": 153,
        },
    ),
    "aarch64": (
        0xC00000B7,
        {
            "keyctl": 219, "add_key": 217, "request_key": 218, "bpf": 280,
            "perf_event_open": 241, "userfaultfd": 282, "io_uring_setup": 425,
            "io_uring_enter": 426, "io_uring_register": 427, "kexec_load": 104,
            "kexec_file_load": 294, "init_module": 105, "finit_module": 273,
            "delete_module": 106, "mount": 40, "umount2": 39, "pivot_root": 41,
            "open_tree": 428, "move_mount": 429, "fsopen": 430, "fsconfig": 431, "fsmount": 432,
            "fspick": 433, "mount_setattr": 442, "swapon": 224, "swapoff": 225, "reboot": 142,
            "acct": 89, "quotactl": 60, "syslog": 116, "setns": 268, "unshare": 97,
            "open_by_handle_at": 265, "lookup_dcookie": 18, "vhangup": 58,
        },
    ),
}  # fmt: skip
"""Per machine (`uname -m`): its audit architecture and the numbers of the blocked calls."""


def supported(machine: str | None = None) -> bool:
    """Whether a filter exists for this machine's architecture."""
    return (machine or platform.machine()) in ARCHITECTURES


def program(machine: str | None = None) -> bytes:
    """The filter as bubblewrap's `--seccomp` reads it: `struct sock_filter`s, native order.

    A call of another architecture (x86_64's x32 calls included) is refused whole, so the
    numbers of this one cannot be dodged.
    """
    arch, numbers = ARCHITECTURES[machine or platform.machine()]
    blocked = sorted({numbers[name] for name in BLOCKED})
    refuse = 6 + len(blocked)  # where the final "refuse" return stands

    def to_refuse(index: int) -> int:
        """A jump offset from the instruction at `index` to the final refusal."""
        return refuse - (index + 1)

    code: list[tuple[int, int, int, int]] = [
        (_LOAD_ABSOLUTE, 0, 0, 4),  # 0: seccomp_data.arch
        (_JUMP_IF_EQUAL, 1, 0, arch),  # 1: ours: on to 3
        (_RETURN, 0, 0, _SECCOMP_RET_ERRNO | _EPERM),  # 2: another architecture
        (_LOAD_ABSOLUTE, 0, 0, 0),  # 3: seccomp_data.nr
        (_JUMP_IF_AT_LEAST, to_refuse(4), 0, _X32_SYSCALL_BIT),  # 4
    ]
    for offset, number in enumerate(blocked):
        code.append((_JUMP_IF_EQUAL, to_refuse(5 + offset), 0, number))
    code.append((_RETURN, 0, 0, _SECCOMP_RET_ALLOW))
    code.append((_RETURN, 0, 0, _SECCOMP_RET_ERRNO | _EPERM))
    assert len(code) == refuse + 1
    return b"".join(struct.pack("=HBBI", *instruction) for instruction in code)


def memfd(machine: str | None = None) -> int:
    """An in-memory file holding the program, rewound, for bubblewrap to read."""
    fd = os.memfd_create("corral-seccomp", os.MFD_CLOEXEC)
    os.write(fd, program(machine))
    os.lseek(fd, 0, os.SEEK_SET)
    return fd
