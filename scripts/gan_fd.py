#!/usr/bin/env python3
"""Classifier Fréchet distance of GAN runs against iterations and wall time, from their saved snapshots.

    python scripts/gan_fd.py RUN [RUN ...] --classifier CLS_RUN [--n 10000] [--split test] [--out docs/figures/gan_fd]
    python scripts/gan_fd.py RUN --inception /path/to/inception_v3_weights.pth     # real FID, user-supplied weights

Each RUN is a GAN run folder (configs/gan_*.yaml): its ``snapshots/step*.pt`` (callbacks.checkpoint.snapshot_every)
and its ``last.pt`` are scored (``last.pt`` only when it holds a later update than the last snapshot). For every
checkpoint, ``--n`` images are generated from a fixed noise seed with the generator in eval mode, rounded to
uint8 like real images, and embedded with the classifier's penultimate features (``features()["penultimate"]``
of a cnn_classifier run, configs/classifier_cifar10.yaml); the real statistics come from the first ``--n``
images of the ``--split`` split of the classifier's dataset (cached beside
the classifier as ``real_stats_<split>_<n>_v2.pt``; v2 since class-major copies are put in random order on load,
so the first n images hold every class). The result is a classifier Fréchet distance: comparable only
between runs scored by the same classifier with the same counts and split, never with published FIDs. With
``--inception PATH`` the features are Inception-v3 pool features from the user's weights: that is FID.

Writes ``<out>.json`` (per run: step, iteration, wall time, FD) and ``<out>.png`` (FD against iterations and
against wall time, one line per run).
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

from engine.build import load_dataset  # noqa: E402
from engine.cli import user_errors_exit_2  # noqa: E402
from engine.runs import load_run  # noqa: E402
from errors import CheckpointError, ConfigError  # noqa: E402
from metrics.frechet import feature_stats, frechet_distance, inception_features, inception_model  # noqa: E402


def run_checkpoints(run: Path) -> list[Path]:
    paths = sorted((run / "snapshots").glob("step*.pt")) if run.is_dir() else []
    last = run / "last.pt" if run.is_dir() else run
    if last.is_file():
        paths.append(last)
    if not paths:
        raise CheckpointError(f"{run} holds no snapshots/step*.pt and no last.pt; train with "
                              f"callbacks.checkpoint.snapshot_every or pass a checkpoint file")
    return paths


@torch.no_grad()
def generated_uint8(model, n: int, seed: int, batch: int = 500) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    out = [(model.sample(min(batch, n - i), generator=g) * 255).round().clamp(0, 255).to(torch.uint8)
           for i in range(0, n, batch)]
    return torch.cat(out)


@user_errors_exit_2
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--classifier", help="a cnn_classifier run folder or checkpoint (its best.pt)")
    parser.add_argument("--inception", help="Inception-v3 state dict: compute FID instead")
    parser.add_argument("--n", type=int, default=10000, help="images per side (default 10000)")
    parser.add_argument("--split", default="test")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="docs/figures/gan_fd")
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if bool(args.classifier) == bool(args.inception):
        raise ConfigError("pass exactly one of --classifier CLS_RUN (classifier FD) or --inception PATH (FID)")
    first = load_run(run_checkpoints(args.runs[0])[-1], build=False)
    if args.classifier:
        cls_run = load_run(args.classifier)
        cls_path, classifier = cls_run.path, cls_run.model
        if not hasattr(classifier, "features"):
            raise ConfigError(f"{cls_path} holds no model with features(); train configs/classifier_cifar10.yaml")
        data_cfg = cls_run.config["data"]
        embed = lambda x: torch.cat([classifier.features(x[i:i + 500])["penultimate"]  # noqa: E731
                                     for i in range(0, len(x), 500)])
        kind, cache = f"classifier FD ({cls_path})", cls_path.parent / f"real_stats_{args.split}_{args.n}_v2.pt"
    else:
        net = inception_model(args.inception)
        data_cfg = first.config["data"]
        embed = lambda x: inception_features(net, x)  # noqa: E731
        kind, cache = f"FID (Inception weights {args.inception})", None
    if cache is not None and cache.is_file():
        mu_real, sigma_real = (t.numpy() for t in torch.load(cache, weights_only=True))
    else:
        real = load_dataset(data_cfg)[args.split]["x"]
        if len(real) < args.n:
            raise ConfigError(f"--n {args.n} but the {args.split} split has {len(real)} images; lower --n")
        mu_real, sigma_real = feature_stats(embed(real[:args.n]))
        if cache is not None:
            torch.save([torch.from_numpy(mu_real), torch.from_numpy(sigma_real)], cache)
    report = {"command": shlex.join([Path(sys.executable).name, *sys.argv]), "metric": kind, "n": args.n,
              "split": args.split, "runs": {}}
    for run in args.runs:
        rows = []
        for path in run_checkpoints(run):
            snapshot = load_run(path, build=False)
            if rows and rows[-1]["step"] == snapshot.step:
                continue  # last.pt saved at a snapshot's update: the same weights, scored once
            n_critic = snapshot.config["model"].get("n_critic", 5)
            fd = frechet_distance(*feature_stats(embed(generated_uint8(snapshot.model, args.n, args.seed))),
                                  mu_real, sigma_real)
            wall = snapshot.callback_state("metrics").get("wall_s")
            rows.append({"checkpoint": path.name, "step": snapshot.step,
                         "iteration": snapshot.step // (n_critic + 1), "wall_s": wall, "fd": fd})
            print(f"{run.name} {path.name}: iteration {rows[-1]['iteration']}, FD {fd:.3f}", flush=True)
        report["runs"][run.name] = rows
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for name, rows in report["runs"].items():
        axes[0].plot([r["iteration"] for r in rows], [r["fd"] for r in rows], marker="o", label=name)
        if all(r["wall_s"] is not None for r in rows):
            axes[1].plot([r["wall_s"] / 60 for r in rows], [r["fd"] for r in rows], marker="o", label=name)
    axes[0].set_xlabel("generator iterations")
    axes[1].set_xlabel("wall time (min)")
    for ax in axes:
        ax.set_ylabel(f"{'classifier FD' if args.classifier else 'FID'} ({args.n} vs {args.n} {args.split})")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(out.with_suffix(".png"), dpi=120)
    print(out.with_suffix(".png"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
