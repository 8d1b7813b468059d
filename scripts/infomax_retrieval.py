#!/usr/bin/env python3
"""The InfoMax post's retrieval figures: random query images, each followed by its nearest neighbours in z_mean.

    python scripts/infomax_retrieval.py RUN [--tag cifar10] [--out docs/figures] [--seed 0] [--feature z_mean]

RUN is a run folder (its last.pt) or a checkpoint of a model with ``features(x)`` (models/infomax.py). Written
to --out, each a 10 × 10 grid (one row per query; 320×320 px for CIFAR-10):

* ``infomax_<tag>_knn_cosine.png``: 10 random TRAINING images, each followed by its 9 nearest training images
  by cosine similarity of z_mean (the query is its own nearest neighbour, so it comes first, as in the blog);
* ``infomax_<tag>_knn_euclidean.png``: the same queries by Euclidean distance;
* ``infomax_<tag>_knn_test_cosine.png`` (an addition): 10 random TEST queries, each followed by its 9 nearest
  training images: generalisation rather than memorisation;
* ``infomax_<tag>_knn.json``: the command, checkpoint, step, query indices and, per row, how many of the 9
  neighbours share the query's label.

Colours: tiles are the stored uint8 images / 255, not the model's input. The blog's CIFAR-10 script mapped its
[−0.5, 0.5] inputs back with (x + 1)/2·255, which puts pixels in about 64..191: its published grids are washed
out. The correct inverse is (x + 0.5)·255, i.e. the original pixels used here.
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

import torch
from torchvision.utils import save_image

from data.loader import InMemoryLoader
from engine.cli import user_errors_exit_2
from engine.runs import load_run
from errors import ConfigError
from metrics.probes import extract_features, nearest_neighbours

ROWS, COLS = 10, 10


def grid(images: torch.Tensor, queries: torch.Tensor, neighbours: torch.Tensor, path: Path) -> None:
    """Row i: query image i then its neighbours (all uint8 (N, C, H, W) from ``images``)."""
    tiles = torch.cat([torch.cat([queries[i:i + 1], images[neighbours[i]]]) for i in range(len(queries))])
    save_image(tiles.float() / 255.0, path, nrow=COLS, padding=0)


@user_errors_exit_2
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run")
    parser.add_argument("--tag", default="cifar10")
    parser.add_argument("--out", default="docs/figures")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--feature", default="z_mean")
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--threads", type=int, default=0,
                        help="torch threads (0 = torch's default; use 1 beside other jobs on a small machine)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    run = load_run(args.run, prefer=("last.pt",))
    path, model = run.path, run.model
    if not hasattr(model, "features"):
        raise ConfigError(f"model {run.model_name!r} has no features(x) method")
    splits = run.dataset
    train, test = splits["train"], splits["test"]
    bank, train_y = extract_features(model, InMemoryLoader(train, args.batch_size))
    test_f, test_y = extract_features(model, InMemoryLoader(test, args.batch_size))
    if args.feature not in bank:
        raise ConfigError(f"--feature {args.feature}: the model gives {', '.join(bank)}")
    bank, test_f = bank[args.feature], test_f[args.feature]
    g = torch.Generator().manual_seed(args.seed)
    train_q = torch.randperm(len(bank), generator=g)[:ROWS]
    test_q = torch.randperm(len(test_f), generator=g)[:ROWS]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    report = {"command": shlex.join([Path(sys.executable).name, *sys.argv]), "checkpoint": str(path),
              "step": run.step, "feature": args.feature, "train_queries": train_q.tolist(),
              "test_queries": test_q.tolist(), "same_label_of_9": {}}
    for metric in ("cosine", "euclidean"):
        _, idx = nearest_neighbours(bank, bank[train_q], COLS, metric)
        # the query is its own nearest neighbour: drop it wherever it landed, keep the 9 next
        idx = torch.stack([row[row != q][:COLS - 1] for row, q in zip(idx, train_q)])
        grid(train["x"], train["x"][train_q], idx, out / f"infomax_{args.tag}_knn_{metric}.png")
        report["same_label_of_9"][metric] = (train_y[idx] == train_y[train_q][:, None]).sum(1).tolist()
    _, idx = nearest_neighbours(bank, test_f[test_q], COLS - 1, "cosine")
    grid(train["x"], test["x"][test_q], idx, out / f"infomax_{args.tag}_knn_test_cosine.png")
    report["same_label_of_9"]["test_cosine"] = (train_y[idx] == test_y[test_q][:, None]).sum(1).tolist()
    (out / f"infomax_{args.tag}_knn.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report["same_label_of_9"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
