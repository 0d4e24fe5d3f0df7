"""Saving and loading TissLM: weights in safetensors, everything else in JSON.

A *model directory* holds what generation needs::

    config.json         {"format": 1, "model": {ModelConfig fields}, "tokenizer": "bytes" | "tokenizer.json"}
    model.safetensors   every parameter, by the names of ``TissLM.params``
    tokenizer.json      a copy of the BPE tokenizer (absent for the byte vocabulary)

A training *checkpoint* is a model directory plus what resuming needs::

    optimizer.safetensors   the optimizer's arrays (AdamW moments)
    state.json              step, RNG state, data position, optimizer scalars, train config

A training run keeps its checkpoints under ``RUN/checkpoints/step-NNNNNNN/`` and
names the newest in ``RUN/LATEST``. Each checkpoint is written into a temporary
directory that is renamed into place, and ``LATEST`` is replaced atomically
after it, so a crash at any moment leaves the previous checkpoint intact.
Anywhere a model is expected, a run directory, a checkpoint or a model
directory all work.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file, save_file

from model.config import ModelConfig
from model.fileio import sync_dir, write_atomic

FORMAT = 1
CONFIG, WEIGHTS, TOKENIZER = "config.json", "model.safetensors", "tokenizer.json"
OPTIMIZER, STATE, LATEST = "optimizer.safetensors", "state.json", "LATEST"


class CheckpointError(Exception):
    """A model or checkpoint cannot be loaded; the message lists every mismatch."""


# --- model directories ------------------------------------------------------


def resolve(path: str | os.PathLike) -> Path:
    """The model directory behind a run directory (via LATEST), a checkpoint or a model directory."""
    path = Path(path)
    if (path / LATEST).is_file():
        path = path / (path / LATEST).read_text().strip()
    if not (path / CONFIG).is_file():
        raise CheckpointError(f"{path}: no {CONFIG} here, so this is not a TissLM model, "
                              "checkpoint or training run directory\n"
                              "hint: point at the --out directory of `tiss model train`")
    return path


def write_model_files(directory: Path, model, tokenizer_path=None) -> None:
    """Write config.json, model.safetensors (and tokenizer.json) into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    config = {"format": FORMAT, "model": model.cfg.to_dict(),
              "tokenizer": TOKENIZER if tokenizer_path else "bytes"}
    (directory / CONFIG).write_text(json.dumps(config, indent=1))
    save_file({name: np.ascontiguousarray(p) for name, p in model.params.items()},
              str(directory / WEIGHTS), metadata={"format": "tisslm", "version": str(FORMAT)})
    if tokenizer_path:
        shutil.copyfile(tokenizer_path, directory / TOKENIZER)


def save_model(directory: str | os.PathLike, model, tokenizer_path=None) -> Path:
    """Save a model directory atomically (written aside, then renamed into place)."""
    directory = Path(directory)
    _write_dir_atomic(directory, lambda tmp: write_model_files(tmp, model, tokenizer_path))
    return directory


def read_config(path: str | os.PathLike) -> tuple[ModelConfig, dict]:
    """The ModelConfig of a model directory and the whole config.json."""
    directory = resolve(path)
    try:
        raw = json.loads((directory / CONFIG).read_text())
        return ModelConfig.from_dict(raw["model"]), raw
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{directory / CONFIG}: not a valid TissLM config ({exc})") from exc


def check_tensors(params: dict[str, np.ndarray], tensors: dict[str, np.ndarray]) -> list[str]:
    """Every difference between the model's parameters and a file's tensors, as sentences."""
    problems = []
    for name in sorted(params.keys() - tensors.keys()):
        problems.append(f"missing tensor {name} (the config expects shape {params[name].shape})")
    for name in sorted(tensors.keys() - params.keys()):
        problems.append(f"unexpected tensor {name} of shape {tensors[name].shape} "
                        "(the config has no such parameter)")
    for name in sorted(params.keys() & tensors.keys()):
        want, got = params[name], tensors[name]
        if want.shape != got.shape:
            problems.append(f"{name}: the file has shape {got.shape}, the config expects {want.shape}")
        elif want.dtype != got.dtype:
            problems.append(f"{name}: the file has dtype {got.dtype}, the config expects {want.dtype}")
    return problems


def load_weights(model, weights_path: Path) -> None:
    """Copy a safetensors file into ``model.params`` in place, after checking every tensor."""
    try:
        tensors = load_file(str(weights_path))
    except Exception as exc:  # safetensors raises its own error types for corrupt files
        raise CheckpointError(f"{weights_path}: cannot read the weights ({exc})") from exc
    problems = check_tensors(model.params, tensors)
    if problems:
        raise CheckpointError(f"{weights_path} does not match its config:\n  "
                              + "\n  ".join(problems))
    for name, value in tensors.items():
        model.params[name][...] = value  # in place: the optimizer holds these arrays


def load_model(path: str | os.PathLike):
    """Build the TissLM a directory describes and load its weights; returns (model, directory)."""
    from model.model import TissLM

    directory = resolve(path)
    config, _ = read_config(directory)
    model = TissLM(config, seed=0)
    load_weights(model, directory / WEIGHTS)
    return model, directory


def load_model_tokenizer(directory: Path):
    """The tokenizer saved beside a model (the byte vocabulary when none was saved)."""
    from model.data import load_tokenizer

    _, raw = read_config(directory)
    if raw.get("tokenizer", "bytes") == "bytes":
        return load_tokenizer(None)
    return load_tokenizer(directory / raw["tokenizer"])


# --- training checkpoints -----------------------------------------------------


def _flatten(tree: dict, prefix: str = "") -> tuple[dict, dict, list]:
    """Split a nested state dict into arrays (for safetensors) and plain values (for JSON).

    NumPy scalars travel as 0-d tensors so they come back with their exact
    dtype; their keys are listed so they can be turned back into scalars.
    """
    arrays, plain, scalars = {}, {}, []
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            sub_arrays, sub_plain, sub_scalars = _flatten(value, path + "/")
            arrays.update(sub_arrays)
            scalars.extend(sub_scalars)
            if sub_plain:
                plain[key] = sub_plain
        elif isinstance(value, np.ndarray):
            arrays[path] = np.ascontiguousarray(value)
        elif isinstance(value, np.generic):
            arrays[path] = np.asarray(value)
            scalars.append(path)
        else:
            plain[key] = value
    return arrays, plain, scalars


def _unflatten(arrays: dict, plain: dict, scalars: list) -> dict:
    tree = json.loads(json.dumps(plain))  # a deep copy
    for path, value in arrays.items():
        *parents, leaf = path.split("/")
        node = tree
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value[()] if path in scalars else value
    return tree


def save_checkpoint(run_dir: str | os.PathLike, model, optimizer, state: dict,
                    tokenizer_path=None, keep: int = 2) -> Path:
    """Write checkpoint ``step-NNNNNNN`` atomically, point LATEST at it, keep the newest ``keep``.

    ``state`` must hold ``step`` and anything JSON-serialisable the trainer
    needs back (RNG state, data position, train config).
    """
    run_dir = Path(run_dir)
    name = f"step-{state['step']:07d}"
    target = run_dir / "checkpoints" / name
    arrays, plain, scalars = _flatten(optimizer.state_dict())

    def write(tmp: Path) -> None:
        write_model_files(tmp, model, tokenizer_path)
        save_file(arrays, str(tmp / OPTIMIZER))
        full_state = {**state, "optimizer": plain, "optimizer_scalars": scalars}
        (tmp / STATE).write_text(json.dumps(full_state, indent=1))

    _write_dir_atomic(target, write)
    # LATEST's rename must be on disk before older checkpoints are removed.
    write_atomic(run_dir / LATEST, f"checkpoints/{name}\n", fsync_dir=True)
    for old in sorted((run_dir / "checkpoints").glob("step-*"))[:-keep]:
        shutil.rmtree(old)
    return target


def load_checkpoint(path: str | os.PathLike, model, optimizer) -> dict:
    """Restore weights and optimizer state in place; return the saved trainer state.

    The model must have been built from the same config as the checkpoint; if
    not, the error names every field that differs.
    """
    directory = resolve(path)
    if not (directory / STATE).is_file():
        raise CheckpointError(f"{directory}: a model directory without training state "
                              f"({STATE}), so training cannot resume from it")
    saved, _ = read_config(directory)
    differences = [f"{k}: checkpoint {v!r}, now {getattr(model.cfg, k)!r}"
                   for k, v in saved.to_dict().items() if getattr(model.cfg, k) != v]
    if differences:
        raise CheckpointError(f"{directory}: the model config differs from the checkpoint's:\n  "
                              + "\n  ".join(differences)
                              + "\nhint: resume with the same model settings, or train into a new --out")
    load_weights(model, directory / WEIGHTS)
    state = json.loads((directory / STATE).read_text())
    try:
        arrays = load_file(str(directory / OPTIMIZER))
        optimizer.load_state_dict(_unflatten(arrays, state.pop("optimizer"),
                                             state.pop("optimizer_scalars")))
    except Exception as exc:  # a missing, corrupt or mismatched optimizer file
        raise CheckpointError(f"{directory / OPTIMIZER}: cannot restore the optimizer "
                              f"({exc})") from exc
    return state


def _write_dir_atomic(target: Path, write) -> None:
    """Run ``write(tmp_dir)`` then swap ``tmp_dir`` into ``target`` with renames only.

    A directory cannot be replaced in one rename, so this is the directory
    version of model.fileio.atomic_file: the files are fsynced before the
    renames, and the parent folder after them."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    if tmp.exists():  # left over from a crash: never trusted
        shutil.rmtree(tmp)
    tmp.mkdir()
    write(tmp)
    for f in tmp.iterdir():
        _fsync_file(f)
    sync_dir(tmp)
    old = target.with_name(f".{target.name}.old")
    if target.exists():
        if old.exists():
            shutil.rmtree(old)
        os.rename(target, old)
    os.rename(tmp, target)
    sync_dir(target.parent)
    if old.exists():
        shutil.rmtree(old)


def _fsync_file(path: Path) -> None:
    """Files written by other libraries (safetensors) are fsynced by name."""
    with open(path, "rb") as f:
        os.fsync(f.fileno())
