"""Seconds per image of the FID Inception network: the packaged TorchScript port against ``fast_network``
(the same weights in pytorch-fid's architecture, batch norms folded, channels-last), and their ratio.

How
    ``--rounds`` rounds, each timing one batch of ``--batch`` images through the TorchScript network and then
    through the fast one (alternating, so both see the same machine load); per-image seconds are medians over
    rounds, after one warm-up batch each. Images: random uint8 32×32 colour images resized to 299 as in
    metrics/fid.py. Also reported: the largest feature difference between the two on that batch.

Needs the fid extra (``pip install -e ".[fid]"``). Threads default to 1 (the machine is shared with training
jobs; --threads 0 = torch's default).

    python bench/fid_network.py [--batch 25] [--rounds 3]
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

import torch

from engine.machine import cpu_model
from metrics import fid


def seconds_per_image(net, x) -> float:
    start = time.perf_counter()
    with torch.no_grad():
        net(x)
    return (time.perf_counter() - start) / len(x)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=25)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    script = fid.load_network(fast=False)
    fast = fid.load_network(fast=True)
    if fid.network_tag(fast) != "fast":
        raise SystemExit("error: the fast network needs pytorch-fid (pip install -e \".[fid]\")")
    gen = torch.Generator().manual_seed(0)
    x = fid.to_network_input(torch.randint(0, 256, (args.batch, 3, 32, 32), dtype=torch.uint8, generator=gen))
    with torch.no_grad():
        diff = (script(x) - fast(x)).abs().max().item()  # also the warm-up of both
    times = {"script": [], "fast": []}
    for _ in range(args.rounds):
        times["script"].append(seconds_per_image(script, x))
        times["fast"].append(seconds_per_image(fast, x))
    s, f = statistics.median(times["script"]), statistics.median(times["fast"])
    print(json.dumps({"bench": "fid_network", "script_s_per_image": round(s, 4), "fast_s_per_image": round(f, 4),
                      "speedup": round(s / f, 3), "max_feature_diff": diff, "batch": args.batch,
                      "rounds": args.rounds, "threads": torch.get_num_threads(),
                      "cpu": cpu_model(), "torch": torch.__version__}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
