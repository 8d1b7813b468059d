"""Achieved training FLOP/s of the blog NICE (batch 128, Adam) as a fraction of this machine's fp32 GEMM rate.

What is measured
    flops_per_step: the FLOPs of one training step's forward + backward, counted by
        torch.utils.flop_counter.FlopCounterMode (matrix products only; Adam and the element-wise ops are not
        counted, but their time is in the step).
    train_flops_per_s = flops_per_step / (seconds per full step: zero_grad, loss, backward, Adam step).
    matmul_flops_per_s: torch.matmul of two square fp32 matrices (--size, 2048), 2 n^3 FLOPs each;
    layer_gemm_flops_per_s: the same on NICE's own hidden-layer shape, (128 x 1000) @ (1000 x 1000).

How
    ``--rounds`` rounds, each timing ``--steps`` training steps, then the square GEMM, then the layer-shape
    GEMM, so all three see the same machine load; each rate is the median over rounds. One warm-up step
    (the counted one) and one warm-up GEMM of each shape come first. Data: random MNIST-shaped uint8 batches.

Acceptance: ratio = train_flops_per_s / matmul_flops_per_s >= 0.5.

Threads default to 1: this 2-core machine is shared with training jobs, and two OpenMP threads competing
with them make NICE steps several times slower and erratic (--threads 0 = torch's default).

    python bench/nice_throughput.py
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from engine.build import build_model
from engine.config import validate


def gemm_flops_per_s(m: int, k: int, n: int, repeats: int) -> float:
    a, b, out = torch.randn(m, k), torch.randn(k, n), torch.empty(m, n)
    start = time.perf_counter()
    for _ in range(repeats):
        torch.matmul(a, b, out=out)
    return 2 * m * k * n * repeats / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--steps", type=int, default=25, help="training steps timed per round")
    parser.add_argument("--size", type=int, default=2048, help="side of the square GEMM")
    parser.add_argument("--threads", type=int, default=1, help="torch threads; 0 = torch's default")
    parser.add_argument("--fused-adam", action="store_true", help="Adam(fused=True) instead of torch's default")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    model = build_model(validate({"model": {"name": "nice"}}))  # the defaults are the blog's NICE
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7, fused=args.fused_adam or None)
    batch_size = 128
    batches = [{"x": torch.randint(0, 256, (batch_size, 1, 28, 28), dtype=torch.uint8)} for _ in range(8)]

    def step(batch: dict) -> None:
        optimizer.zero_grad(set_to_none=True)
        model.training_losses(batch)["nll"].backward()
        optimizer.step()

    optimizer.zero_grad(set_to_none=True)
    with FlopCounterMode(display=False) as counter:
        model.training_losses(batches[0])["nll"].backward()
    optimizer.step()  # completes the warm-up step (allocates Adam's state)
    flops_per_step = counter.get_total_flops()
    gemm_flops_per_s(args.size, args.size, args.size, 1)
    gemm_flops_per_s(batch_size, 1000, 1000, 5)

    step_s, square, layer = [], [], []
    for r in range(args.rounds):
        start = time.perf_counter()
        for i in range(args.steps):
            step(batches[i % len(batches)])
        step_s.append((time.perf_counter() - start) / args.steps)
        square.append(gemm_flops_per_s(args.size, args.size, args.size, 3))
        layer.append(gemm_flops_per_s(batch_size, 1000, 1000, 100))
        print(f"round {r + 1}: {step_s[-1]:.3f} s/step = {flops_per_step / step_s[-1] / 1e9:.1f} GFLOP/s, "
              f"square GEMM {square[-1] / 1e9:.1f}, layer GEMM {layer[-1] / 1e9:.1f} GFLOP/s", file=sys.stderr)

    s, train = statistics.median(step_s), flops_per_step / statistics.median(step_s)
    square_rate, layer_rate = statistics.median(square), statistics.median(layer)
    print(json.dumps({
        "bench": "nice_throughput", "flops_per_step": flops_per_step,
        "train_flops_per_s": round(train), "matmul_flops_per_s": round(square_rate),
        "layer_gemm_flops_per_s": round(layer_rate),
        "ratio": round(train / square_rate, 4), "ratio_vs_layer_shape_gemm": round(train / layer_rate, 4),
        "samples_per_s": round(batch_size / s, 2), "fused_adam": args.fused_adam,
        "threads": torch.get_num_threads(), "torch": torch.__version__,
    }))


if __name__ == "__main__":
    main()
