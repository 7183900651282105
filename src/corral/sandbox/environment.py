"""One environment: a long-lived sandbox holding a workspace, and the tool server inside it.

`start` prepares the disk and the cgroup, launches the sandbox, configures its network before
anything of the agent runs, then greets the tool server. `call` sends one request, bounded in
time on this side too: a tool server that stalls or breaks the protocol gets its environment
killed, and the caller an `EnvironmentLost`. A call whose caller is cancelled kills the
environment as well, so nothing of an interrupted call goes on running.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import signal
import socket
import time
from collections.abc import Callable
from typing import Any

from corral.sandbox import cgroups, disk, launch, pipes, seccomp
from corral.sandbox.boot import BOOTSTRAP, bundle
from corral.sandbox.channel import Answer, Channel, ChannelBroken, Progress
from corral.sandbox.host import Host
from corral.sandbox.network import EnvironmentNetwork, NetworkUnavailable
from corral.sandbox.spec import (
    EnvironmentLost,
    EnvironmentSpec,
    EnvironmentUnavailable,
    WorkspaceBusy,
)

__all__ = [
    "CALL_GRACE_S",
    "Environment",
    "EnvironmentLost",
    "EnvironmentSpec",
    "EnvironmentUnavailable",
    "WorkspaceBusy",
]

logger = logging.getLogger(__name__)

CALL_GRACE_S = 10.0
"""How long past a call's own timeout the tool server may take before it is presumed stuck."""
START_TIMEOUT_S = 30.0
MAX_OUTPUT_CHARS = 50_000
JOB_LOG_BYTES = 10_000_000
MAX_JOBS = 16
_STDERR_TAIL = 4_000


class Environment:
    """A sandbox of one workspace, and the channel to its tool server."""

    def __init__(self, spec: EnvironmentSpec, host: Host) -> None:
        self.spec = spec
        self.host = host
        self.id = "env_" + secrets.token_hex(6)
        self.uid = host.uid_of(spec.key)
        self.root = host.workspaces / spec.key
        self.started_at = 0.0
        self.process: asyncio.subprocess.Process | None = None
        self.sandbox_pid: int | None = None
        """The sandbox's init (first process of its PID namespace), when known."""
        self.group: cgroups.Group | None = None
        self.network: EnvironmentNetwork | None = None
        self._channel: Channel | None = None
        self._stderr = bytearray()
        self._stderr_task: asyncio.Task[None] | None = None
        self._fstab = host.runtime_dir / f"{self.id}.fstab"
        self._on_spawn: Callable[[Environment], None] | None = None
        self._sandbox_pidfd: int | None = None
        self._stopped = False
        self._stopping: asyncio.Future[None] | None = None

    @property
    def alive(self) -> bool:
        """Started, not stopped, and its sandbox still running."""
        running = self.process is not None and self.process.returncode is None
        return self._channel is not None and running and not self._stopped

    @property
    def kill_switch(self) -> str | None:
        """The `cgroup.kill` file that ends everything in the environment, if there is one."""
        if self.group is not None and self.group.layout.has_kill and self.group.unified:
            return str(self.group.unified / "cgroup.kill")
        return None

    def oom_kills(self) -> int:
        """How many of its processes the memory limit has killed so far."""
        return self.group.oom_kills() if self.group is not None else 0

    # -- starting ------------------------------------------------------------------------

    async def start(self, *, on_spawn: Callable[[Environment], None] | None = None) -> None:
        """Launch the sandbox and greet its tool server.

        Args:
            on_spawn: told as soon as the environment's first process exists (before anything
                can hang), e.g. so that a fence can kill it whatever happens next.

        Raises:
            WorkspaceBusy: another environment holds the workspace.
            EnvironmentUnavailable: any other step failed; nothing of it is left running.
        """
        self.started_at = time.monotonic()
        self._on_spawn = on_spawn
        try:
            await self._start()
        except (OSError, disk.DiskUnavailable, NetworkUnavailable, ChannelBroken) as error:
            await self.stop()
            if self.process is not None and self.process.returncode == launch.BUSY_EXIT_CODE:
                raise WorkspaceBusy(f"the workspace {self.spec.key} is in use") from None
            raise EnvironmentUnavailable(self._why(error)) from None
        except BaseException:
            await self.stop()
            raise
        logger.info(
            "environment started",
            extra={
                "action": "environment.started",
                "environment": self.id,
                "key": self.spec.key,
                "start_ms": round((time.monotonic() - self.started_at) * 1000, 1),
            },
        )

    async def _start(self) -> None:
        capabilities, limits = self.host.capabilities, self.spec.limits
        quota = limits.disk_mb if capabilities.disk_quota else None
        source = await disk.prepare(self.root, quota_mb=quota, uid=self.uid, gid=self.uid)
        if capabilities.layout is not None:
            # No CPU quota while the sandbox and the tool server start (Corral's own overhead);
            # the environment's share applies from before the first request on.
            self.group = capabilities.layout.create(
                memory_bytes=limits.memory_mb << 20, cpus=None, pids=limits.pids
            )
        delegated = self.group.delegate(self.uid, self.uid) if self.group else None
        mode = self.spec.network.mode
        slirp = mode == "open" and capabilities.open_network == "slirp4netns"
        configure = capabilities.enforced and mode in ("open", "limited")
        channel, channel_child = socket.socketpair()
        carrier, carrier_child = socket.socketpair()
        info_read, info_write = os.pipe()
        child_fds = [channel_child.fileno(), carrier_child.fileno(), info_write]
        filter_fd = seccomp.memfd() if capabilities.enforced and capabilities.seccomp else None
        if filter_fd is not None:
            child_fds.append(filter_fd)
        plan = launch.Plan(
            uid=self.uid,
            gid=self.uid,
            disk=source,
            etc=self.host.etc(slirp=slirp),
            network=True,
            report_pid=capabilities.enforced,
            cgroup_procs=self.group.procs_files if self.group else (),
            delegated_cgroup=delegated,
            file_size_mb=limits.file_size_mb,
            open_files=limits.open_files,
            toolchains=self.host.toolchains,
            extra_mounts=self.host.extra_mounts,
            path=self.host.path,
            env={"HOME": launch.HOME, "LANG": "C.UTF-8"},
            rooted=capabilities.dedicated_users,
            bwrap=capabilities.bwrap or "bwrap",
            channel_fd=channel_child.fileno(),
            fds_fd=carrier_child.fileno(),
            info_fd=info_write,
            seccomp_fd=filter_fd,
            lock=self.root / disk.LOCK,
        )
        try:
            if plan.rooted:
                await asyncio.to_thread(self._fstab.write_text, launch.fstab(plan))
            command = self._command(plan)
            read_err, write_err = os.pipe()
            try:
                self.process = await asyncio.create_subprocess_exec(
                    *command,
                    pass_fds=child_fds,
                    env=launch.shell_env(plan) if plan.rooted else {"PATH": launch.SYSTEM_PATH},
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=asyncio.subprocess.DEVNULL,
                    stderr=write_err,
                    cwd="/",
                )
            finally:
                os.close(write_err)
            self._stderr_task = asyncio.create_task(self._keep_stderr(read_err))
            if self._on_spawn is not None:
                self._on_spawn(self)
        finally:
            os.close(info_write)
            if filter_fd is not None:
                os.close(filter_fd)
            channel_child.close()
            carrier_child.close()
        try:
            self._channel = await Channel.connect(channel, carrier)
            # The tool server starts meanwhile, but serves nothing before its greeting, which
            # is sent only once the network is configured: no agent code runs before that.
            await self._channel.send_raw(bundle())
            if capabilities.enforced:
                self.sandbox_pid = await self._child_pid(info_read)
                with contextlib.suppress(OSError):  # a pidfd cannot hit a reused pid later
                    self._sandbox_pidfd = os.pidfd_open(self.sandbox_pid)
            if configure:
                assert self.sandbox_pid is not None
                self.network = await EnvironmentNetwork.attach(
                    self.spec.network,
                    self.sandbox_pid,
                    label=self.id,
                    via="slirp4netns" if slirp else "proxy",
                    own_addresses=self.host.own_addresses,
                )
        finally:
            os.close(info_read)
        hello = await asyncio.wait_for(
            self._channel.request("hello", {"config": self._config()}), START_TIMEOUT_S
        )
        if not hello.ok:
            raise ChannelBroken(hello.error or "the tool server refused to start")
        if self.group is not None:
            self.group.set_cpus(limits.cpus)

    def _command(self, plan: launch.Plan) -> list[str]:
        if not self.host.capabilities.enforced:
            prefix, executable = launch.interpreter()
            return [*launch.locked(plan.lock), str(prefix / executable), "-I", "-S", "-c",
                    BOOTSTRAP, str(plan.channel_fd), str(plan.fds_fd)]  # fmt: skip
        return launch.argv(plan, self._fstab if plan.rooted else None)

    def _config(self) -> dict[str, Any]:
        """The tool server's settings, sent with the greeting."""
        enforced = self.host.capabilities.enforced
        folders = {name: str(self.root / disk.FOLDER / name) for name in launch.DISK_DIRS}
        home = launch.HOME if enforced else folders["home"]
        env = {**(self.network.proxy_env if self.network else {}), **self.spec.variables}
        env |= {
            "HOME": home,
            "PATH": self.host.path,
            "TMPDIR": "/tmp" if enforced else folders["tmp"],
        }
        env |= {"LANG": env.get("LANG", "C.UTF-8"), "USER": "agent", "LOGNAME": "agent"}
        rustup = next((t for t in self.host.toolchains if t.name == ".rustup"), None)
        if rustup is not None:
            env["RUSTUP_HOME"] = str(rustup)
        delegated = self.group is not None and self.group.unified is not None and enforced
        return {
            "workspace": launch.WORKSPACE if enforced else folders["workspace"],
            "state": launch.STATE if enforced else folders[".corral"],
            "cgroup": launch.CGROUP if delegated else None,
            "env": env,
            "max_output_chars": MAX_OUTPUT_CHARS,
            "job_log_bytes": JOB_LOG_BYTES,
            "max_jobs": MAX_JOBS,
        }

    async def _child_pid(self, info_read: int) -> int:
        """The sandbox init's pid, from bubblewrap's info descriptor."""

        def read_info() -> bytes:
            data = b""
            while b"}" not in data:
                chunk = os.read(info_read, 4096)
                if not chunk:
                    break
                data += chunk
            return data

        data = await asyncio.wait_for(asyncio.to_thread(read_info), START_TIMEOUT_S)
        try:
            return int(json.loads(data[: data.index(b"}") + 1])["child-pid"])
        except (ValueError, KeyError, TypeError):
            raise ChannelBroken("the sandbox did not start") from None

    async def _keep_stderr(self, fd: int) -> None:
        """Keep the tail of what the launch chain and the tool server write to stderr."""

        def keep(chunk: bytes) -> None:
            self._stderr += chunk
            del self._stderr[:-_STDERR_TAIL]

        await pipes.drain(fd, keep)

    def _why(self, error: BaseException) -> str:
        stderr = self._stderr.decode(errors="replace").strip().splitlines()
        detail = f" ({' | '.join(stderr[-3:])})" if stderr else ""
        return f"{error}{detail}"

    # -- using ---------------------------------------------------------------------------

    async def call(
        self,
        op: str,
        fields: dict[str, Any] | None = None,
        *,
        timeout_s: float,
        payload: bytes = b"",
        max_payload: int = 0,
        fds: tuple[int, ...] = (),
        progress: Progress | None = None,
    ) -> Answer:
        """One request to the tool server, answered within `timeout_s` plus a grace.

        Raises:
            EnvironmentLost: the environment did not answer properly; it has been stopped.
        """
        channel = self._channel
        if channel is None or not self.alive:
            raise EnvironmentLost("the environment is not running")
        request = channel.request(
            op, fields, payload=payload, max_payload=max_payload, fds=fds, progress=progress
        )
        try:
            return await asyncio.wait_for(request, timeout_s + CALL_GRACE_S)
        except TimeoutError:
            await self.stop()
            raise EnvironmentLost(
                f"the environment did not answer within {timeout_s + CALL_GRACE_S:g} s and was "
                "stopped; its background jobs are gone"
            ) from None
        except ChannelBroken as error:
            await self.stop()
            raise EnvironmentLost(f"the environment stopped ({error})") from None
        except asyncio.CancelledError:
            await asyncio.shield(self.stop())
            raise

    # -- stopping ------------------------------------------------------------------------

    def kill_now(self) -> None:
        """SIGKILL everything in the environment at once; synchronous, never raises."""
        switch = self.kill_switch
        if switch is not None:
            with contextlib.suppress(OSError), open(switch, "w") as kill:
                kill.write("1")
        if self._sandbox_pidfd is not None:
            with contextlib.suppress(OSError):
                signal.pidfd_send_signal(self._sandbox_pidfd, signal.SIGKILL)
        if self.process is not None and self.process.returncode is None:
            # Our own child: its pid is ours until reaped. Not `process.kill()`, whose poll()
            # would reap it behind the back of asyncio's child watcher and lose its exit status.
            with contextlib.suppress(OSError):
                os.kill(self.process.pid, signal.SIGKILL)

    async def stop(self) -> None:
        """Kill everything in the environment and release what the host holds for it.

        Runs to its end even when the caller is cancelled meanwhile (every wait in it is
        bounded): a half-stopped environment would leave processes and cgroups behind.
        """
        if self._stopping is None:
            self._stopped = True
            self._stopping = asyncio.ensure_future(self._stop())
        try:
            await asyncio.shield(self._stopping)
        except asyncio.CancelledError:
            await asyncio.wait({self._stopping})
            raise

    async def _stop(self) -> None:
        if self._channel is not None:
            self._channel.close()
        self.kill_now()
        if self.process is not None:
            try:
                await asyncio.wait_for(self.process.wait(), 10)
            except TimeoutError:
                logger.warning(
                    "environment did not exit",
                    extra={"action": "environment.stuck", "environment": self.id},
                )
        if self._stderr_task is not None:
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(self._stderr_task, 1.0)
        if self.network is not None:
            await self.network.close()
        if self.group is not None:
            await self.group.remove()
        if self._sandbox_pidfd is not None:
            os.close(self._sandbox_pidfd)
            self._sandbox_pidfd = None
        with contextlib.suppress(OSError):
            self._fstab.unlink()
        logger.info(
            "environment stopped",
            extra={"action": "environment.stopped", "environment": self.id, "key": self.spec.key},
        )
