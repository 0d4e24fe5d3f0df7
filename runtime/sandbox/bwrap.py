"""The bubblewrap backend: one ``bwrap`` sandbox per run, running the same
executor as the Docker backend (executor.py), so a RUN costs a socket round
trip instead of new namespaces (~20 ms each time on a small VM).

What it gives (the same filesystem view as the Docker local image):
read-only host /usr (and /bin, /lib* as on the host), a private /etc with
only harmless files, a private tmpfs /tmp, the workspace as the only
writable place (its run folder ``.tiss`` hidden), new user/pid/ipc/uts/net
namespaces (no network unless allowed), a new session, death with its
parent, a non-root uid, and no capabilities. The executor kills every
command's whole process tree, so background jobs cannot outlive a RUN.

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
import threading
import time
from pathlib import Path

from .base import (
    SANDBOX_PATH, CommandResult, SandboxConfig, SandboxError,
)
from .client import (
    ExecutorClient, ExecutorLog, discard_executor_files, explain_process_stop,
    make_private_dir,
)
from .image import (
    SANDBOX_UID, WORKSPACE, allowed_etc_paths, group_text, passwd_text, python_alias,
    system_layout,
)
from .processes import oom_kill_count, process_tag, tag_alive

INSTALL_HINT = "install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap), or start Docker"
CGROUP_ROOT = Path("/sys/fs/cgroup")
EXECUTOR_DIR = "/.tiss/lib"   # this package, read-only
STARTUP_SECONDS = 20
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


class BwrapSandbox:
    name = "bwrap"

    def __init__(self, config: SandboxConfig):
        self.config = config
        self.protections = BASE_PROTECTIONS
        self._cgroup: Cgroup | None = None
        self._private_dir: Path | None = None  # the sandbox's /etc
        self._socket_dir: Path | None = None
        self._log: ExecutorLog | None = None  # bwrap's stdout and stderr
        self._oom_kills_seen = 0  # OOM kills already reported with a command's result
        self._process: subprocess.Popen | None = None
        self._executor: ExecutorClient | None = None

    def start(self) -> None:
        problem = bwrap_problem()
        if problem:
            raise SandboxError(f"bubblewrap sandbox unavailable: {problem}", hint=INSTALL_HINT)
        self.config.workspace.mkdir(parents=True, exist_ok=True)
        try:
            Cgroup.reap_stale()
            self._cgroup = Cgroup.create(self.config)
            if self._cgroup is not None:
                self.protections = BASE_PROTECTIONS | {"fork_bomb", "memory_oom"}
            self._private_dir = make_private_dir()
            self._write_etc(self._private_dir / "etc")
            self._socket_dir = make_private_dir()
            self._log = ExecutorLog()  # nameless: outside anything the sandbox can reach
            self._executor = ExecutorClient(self._socket_dir, self.config, self._explain_stop)
            with self._executor.listen() as listener:
                self._process = self._spawn_in_keeper_thread(listener.fileno())
            self._executor.connect_lease(STARTUP_SECONDS, self._fail_if_exited)
        except BaseException:
            self.close()
            raise

    def run(self, command, *, timeout=None, env=None, max_output=None) -> CommandResult:
        if self._executor is None:
            raise SandboxError("the bubblewrap sandbox is not started (or already closed)")
        oom_before = self._cgroup.oom_kills() if self._cgroup else None
        result = self._executor.run(command, timeout=timeout, env=env, max_output=max_output,
                                    cwd=WORKSPACE)
        # The executor cannot see the cgroup from inside: judge OOM from here
        # (approximate when commands run concurrently: the counter is shared).
        if oom_before is not None and result.exit_code == 128 + signal.SIGKILL:
            oom_after = self._cgroup.oom_kills() or 0
            result.oom_killed = oom_after > oom_before
            self._oom_kills_seen = max(self._oom_kills_seen, oom_after)
        return result

    def cancel_all(self) -> None:
        if self._executor is not None:
            self._executor.cancel_all()

    def close(self) -> None:
        if self._executor is not None:
            self._executor.close()  # the lease ends: the executor kills all and exits
            self._executor = None
        if self._process is not None:
            _kill_group(self._process.pid)
            self._process.wait()
            self._process = None
        if self._cgroup is not None:
            self._cgroup.remove()
            self._cgroup = None
        discard_executor_files(self._private_dir, self._socket_dir, log=self._log)
        self._private_dir = self._socket_dir = self._log = None

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.close()

    # -- set-up ------------------------------------------------------------
    def _write_etc(self, etc: Path) -> None:
        """The sandbox's own user database (the allow-listed host files are
        bound one by one: copying ~700 symlinks costs a second here)."""
        etc.mkdir()
        (etc / "passwd").write_text(passwd_text())
        (etc / "group").write_text(group_text())

    def _spawn_in_keeper_thread(self, listen_fd: int) -> subprocess.Popen:
        """Start bwrap from a thread that lives as long as bwrap does:
        --die-with-parent fires when the *thread* that forked it ends, so it
        must not be whichever short-lived thread called start()."""
        spawned: list = []
        ready = threading.Event()

        def keeper():
            try:
                spawned.append(self._spawn(listen_fd))
            except BaseException as exc:  # reported to start() below
                spawned.append(exc)
            ready.set()
            if isinstance(spawned[0], subprocess.Popen):
                spawned[0].wait()

        threading.Thread(target=keeper, name="bwrap-keeper", daemon=True).start()
        ready.wait()
        if isinstance(spawned[0], BaseException):
            raise spawned[0]
        return spawned[0]

    def _spawn(self, listen_fd: int) -> subprocess.Popen:
        """bwrap, and in it the executor serving on ``listen_fd``, a socket
        the host bound (client.py, ``listen``): bwrap hands it down."""
        return subprocess.Popen(
            self._bwrap_argv(listen_fd), env={"PATH": SANDBOX_PATH},  # commands get theirs per request
            stdin=subprocess.DEVNULL, stdout=self._log.file, stderr=self._log.file,
            start_new_session=True, pass_fds=(listen_fd,),
            preexec_fn=self._cgroup.join if self._cgroup else _rlimits_setter(self.config),
        )

    def _bwrap_argv(self, listen_fd: int) -> list[str]:
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
        if (alias := python_alias()) is not None:  # `python` as python3, as in the Docker image
            args += ["--symlink", alias[1], alias[0]]
        etc = self._private_dir / "etc"
        args += ["--ro-bind", str(etc / "passwd"), "/etc/passwd",
                 "--ro-bind", str(etc / "group"), "/etc/group",
                 "--proc", "/proc", "--dev", "/dev",
                 "--size", str(self.config.memory_mb << 20), "--tmpfs", "/tmp",
                 "--bind", str(self.config.workspace.resolve()), WORKSPACE,
                 "--tmpfs", f"{WORKSPACE}/.tiss", "--remount-ro", f"{WORKSPACE}/.tiss",
                 "--ro-bind", str(Path(__file__).resolve().parent), EXECUTOR_DIR,
                 "--remount-ro", "/",  # bwrap's root is a tmpfs: make it read-only too
                 "--chdir", WORKSPACE,
                 "python3", "-I", "-S", f"{EXECUTOR_DIR}/executor.py", "--listen-fd", str(listen_fd)]
        return args

    def _explain_stop(self) -> tuple[str, str | None]:
        """Why the executor stopped answering, from what the kernel says:
        bwrap's exit status (it passes on its executor's) and the cgroup's
        OOM-kill counter."""
        return explain_process_stop(self._process, self._log, self._new_oom_kill)

    def _new_oom_kill(self) -> bool | None:
        """Did the kernel OOM-kill anything not yet reported? None: cannot tell."""
        if self._cgroup is None:
            return None
        return (self._cgroup.oom_kills() or 0) > self._oom_kills_seen

    def _fail_if_exited(self) -> None:
        if self._process is not None and self._process.poll() is not None:
            raise SandboxError(f"the bubblewrap sandbox exited at start with status "
                               f"{self._process.returncode}: {self._log.tail()}",
                               hint="run `tiss sandbox status` to see what works here")


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _rlimits_setter(config: SandboxConfig):
    """Without a cgroup: cap the address space, and the process count when
    not root (the kernel ignores RLIMIT_NPROC for root)."""
    memory, pids = config.memory_mb << 20, config.pids

    def set_rlimits():
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if os.getuid() != 0:
            resource.setrlimit(resource.RLIMIT_NPROC, (pids, pids))

    return set_rlimits


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
