"""PiecewiseLR: the blog's 1e-2 / 1e-3 / 1e-4 at epochs 50 / 80 (Keras counting), resume, warmup in front."""
from __future__ import annotations

import pytest
import torch

from errors import ConfigError
from optim.schedules import PiecewiseLR
from optim.torch_optimizers import build_scheduler

BLOG = {"boundaries": [50, 80], "values": [1e-2, 1e-3, 1e-4]}


def optimizer(lr: float = 0.5) -> torch.optim.Optimizer:
    return torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)


def run(opt, sched, n: int) -> list[float]:
    """The lr used in each of ``n`` periods (epochs or updates), stepping the schedule after each."""
    out = []
    for _ in range(n):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


def test_blog_schedule_by_epoch():
    opt = optimizer(lr=0.5)  # the values are absolute: optim.lr is replaced by values[0]
    got = run(opt, PiecewiseLR(opt, **BLOG), 100)
    assert got[0] == got[49] == 1e-2
    assert got[50] == got[79] == 1e-3
    assert got[80] == got[99] == 1e-4
    assert got == [1e-2] * 50 + [1e-3] * 30 + [1e-4] * 20


def test_state_dict_resumes_the_position():
    opt = optimizer()
    sched = PiecewiseLR(opt, **BLOG)
    run(opt, sched, 60)
    state = sched.state_dict()
    opt2 = optimizer()
    sched2 = PiecewiseLR(opt2, **BLOG)
    opt2.load_state_dict(opt.state_dict())
    sched2.load_state_dict(state)
    assert sched2.last_epoch == 60
    assert run(opt2, sched2, 30) == [1e-3] * 20 + [1e-4] * 10


def test_registered_and_composed_with_warmup():
    # warmup ramps to values[0]; the piecewise position restarts at 0 when the warmup ends (SequentialLR)
    opt = optimizer(lr=0.5)
    sched = build_scheduler(opt, {"name": "piecewise", "boundaries": [3, 5], "values": [1.0, 0.1, 0.01],
                                  "warmup_steps": 4, "interval": "step"})
    assert run(opt, sched, 12) == pytest.approx([0.25, 0.5, 0.75, 1.0] + [1.0] * 3 + [0.1] * 2 + [0.01] * 3)


@pytest.mark.parametrize("boundaries, values", [([50, 80], [1e-2, 1e-3]), ([80, 50], [1, 2, 3]),
                                                ([50], [1e-2, 0.0])])
def test_bad_settings_name_the_key(boundaries, values):
    with pytest.raises(ConfigError, match=r"scheduler\.(values|boundaries)"):
        PiecewiseLR(optimizer(), boundaries, values)
