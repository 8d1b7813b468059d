"""Evaluating a model over a split (used by the Trainer, evaluate.py and the ``evaluate`` callback)."""
from __future__ import annotations

import contextlib
from typing import Iterator

import torch

# Validation metrics of stochastic models (dequantisation noise) are computed with the same noise at every
# evaluation, under a forked RNG, so they are comparable across epochs and never shift the training stream.
EVAL_SEED = 1234


@contextlib.contextmanager
def evaluation_mode(model, device: torch.device):
    """Eval mode, no gradients, and a forked global RNG seeded with EVAL_SEED; restores the training mode."""
    was_training = model.training
    model.eval()
    devices = [device.index or 0] if device.type == "cuda" else []
    try:
        with torch.no_grad(), torch.random.fork_rng(devices=devices):
            torch.manual_seed(EVAL_SEED)
            yield
    finally:
        model.train(was_training)


def batches_on(loader, device: torch.device) -> Iterator[dict[str, torch.Tensor]]:
    for batch in loader.batches():
        yield {k: v.to(device, non_blocking=True) for k, v in batch.items()}


def evaluate_model(model, loader, device: torch.device) -> dict[str, float]:
    """Mean of ``model.evaluation_metrics`` over all batches of ``loader``, weighted by batch size; in fp32
    (no autocast), whatever precision training used."""
    totals: dict[str, torch.Tensor] = {}
    with evaluation_mode(model, device):
        for batch in batches_on(loader, device):
            n = len(next(iter(batch.values())))
            metrics = model.evaluation_metrics(batch)
            for name, value in metrics.items():
                totals[name] = totals.get(name, 0.0) + value.detach().double() * n
    return {name: float(total) / loader.num_samples for name, total in totals.items()}
