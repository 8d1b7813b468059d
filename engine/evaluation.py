"""Averaging a model's evaluation metrics over a split (used by the Trainer and by evaluate.py)."""
from __future__ import annotations

import contextlib

import torch

# Validation metrics of stochastic models (dequantisation noise) are computed with the same noise at every
# evaluation, under a forked RNG, so they are comparable across epochs and never shift the training stream.
EVAL_SEED = 1234


@torch.no_grad()
def evaluate_model(model, loader, device: torch.device, autocast=contextlib.nullcontext) -> dict[str, float]:
    """Mean of ``model.evaluation_metrics`` over all batches of ``loader``, weighted by batch size."""
    was_training = model.training
    model.eval()
    totals: dict[str, torch.Tensor] = {}
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(EVAL_SEED)
        for batch in loader.batches():
            batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
            n = len(next(iter(batch.values())))
            with autocast():
                metrics = model.evaluation_metrics(batch)
            for name, value in metrics.items():
                totals[name] = totals.get(name, 0.0) + value.detach().double() * n
    model.train(was_training)
    return {name: float(total) / loader.num_samples for name, total in totals.items()}
