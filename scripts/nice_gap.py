#!/usr/bin/env python3
"""Numbers for the gap between our blog-NICE loss and the blog's ≈ −2200 (docs/RESULTS.md, post 2).

    python scripts/nice_gap.py RUN [RUN ...] [--split val]

For each run (folder: best.pt, else last.pt; or a checkpoint file) of a ``preprocess: blog`` NICE, prints one
JSON line with:

* ``loss_clean`` / ``loss_noisy``: the blog's loss (½|z|² − Σa per image) on the split, with clean pixels x/255
  (what our val/loss reports, the blog's val_loss) and with the training noise x − 0.01·U[0,1) applied (what
  the blog's training loss sees, up to the weights changing during the epoch). Their difference answers
  "which split/number is −2200 on" for these weights;
* ``scale``: the log-scales a_i of the final scaling layer: quantiles, how many exceed 5, and ``lr·updates``,
  the most an Adam-trained a_i can have moved from its start (each Adam step moves a parameter by at most
  about lr); ``a_noise_optimum`` = log(√12/amplitude), the a of a Gaussian fitted to pure U[−0.01, 0] noise,
  i.e. where a pixel that is constant in the data settles when trained with noise;
* ``per_dim``: the split's mean of ½z_i² − a_i per dimension, summed over groups of dimensions (by a_i), to
  show where the loss comes from.
"""
from __future__ import annotations

import argparse
import json
import math
import sys

import torch

from engine.cli import user_errors_exit_2
from engine.runs import load_run
from errors import ConfigError

NEEDS = "this script reads NICE runs with model.preprocess=blog"


@torch.no_grad()
def per_dim_loss(model, x: torch.Tensor, noisy: bool, seed: int = 0,
                 batch_size: int = 1000) -> tuple[torch.Tensor, torch.Tensor]:
    """The blog's loss ½z_i² − a_i split two ways: its mean over images per dimension (D,), and its sum over
    dimensions per image (N,). Noise from a CPU generator seeded with ``seed``."""
    g = torch.Generator().manual_seed(seed)
    total = torch.zeros(model.dim, dtype=torch.float64)
    per_image = []
    amplitude = model.train_noise.high - model.train_noise.low if noisy else 0.0
    for i in range(0, len(x), batch_size):
        h = x[i:i + batch_size].reshape(-1, model.dim).float() / 255.0
        if noisy:
            h = h - amplitude * torch.rand(h.shape, generator=g)
        z, _ = model(h)
        terms = (0.5 * z.pow(2) - model.log_scale).double()
        total += terms.sum(dim=0)
        per_image.append(terms.sum(dim=1))
    return total / len(x), torch.cat(per_image)


def image_spread(per_image: torch.Tensor) -> dict:
    """Quantiles of the per-image loss, the worst image, and the mean with the worst 1% of images left out: tells
    a mean blown up by a few images from one that moved for all of them."""
    q = torch.quantile(per_image, torch.tensor([0.5, 0.9, 0.99], dtype=per_image.dtype))
    rest = per_image.sort().values[:len(per_image) - max(1, len(per_image) // 100)]
    return {"median": float(q[0]), "p90": float(q[1]), "p99": float(q[2]), "max": float(per_image.max()),
            "n_above_0": int((per_image > 0).sum()), "argmax": int(per_image.argmax()), "mean_without_worst_1pct": float(rest.mean())}


@user_errors_exit_2
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+")
    parser.add_argument("--split", default="val", choices=("train", "val", "test"))
    args = parser.parse_args(argv)
    for spec in args.runs:
        run = load_run(spec, "nice", build=False, purpose=NEEDS)
        path, config = run.path, run.config
        if config["model"].get("preprocess") != "blog":
            raise ConfigError(f"{run.source} holds a NICE with model.preprocess={config['model'].get('preprocess')}; "
                              f"{NEEDS}")
        model, splits = run.model, run.splits
        if args.split not in splits:
            raise ConfigError(f"{path}: the run's data config has no {args.split} split")
        x = splits[args.split]["x"]
        clean, clean_images = per_dim_loss(model, x, noisy=False)
        amplitude = float(config["model"].get("noise_amplitude", 0.01))
        noisy = per_dim_loss(model, x, noisy=True)[0] if hasattr(model.train_noise, "high") else None
        a = model.log_scale.detach().double()
        step = run.step
        groups = {"a>5": a > 5, "3<a<=5": (a > 3) & (a <= 5), "a<=3": a <= 3}
        line = {
            "run": config["train"]["run_name"], "checkpoint": str(path), "step": step, "split": args.split,
            "train_noise": config["model"].get("train_noise"),
            "loss_clean": float(clean.sum()), "loss_noisy": None if noisy is None else float(noisy.sum()),
            "scale": {"min": float(a.min()), "median": float(a.median()), "max": float(a.max()),
                      "n_above_5": int((a > 5).sum()), "sum": float(a.sum()),
                      "lr_times_updates": float(config["optim"]["lr"]) * step,
                      "a_noise_optimum": math.log(math.sqrt(12) / amplitude)},
            "per_dim": {name: {"dims": int(mask.sum()), "clean": float(clean[mask].sum()),
                               **({"noisy": float(noisy[mask].sum())} if noisy is not None else {})}
                        for name, mask in groups.items()},
            "per_image_clean": image_spread(clean_images),
        }
        print(json.dumps(line))
    return 0


if __name__ == "__main__":
    sys.exit(main())
