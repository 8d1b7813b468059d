#!/usr/bin/env python3
"""Frozen-feature probes of a trained encoder: k-NN and linear-probe test accuracy (metrics/probes.py).

    python scripts/probe_features.py RUN [--features z_mean pooled] [--k 1 20] [--temperature 0.07] [--random-init]
    python scripts/probe_features.py RUN --k 20 200 --temperature 0.1   # the two common k-NN protocols: cosine k=20
                                            # plain votes, and k=200 votes weighted exp(sim/0.1) (InstDisc; lightly, solo-learn)

RUN is a run folder (its last.pt) or a checkpoint of any model with ``features(x) -> {name: (N, D)}`` (InfoMax:
z_mean, pooled, fmap). The data is the run's own dataset (data.root or $KEXUE_DATA): training split as the k-NN
bank and the probe's training set, test split for the accuracies. ``--random-init`` probes a freshly
initialised model of the same config instead (seeded with --seed), the floor that training must beat; its
BatchNorm layers then use their initial running statistics (mean 0, variance 1). ``--pixels`` probes the raw
pixels (x / 255, flattened: 3,072-d on CIFAR-10), the other floor; cosine k-NN then compares uncentred pixels.

Prints a table and writes ``probe_<checkpoint stem|random>.json`` beside the checkpoint (``<run>/probe_last.json``;
a snapshot's lands in ``<run>/snapshots/``, for scripts/probe_curve.py): the command, the checkpoint's step and
training wall time, for each
feature its dimension, the mean and std of its training-set values (the blog's check of the prior: near 0 and 1
when the KL term took hold), k-NN accuracies (cosine, plain and weighted votes, and Euclidean plain) and the
linear probe's train and test accuracy, and the wall time.
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

import torch

from data.loader import InMemoryLoader
from engine.build import build_model
from engine.cli import user_errors_exit_2
from engine.runs import load_run
from errors import ConfigError
from metrics.probes import extract_features, knn_accuracy, linear_probe


class RawPixels(torch.nn.Module):
    """The raw-pixel floor: features(x) = {"pixels": x / 255 flattened} (uint8 images; 3,072-d for CIFAR-10)."""

    def features(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"pixels": x.float().flatten(1) / 255}


@user_errors_exit_2
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="run folder or checkpoint file")
    parser.add_argument("--features", nargs="+", help="which features (default: all the model gives)")
    parser.add_argument("--k", type=int, nargs="+", default=[1, 20])
    parser.add_argument("--temperature", type=float, default=0.07,
                        help="of the weighted vote at the largest k, exp(cosine / T) (default 0.07)")
    parser.add_argument("--random-init", action="store_true", help="probe a randomly initialised model instead")
    parser.add_argument("--pixels", action="store_true",
                        help="probe the raw pixels instead (the other floor): x / 255, flattened")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--limit-train", type=int, help="use only the first N training images (quick checks)")
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if not args.temperature > 0:
        raise ConfigError(f"--temperature must be > 0 (the weighted vote is exp(cosine / T)), got {args.temperature}")
    start = time.perf_counter()
    if args.random_init and args.pixels:
        raise ConfigError("--random-init and --pixels are two different floors; pass one")
    floor = args.random_init or args.pixels
    run = load_run(args.run, prefer=("last.pt",), build=not floor)
    path, config = run.path, run.config
    if args.random_init:
        torch.manual_seed(args.seed)
        model = build_model(config).eval()
    elif args.pixels:
        model = RawPixels()
    else:
        model = run.model
    if not hasattr(model, "features"):
        raise ConfigError(f"model {config['model']['name']!r} has no features(x) method to probe")
    splits = run.dataset
    train = splits["train"]
    if args.limit_train:
        train = {k: v[:args.limit_train] for k, v in train.items()}
    bank, train_y = extract_features(model, InMemoryLoader(train, args.batch_size))
    queries, test_y = extract_features(model, InMemoryLoader(splits["test"], args.batch_size))
    names = args.features or list(bank)
    unknown = [n for n in names if n not in bank]
    if unknown:
        raise ConfigError(f"--features {', '.join(unknown)}: the model gives {', '.join(bank)}")
    timing = {} if floor else run.training_time()
    report = {"command": shlex.join([Path(sys.executable).name, *sys.argv]), "checkpoint": str(path),
              "step": run.step, "random_init": args.random_init, "pixels": args.pixels,
              "knn_temperature": args.temperature,
              "epoch": None if floor else run.progress.get("epoch"),
              "train_wall_s": timing.get("wall_s"), "train_cpu_s": timing.get("cpu_s"),
              "train_images": len(train_y),
              "test_images": len(test_y), "features": {}}
    print(f"{'feature':8} {'dim':>5} {'mean':>7} {'std':>6} " + " ".join(f"{'knn' + str(k):>7}" for k in args.k)
          + f" {'knn' + str(max(args.k)) + 'w':>8} {'euclid' + str(max(args.k)):>9} {'linear':>7}")
    for name in names:
        tr, te = bank[name], queries[name]
        knn = {f"cosine_k{k}": knn_accuracy(tr, train_y, te, test_y, k) for k in args.k}
        kmax = max(args.k)
        knn[f"cosine_k{kmax}_weighted"] = knn_accuracy(tr, train_y, te, test_y, kmax, weighted=True,
                                                       temperature=args.temperature)
        knn[f"euclidean_k{kmax}"] = knn_accuracy(tr, train_y, te, test_y, kmax, metric="euclidean")
        linear = linear_probe(tr, train_y, te, test_y)
        report["features"][name] = {"dim": tr.shape[1], "train_mean": float(tr.mean()), "train_std": float(tr.std()),
                                    "knn": knn, "linear": linear}
        print(f"{name:8} {tr.shape[1]:5d} {float(tr.mean()):7.3f} {float(tr.std()):6.3f} "
              + " ".join(f"{knn[f'cosine_k{k}']:7.4f}" for k in args.k)
              + f" {knn[f'cosine_k{kmax}_weighted']:8.4f} {knn[f'euclidean_k{kmax}']:9.4f} {linear['test_acc']:7.4f}",
              flush=True)
    report["wall_s"] = round(time.perf_counter() - start, 1)
    out = path.parent / f"probe_{'random' if args.random_init else 'pixels' if args.pixels else path.stem}.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
