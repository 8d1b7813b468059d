"""Evaluate a checkpoint on a split of its own dataset and print the metrics as one JSON line.

    python evaluate.py --checkpoint runs/nice_mnist/best.pt [--split test] [--ema] [data.root=/path]

Without ``--split`` the split is ``test`` when the checkpoint's config holds a separate test split, else ``val``
(e.g. with ``data.val: test``, where the validation split is the test set), said in one ``note:`` line on
standard error. Trailing ``data.key=value`` overrides change where the data comes from, not what the model is.
The output is strict JSON: a non-finite metric is written as null, with a note naming it. A bad command line,
checkpoint or split is one ``error: ...`` line and exit code 2.
"""
from __future__ import annotations

import json
import math
import sys
from pathlib import Path

from data.loader import InMemoryLoader
from engine.build import build_splits, resolve_device, split_size
from engine.cli import OneLineParser, user_errors_exit_2
from engine.config import apply_overrides, validate
from engine.evaluation import evaluate_model
from engine.loss_weights import resolve, weighted_total
from engine.runs import load_run
from errors import ConfigError

SPLITS = ("train", "val", "test")


def choose_split(requested: str | None, splits: dict, data_cfg: dict) -> tuple[str, str | None]:
    """(split name, the note saying why when it was not requested); a ConfigError listing the splits that exist
    when the requested one (or, unrequested, both test and val) does not."""
    available = [name for name in SPLITS if name in splits]
    if requested is None:
        if "test" in splits:
            return "test", "note: --split test (the config holds a separate test split)"
        if "val" in splits:
            why = ("data.val=test: the validation split is the test set" if data_cfg["val"] == "test" else
                   f"data.val={data_cfg['val']}; dataset {data_cfg['name']!r} has no test split")
            return "val", f"note: --split val ({why})"
        raise ConfigError(f"no test or val split with data.val={data_cfg['val']}; available: "
                          f"{', '.join(available)} (pass --split train, or e.g. data.val=test)")
    if requested not in splits:
        hint = " (the validation split is the test set: use --split val)" if (
            requested == "test" and data_cfg["val"] == "test") else ""
        raise ConfigError(f"split {requested!r} does not exist with data.val={data_cfg['val']}{hint}; "
                          f"available: {', '.join(available)}")
    return requested, None


def with_total(metrics: dict, model, config: dict) -> dict:
    """``metrics`` with ``loss``, the total of the model's loss terms under the checkpoint's weights, as the
    Trainer reports ``val/loss``, for a model whose evaluation returns its (raw) training terms."""
    weights = resolve(model.default_loss_weights(), config.get("loss_weights") or {})
    total = weighted_total(metrics, weights, weights)
    return metrics if total is None else {**metrics, "loss": total}


def strict_json_values(metrics: dict) -> tuple[dict, list[str]]:
    """(metrics with every non-finite float as None, the names of those) so that the line is valid JSON."""
    bad = [k for k, v in metrics.items() if isinstance(v, float) and not math.isfinite(v)]
    return {k: None if k in bad else v for k, v in metrics.items()}, bad


@user_errors_exit_2
def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(prog=Path(__file__).name, description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True, help="a run's best.pt or last.pt")
    parser.add_argument("--split", help="train, val or test (default: test when the config holds one, else val)")
    parser.add_argument("--ema", action="store_true", help="evaluate the EMA weights")
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda or cuda:N")
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("overrides", nargs="*", help="data.key=value overrides (e.g. data.root=...)")
    args = parser.parse_args(argv)
    if any(not o.startswith("data.") for o in args.overrides):
        raise ConfigError("evaluate.py only takes data.* overrides (the model comes from the checkpoint)")
    if args.batch_size < 1:
        raise ConfigError(f"--batch-size must be >= 1, got {args.batch_size}")
    device = resolve_device(args.device, "--device")
    run = load_run(args.checkpoint, prefer=(), option="--checkpoint", device=device, use_ema=args.ema)
    model, config = run.model, validate(apply_overrides(run.config, args.overrides))
    splits = build_splits(config["data"])
    split, note = choose_split(args.split, splits, config["data"])
    if note:
        print(note, file=sys.stderr)
    metrics, bad = strict_json_values(
        with_total(evaluate_model(model, InMemoryLoader(splits[split], args.batch_size), device), model, config))
    if bad:
        print(f"note: non-finite values written as null: {', '.join(bad)}", file=sys.stderr)
    print(json.dumps({"checkpoint": args.checkpoint, "split": split, "ema": args.ema,
                      "images": split_size(splits[split]), **metrics}, allow_nan=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
