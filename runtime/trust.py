"""A workspace's ``tiss.yaml``, and the user's trust in it.

A ``tiss.yaml`` at the top of a workspace holds project settings. It arrives
with cloned repositories, so the parts of it that act on the user's machine
(starting MCP servers, which run on the host outside the sandbox) or send the
user's secrets somewhere (a model base URL that receives the API key) are
used only after the user trusts that exact file, as ``direnv allow`` does:
``tiss trust`` records the file's SHA-256 in the user's state folder
(``$XDG_STATE_HOME/quanta-tissu/trusted.json``); any change to the file
withdraws the trust until it is given again. The user's own configuration
(``~/.config/quanta-tissu/config.yaml`` or ``$TISS_CONFIG``) is trusted as it is.

    tiss trust [FILE]          # trust ./tiss.yaml (or FILE) as it is now
    tiss trust --list          # every trusted file: ok, changed or missing
    tiss trust --revoke [FILE]
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from pathlib import Path

from model.fileio import write_atomic

from .config import ConfigError, load_config, read_yaml
from .sandbox.base import SandboxError
from .sandbox.handover import state_dir, state_lock

WORKSPACE_CONFIG = "tiss.yaml"
TRUST_FILE = "trusted.json"

# The settings of a tiss.yaml that need the user's trust, and why: one row each.
NEEDS_TRUST = {
    ("mcp_servers", None): "it names MCP servers, which run on this machine outside the sandbox",
    ("model", "base_url"): "it names a model base URL, which would receive your API key",
}


# --- the store -------------------------------------------------------------------


def _store_path() -> Path:
    try:
        return state_dir() / TRUST_FILE
    except SandboxError as exc:
        raise ConfigError(str(exc), hint=exc.hint) from None


def _load_store() -> dict[str, dict]:
    path = _store_path()
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: cannot read the trusted files ({exc})",
                          hint="remove it; then trust your files again") from None
    return data if isinstance(data, dict) else {}


def _save_store(store: dict) -> None:
    with state_lock("trust"):
        write_atomic(_store_path(), json.dumps(store, indent=1, sort_keys=True) + "\n")


def digest(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def status(path: Path, content: bytes | None = None) -> str:
    """``trusted``, ``changed`` (trusted once, edited since) or ``untrusted``.
    ``content``: the bytes to judge (those read once, then parsed)."""
    entry = _load_store().get(str(path.resolve()))
    if entry is None:
        return "untrusted"
    if content is None:
        if not path.exists():
            return "changed"
        content = path.read_bytes()
    return "trusted" if entry.get("sha256") == digest(content) else "changed"


def trust(path: Path, content: bytes) -> str:
    """Record the hash of ``content`` (the file as shown to the user) as trusted."""
    value = digest(content)
    store = _load_store()
    store[str(path.resolve())] = {"sha256": value, "trusted_at": int(time.time())}
    _save_store(store)
    return value


def revoke(path: Path) -> bool:
    store = _load_store()
    found = store.pop(str(path.resolve()), None) is not None
    if found:
        _save_store(store)
    return found


# --- reading a workspace's tiss.yaml ---------------------------------------------


def sensitive(data: dict) -> list[str]:
    """Why this configuration needs trust (empty: it does not)."""
    reasons = []
    for (section, key), why in NEEDS_TRUST.items():
        value = data.get(section)
        if value and (key is None or (isinstance(value, dict) and value.get(key))):
            reasons.append(why)
    return reasons


def workspace_config(workspace: Path | str) -> tuple[dict, Path | None]:
    """The workspace's ``tiss.yaml`` (empty when there is none) and its path.
    A file that needs trust and lacks it is a ConfigError with the command
    that trusts it."""
    path = Path(workspace) / WORKSPACE_CONFIG
    if not path.is_file():
        return {}, None
    content = _read(path)       # read once: the sandbox can write the workspace
    data = read_yaml(path, content.decode("utf-8", errors="replace"))
    reasons = sensitive(data)
    if reasons:
        state = status(path, content)
        if state != "trusted":
            why = "it changed since you trusted it" if state == "changed" else "you have not trusted this file"
            raise ConfigError(f"{path}: {'; '.join(reasons)}; {why}",
                              hint=f"read it, then trust it with: tiss trust {_shown(path)}")
    return data, path


def tool_config(workspace: Path | str) -> dict:
    """The configuration the tool registry needs: ``mcp_servers`` from the
    user's configuration and the workspace's trusted ``tiss.yaml`` (its
    entries win over the user's of the same name), and ``mcp_origins``, the
    file each server comes from."""
    user = load_config()
    local, local_path = workspace_config(workspace)
    servers, origins = {}, {}
    for data, path in ((user.raw, user.path), (local, local_path)):
        section = data.get("mcp_servers")
        if section is None:
            continue
        if not isinstance(section, dict):
            raise ConfigError(f"{path}: `mcp_servers` must map names to servers",
                              hint="e.g. mcp_servers: {time: {command: mcp-server-time}}")
        servers.update(section)
        origins.update({name: str(path) for name in section})
    return {"mcp_servers": servers, "mcp_origins": origins} if servers else {}


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read it ({exc.strerror})") from None


def _shown(path: Path) -> str:
    """The path as the user would type it from here."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


# --- tiss trust --------------------------------------------------------------------


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "trust", help="trust a workspace's tiss.yaml (its MCP servers, its model URL) as it is now",
        description="Record the file's SHA-256 as trusted: its MCP servers may start (on this "
                    "machine, outside the sandbox) and a model base URL it names may receive "
                    "your API key. Any change to the file needs a new `tiss trust`.")
    parser.add_argument("file", nargs="?", default=WORKSPACE_CONFIG, help="default: ./tiss.yaml")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--list", action="store_true", help="list the trusted files and their state")
    group.add_argument("--revoke", action="store_true", help="withdraw the trust in FILE")
    parser.set_defaults(func=_trust_command)


def _trust_command(args) -> int:
    try:
        if args.list:
            return _list()
        path = Path(args.file)
        if args.revoke:
            found = revoke(path)
            print(f"{'revoked' if found else 'was not trusted:'} {path}")
            return 0
        if not path.is_file():
            raise ConfigError(f"{path}: no such file", hint="name the tiss.yaml to trust")
        content = _read(path)
        data = read_yaml(path, content.decode("utf-8", errors="replace"))
        value = trust(path, content)
        print(f"trusted {path.resolve()} (sha256 {value[:16]}…)")
        for line in _what_it_does(data):
            print(f"  {line}")
        return 0
    except ConfigError as exc:
        print(f"error: {exc}" + (f"\nhint: {exc.hint}" if exc.hint else ""), file=sys.stderr)
        return 2


def _list() -> int:
    store = _load_store()
    if not store:
        print("no trusted files")
    for name in sorted(store):
        path = Path(name)
        state = status(path) if path.exists() else "missing"
        print(f"{state:8} {name}")
    return 0


def _what_it_does(data: dict) -> list[str]:
    """What the user just allowed, in one line each."""
    lines = []
    for name, entry in (data.get("mcp_servers") or {}).items():
        entry = entry if isinstance(entry, dict) else {}
        args = entry.get("args") if isinstance(entry.get("args"), list) else []
        target = entry.get("url") or " ".join(str(p) for p in [entry.get("command", "?"), *args])
        lines.append(f"mcp server {name}: {target}")
    base_url = (data.get("model") or {}).get("base_url") if isinstance(data.get("model"), dict) else None
    if base_url:
        lines.append(f"model base URL: {base_url}")
    return lines
