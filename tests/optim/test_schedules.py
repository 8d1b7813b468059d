"""LR schedules: per-update linear warmup in front of torch's schedulers."""
from __future__ import annotations

import math

import pytest
import torch

from optim.torch_optimizers import build_scheduler


def lrs(spec: dict, updates: int, lr: float = 1.0) -> list[float]:
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)
    sched = build_scheduler(opt, spec)
    out = []
    for _ in range(updates):
        out.append(opt.param_groups[0]["lr"])  # the lr used by this update
        opt.step()
        sched.step()
    return out


def test_linear_warmup_then_constant():
    got = lrs({"name": "none", "warmup_steps": 4}, 7, lr=1e-3)
    # update n of the warmup uses lr * (n + 1) / warmup_steps; the last warmup update the full lr
    assert got == pytest.approx([0.25e-3, 0.5e-3, 0.75e-3, 1e-3, 1e-3, 1e-3, 1e-3])


def test_warmup_then_cosine():
    got = lrs({"name": "cosine", "T_max": 4, "warmup_steps": 2}, 7)
    cosine = [0.5 * (1 + math.cos(math.pi * t / 4)) for t in range(5)]
    assert got == pytest.approx([0.5, 1.0] + cosine)


def test_multistep_without_warmup():
    got = lrs({"name": "multistep", "milestones": [2, 4], "gamma": 0.1}, 6)
    assert got == pytest.approx([1, 1, 0.1, 0.1, 0.01, 0.01])
