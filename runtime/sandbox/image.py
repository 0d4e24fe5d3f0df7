"""The host pieces a sandbox may see, and the project's own local Docker image.

No registry is needed: the local image is a ``docker import`` of a tiny tar
holding only users, empty mount points and the host's merged-/usr symlinks.
At run time the host's /usr (and /bin, /lib* when they are real directories)
are bind-mounted read-only into it. The host's /etc is never exposed whole:
only the harmless files listed in ``ETC_ALLOWLIST`` (no shadow, no keys, no
home directories).

The bubblewrap backend uses the same layout, so both sandboxes show the same
filesystem.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tarfile
import time

from .base import PYTHON_ALIAS_DIR, SANDBOX_PATH, SandboxError

LOCAL_IMAGE = "quanta-tissu/sandbox:local"
LOCAL_IMAGE_ENV = "TISS_LOCAL_IMAGE"  # another tag for the local image (tests use their own)
HOST_BINDS_LABEL = "org.quanta-tissu.host-binds"  # image expects the host /usr binds
# Bumped when the image's content changes, so an older local image is rebuilt.
IMAGE_VERSION_LABEL = "org.quanta-tissu.image-version"
IMAGE_VERSION = "2"  # 2: /.tiss/bin/python
BUILD_COMMAND = "tiss sandbox build-image"

SANDBOX_UID = 10001  # the non-root user commands run as when the host user is root
SANDBOX_USER = "tiss"
WORKSPACE = "/workspace"  # where the workspace appears inside every sandbox

SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
# Files under /etc that programs need (symlink farms, loader cache, CA
# certificates) and that hold no secret.
ETC_ALLOWLIST = (
    "alternatives", "ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime",
    "nsswitch.conf", "protocols", "services", "mime.types", "ssl/certs",
    "ssl/openssl.cnf", "ca-certificates", "ca-certificates.conf", "python3",
)


def local_image_name() -> str:
    """The tag of the local image: ``$TISS_LOCAL_IMAGE`` or the default."""
    return os.environ.get(LOCAL_IMAGE_ENV) or LOCAL_IMAGE


def python_alias() -> tuple[str, str] | None:
    """``(link, target)``: ``python`` as the sandbox's python3 (plans say
    ``python`` all the time; many systems only have ``python3``), placed in
    a directory first on the sandboxes' PATH. None without a python3."""
    system_path = SANDBOX_PATH.replace(PYTHON_ALIAS_DIR + ":", "")
    target = shutil.which("python3", path=system_path)
    return (f"{PYTHON_ALIAS_DIR}/python", target) if target else None


def system_layout() -> list[tuple[str, str | None]]:
    """The host's top-level system dirs: ``(path, symlink_target)`` where the
    target is None for a real directory (bind it) or a string (recreate the
    symlink, as merged-/usr systems have ``/bin -> usr/bin``)."""
    layout = []
    for path in SYSTEM_DIRS:
        if os.path.islink(path):
            layout.append((path, os.readlink(path)))
        elif os.path.isdir(path):
            layout.append((path, None))
    return layout


def allowed_etc_paths() -> list[str]:
    """Existing host paths under /etc that a sandbox may read."""
    return [f"/etc/{name}" for name in ETC_ALLOWLIST if os.path.lexists(f"/etc/{name}")]


def sandbox_users() -> dict[int, str]:
    """uid -> name for a sandbox's /etc/passwd and /etc/group: root, nobody,
    the sandbox user, and the calling user (so ``whoami`` works when the
    sandbox runs as them)."""
    users = {0: "root", 65534: "nobody", SANDBOX_UID: SANDBOX_USER}
    users.setdefault(os.getuid(), os.environ.get("USER") or "user")
    return users


def passwd_text() -> str:
    return "".join(f"{name}:x:{uid}:{uid}:{name}:/tmp:/bin/sh\n"
                   for uid, name in sorted(sandbox_users().items()))


def group_text() -> str:
    return "".join(f"{name}:x:{uid}:\n" for uid, name in sorted(sandbox_users().items()))


def local_image_tar() -> bytes:
    """The tar that ``docker import`` turns into the local image."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for directory, mode in (("tmp", 0o1777), ("workspace", 0o755), ("etc", 0o755),
                                ("proc", 0o555), ("sys", 0o555), ("dev", 0o755), (".tiss", 0o755)):
            _add_dir(tar, directory, mode)
        for path, target in system_layout():
            if target is None:
                _add_dir(tar, path.lstrip("/"), 0o755)  # mount point for the read-only bind
            elif path == "/sbin":
                _add_symlink_farm(tar, path)
            else:
                _add_symlink(tar, path.lstrip("/"), target)
        for path in allowed_etc_paths():
            tar.add(path, arcname=path.lstrip("/"), filter=_owned_by_root)
        _add_file(tar, "etc/passwd", passwd_text().encode())
        _add_file(tar, "etc/group", group_text().encode())
        alias = python_alias()
        if alias is not None:
            _add_dir(tar, PYTHON_ALIAS_DIR.lstrip("/"), 0o755)
            _add_symlink(tar, alias[0].lstrip("/"), alias[1])
    return buffer.getvalue()


def build_local_image(client, name: str | None = None) -> str:
    """Import the local image into the engine behind ``client`` under
    ``name`` (default: ``local_image_name()``); return its id.

    Safe when several processes build at once: each import is atomic and
    yields its own image, whose id is returned here (never looked up by the
    tag, which another build may move meanwhile)."""
    name = name or local_image_name()
    repository, tag = _split_tag(name)
    answer = client.api.import_image_from_data(
        local_image_tar(), repository=repository, tag=tag,
        changes=[f"LABEL {HOST_BINDS_LABEL}=true", f"LABEL {IMAGE_VERSION_LABEL}={IMAGE_VERSION}",
                 f"USER {SANDBOX_UID}", f"WORKDIR {WORKSPACE}"],
    )
    last = json.loads(answer.strip().splitlines()[-1])
    if not str(last.get("status", "")).startswith("sha256:"):
        raise SandboxError(f"Docker could not import the local image {name!r}: "
                           f"{last.get('error') or last}", hint="see `docker info` and dockerd's log")
    return last["status"]


def is_current(image_labels: dict | None) -> bool:
    """Is this local image as recent as what ``build_local_image`` makes?"""
    return (image_labels or {}).get(IMAGE_VERSION_LABEL) == IMAGE_VERSION


def host_binds(image_labels: dict | None) -> list[str]:
    """Read-only binds of the host system dirs, for images that expect them."""
    if not (image_labels or {}).get(HOST_BINDS_LABEL):
        return []
    return [path for path, target in system_layout() if target is None]


def _split_tag(name: str) -> tuple[str, str]:
    repository, colon, tag = name.rpartition(":")
    if not colon or "/" in tag:  # no tag ("host:5000/name" has a port, not a tag)
        return name, "latest"
    return repository, tag


def _add_dir(tar: tarfile.TarFile, name: str, mode: int) -> None:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.mtime = tarfile.DIRTYPE, mode, time.time()
    tar.addfile(info)


def _add_symlink(tar: tarfile.TarFile, name: str, target: str) -> None:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mtime = tarfile.SYMTYPE, target, time.time()
    tar.addfile(info)


def _add_symlink_farm(tar: tarfile.TarFile, path: str) -> None:
    """A real directory of per-entry symlinks instead of a symlink to a
    read-only bind: Docker mounts its init at /sbin/docker-init, and that
    mount point must be creatable."""
    _add_dir(tar, path.lstrip("/"), 0o755)
    for name in sorted(os.listdir(path)):
        _add_symlink(tar, f"{path.lstrip('/')}/{name}", os.path.realpath(os.path.join(path, name)))


def _add_file(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), 0o644, time.time()
    tar.addfile(info, io.BytesIO(data))


def _owned_by_root(info: tarfile.TarInfo) -> tarfile.TarInfo:
    """Copied /etc files belong to root in the image, whoever built it."""
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    return info
