#!/usr/bin/env python3
"""k-means on an encoder's means: the autoencoder + k-means floor for post 3's clustering VAE.

    python scripts/kmeans_baseline.py RUN [--clusters 10] [--restarts 10] [--seed 0]

RUN is a run folder (its last.pt) or a checkpoint of a model with ``encode(pixels) -> (mean, logvar)`` and
``pixels(x)`` (models/cluster_vae.py). The baseline peers report (about 0.79 Hungarian accuracy on MNIST) is the
same encoder trained as a plain autoencoder, then k-means on its codes; here that is configs/cluster_ae_*.yaml:
the clustering VAE's encoder, decoder, data and optimizer, z = mu(x) decoded (``model.sample_z: false``), the
clustering terms weighted 0, one epoch of learning-rate warm-up:

    python train.py --config configs/cluster_ae_mnist.yaml train.run_name=cluster_ae_mnist_seed0 train.seed=0

k-means (scipy.cluster.vq.kmeans2, k-means++ starts) is fitted on the training split's means, ``--restarts``
times from seeds ``--seed``, ``--seed`` + 1, ...; the fit of lowest within-cluster sum of squares assigns the test
split, scored like the VAE (metrics/clustering.py: Hungarian accuracy, purity, NMI, ARI). The same script on a
clustering-VAE run gives k-means on its codes, beside its own classifier's clusters.

Prints one JSON line and writes it to ``<run folder>/kmeans_baseline.json``.
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys

import numpy as np
import torch
from scipy.cluster.vq import kmeans2

from engine.cli import user_errors_exit_2
from engine.runs import load_run
from errors import ConfigError
from metrics.clustering import clustering_report


@torch.no_grad()
def encoder_means(model, x: torch.Tensor, batch_size: int = 1000) -> np.ndarray:
    """(N, latent) float64 encoder means of uint8 images."""
    return np.concatenate([model.encode(model.pixels(x[i:i + batch_size]))[0].double().numpy()
                           for i in range(0, len(x), batch_size)])


def best_kmeans(codes: np.ndarray, k: int, restarts: int, seed: int) -> tuple[np.ndarray, float]:
    """(centres, within-cluster sum of squares) of the best of ``restarts`` k-means++ fits."""
    best = None
    for r in range(restarts):
        centres, labels = kmeans2(codes, k, minit="++", seed=seed + r)
        inertia = float(((codes - centres[labels]) ** 2).sum())
        if best is None or inertia < best[1]:
            best = (centres, inertia)
    return best


def assign(codes: np.ndarray, centres: np.ndarray) -> np.ndarray:
    return ((codes[:, None, :] - centres[None]) ** 2).sum(-1).argmin(1)


@user_errors_exit_2
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="run folder or checkpoint file")
    parser.add_argument("--clusters", type=int, default=10)
    parser.add_argument("--restarts", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.clusters < 2 or args.restarts < 1:
        raise ConfigError(f"--clusters must be >= 2 and --restarts >= 1, got {args.clusters} and {args.restarts}")
    run = load_run(args.run, prefer=("last.pt",))
    model = run.model
    if not (hasattr(model, "encode") and hasattr(model, "pixels")):
        raise ConfigError(f"{run.path} holds a {run.model_name!r} model, which has no encode/pixels; pass a "
                          f"cluster_vae run (its encoder's means are clustered)")
    splits = run.dataset
    train_codes = encoder_means(model, splits["train"]["x"])
    centres, inertia = best_kmeans(train_codes, args.clusters, args.restarts, args.seed)
    report = {"command": shlex.join(["python", *sys.argv]), "checkpoint": str(run.path), "step": run.step,
              "clusters": args.clusters, "restarts": args.restarts, "seed": args.seed, "train_inertia": inertia}
    for split in ("train", "test"):
        if split in splits:
            codes = train_codes if split == "train" else encoder_means(model, splits[split]["x"])
            scores = clustering_report(assign(codes, centres), splits[split]["y"].numpy(), args.clusters)
            report.update({f"{split}/{k}": v for k, v in scores.items()})
    print(json.dumps(report))
    (run.folder / "kmeans_baseline.json").write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
