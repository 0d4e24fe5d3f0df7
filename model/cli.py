"""``tiss model train|generate|eval|gradcheck|plot|attention``: TissLM from the shell.

    tiss model train --corpus shakespeare --out runs/shakespeare --steps 2000
    tiss model train --config tisslm.yaml --out runs/big          (YAML: model:, train:, corpus:, tokenizer:)
    tiss model train --out runs/shakespeare --resume --steps 4000 (continue, or extend the schedule)
    tiss model generate --model runs/shakespeare "ROMEO:" --max-tokens 200 --temperature 0.8
    tiss model generate --model runs/plans "" --constrain tisslang   (a whole TissLang plan)
    tiss model eval --model runs/shakespeare held_out.txt
    tiss model gradcheck
    tiss model plot runs/shakespeare                     (redraw runs/shakespeare/curves.png)
    tiss model attention --model runs/shakespeare "ROMEO:" -o attn.png
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import fields
from pathlib import Path

RUN_FILE = "run.json"  # the settings of a training run, so --resume needs no flags


def register(subparsers, constraints: dict | None = None) -> None:
    """``constraints``: ``generate --constrain NAME``'s choices, each a factory
    ``(tokenizer, max_tokens) -> constraint`` (model/backend.py's
    TokenConstraint). They come from the caller (runtime/cli.py hands in
    TissLang's), since model/ imports nothing of ours."""
    parser = subparsers.add_parser(
        "model", help="train, sample from and check TissLM",
        description="Train TissLM on a corpus, generate text, evaluate, check gradients.")
    parser.set_defaults(func=lambda args: _usage(parser))
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    _add_train(actions)
    _add_generate(actions, constraints or {})
    _add_eval(actions)
    _add_gradcheck(actions)
    from model.plot_cli import add_commands   # plot, attention (matplotlib only when drawing)
    add_commands(actions, _guarded)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def _fail(message) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def _user_errors() -> tuple[type[Exception], ...]:
    """The exceptions that mean "bad input": shown as one message, never a traceback."""
    from model.checkpoint import CheckpointError
    from model.config import ConfigError
    from model.data import DataError
    from model.generate import GenerationError
    from model.kv_cache import CacheFullError

    from model.train import TrainingDiverged

    return (CheckpointError, ConfigError, DataError, GenerationError, CacheFullError,
            TrainingDiverged, OSError)


def _guarded(command):
    """Run ``command(args)``, turning user errors into ``error: ...`` and exit code 2."""
    def run(args) -> int:
        try:
            return command(args)
        except _user_errors() as exc:
            return _fail(exc)
    return run


# --- train --------------------------------------------------------------------


def _config_flags(parser, title: str, dataclass_type, skip=()) -> None:
    """One --flag per dataclass field (``d_model`` -> ``--d-model``), typed by its default."""
    group = parser.add_argument_group(title)
    for f in fields(dataclass_type):
        if f.name in skip:
            continue
        flag = "--" + f.name.replace("_", "-")
        kind = type(f.default) if f.default is not None else int
        shown = "derived" if f.default is None else f.default
        if kind is bool:
            group.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction,
                               default=None, help=f"default: {shown}")
        else:
            group.add_argument(flag, dest=f.name, type=kind, default=None,
                               metavar=kind.__name__.upper(), help=f"default: {shown}")


def _add_train(actions) -> None:
    from model.config import ModelConfig, TrainConfig

    p = actions.add_parser(
        "train", help="train TissLM on a corpus",
        description="Train TissLM. Settings come from --config (YAML with optional sections "
                    "model:, train:, corpus: and tokenizer:), then from the flags. The run "
                    "directory gets the token file, log.jsonl and resumable checkpoints.")
    p.add_argument("--config", type=Path, help="YAML file with model:, train:, corpus:, tokenizer:")
    p.add_argument("--corpus", action="append",
                   help="a text file, a directory, `shakespeare` or `stdlib` (repeatable; "
                        "default shakespeare)")
    p.add_argument("--tokenizer", help="a BPE tokenizer file (default: the 256-byte vocabulary)")
    p.add_argument("--init", type=Path, metavar="DIR",
                   help="start from these weights (a model, checkpoint or run directory), with "
                        "their shape and tokenizer, and a fresh optimizer and schedule")
    p.add_argument("--out", type=Path, required=True, help="the run directory")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --out from its latest checkpoint")
    p.add_argument("--stop-at", type=int, metavar="STEP",
                   help="end this session after STEP (with a checkpoint); the schedule is unchanged")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print the final figures as one JSON object")
    _config_flags(p, "model (over the YAML's model:; vocab_size follows the tokenizer)",
                  ModelConfig, skip=("vocab_size",))
    _config_flags(p, "training (over the YAML's train:)", TrainConfig)
    p.set_defaults(func=_guarded(_train))


def _train_settings(args) -> dict:
    """Merge the run's settings: saved run.json (on --resume) < YAML < flags."""
    from model.config import ConfigError, ModelConfig, TrainConfig

    settings = {"model": {}, "train": {}, "corpus": None, "tokenizer": None, "init": None}
    saved = args.out / RUN_FILE
    if args.resume and saved.is_file():
        settings.update(json.loads(saved.read_text()))
        if args.corpus and args.corpus != settings["corpus"]:
            raise ConfigError(f"{args.out} was trained on {settings['corpus']}; a resumed run "
                              "keeps its corpus\nhint: leave --corpus out, or train into a new --out")
    if args.config:
        import yaml

        try:
            data = yaml.safe_load(args.config.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{args.config}: not valid YAML: {exc}") from None
        if isinstance(data, dict) and data and set(data) <= {f.name for f in fields(ModelConfig)}:
            data = {"model": data}  # a plain model config, as ModelConfig.from_yaml reads
        unknown = set(data) - set(settings) if isinstance(data, dict) else {"(not a mapping)"}
        if unknown:
            raise ConfigError(f"{args.config}: unknown section(s) {sorted(unknown)}; "
                              "use model:, train:, corpus:, tokenizer: and init:")
        for key in ("model", "train"):
            section = data.get(key) or {}
            if not isinstance(section, dict):
                raise ConfigError(f"{args.config}: {key}: must be a mapping of settings")
            settings[key] = {**settings[key], **section}
        for key in ("corpus", "tokenizer", "init"):
            settings[key] = data.get(key, settings[key])
    for section, kind in (("model", ModelConfig), ("train", TrainConfig)):
        for f in fields(kind):
            if getattr(args, f.name, None) is not None:
                settings[section][f.name] = getattr(args, f.name)
    if args.corpus:
        settings["corpus"] = args.corpus
    if args.tokenizer:
        settings["tokenizer"] = args.tokenizer
    if args.init:
        settings["init"] = str(args.init)
    if settings["init"]:
        _from_init(settings)
    if isinstance(settings["corpus"], str):
        settings["corpus"] = [settings["corpus"]]
    settings["corpus"] = settings["corpus"] or ["shakespeare"]
    return settings


def _from_init(settings: dict) -> None:
    """``init``: the model's shape and tokenizer are those of the weights it
    starts from (a model, checkpoint or run directory); saying otherwise is
    an error rather than a silent choice between the two."""
    from model.checkpoint import TOKENIZER, read_config, resolve
    from model.config import ConfigError

    directory = resolve(settings["init"])
    shape = read_config(directory)[0].to_dict()
    clash = sorted(k for k, v in settings["model"].items() if shape.get(k) != v)
    if clash:
        raise ConfigError(f"init: {directory} has its own model shape; {', '.join(clash)} differ\n"
                          "hint: leave model settings out when starting from weights")
    tokenizer = directory / TOKENIZER
    if settings["tokenizer"] and settings["tokenizer"] != str(tokenizer):
        raise ConfigError(f"init: {directory} comes with its own tokenizer\n"
                          "hint: leave tokenizer out when starting from weights")
    settings["init"] = str(directory.resolve())
    settings["model"] = shape
    settings["tokenizer"] = str(tokenizer) if tokenizer.is_file() else None


def _train(args) -> int:
    from model.config import ConfigError, ModelConfig
    from model.data import build_token_file, corpus_files, load_tokenizer
    from model.train import TrainConfig, train

    if (args.out / "LATEST").is_file() and not args.resume:
        return _fail(f"{args.out} already holds a training run\n"
                     "hint: pass --resume to continue it, or choose another --out")
    settings = _train_settings(args)
    args.out.mkdir(parents=True, exist_ok=True)
    tokens = args.out / "tokens.bin"
    files = None
    if not (args.resume and tokens.is_file()):
        files = corpus_files(settings["corpus"], generated_dir=args.out / "corpus")
    if isinstance(settings["tokenizer"], dict):  # {vocab_size: N}: learnt from this corpus
        settings["tokenizer"] = str(_train_tokenizer(files, settings["tokenizer"], args))
    tokenizer = load_tokenizer(settings["tokenizer"])
    settings["model"].setdefault("vocab_size", tokenizer.vocab_size)
    model_config = ModelConfig.from_dict(settings["model"])
    if model_config.vocab_size < tokenizer.vocab_size:
        raise ConfigError(f"vocab_size {model_config.vocab_size} is smaller than the tokenizer's "
                          f"{tokenizer.vocab_size} ids\nhint: leave vocab_size out to use the "
                          "tokenizer's size")
    train_config = TrainConfig.from_dict(settings["train"])
    if settings["tokenizer"]:
        settings["tokenizer"] = str(Path(settings["tokenizer"]).resolve())

    if files is not None:
        if not args.quiet:
            print(f"encoding {len(files)} file(s) into {tokens} ...", file=sys.stderr)
        build_token_file(files, tokenizer, tokens)
    settings["model"] = model_config.to_dict()
    settings["train"] = train_config.to_dict()
    (args.out / RUN_FILE).write_text(json.dumps(settings, indent=1))

    result = train(model_config, train_config, args.out, tokenizer_path=settings["tokenizer"],
                   init=settings["init"], resume=args.resume, stop_at=args.stop_at, progress=not args.quiet,
                   plot=True)   # OUT/curves.png at each evaluation
    if args.json:
        print(json.dumps(result))
    else:
        print(f"step {result['step']}: "
              + (f"val loss {result['val_loss']:.4f}, perplexity {result['val_perplexity']:.2f}, "
                 f"{result['val_bits_per_byte']:.3f} bits/byte; " if "val_loss" in result else "")
              + f"checkpoint {result['checkpoint']}")
    return 0


def _train_tokenizer(files, spec: dict, args) -> Path:
    """``tokenizer: {vocab_size: N}`` in a training config: a BPE vocabulary
    learnt from the run's own corpus, kept in the run folder (so a resumed run
    finds it)."""
    from model.config import ConfigError
    from model.tokenizer import Tokenizer

    path = args.out / "tokenizer.json"
    if path.is_file():
        return path
    if set(spec) != {"vocab_size"} or not isinstance(spec["vocab_size"], int):
        raise ConfigError("tokenizer: give a BPE file, or {vocab_size: N} to learn one "
                          "from the corpus")
    if files is None:
        raise ConfigError(f"{path} is missing, so the resumed run cannot encode like before\n"
                          "hint: train into a new --out")
    if not args.quiet:
        print(f"learning a {spec['vocab_size']}-token BPE vocabulary ...", file=sys.stderr)
    texts = (Path(f).read_text(encoding="utf-8", errors="replace") for f in files)
    Tokenizer.train(texts, spec["vocab_size"]).save(path)
    return path


# --- generate -----------------------------------------------------------------


def _add_generate(actions, constraints: dict) -> None:
    p = actions.add_parser(
        "generate", help="complete prompts with a trained model",
        description="Complete one or more prompts (batched, with the KV cache).")
    p.add_argument("prompt", nargs="+",
                   help="prompt text, or - to read it from stdin (several prompts run as one batch)")
    p.add_argument("--model", required=True, type=Path,
                   help="a run directory, checkpoint or model directory")
    p.add_argument("--max-tokens", type=int, default=100, help="new tokens per prompt (default 100)")
    p.add_argument("--temperature", type=float, default=1.0, help="0 = greedy (default 1.0)")
    p.add_argument("--greedy", action="store_true", help="same as --temperature 0")
    p.add_argument("--top-k", type=int, help="sample among the k most likely tokens")
    p.add_argument("--top-p", type=float, help="sample within the top probability mass p")
    p.add_argument("--repetition-penalty", type=float, default=1.0,
                   help="> 1 discourages tokens already present (default 1.0: off)")
    p.add_argument("--stop", action="append", default=[], help="stop string (repeatable)")
    p.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    p.add_argument("--no-cache", action="store_true", help="rerun the full forward pass every step")
    p.add_argument("--json", action="store_true", help="print one JSON object with the completions")
    if constraints:
        p.add_argument("--constrain", choices=sorted(constraints),
                       help="emit only what this language allows, ending a whole text of it "
                            "within --max-tokens (tisslang: a TissLang plan); one prompt, "
                            "the output printed without it")
    p.set_defaults(func=_guarded(_generate), constraints=constraints)


def _generate(args) -> int:
    from model.checkpoint import load_model, load_model_tokenizer
    from model.generate import SamplingParams, generate

    params = SamplingParams(max_new_tokens=args.max_tokens,
                            temperature=0.0 if args.greedy else args.temperature,
                            top_k=args.top_k, top_p=args.top_p,
                            repetition_penalty=args.repetition_penalty,
                            stop=args.stop, seed=args.seed)
    prompts = [sys.stdin.read() if p == "-" else p for p in args.prompt]
    constrain = getattr(args, "constrain", None)
    if constrain and (len(prompts) != 1 or args.stop):
        return _fail("--constrain takes one prompt and no --stop (the constraint decides "
                     "where the output ends)")
    model, directory = load_model(args.model)
    tokenizer = load_model_tokenizer(directory)
    constraint = None
    if constrain:
        try:
            constraint = args.constraints[constrain](tokenizer, _room(model, tokenizer, prompts[0],
                                                                      args.max_tokens))
        except ValueError as exc:  # the constraint cannot work with this model's tokenizer
            return _fail(f"--constrain {constrain}: {exc}")
    completions = generate(model, tokenizer, prompts, params, use_cache=not args.no_cache,
                           constraint=constraint)
    if args.json:
        print(json.dumps({"model": str(directory), "completions": [
            {"prompt": prompt, "text": c.text, "tokens": c.token_ids, "finish_reason": c.finish_reason}
            for prompt, c in zip(prompts, completions)]}))
        return 0
    for i, (prompt, completion) in enumerate(zip(prompts, completions)):
        if i:
            print("\n" + "-" * 40)
        print(completion.text if constraint else prompt + completion.text)
    return 0


def _room(model, tokenizer, prompt: str, max_tokens: int) -> int:
    """The tokens generation will really emit after ``prompt`` (as generate()
    encodes it): --max-tokens, or less when the context fills first."""
    prompt_tokens = len(tokenizer.encode(prompt)) or 1  # an empty prompt is one <|bos|>
    return max(0, min(max_tokens, model.cfg.context_length - prompt_tokens))


# --- eval ---------------------------------------------------------------------


def _add_eval(actions) -> None:
    p = actions.add_parser(
        "eval", help="loss, perplexity and bits per byte on held-out text",
        description="Evaluate a model on held-out text files (every token is predicted once).")
    p.add_argument("files", nargs="+", help="held-out text: files, directories, shakespeare or stdlib")
    p.add_argument("--model", required=True, type=Path,
                   help="a run directory, checkpoint or model directory")
    p.add_argument("--batch-size", type=int, default=16, help="windows per forward pass")
    p.add_argument("--max-windows", type=int,
                   help="evaluate only this many windows, spread over the text")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=_guarded(_eval))


def _eval(args) -> int:
    import tempfile

    from model.checkpoint import load_model, load_model_tokenizer
    from model.data import TokenFile, build_token_file, corpus_files
    from model.train import evaluate

    model, directory = load_model(args.model)
    tokenizer = load_model_tokenizer(directory)
    with tempfile.TemporaryDirectory() as tmp:
        build_token_file(corpus_files(args.files), tokenizer, Path(tmp) / "eval.bin")
        data = TokenFile.open(Path(tmp) / "eval.bin")
        figures = evaluate(model, data.tokens, args.batch_size, data.bytes_per_token,
                           args.max_windows)
        del data  # close the memory map before the directory goes
    if args.json:
        print(json.dumps({"model": str(directory), **figures}))
    else:
        print(f"loss {figures['loss']:.4f} nats/token   perplexity {figures['perplexity']:.2f}   "
              f"{figures['bits_per_byte']:.4f} bits/byte   ({figures['tokens']} tokens)")
    return 0


# --- gradcheck ----------------------------------------------------------------


def _add_gradcheck(actions) -> None:
    p = actions.add_parser(
        "gradcheck", help="compare every gradient with finite differences",
        description="Check the hand-written backward pass of every configuration variant "
                    "against central finite differences in float64; exit 1 if any parameter's "
                    "max relative error is above the tolerance.")
    p.add_argument("--variant", action="append",
                   help="check only this variant, e.g. gqa (repeatable; default: all)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tolerance", type=float,
                   help="max relative error allowed (default: model.gradcheck.TOLERANCE, 1e-5)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=_guarded(_gradcheck))


def _gradcheck(args) -> int:
    from model.gradcheck import TOLERANCE, VARIANTS, run_gradcheck

    # A variant is named in full ("gqa (4 heads, 2 kv heads)") or by its first word ("gqa").
    chosen, unknown = [], []
    for wanted in args.variant or []:
        found = [v for v in VARIANTS if wanted in (v, v.split()[0])]
        chosen += found
        unknown += [] if found else [wanted]
    if unknown:
        return _fail(f"unknown variant(s) {unknown}\nhint: choose among: "
                     + ", ".join(v.split()[0] for v in VARIANTS))
    tolerance = TOLERANCE if args.tolerance is None else args.tolerance
    results = run_gradcheck(chosen or None, seed=args.seed, tolerance=tolerance)
    rows = []
    for variant in dict.fromkeys(r.variant for r in results):
        checks = [r for r in results if r.variant == variant]
        worst = max(checks, key=lambda r: r.max_rel_error)
        rows.append({"variant": variant, "parameters": len(checks), "worst": worst.param,
                     "max_rel_error": worst.max_rel_error,
                     "passed": all(r.passed for r in checks),
                     "failed": [r.param for r in checks if not r.passed]})
    ok = all(row["passed"] for row in rows)
    if args.json:
        print(json.dumps({"tolerance": tolerance, "passed": ok, "variants": rows}))
        return 0 if ok else 1
    width = max(len(row["variant"]) for row in rows)
    print(f"{'variant':<{width}}  params  max rel error  worst parameter")
    for row in rows:
        status = "ok" if row["passed"] else "FAIL " + ", ".join(row["failed"])
        print(f"{row['variant']:<{width}}  {row['parameters']:>6}  {row['max_rel_error']:>13.2e}  "
              f"{row['worst']}  {status}")
    print(f"{'all gradients match' if ok else 'GRADIENT MISMATCH'} "
          f"(tolerance {tolerance:g} max relative error)")
    return 0 if ok else 1
