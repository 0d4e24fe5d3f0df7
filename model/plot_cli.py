"""``tiss model plot RUN_DIR`` and ``tiss model attention --model DIR TEXT -o FILE``
(the drawing itself is model/plot.py)."""

from __future__ import annotations

import sys
from pathlib import Path


def add_commands(actions, guarded) -> None:
    """Add ``plot`` and ``attention`` to ``tiss model``'s actions; ``guarded``
    turns the model package's user errors into one message (model/cli.py)."""
    p = actions.add_parser("plot", help="draw a training run's loss curves as PNG",
                           description="Redraw the training and validation loss of a run "
                                       "(its log.jsonl) into RUN_DIR/curves.png.")
    p.add_argument("run_dir", type=Path, help="the --out directory of tiss model train")
    p.add_argument("-o", "--output", type=Path, help="the PNG to write (default: RUN_DIR/curves.png)")
    p.set_defaults(func=guarded(_drawing(_plot)))

    p = actions.add_parser("attention", help="draw attention maps (per layer and head) over a text",
                           description="Run the model over TEXT and draw, for every layer and "
                                       "head, how much each token attends to each earlier one.")
    p.add_argument("text", help="the text to look at (its first tokens, up to --max-tokens)")
    p.add_argument("--model", required=True, type=Path, help="a run directory, checkpoint or model directory")
    p.add_argument("-o", "--output", type=Path, default=Path("attention.png"),
                   help="the PNG to write (default: attention.png)")
    p.add_argument("--max-tokens", type=int, default=32, help="tokens on each axis (default 32)")
    p.set_defaults(func=guarded(_drawing(_attention)))


def _drawing(command):
    """No matplotlib, or nothing to draw: one message and exit 2."""
    def run(args) -> int:
        from model.plot import PlotUnavailable   # numpy: only when drawing, not to build the parser
        try:
            return command(args)
        except (PlotUnavailable, ValueError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    return run


def _plot(args) -> int:
    from model.plot import plot_curves
    print(f"wrote {plot_curves(args.run_dir, args.output)}")
    return 0


def _attention(args) -> int:
    from model.checkpoint import load_model, load_model_tokenizer
    from model.plot import MAX_TOKENS_SHOWN, attention_weights, plot_attention, token_labels

    if not 1 <= args.max_tokens <= MAX_TOKENS_SHOWN:
        raise ValueError(f"--max-tokens {args.max_tokens}: give 1 to {MAX_TOKENS_SHOWN} "
                         "(a wider map is unreadable)")
    model, directory = load_model(args.model)
    tokenizer = load_model_tokenizer(directory)
    ids = tokenizer.encode(args.text)
    if not ids:
        raise ValueError("the text is empty: give some text to look at")
    limit = min(args.max_tokens, model.cfg.context_length)
    if len(ids) > limit:
        print(f"note: drawing the first {limit} of {len(ids)} tokens", file=sys.stderr)
        ids = ids[:limit]
    weights = attention_weights(model, ids)
    out = plot_attention(weights, token_labels(tokenizer, ids), args.output,
                         title=f"attention of {args.model.name} over {len(ids)} tokens")
    layers, heads = weights.shape[:2]
    print(f"wrote {out} ({layers} layers x {heads} heads, {len(ids)} tokens)")
    return 0
