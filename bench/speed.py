"""One training step of each model family in fp32, under bf16 autocast, and in the best combination found,
beside this machine's fp32 and bf16 matrix-product rates.

What is measured
    For NICE (the blog's, batch 128), the clustering VAE (batch 100), seq2seq (the blog's sizes on fake text
    pairs shaped like LCSTS: 120-character sources, 20-character titles, a 4,000-character vocabulary, batch
    64), InfoMax (the blog's CIFAR-10 model, batch 64), and the SN and GP GANs (critic updates, batch 64), one
    optimizer update as the Trainer makes it (zero_grad, training_losses, fp32 sum, backward, Adam step,
    after_optimizer_step), in three variants alternating in one process:

    fp32   what runs today (train.amp: off)
    bf16   train.amp: bf16 (torch.autocast("cpu", torch.bfloat16); engine/trainer.py)
    best   bf16 with channels_last weights and inputs, for the convolutional models (NICE and seq2seq: bf16)

    each the median of --steps timed steps after --warmup, the variants interleaved step by step. FLOPs per step
    are counted once in fp32 with torch.utils.flop_counter.FlopCounterMode (matrix products and convolutions,
    forward and backward). The matrix-product rates are those of a 2048x2048 product at the same thread
    count, fp32 and bf16, interleaved the same way.

Pass (issue 17): nice_bf16_flops_over_fp32_matmul >= 1.2 (a bf16 step faster than any fp32 implementation
could be), nice fp32/bf16 >= 1.6, every other family fp32/best >= 1.3 or a profile in bench/README.md.

    python bench/speed.py [--threads 2] [--models nice,cluster_vae,...]
"""
from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from data.loader import InMemoryLoader
from engine.build import build_model, build_splits, fill_model_args
from engine.config import validate

FAMILIES = {
    "nice": ({"name": "nice"}, {"name": "fake", "image_shape": [1, 28, 28], "n_train": 128}, 128,
             {"lr": 1e-3, "eps": 1e-7, "fused": True}),
    "cluster_vae": ({"name": "cluster_vae"}, {"name": "fake", "image_shape": [1, 28, 28], "n_train": 100}, 100,
                    {"lr": 1e-3, "eps": 1e-7}),
    "seq2seq": ({"name": "seq2seq", "copy_prior": True},
                {"name": "fake_text_pairs", "n_train": 64, "alphabet": 4000, "src_len": 120, "tgt_len": 20,
                 "stride": 6}, 64, {"lr": 1e-3, "eps": 1e-7}),
    "infomax": ({"name": "infomax", "image_shape": [3, 32, 32]}, {"name": "fake", "image_shape": [3, 32, 32],
                                                                  "n_train": 64}, 64, {"lr": 1e-3, "eps": 1e-7}),
    "gan_sn": ({"name": "gan", "constraint": "sn"}, {"name": "fake", "image_shape": [3, 32, 32], "n_train": 64},
               64, {"lr": 2e-4, "betas": (0.5, 0.999), "eps": 1e-7}),
    "gan_gp": ({"name": "gan", "constraint": "gp"}, {"name": "fake", "image_shape": [3, 32, 32], "n_train": 64},
               64, {"lr": 2e-4, "betas": (0.5, 0.999), "eps": 1e-7}),
}
CONV = {"cluster_vae", "infomax", "gan_sn", "gan_gp"}


def build(family: str):
    model_cfg, data_cfg, batch_size, optim = FAMILIES[family]
    config = validate({"model": dict(model_cfg), "data": {**data_cfg, "val": "none"}})
    splits = build_splits(config["data"])
    fill_model_args(config, splits.pop("model_args", {}))
    torch.manual_seed(0)
    model = build_model(config)
    batch = next(InMemoryLoader(splits["train"], batch_size).batches())
    phase = model.phase(0)  # the GAN's first update is a critic one
    opts = {name: torch.optim.Adam(params, **optim) for name, params in model.optimizer_groups().items()}
    return model, batch, phase, opts[phase]


def step(model, batch, phase, opt, dtype) -> None:
    opt.zero_grad(set_to_none=True)
    ctx = torch.autocast("cpu", dtype=dtype) if dtype is not None else contextlib.nullcontext()
    with ctx:
        losses = model.training_losses(batch, phase)
    weights = model.default_loss_weights()  # the Trainer's weighted sum (the configs' weights are the defaults)
    sum(weights.get(k, 1.0) * v.float() for k, v in losses.items()).backward()
    opt.step()
    model.after_optimizer_step(phase)


def matmul_rates(reps: int) -> tuple[float, float]:
    a32, b32 = torch.randn(2048, 2048), torch.randn(2048, 2048)
    a16, b16 = a32.bfloat16(), b32.bfloat16()
    times = {"fp32": [], "bf16": []}
    for _ in range(2):
        a32 @ b32, a16 @ b16
    for _ in range(reps):
        for name, (a, b) in (("fp32", (a32, b32)), ("bf16", (a16, b16))):
            t0 = time.perf_counter()
            a @ b
            times[name].append(time.perf_counter() - t0)
    flops = 2 * 2048 ** 3
    return flops / statistics.median(times["fp32"]), flops / statistics.median(times["bf16"])


def channels_last(model, batch):
    model = model.to(memory_format=torch.channels_last)
    return model, {k: v.contiguous(memory_format=torch.channels_last) if v.dim() == 4 else v for k, v in batch.items()}


def bench_family(family: str, steps: int, warmup: int) -> dict:
    variants = {"fp32": build(family), "bf16": build(family), "best": build(family)}
    if family in CONV:
        m, b, p, o = variants["best"]
        m, b = channels_last(m, b)
        variants["best"] = (m, b, p, o)
    dtypes = {"fp32": None, "bf16": torch.bfloat16, "best": torch.bfloat16}
    model, batch, phase, opt = variants["fp32"]
    try:
        with FlopCounterMode(display=False) as counter:
            step(model, batch, phase, opt, None)
        flops = counter.get_total_flops()
    except RuntimeError:  # FlopCounterMode cannot follow torch.autograd.grad (the gradient penalty)
        flops = None
    times = {name: [] for name in variants}
    for i in range(warmup + steps):
        for name, (m, b, p, o) in variants.items():
            t0 = time.perf_counter()
            step(m, b, p, o, dtypes[name])
            if i >= warmup:
                times[name].append(time.perf_counter() - t0)
    s = {name: statistics.median(t) for name, t in times.items()}
    out = {f"{family}_{name}_s": round(v, 5) for name, v in s.items()}
    out[f"{family}_flops"] = flops
    out[f"{family}_fp32_over_bf16"] = round(s["fp32"] / s["bf16"], 3)
    out[f"{family}_fp32_over_best"] = round(s["fp32"] / s["best"], 3)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2, help="torch threads (0 = torch's default)")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--models", default=",".join(FAMILIES))
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    fp32_rate, bf16_rate = matmul_rates(10)
    result = {"bench": "speed", "threads": torch.get_num_threads(), "matmul_fp32_flops_per_s": round(fp32_rate),
              "matmul_bf16_flops_per_s": round(bf16_rate)}
    for family in args.models.split(","):
        print(f"timing {family}", file=sys.stderr, flush=True)
        result.update(bench_family(family, args.steps, args.warmup))
    if "nice" in args.models.split(","):
        rate = result["nice_flops"] / result["nice_bf16_s"]
        result["nice_bf16_flops_over_fp32_matmul"] = round(rate / fp32_rate, 3)
    result["torch"] = torch.__version__
    result["cpu_native_bf16"] = bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    print(json.dumps(result))


if __name__ == "__main__":
    main()
