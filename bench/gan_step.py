"""Seconds of one critic step with spectral normalisation against one with the gradient penalty, in one run.

What is measured
    One critic update of models/gan.py at batch 64 on CIFAR-shaped images (32×32): generator forward (no grad),
    critic on real and on fake, the WGAN loss (+ the penalty for GP: a critic forward at interpolates and a
    gradient with create_graph, then backward through it: "double backprop"), backward, Adam step.
    sn: the blog's SN (5 power steps from all-ones per layer per forward, gradients through σ);
    gp: no normalisation, two-sided penalty;
    ratio = s_per_step(sn) / s_per_step(gp): the post says SN is cheaper, i.e. ratio < 1.
    Also reported: torch's spectral_norm (one power step, persistent u) and the projection variant.

How
    The four models share the same initial critic and generator weights and the same batches. ``--rounds``
    rounds; in each, every variant runs ``--steps`` critic updates (after one warm-up update in the first round);
    per variant the median over all timed updates. Alternating variants within a round keeps a busy machine's
    drift out of the ratio.

Threads default to 1 (bench/README.md).

    python bench/gan_step.py
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

import torch

from models.gan import LipschitzGAN

VARIANTS = ("sn", "gp", "sn_torch", "sn_projection")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    models, opts = {}, {}
    for v in VARIANTS:
        torch.manual_seed(0)  # the constraint is applied after initialisation: identical starting weights
        models[v] = LipschitzGAN(image_size=args.image_size, constraint=v).train()
        opts[v] = torch.optim.Adam(models[v].critic.parameters(), 2e-4, betas=(0.5, 0.999), eps=1e-7)
    data = torch.randint(0, 256, (8 * args.batch, 3, args.image_size, args.image_size), dtype=torch.uint8)

    def step(v: str, i: int) -> float:
        batch = {"x": data[(i % 8) * args.batch:(i % 8 + 1) * args.batch]}
        start = time.perf_counter()
        weights = models[v].default_loss_weights()  # GP: lambda 10, as the Trainer applies it
        loss = sum(weights.get(k, 1.0) * t for k, t in models[v].training_losses(batch, "critic").items())
        opts[v].zero_grad(set_to_none=True)
        loss.backward()
        opts[v].step()
        models[v].after_optimizer_step("critic")
        return time.perf_counter() - start

    for v in VARIANTS:
        step(v, 0)
    times = {v: [] for v in VARIANTS}
    for r in range(args.rounds):
        for v in VARIANTS:
            times[v] += [step(v, r * args.steps + i) for i in range(args.steps)]
        print(f"round {r + 1}: " + ", ".join(f"{v} {statistics.median(times[v]):.3f} s" for v in VARIANTS),
              file=sys.stderr)
    med = {v: statistics.median(t) for v, t in times.items()}
    print(json.dumps({"bench": "gan_step", "batch": args.batch, "image_size": args.image_size,
                      **{f"s_per_critic_step_{v}": round(med[v], 4) for v in VARIANTS},
                      "ratio": round(med["sn"] / med["gp"], 3), "ratio_sn_torch_vs_gp": round(med["sn_torch"] / med["gp"], 3),
                      "threads": torch.get_num_threads(), "torch": torch.__version__}))


if __name__ == "__main__":
    main()
