"""Images/s of an InfoMax training step, and the share of its time spent outside the networks, in one run.

What is measured
    images_per_s: batch / (seconds of one full step): slice a batch of uint8 images from memory (as the
        in-memory loader does), scale, encoder, negatives, both discriminators, the loss, backward, Adam.
    outside_share: the share of the step's CPU time in operators that are not the networks' layers. Under
        torch.profiler every operator's self time is attributed by name: convolutions, matrix products
        (Linear), batch norm, activations and pooling, forward and backward, count as "networks"; the rest
        (indexing and shuffling for the negatives, concatenating pairs, the log/softplus/KL terms, the uint8
        scaling, Adam's update, autograd bookkeeping) counts as "outside". The profiler's own overhead is
        spread over both.

How
    ``--warmup`` steps, then ``--steps`` timed steps without the profiler (images/s, median of per-step times),
    then ``--profile-steps`` steps under the profiler (the share). Random uint8 CIFAR-shaped data; the blog's
    model (configs/infomax_cifar10.yaml) at batch 64.

Threads default to 1 (see bench/README.md: the machine is shared with training jobs).

    python bench/infomax_step.py
"""
from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
from torch.profiler import ProfilerActivity, profile

from models.infomax import InfoMax

NETWORK_OPS = ("conv", "addmm", "mm", "bmm", "linear", "batch_norm", "leaky_relu", "relu", "threshold",
               "max_pool", "einsum")


def is_network(name: str) -> bool:
    name = name.lower()
    return any(key in name for key in NETWORK_OPS) and "cat" not in name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--profile-steps", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--estimator", default="js")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = InfoMax(estimator=args.estimator)
    opt = torch.optim.Adam(model.parameters(), 1e-3, eps=1e-7)
    data = torch.randint(0, 256, (50 * args.batch, 3, 32, 32), dtype=torch.uint8)
    perm = torch.randperm(len(data))

    def step(i: int) -> None:
        idx = perm[(i * args.batch) % (len(data) - args.batch):][:args.batch]
        batch = {"x": data.index_select(0, idx)}
        weights = model.default_loss_weights()  # alpha, beta, gamma, as the Trainer applies them
        loss = sum(weights.get(k, 1.0) * t for k, t in model.training_losses(batch).items())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for i in range(args.warmup):
        step(i)
    times = []
    for i in range(args.steps):
        start = time.perf_counter()
        step(i)
        times.append(time.perf_counter() - start)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for i in range(args.profile_steps):
            step(i)
    network = outside = 0.0
    for event in prof.key_averages():
        if is_network(event.key):
            network += event.self_cpu_time_total
        else:
            outside += event.self_cpu_time_total
    print(json.dumps({"bench": "infomax_step", "batch": args.batch, "estimator": args.estimator,
                      "s_per_step": round(statistics.median(times), 4),
                      "images_per_s": round(args.batch / statistics.median(times), 1),
                      "outside_share": round(outside / (network + outside), 4),
                      "threads": torch.get_num_threads(), "torch": torch.__version__}))


if __name__ == "__main__":
    main()
