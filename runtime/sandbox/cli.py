"""``tiss sandbox …``: build the local Docker image, show which backends work,
reap what crashed runs left behind, and set up a fresh machine."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

from .base import PROTECTIONS, SandboxError


def register(subparsers) -> None:
    parser = subparsers.add_parser("sandbox", help="sandbox backends: image, status, clean-up")
    actions = parser.add_subparsers(dest="sandbox_command", metavar="ACTION", required=True)

    build = actions.add_parser("build-image", help="build the local Docker image (no download)")
    build.add_argument("--if-missing", action="store_true", help="do nothing if it exists")
    build.set_defaults(func=_build_image)

    status = actions.add_parser("status", help="which backends work here, and what they protect")
    status.add_argument("--json", action="store_true", help="one JSON object on stdout")
    status.set_defaults(func=_status)

    reap = actions.add_parser("reap", help="remove containers and cgroups left by crashed runs, "
                                           "give back workspaces they had lent")
    reap.set_defaults(func=_reap)

    setup = actions.add_parser(
        "setup", help="make a backend ready: build the Docker image, or install bubblewrap "
                      "(as root, from Debian's packages) when no backend is present")
    setup.set_defaults(func=_setup)


def _build_image(args) -> int:
    from .docker import engine_client
    from .image import build_local_image, local_image_name

    return _guarded(lambda: _do_build(engine_client(), args.if_missing, local_image_name(),
                                      build_local_image))


def _do_build(client, if_missing, name, build) -> int:
    if if_missing and _image_state(client, name) == "present":
        print(f"{name} is present")
        return 0
    print(f"built {name} ({build(client, name)[:19]})")
    return 0


def _image_state(client, name) -> str:
    """present, outdated (built by an older tiss) or missing."""
    import docker.errors

    from .image import is_current

    try:
        return "present" if is_current(client.images.get(name).labels) else "outdated"
    except docker.errors.ImageNotFound:
        return "missing"


def _status(args) -> int:
    from . import backend_problems
    from .bwrap import BASE_PROTECTIONS, cgroups_available
    from .docker import DockerSandbox
    from .host import HostSandbox

    problems = backend_problems()
    has_cgroups = cgroups_available()
    report = {
        "docker": {"available": problems["docker"] is None, "problem": problems["docker"],
                   "image_present": _local_image_present() if problems["docker"] is None else False,
                   "protections": sorted(DockerSandbox.protections)},
        "bwrap": {"available": problems["bwrap"] is None, "problem": problems["bwrap"],
                  "cgroups": has_cgroups,
                  "protections": sorted(BASE_PROTECTIONS | ({"fork_bomb", "memory_oom"}
                                                            if has_cgroups else set()))},
        "host": {"available": True, "problem": None, "protections": sorted(HostSandbox.protections)},
    }
    if args.json:
        print(json.dumps(report))
        return 0
    for name, info in report.items():
        state = "ready" if info["available"] else f"unavailable: {info['problem']}"
        if name == "docker" and info["available"] and not info["image_present"]:
            state = "engine ready; the local image will be built on first use (no download)"
        print(f"{name:7} {state}")
        missing = sorted(set(PROTECTIONS) - set(info["protections"]))
        print(f"        protects: {', '.join(info['protections'])}")
        if missing:
            print(f"        does NOT protect: {', '.join(missing)}")
    return 0


def _reap(args) -> int:
    from .bwrap import Cgroup
    from .docker import engine_client, engine_problem, reap_stale_containers
    from .handover import restore_abandoned_workspaces, state_lock

    Cgroup.reap_stale()
    print("bwrap: stale cgroups removed")
    if engine_problem() is None:
        removed = reap_stale_containers(engine_client())
        print(f"docker: {len(removed)} stale container(s) removed" + (
            f": {', '.join(removed)}" if removed else ""))
        # Only once the dead runs' containers are gone: nothing writes there now.
        with state_lock("handover"):
            for workspace in restore_abandoned_workspaces():
                print(f"docker: workspace of a crashed run given back: {workspace}")
    return 0


def _setup(args) -> int:
    """Called by `make test` / `make demo` on a fresh machine."""
    from . import backend_problems

    problems = backend_problems()
    if problems["docker"] is None:
        args.if_missing = True
        return _build_image(args)
    if problems["bwrap"] is None:
        print("bubblewrap is ready (no Docker engine answered)")
        return 0
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("no sandbox backend: installing bubblewrap from Debian's packages")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for step in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "bubblewrap"]):
            if subprocess.run(step, env=env).returncode != 0:
                break
        if backend_problems()["bwrap"] is None:
            return 0
    print("error: no sandbox backend is available: "
          + "; ".join(f"{k}: {v}" for k, v in problems.items()), file=sys.stderr)
    print("hint: install and start Docker (apt-get install docker.io; dockerd), "
          "or apt-get install bubblewrap", file=sys.stderr)
    return 1


def _local_image_present() -> bool:
    from .docker import engine_client
    from .image import local_image_name

    try:
        return _image_state(engine_client(timeout=5), local_image_name()) == "present"
    except SandboxError:
        return False


def _guarded(action) -> int:
    try:
        return action()
    except SandboxError as exc:
        print(f"error: {exc}", file=sys.stderr)
        if exc.hint:
            print(f"hint: {exc.hint}", file=sys.stderr)
        return 1
