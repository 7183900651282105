"""What a box is, and the command line that confines a program to one.

`Box` and `Limits` describe where a run's commands execute and what they may use. `Confinement`
turns a program into the command line that runs it there: under bubblewrap (read-only system,
masked secrets, own namespaces, no capabilities) or, without it, under `env -i`; `shim` joins the
call's cgroups and lowers rlimits first. Nothing here starts a process.
"""

from __future__ import annotations

import os
import resource
import shlex
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from corral.tools import cgroups
    from corral.tools.capabilities import Capabilities

RuntimeSize = Literal["small", "medium", "large"]

SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
"""PATH of the shim itself, and inside when the server has none."""


@dataclass(frozen=True, kw_only=True)
class Limits:
    """Resources one command (and everything it starts) may use."""

    cpus: float
    """CPU share, enforced as a CFS quota (0.25 = a quarter of one core)."""
    memory_mb: int
    """Memory cgroup limit; pages of any tmpfs the command fills count too."""
    pids: int
    """Most processes and threads alive at once (`pids.max`): bounds fork bombs."""
    file_size_mb: int
    """Largest file the command may write (RLIMIT_FSIZE)."""
    open_files: int = 4096
    """Most open file descriptors per process (RLIMIT_NOFILE), capped by the server's own limit."""


RUNTIME_SIZES: dict[str, Limits] = {
    "small": Limits(cpus=0.25, memory_mb=1024, pids=256, file_size_mb=1024),
    "medium": Limits(cpus=1, memory_mb=4096, pids=512, file_size_mb=4096),
    "large": Limits(cpus=2, memory_mb=8192, pids=1024, file_size_mb=8192),
}
"""The runtime-size presets agents and runs choose from."""


@dataclass(frozen=True, kw_only=True)
class Box:
    """Where and how one run's commands execute."""

    workspace: Path
    """Writable, bound at the same path inside, and the working directory."""
    home: Path
    """The run's writable HOME, bound at the same path."""
    tmp: Path
    """On-disk per-run directory bound at /tmp (on disk so it does not eat the memory limit).

    Its parent, never bound inside, also gets the sandbox's own files: `jobs/` logs, `.empty`.
    """
    env: dict[str, str]
    """Variables given to commands; HOME, PATH and TMPDIR are set by the sandbox."""
    limits: Limits
    hidden: tuple[Path, ...]
    """Paths that must not be readable inside (data dir, secrets): masked by empty ones."""
    netns: str | None = None
    """Name of the `ip netns` namespace to enter when `network` is `netns`."""
    network: Literal["open", "none", "netns"] = "open"
    """`open`: host network; `none`: only a private loopback; `netns`: enter `netns`."""
    proxy_env: dict[str, str] = field(default_factory=dict)
    """http(s)_proxy variables for limited networking, set by the caller."""

    @property
    def jobs_dir(self) -> Path:
        """Where background jobs' output logs go: beside `tmp`, outside every bind."""
        return self.tmp.parent / "jobs"


class SandboxUnsupported(Exception):
    """The host cannot enforce what the box asks for."""


class Confinement:
    """Builds the command lines that run programs in boxes, as far as the host can enforce."""

    def __init__(
        self,
        capabilities: Capabilities,
        *,
        path: str | None = None,
        toolchains: Sequence[Path] | None = None,
    ) -> None:
        """Confine with these capabilities; `path` and `toolchains` as `Sandbox` takes them."""
        self.capabilities = capabilities
        self.path = path or _inner_path(os.environ.get("PATH") or SYSTEM_PATH)
        """PATH inside the box."""
        self._home = Path.home()
        self._toolchains = (
            tuple(toolchains) if toolchains is not None else _toolchains(self._home, self.path)
        )
        self._bwrap = shutil.which("bwrap") or "bwrap"

    def argv(self, program: list[str], box: Box) -> list[str]:
        """What the cgroup shim execs to run `program` in the box."""
        prefix = self._network_prefix(box)
        if self.capabilities.tier == "bwrap":
            return prefix + self._bwrap_argv(program, box)
        env = {**box.proxy_env, **box.env, **self._env(box, tmp=str(box.tmp))}
        assignments = [f"{name}={value}" for name, value in env.items()]
        return [
            *prefix,
            "/usr/bin/env",
            "-i",
            "-C",
            str(box.workspace),
            "--",
            *assignments,
            *program,
        ]

    def login_command(self, command: str) -> str:
        """`command` for `bash -lc`, with the box's PATH in front of the login shell's."""
        # A login shell's /etc/profile resets PATH; put the toolchains back in front, on the
        # same line so the command's own line numbers in error messages stay right.
        return f'export PATH={shlex.quote(self.path)}"${{PATH:+:$PATH}}"; {command}'

    def _bwrap_argv(self, program: list[str], box: Box) -> list[str]:
        argv = [self._bwrap, "--ro-bind", "/", "/", "--tmpfs", "/run"]
        argv += ["--dev", "/dev", "--proc", "/proc"]
        masks, masked_dirs = self._masks(box)
        argv += masks
        argv += ["--bind", str(box.tmp), "/tmp"]
        argv += ["--bind", str(box.workspace), str(box.workspace)]
        argv += ["--bind", str(box.home), str(box.home)]
        for path in masked_dirs:  # after the binds, whose mount points may lie inside
            argv += ["--remount-ro", path]
        argv += ["--unshare-pid", "--unshare-ipc", "--unshare-uts"]
        if box.network == "none":
            argv.append("--unshare-net")
        argv += ["--die-with-parent", "--new-session", "--cap-drop", "ALL", "--clearenv"]
        env = {**box.proxy_env, **box.env, **self._env(box, tmp="/tmp")}
        for name, value in env.items():
            argv += ["--setenv", name, value]
        return [*argv, "--chdir", str(box.workspace), "--", *program]

    def _masks(self, box: Box) -> tuple[list[str], list[str]]:
        """Arguments that hide the server's home and the box's hidden paths; the masked dirs."""
        argv: list[str] = []
        masked_dirs: list[str] = []
        if self._home != Path("/"):
            # The server's home may hold keys; keep only its toolchains, read-only.
            argv += ["--tmpfs", str(self._home)]
            masked_dirs.append(str(self._home))
            for toolchain in self._toolchains:
                argv += ["--ro-bind-try", str(toolchain), str(toolchain)]
        # As root with no capabilities the real fsuid is still 0: mask root-only files by hand,
        # with an empty file that lives beside the box's directories, outside every bind.
        empty = box.tmp.parent / ".empty"
        if not empty.exists():
            empty.touch(mode=0o444)
        for path in [Path("/etc/shadow"), Path("/etc/gshadow"), *box.hidden]:
            if path.is_relative_to("/tmp"):
                continue  # the box's own /tmp replaces all of it
            if path.is_dir():
                argv += ["--tmpfs", str(path)]
                masked_dirs.append(str(path))
            elif path.exists():
                argv += ["--ro-bind", str(empty), str(path)]
        return argv, masked_dirs

    def _env(self, box: Box, *, tmp: str) -> dict[str, str]:
        env = {"HOME": str(box.home), "PATH": self.path, "TMPDIR": tmp}
        rustup = self._home / ".rustup"
        if rustup in self._toolchains:
            env["RUSTUP_HOME"] = str(rustup)
        return env

    def _network_prefix(self, box: Box) -> list[str]:
        if box.network == "netns":
            if box.netns is None:
                raise ValueError("network 'netns' needs the namespace's name in `netns`")
            if not self.capabilities.netns:
                raise SandboxUnsupported("this host cannot enter network namespaces")
            return [shutil.which("nsenter") or "nsenter", f"--net=/run/netns/{box.netns}"]
        if box.network == "none" and self.capabilities.tier == "process":
            if os.geteuid() != 0:
                raise SandboxUnsupported("this host cannot cut a command off the network")
            return [shutil.which("unshare") or "unshare", "--net"]
        return []


def shim(group: cgroups.Group | None, limits: Limits) -> list[str]:
    """`sh` that joins the call's cgroups and lowers rlimits, then execs the command.

    Done in a shell rather than `preexec_fn`, which is unsafe in a threaded server.
    """
    lines = (
        [f"echo $$ > {shlex.quote(str(p))} || exit 125" for p in group.procs_files] if group else []
    )
    _, hard_files = resource.getrlimit(resource.RLIMIT_NOFILE)
    open_files = limits.open_files if hard_files < 0 else min(limits.open_files, hard_files)
    blocks = limits.file_size_mb * 2048  # dash counts file size in 512-byte blocks
    lines.append(f"ulimit -f {blocks} && ulimit -c 0 && ulimit -n {open_files} || exit 125")
    lines.append('exec "$@"')
    return ["/bin/sh", "-c", "\n".join(lines), "corral-sandbox"]


def _inner_path(path: str) -> str:
    """The server's PATH without the server's own virtualenv, whose python is not the agent's."""
    if sys.prefix == sys.base_prefix:
        return path
    venv_bin = str(Path(sys.prefix) / "bin")
    return os.pathsep.join(entry for entry in path.split(os.pathsep) if entry != venv_bin)


def _toolchains(home: Path, path: str) -> tuple[Path, ...]:
    """Top-level directories of `home` that PATH points into (e.g. ~/.pyenv, ~/.cargo)."""
    found: list[Path] = []
    for entry in path.split(os.pathsep):
        entry_path = Path(entry)
        if entry_path.is_relative_to(home) and entry_path != home:
            top = home / entry_path.relative_to(home).parts[0]
            if top not in found:
                found.append(top)
    if home / ".cargo" in found:
        found.append(home / ".rustup")
    return tuple(top for top in found if top.is_dir())
