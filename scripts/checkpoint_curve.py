#!/usr/bin/env python3
"""A metric of every saved snapshot of a run on one split, against updates, epochs and CPU-hours.

    python scripts/checkpoint_curve.py RUN [--metric bits_per_dim] [--split test] [--out docs/figures/nice_paper_curve]

RUN is a run folder with ``snapshots/step*.pt`` (``callbacks.checkpoint.snapshot_every``); its ``last.pt`` is
added when it holds a later update. Each checkpoint's model is evaluated in fp32 on ``--split`` of the run's own
dataset (engine/evaluation.py, as evaluate.py does), so e.g. a NICE run's test bits/dim at every 5th epoch gives
the curve that the training log cannot (it sees only the validation split). The x axes: optimizer updates,
epochs (updates / updates per epoch) and the run's training time in hours, summed over resumed segments: the
training process's CPU time (the metrics callback's ``cpu_s``: core-hours at one thread, not inflated by other jobs
on the machine) where every checkpoint recorded it, its wall time (``wall_s``) otherwise (runs of older code).

Writes ``<out>.json`` (the command, and per checkpoint: file, step, epoch, wall_s, cpu_s, every metric) and
``<out>.png``.
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from data.loader import InMemoryLoader  # noqa: E402
from engine.cli import user_errors_exit_2  # noqa: E402
from engine.evaluation import evaluate_model  # noqa: E402
from engine.runs import load_run, snapshot_paths  # noqa: E402
from errors import ConfigError  # noqa: E402


@user_errors_exit_2
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a run folder with snapshots/")
    parser.add_argument("--metric", default="bits_per_dim", help="the evaluation metric to plot")
    parser.add_argument("--split", default="test")
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--out", default=None, help="output stem (default: <run>/curve_<split>_<metric>)")
    args = parser.parse_args(argv)
    if not args.run.is_dir():
        raise ConfigError(f"{args.run} is not a run folder; pass the folder that holds snapshots/")
    rows, dataset, updates_per_epoch = [], None, None
    for path in snapshot_paths(args.run):
        run = load_run(path)
        if rows and rows[-1]["step"] == run.step:
            continue  # last.pt at a snapshot's update: the same weights
        if dataset is None:
            dataset = run.splits  # as training carved them (a holdout validation split taken out of train)
            if args.split not in dataset:
                raise ConfigError(f"the run has no {args.split!r} split (it has {', '.join(dataset)})")
            batch = run.config["train"]["batch_size"] * run.config["train"]["accumulate"]
            updates_per_epoch = -(-len(next(iter(dataset["train"].values()))) // batch)
        metrics = evaluate_model(run.model, InMemoryLoader(dataset[args.split], args.batch_size), torch.device("cpu"))
        if args.metric not in metrics:
            raise ConfigError(f"--metric {args.metric}: the model reports {', '.join(sorted(metrics))}")
        rows.append({"checkpoint": path.name, "step": run.step, "epoch": run.step / updates_per_epoch,
                     **run.training_time(), **metrics})
        print(f"{path.name}: update {run.step}, {args.split} {args.metric} {metrics[args.metric]:.4f}", flush=True)
    out = Path(args.out) if args.out else args.run / f"curve_{args.split}_{args.metric}"
    out.parent.mkdir(parents=True, exist_ok=True)
    report = {"command": shlex.join(["python", *sys.argv]), "run": str(args.run), "split": args.split,
              "metric": args.metric, "updates_per_epoch": updates_per_epoch, "rows": rows}
    out.with_suffix(".json").write_text(json.dumps(report, indent=1) + "\n")
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    axes[0].plot([r["epoch"] for r in rows], [r[args.metric] for r in rows], marker="o")
    axes[0].set_xlabel("epoch")
    threads = f"{run.config['train'].get('threads') or 'default'} thread(s)"
    if all(r["cpu_s"] is not None for r in rows):
        axes[1].plot([r["cpu_s"] / 3600 for r in rows], [r[args.metric] for r in rows], marker="o")
        axes[1].set_xlabel(f"CPU hours of training ({threads})")
    elif all(r["wall_s"] is not None for r in rows):
        axes[1].plot([r["wall_s"] / 3600 for r in rows], [r[args.metric] for r in rows], marker="o")
        axes[1].set_xlabel(f"wall-clock hours of training ({threads})")
    for ax in axes:
        ax.set_ylabel(f"{args.split} {args.metric}")
        ax.grid(alpha=0.3)
    fig.suptitle(args.run.name)
    fig.tight_layout()
    fig.savefig(out.with_suffix(".png"), dpi=120)
    print(out.with_suffix(".png"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
