"""Evaluate a checkpoint on a split of its own dataset and print the metrics as one JSON line.

    python evaluate.py --checkpoint runs/nice_mnist/best.pt [--split test] [--ema] [data.root=/path]

Trailing ``data.key=value`` overrides change where the data comes from, not what the model is.
"""
from __future__ import annotations

import argparse
import json
import sys

from data.loader import InMemoryLoader
from engine.build import build_splits, load_trained_model, resolve_device
from engine.cli import user_errors_exit_2
from engine.config import apply_overrides, validate
from engine.evaluation import evaluate_model
from errors import ConfigError


@user_errors_exit_2
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--split", default="test", choices=("train", "val", "test"))
    parser.add_argument("--ema", action="store_true", help="evaluate the EMA weights")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("overrides", nargs="*", help="data.key=value overrides (e.g. data.root=...)")
    args = parser.parse_args(argv)
    if any(not o.startswith("data.") for o in args.overrides):
        raise ConfigError("evaluate.py only takes data.* overrides (the model comes from the checkpoint)")
    device = resolve_device(args.device)
    model, config = load_trained_model(args.checkpoint, device, use_ema=args.ema)
    config = validate(apply_overrides(config, args.overrides))
    splits = build_splits(config["data"])
    if args.split not in splits:
        raise ConfigError(f"split {args.split!r} does not exist with data.val={config['data']['val']}; "
                          f"available: {', '.join(splits)}")
    metrics = evaluate_model(model, InMemoryLoader(splits[args.split], args.batch_size), device)
    print(json.dumps({"checkpoint": args.checkpoint, "split": args.split, "ema": args.ema,
                      "images": len(splits[args.split]["x"]), **metrics}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
