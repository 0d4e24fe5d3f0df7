"""The bubblewrap backend: each command in a fresh ``bwrap`` sandbox.

What it gives (the same filesystem view as the Docker local image):
read-only host /usr (and /bin, /lib* as on the host), a few harmless /etc
files, a private tmpfs /tmp, the workspace as the only writable place (its
run folder ``.tiss`` hidden), new user/pid/ipc/uts/net namespaces (no
network unless allowed), a new session, death with its parent, a non-root
uid, and no capabilities. Because the command is PID 1's only child in its
own pid namespace, every process it started dies when it exits: background
jobs cannot outlive a RUN.

Limits: pids, memory and CPU through a cgroup when this process may create
one (root with a writable cgroup v1 hierarchy, or a delegated v2 one); else
rlimits (address space, and process count for non-root users), which cannot
report an out-of-memory kill. ``protections`` says which applies.
"""

from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from .base import SANDBOX_PATH, SandboxConfig, SandboxError, command_env
from .host import SubprocessSandbox
from .image import SANDBOX_UID, WORKSPACE, allowed_etc_paths, group_text, passwd_text, system_layout
from .processes import oom_kill_count, process_tag, tag_alive

INSTALL_HINT = "install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap), or start Docker"
CGROUP_ROOT = Path("/sys/fs/cgroup")
BASE_PROTECTIONS = frozenset({
    "timeout", "output_cap", "clean_env", "no_network", "read_only_host", "no_shadow",
    "background_jobs",
})


def bwrap_problem() -> str | None:
    """Why bubblewrap cannot be used here, or None if it works."""
    binary = shutil.which("bwrap")
    if binary is None:
        return "the bwrap program is not installed"
    probe = subprocess.run(
        [binary, "--unshare-all", "--unshare-user", "--die-with-parent", "--ro-bind", "/", "/",
         "true"], capture_output=True, text=True, timeout=30)
    if probe.returncode != 0:
        return f"bwrap cannot create namespaces here: {probe.stderr.strip()[:300]}"
    return None


class BwrapSandbox(SubprocessSandbox):
    name = "bwrap"

    def __init__(self, config: SandboxConfig):
        super().__init__(config)
        self._etc_dir: Path | None = None
        self._cgroup: Cgroup | None = None
        self._prefix: list[str] = []
        self.protections = BASE_PROTECTIONS

    def start(self) -> None:
        super().start()
        problem = bwrap_problem()
        if problem:
            raise SandboxError(f"bubblewrap sandbox unavailable: {problem}", hint=INSTALL_HINT)
        Cgroup.reap_stale()
        self._cgroup = Cgroup.create(self.config)
        if self._cgroup is not None:
            self.protections = BASE_PROTECTIONS | {"fork_bomb", "memory_oom"}
        self._etc_dir = Path(tempfile.mkdtemp(prefix="tiss-bwrap-etc-"))
        (self._etc_dir / "passwd").write_text(passwd_text())
        (self._etc_dir / "group").write_text(group_text())
        self._prefix = self._bwrap_prefix()

    def close(self) -> None:
        self._prefix = []
        super().close()
        if self._cgroup is not None:
            self._cgroup.remove()
            self._cgroup = None
        if self._etc_dir is not None:
            shutil.rmtree(self._etc_dir, ignore_errors=True)
            self._etc_dir = None

    def argv(self, command: str) -> list[str]:
        if not self._prefix:
            raise SandboxError("the bubblewrap sandbox is not started (or already closed)")
        return [*self._prefix, "/bin/sh", "-c", command]

    def env(self, extra):
        return command_env(self.config, extra, path=SANDBOX_PATH, home="/tmp")

    def child_setup(self):
        cgroup, cfg = self._cgroup, self.config
        if cgroup is not None:
            return cgroup.join
        return lambda: _set_rlimits(cfg)

    def oom_kill_count(self) -> int | None:
        return None if self._cgroup is None else self._cgroup.oom_kills()

    def _bwrap_prefix(self) -> list[str]:
        uid = SANDBOX_UID if os.getuid() == 0 else os.getuid()
        gid = SANDBOX_UID if os.getuid() == 0 else os.getgid()
        args = ["bwrap", "--unshare-all", "--unshare-user", "--die-with-parent", "--new-session",
                "--cap-drop", "ALL", "--uid", str(uid), "--gid", str(gid),
                "--hostname", "tiss-sandbox"]
        if self.config.network:
            args.append("--share-net")
        for path, target in system_layout():
            args += ["--ro-bind", path, path] if target is None else ["--symlink", target, path]
        for path in allowed_etc_paths():
            args += ["--ro-bind", path, path]
        args += ["--ro-bind", str(self._etc_dir / "passwd"), "/etc/passwd",
                 "--ro-bind", str(self._etc_dir / "group"), "/etc/group",
                 "--proc", "/proc", "--dev", "/dev",
                 "--size", str(self.config.memory_mb << 20), "--tmpfs", "/tmp",
                 "--bind", str(self.config.workspace.resolve()), WORKSPACE,
                 "--tmpfs", f"{WORKSPACE}/.tiss", "--remount-ro", f"{WORKSPACE}/.tiss",
                 "--remount-ro", "/",  # bwrap's root is a tmpfs: make it read-only too
                 "--chdir", WORKSPACE]
        return args


def _set_rlimits(config: SandboxConfig) -> None:
    """Without a cgroup: cap the address space, and the process count when
    not root (the kernel ignores RLIMIT_NPROC for root)."""
    memory = config.memory_mb << 20
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if os.getuid() != 0:
        resource.setrlimit(resource.RLIMIT_NPROC, (config.pids, config.pids))


class Cgroup:
    """One cgroup per sandbox, holding every command it runs: pids, memory
    (no swap) and CPU limits, an OOM-kill counter, and kill-all on close.
    Named after this process so groups left by a crashed run are reaped."""

    def __init__(self, dirs: dict[str, Path]):
        self.dirs = dirs  # controller ("pids", "memory", "cpu") -> cgroup directory
        self._procs_files = sorted({str(d / "cgroup.procs") for d in dirs.values()})

    @classmethod
    def create(cls, config: SandboxConfig) -> "Cgroup | None":
        name = f"tiss-{process_tag()}-{os.urandom(3).hex()}"
        dirs = {}
        try:
            for controller, parent in _writable_parents().items():
                directory = parent / name
                directory.mkdir(exist_ok=True)
                dirs[controller] = directory
            if not {"pids", "memory"} <= dirs.keys():
                raise OSError("no pids or memory controller")
            _write_limits(dirs, config)
        except OSError:
            for directory in set(dirs.values()):
                _rmdir(directory)
            return None
        return cls(dirs)

    def join(self) -> None:
        """In the child before exec: move itself into the cgroup (so does
        everything it forks afterwards)."""
        for path in self._procs_files:
            fd = os.open(path, os.O_WRONLY)
            os.write(fd, b"0")  # "0" means the writing process
            os.close(fd)

    def oom_kills(self) -> int | None:
        return oom_kill_count(str(self.dirs["memory"]))

    def remove(self) -> None:
        _kill_members_and_remove(set(self.dirs.values()))

    @staticmethod
    def reap_stale() -> None:
        for parent in set(_writable_parents().values()):
            for directory in parent.glob("tiss-*"):
                tag = "-".join(directory.name.split("-")[1:3])
                if directory.is_dir() and not tag_alive(tag):
                    _kill_members_and_remove({directory})


def cgroups_available() -> bool:
    """Can this process give bubblewrap sandboxes pids and memory limits?"""
    return {"pids", "memory"} <= _writable_parents().keys()


def _writable_parents() -> dict[str, Path]:
    """controller -> the cgroup directory this process is in, for the
    controllers we can create children under."""
    parents = {}
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if controllers == "":  # cgroup v2
            base = CGROUP_ROOT / path.lstrip("/")
            enabled = (base / "cgroup.subtree_control").read_text().split() if (
                base / "cgroup.subtree_control").exists() else []
            for controller in ("pids", "memory", "cpu"):
                if controller in enabled and os.access(base, os.W_OK):
                    parents.setdefault(controller, base)
            continue
        for controller in controllers.split(","):
            base = CGROUP_ROOT / controllers / path.lstrip("/")
            if controller in ("pids", "memory", "cpu") and base.is_dir() and os.access(base, os.W_OK):
                parents[controller] = base
    return parents


def _write_limits(dirs: dict[str, Path], config: SandboxConfig) -> None:
    memory = str(config.memory_mb << 20)
    pids, mem = dirs["pids"], dirs["memory"]
    if (pids / "pids.max").exists():
        (pids / "pids.max").write_text(str(config.pids))
    if (mem / "memory.limit_in_bytes").exists():  # v1
        (mem / "memory.limit_in_bytes").write_text(memory)
        if (mem / "memory.memsw.limit_in_bytes").exists():
            (mem / "memory.memsw.limit_in_bytes").write_text(memory)
    else:  # v2
        (mem / "memory.max").write_text(memory)
        if (mem / "memory.swap.max").exists():
            (mem / "memory.swap.max").write_text("0")
    cpu = dirs.get("cpu")
    period = 100_000
    if cpu is not None and (cpu / "cpu.cfs_quota_us").exists():
        (cpu / "cpu.cfs_period_us").write_text(str(period))
        (cpu / "cpu.cfs_quota_us").write_text(str(int(config.cpus * period)))
    elif cpu is not None and (cpu / "cpu.max").exists():
        (cpu / "cpu.max").write_text(f"{int(config.cpus * period)} {period}")


def _kill_members_and_remove(directories: set[Path]) -> None:
    for _ in range(100):  # a fork bomb may refill it between passes
        alive = False
        for directory in directories:
            try:
                pids = (directory / "cgroup.procs").read_text().split()
            except FileNotFoundError:
                continue
            for pid in pids:
                alive = True
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except ProcessLookupError:
                    pass
        if not alive:
            break
        time.sleep(0.01)
    for directory in directories:
        _rmdir(directory)


def _rmdir(directory: Path) -> None:
    try:
        directory.rmdir()
    except OSError:
        pass
