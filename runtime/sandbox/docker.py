"""The Docker backend: one hardened container per run, commands sent to the
executor inside it over a Unix socket (see executor.py for why and how).

The container: docker-init as PID 1, the executor as its main process,
read-only root, the workspace the only writable bind besides a tmpfs /tmp
(and the executor's socket directory), no network unless allowed, every
capability dropped, no-new-privileges, a non-root user, pids/memory/CPU
limits, labelled with the run id and the client process so stale containers
from crashed runs can be reaped. It is auto-removed when the executor exits,
which it does when the client's lease connection closes.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from .base import PROTECTIONS, SANDBOX_PATH, CommandResult, SandboxConfig, SandboxError
from .client import (
    LOG_NAME, SOCKET_NAME, ExecutorClient, ExecutorLog, discard_executor_files,
    explain_executor_death, make_private_dir,
)
from .image import (
    BUILD_COMMAND, LOCAL_IMAGE_ENV, SANDBOX_UID, WORKSPACE, build_local_image, host_binds,
    is_current, local_image_name,
)
from .handover import (
    WorkspaceHandover, client_identity, identity_alive, restore_abandoned_workspaces, state_lock,
)

LABEL = "org.quanta-tissu.sandbox"
RUN_ID_LABEL = "org.quanta-tissu.run-id"
CLIENT_LABEL = "org.quanta-tissu.client"  # "hostname:pid-start_time" of the tiss process
EXECUTOR_DIR = "/.tiss/lib"               # this package, read-only
SOCKET_DIR = "/.tiss/run"                 # the bind-mounted socket directory
STARTUP_SECONDS = 20                      # generous: a loaded 2-core machine
EXIT_WAIT_SECONDS = 10                    # for the container to exit once its executor died


def engine_client(timeout: float = 60):
    """A Docker SDK client, or a SandboxError saying how to get an engine."""
    import docker

    try:
        client = docker.from_env(timeout=timeout)
        client.ping()
        return client
    except Exception as exc:  # the SDK raises several unrelated types here
        raise SandboxError(
            f"no Docker engine answered ({exc.__class__.__name__}: {str(exc)[:200]})",
            hint="start dockerd (or install docker.io), or use --sandbox bwrap",
        ) from None


def engine_problem(timeout: float = 2) -> str | None:
    """Why no Docker engine can be used, or None if one answers in time."""
    try:
        engine_client(timeout).close()
        return None
    except SandboxError as exc:
        return str(exc)


class DockerSandbox:
    name = "docker"
    protections = frozenset(PROTECTIONS)

    def __init__(self, config: SandboxConfig):
        self.config = config
        self.container = None
        self._engine = None
        self._executor: ExecutorClient | None = None
        self._socket_dir: Path | None = None
        self._log: ExecutorLog | None = None  # the executor's stderr, in the socket directory
        self._handover: WorkspaceHandover | None = None  # see _sandbox_user

    def start(self) -> None:
        import docker.errors

        self.config.workspace.mkdir(parents=True, exist_ok=True)
        self._engine = engine_client()
        reap_stale_containers(self._engine)
        image = self._find_image()
        try:
            self._socket_dir = make_private_dir()
            user = self._sandbox_user()
            os.chown(self._socket_dir, *_ids(user))  # the executor creates its socket there
            self._log = ExecutorLog(self._socket_dir, owner=_ids(user))
            self.container = self._engine.containers.create(**self._container_spec(image, user))
            self.container.start()
            self._executor = ExecutorClient(self._socket_dir, self.config, self._explain_stop)
            self._executor.connect_lease(STARTUP_SECONDS, self._fail_if_exited)
        except docker.errors.APIError as exc:
            self.close()
            raise SandboxError(f"Docker could not start the sandbox container: {exc.explanation}",
                               hint="the image needs /bin/sh and python3 >= 3.9") from None
        except BaseException:
            self.close()
            raise

    def run(self, command, *, timeout=None, env=None, max_output=None) -> CommandResult:
        if self._executor is None:
            raise SandboxError("the Docker sandbox is not started (or already closed)")
        if self._handover is not None:
            self._handover.refresh()  # files tiss wrote since (WRITE) become the sandbox's too
        return self._executor.run(command, timeout=timeout, env=env, max_output=max_output,
                                  cwd=WORKSPACE)

    def cancel_all(self) -> None:
        if self._executor is not None:
            self._executor.cancel_all()

    def close(self) -> None:
        """Kill every command, remove the container, give the workspace back."""
        if self._executor is not None:
            self._executor.close()
            self._executor = None
        if self.container is not None:
            _remove_container(self.container)
            self.container = None
        discard_executor_files(self._socket_dir, log=self._log)
        self._socket_dir = self._log = None
        if self._handover is not None:
            with state_lock("handover"):
                self._handover.give_back()
            self._handover = None
        if self._engine is not None:
            self._engine.close()
            self._engine = None

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.close()

    def _explain_stop(self) -> tuple[str, str | None]:
        """Why the executor stopped answering: the container's exit status
        (docker-init passes on the executor's) and Docker's OOM flag, read
        before auto-remove deletes the container when possible."""
        import docker.errors
        from requests.exceptions import RequestException

        status = oom_killed = None
        try:
            status = self.container.wait(timeout=EXIT_WAIT_SECONDS)["StatusCode"]
            self.container.reload()
            oom_killed = bool(self.container.attrs["State"].get("OOMKilled"))
        except docker.errors.NotFound:
            pass  # removed already: what it knew is gone with it
        except (RequestException, docker.errors.APIError):  # the wait timed out
            return "its executor no longer answers, though the container still runs", None
        return explain_executor_death(status, oom_killed)

    # -- set-up ------------------------------------------------------------
    def _find_image(self):
        """The user's image, which must be present (never pulled: no hang),
        or the local image, built here if it is missing or outdated."""
        if self.config.image is None:
            return self._local_image()
        name = self.config.image
        image = self._get_image(name, "check @image in the plan, or sandbox.image in the config")
        if image is None:
            raise SandboxError(
                f"sandbox image {name!r} is not present in the local Docker engine",
                hint=f"docker pull {name} (needs a registry), or drop @image/sandbox.image to "
                     f"use the local image built by `{BUILD_COMMAND}`")
        return image

    def _local_image(self):
        name = local_image_name()
        image = self._current_local_image(name)
        if image is None:
            with state_lock("image-build"):  # two runs at once: one builds, one waits
                image = self._current_local_image(name)  # built meanwhile?
                if image is None:
                    print(f"building the local sandbox image {name} (first use; no download)",
                          file=sys.stderr)
                    image = self._engine.images.get(build_local_image(self._engine, name))
        return image

    def _current_local_image(self, name: str):
        """The local image if present and built by this version, else None."""
        image = self._get_image(name, f"unset {LOCAL_IMAGE_ENV}, or give it a valid name "
                                      "such as quanta-tissu/sandbox:mine")
        return image if image is not None and is_current(image.labels) else None

    def _get_image(self, name: str, hint: str):
        """A local image (never pulled), None if absent; a malformed name is
        a SandboxError with ``hint``."""
        import docker.errors

        try:
            return self._engine.images.get(name)
        except docker.errors.ImageNotFound:
            return None
        except docker.errors.APIError as exc:
            raise SandboxError(f"invalid Docker image name {name!r}: {exc.explanation}",
                               hint=hint) from None

    def _sandbox_user(self) -> str:
        """The uid:gid commands run as, so that files they write stay usable:
        an ordinary user's own; for root, the workspace owner's. A root-owned
        workspace is handed to the sandbox uid for the run and given back in
        close(), since root must not run the commands (see handover.py)."""
        if os.geteuid() != 0:
            return f"{os.getuid()}:{os.getgid()}"
        with state_lock("handover"):
            # A crashed run's workspace (maybe this one) first goes back to
            # its recorded owner: its uid is not the owner to run as.
            restore_abandoned_workspaces()
            owner = os.stat(self.config.workspace)
            if owner.st_uid != 0:
                return f"{owner.st_uid}:{owner.st_gid}"
            self._handover = WorkspaceHandover.lend(self.config.workspace)
        return f"{SANDBOX_UID}:{SANDBOX_UID}"

    def _container_spec(self, image, user: str) -> dict:
        from docker.types import Mount

        cfg = self.config
        mounts = [
            Mount(WORKSPACE, str(cfg.workspace.resolve()), type="bind"),
            Mount(f"{WORKSPACE}/.tiss", None, type="tmpfs", read_only=True,
                  tmpfs_size=4096),  # the run folder is not the commands' business
            Mount(EXECUTOR_DIR, str(Path(__file__).resolve().parent), type="bind", read_only=True),
            Mount(SOCKET_DIR, str(self._socket_dir), type="bind"),
        ] + [Mount(path, path, type="bind", read_only=True) for path in host_binds(image.labels)]
        executor = (f"exec python3 -I -S {EXECUTOR_DIR}/executor.py "
                    f"--socket {SOCKET_DIR}/{SOCKET_NAME} 2>{SOCKET_DIR}/{LOG_NAME}")
        return dict(
            image=image.id, command=["/bin/sh", "-c", executor], entrypoint=[],
            user=user, working_dir=WORKSPACE, environment={"PATH": SANDBOX_PATH},
            labels={LABEL: "1", RUN_ID_LABEL: cfg.run_id, CLIENT_LABEL: client_identity()},
            init=True, auto_remove=True, read_only=True, mounts=mounts, hostname="tiss-sandbox",
            tmpfs={"/tmp": f"rw,nosuid,nodev,size={cfg.memory_mb}m,mode=1777"},
            network_mode="bridge" if cfg.network else "none",
            cap_drop=["ALL"], security_opt=["no-new-privileges"],
            pids_limit=cfg.pids, mem_limit=f"{cfg.memory_mb}m", memswap_limit=f"{cfg.memory_mb}m",
            nano_cpus=int(cfg.cpus * 1e9),
        )

    def _fail_if_exited(self) -> None:
        import docker.errors

        try:
            self.container.reload()
            running = self.container.status in ("created", "running")
        except docker.errors.NotFound:
            running = False
        if not running:
            detail = self._log.tail()
            raise SandboxError(
                f"the sandbox executor exited at start in image "
                f"{self.config.image or local_image_name()!r}"
                + (f": {detail}" if detail else ""),
                hint="the image needs /bin/sh and python3 >= 3.9 on its PATH")


# -- stale containers ------------------------------------------------------

def reap_stale_containers(client) -> list[str]:
    """Remove sandbox containers whose tiss process (on this host) is gone;
    return their names. Containers of live runs are left alone."""
    removed = []
    # The low-level listing: the high-level one inspects every container.
    for summary in client.api.containers(all=True, filters={"label": LABEL}):
        if not identity_alive((summary.get("Labels") or {}).get(CLIENT_LABEL, "")):
            _remove_container(client.containers.prepare_model(summary))
            removed.append(summary["Names"][0].lstrip("/"))
    return removed


def _remove_container(container) -> None:
    import docker.errors

    try:
        container.remove(force=True)
    except docker.errors.NotFound:
        pass
    except docker.errors.APIError as exc:
        if "already in progress" not in str(exc):
            raise
        try:  # auto-remove got there first: return only once it is gone
            container.wait(condition="removed", timeout=30)
        except docker.errors.NotFound:
            pass


# -- the workspace owner -------------------------------------------------------

def _ids(user: str) -> tuple[int, int]:
    uid, _, gid = user.partition(":")
    return int(uid), int(gid)
