"""Process-tree and cgroup helpers shared by the executor (inside a container)
and the bubblewrap backend (on the host).

Plain stdlib only, no package imports: the executor loads this file inside the
container with whatever Python the image has.
"""

import ctypes
import os
import signal

_PR_SET_CHILD_SUBREAPER = 36
TIMEOUT_EXIT_CODE = 124  # a command killed by its timeout, as coreutils' timeout(1)


def become_child_subreaper():
    """Orphaned descendants (``x &``, double forks, setsid) are re-parented to
    us instead of to PID 1, so we can always find and kill them."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER) failed")


def children_of(pid):
    """Direct children of ``pid`` (all its threads), from /proc."""
    kids = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as handle:
                kids.extend(int(p) for p in handle.read().split())
        return kids
    except FileNotFoundError:  # kernel without CONFIG_PROC_CHILDREN: scan /proc
        return [p for p in _all_pids() if _parent_of(p) == pid]


def kill_all_descendants():
    """SIGKILL every descendant of this process and reap them all.

    Works because we are a child subreaper: when a child dies, its own
    children become ours and show up on the next pass. Returns when no child
    is left, so nothing a command started can outlive it."""
    me = os.getpid()
    while True:
        for pid in children_of(me):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            return


def exit_code_from_status(status):
    """Shell convention: a signal N becomes 128+N."""
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


def oom_kill_count(cgroup_dir):
    """How many processes the kernel's OOM killer has killed in the memory
    cgroup at ``cgroup_dir`` (v1 ``memory.oom_control`` or v2
    ``memory.events``); None when the file is not there."""
    for name in ("memory.oom_control", "memory.events"):
        try:
            with open(os.path.join(cgroup_dir, name)) as handle:
                for line in handle:
                    key, _, value = line.partition(" ")
                    if key == "oom_kill":
                        return int(value)
        except (FileNotFoundError, PermissionError):
            continue
    return None


def start_time(pid):
    """The start time of process ``pid`` (clock ticks since boot, as text),
    or None if it does not exist. A pid plus its start time names a process
    unambiguously, even after the pid is recycled."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[19]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None


def process_tag():
    """``"pid-start_time"`` of this process, for naming what it owns."""
    return f"{os.getpid()}-{start_time(os.getpid())}"


def tag_alive(tag):
    """True if the process named by a ``process_tag()`` still runs."""
    pid, _, start = tag.partition("-")
    return pid.isdigit() and start_time(int(pid)) == start


def _all_pids():
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def _parent_of(pid):
    try:
        with open(f"/proc/{pid}/stat") as handle:
            stat = handle.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # Field 4 is the parent pid; the command name (field 2) may hold spaces.
    return int(stat.rsplit(")", 1)[1].split()[1])
