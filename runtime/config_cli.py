"""``tiss config show``: the effective configuration, where each value came
from, and no secret in clear.

    $ tiss config show
    configuration file: /home/me/.config/quanta-tissu/config.yaml
    sandbox.backend      auto                         default
    ...
    model.backend        openai                       $TISS_MODEL_BACKEND
    model.base_url       http://127.0.0.1:8000/v1     /home/me/.config/quanta-tissu/config.yaml
    model.api_key        ******** (38 characters)     $OPENAI_API_KEY

A value is masked when its key names a secret (key, token, secret, password,
credential) unless the key ends in ``_env`` (the name of a variable, not its
value); a URL's password is masked too.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import fields

SECRET_KEY = re.compile(r"key|token|secret|password|passwd|credential|authorization", re.IGNORECASE)
URL_PASSWORD = re.compile(r"(\w+://[^/\s:@]+:)[^/\s@]+@")
MASK = "********"


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "config", help="show the effective configuration (secrets masked)",
        description="The configuration tiss uses: defaults, the user's file, the environment.")
    parser.set_defaults(func=lambda args: (parser.print_help(sys.stderr), 2)[1])
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    show = actions.add_parser("show", help="print the effective configuration, secrets masked",
                              description="Every setting, its value and where it came from "
                                          "(default, a file, or an environment variable).")
    show.add_argument("--json", action="store_true", help="one JSON object on stdout")
    show.set_defaults(func=show_config)


def show_config(args) -> int:
    from .config import ConfigError, config_path, load_config

    try:
        config = load_config()
    except ConfigError as exc:
        print(f"error: configuration: {exc}" + (f"\nhint: {exc.hint}" if exc.hint else ""), file=sys.stderr)
        return 2
    rows = effective(config)
    where = str(config.path) if config.path else f"none (defaults; it would be {config_path()})"
    if args.json:
        print(json.dumps({"file": str(config.path) if config.path else None,
                          "settings": {name: {"value": value, "source": source}
                                       for name, value, source in rows}}, indent=2, default=str))
        return 0
    print(f"configuration file: {where}")
    width = max(len(name) for name, _, _ in rows)
    shown = [(name, _text(value), source) for name, value, source in rows]
    value_width = min(48, max(len(text) for _, text, _ in shown))
    for name, text, source in shown:
        print(f"{name:<{width}}  {text:<{value_width}}  {source}")
    return 0


def effective(config) -> list[tuple[str, object, str]]:
    """(dotted name, masked value, source) for every setting in effect."""
    file = str(config.path) if config.path else "default"
    rows = []
    for section in ("sandbox", "journal"):
        given = config.raw.get(section) or {}
        for f in fields(getattr(config, section)):
            rows.append((f"{section}.{f.name}", getattr(getattr(config, section), f.name),
                         file if f.name in given else "default"))
    model = config.model
    rows.append(("model.backend", model.backend, model.sources.get("backend", "default")))
    options = {**_backend_defaults(model.backend), **model.options}
    for key, value in options.items():
        rows.append((f"model.{key}", masked(key, value), model.sources.get(key, "default")))
    if model.backend == "openai":
        rows.append(_api_key_row(options))
    for section, value in config.raw.items():
        if section not in ("sandbox", "journal", "model"):
            rows.append((section, masked(section, value), file))
    return rows


def _backend_defaults(backend: str) -> dict:
    if backend == "openai":
        from .openai_backend import DEFAULTS
        return dict(DEFAULTS)
    return {}


def _api_key_row(options: dict) -> tuple[str, str, str]:
    """Whether the key the openai backend will send is set, never the key."""
    import os

    variable = str(options.get("api_key_env"))
    key = os.environ.get(variable, "")
    shown = f"{MASK} ({len(key)} characters)" if key else "not set (no key is sent)"
    return "model.api_key", shown, f"${variable}"


def masked(key, value):
    """``value`` with secrets replaced by ``MASK``, at any depth."""
    if isinstance(value, dict):
        return {k: masked(k, v) for k, v in value.items()}
    if isinstance(value, list):
        return [masked(key, v) for v in value]
    name = str(key)
    if SECRET_KEY.search(name) and not name.lower().endswith("_env") and value not in (None, "", False):
        return MASK
    if isinstance(value, str):
        return URL_PASSWORD.sub(lambda m: m.group(1) + MASK + "@", value)
    return value


def _text(value) -> str:
    if isinstance(value, (dict, list)):
        return json.dumps(value, default=str)
    return "null" if value is None else str(value)
