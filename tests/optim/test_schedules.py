"""LR schedules: per-update linear warmup in front of torch's schedulers."""
from __future__ import annotations

import math

import pytest
import torch

from errors import ConfigError
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


def test_exponential_floor_decays_per_step_to_the_floor_and_resumes():
    from optim.schedules import ExponentialFloorLR
    params = [torch.nn.Parameter(torch.zeros(1))]
    opt = torch.optim.SGD(params, lr=1e-3)
    sched = ExponentialFloorLR(opt, gamma=1 / 1.0005, min_lr=1e-4)
    lrs = []
    for _ in range(6000):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[0] == 1e-3 and lrs[1] == pytest.approx(1e-3 / 1.0005)
    crossing = next(t for t, lr in enumerate(lrs) if lr == 1e-4)  # 1e-3 / 1.0005^t < 1e-4 from t = 4606 on
    assert crossing == math.ceil(math.log(10) / math.log(1.0005)) and min(lrs) == 1e-4
    again = torch.optim.SGD(params, lr=1e-3)
    resumed = ExponentialFloorLR(again, gamma=1 / 1.0005, min_lr=1e-4)
    resumed.load_state_dict(sched.state_dict())
    assert resumed.get_last_lr() == sched.get_last_lr()
    with pytest.raises(ConfigError, match="scheduler.gamma"):
        ExponentialFloorLR(opt, gamma=1.5)
