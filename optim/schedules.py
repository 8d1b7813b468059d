"""Learning-rate schedules written for the posts (torch's own are registered in torch_optimizers.py).

``piecewise``: the LearningRateScheduler of kexue.fm/archives/5765 (docs/posts/1_callbacks_layers.md),

    lr(t) = values[i]  for  boundaries[i-1] <= t < boundaries[i]      (boundaries[-1] = -inf, boundaries[n] = inf)

i.e. ``boundaries=[50, 80], values=[1e-2, 1e-3, 1e-4]`` is the blog's "1e-2 while epoch < 50, 1e-3 while
epoch < 80, then 1e-4" with epochs counted from 0 as in Keras, so epoch 50 already gets 1e-3.

t is the number of ``step()`` calls so far: with ``scheduler.interval: epoch`` the Trainer steps at each
epoch end, so t is the 0-based epoch; with ``interval: step`` t counts optimizer updates. Behind
``scheduler.warmup_steps`` (a ``SequentialLR``) t restarts at 0 when the warmup ends, as every torch schedule
does there. The values are absolute learning rates: they replace the optimizer's ``lr`` (the warmup ramps up
to ``values[0]``). The position is ``last_epoch`` in the state dict, so a resumed run continues the schedule.
"""
from __future__ import annotations

import bisect

import torch
from torch.optim import lr_scheduler

from errors import ConfigError
from registry import register


@register("scheduler", "piecewise")
class PiecewiseLR(lr_scheduler.LRScheduler):
    def __init__(self, optimizer: torch.optim.Optimizer, boundaries: list[int], values: list[float],
                 last_epoch: int = -1):
        if len(values) != len(boundaries) + 1:
            raise ConfigError(f"scheduler.values needs one more entry than scheduler.boundaries (one lr per "
                              f"interval), got {len(values)} values for {len(boundaries)} boundaries")
        if any(b <= a for a, b in zip(boundaries, boundaries[1:])) or any(b < 0 for b in boundaries):
            raise ConfigError(f"scheduler.boundaries must be non-negative and strictly increasing, got {boundaries}")
        if any(not v > 0 for v in values):
            raise ConfigError(f"scheduler.values must be positive learning rates, got {values}")
        self.boundaries = [int(b) for b in boundaries]
        self.values = [float(v) for v in values]
        if last_epoch == -1:
            # absolute values: start the optimizer (and its ``initial_lr``, which a warmup in front of this
            # schedule ramps towards) at values[0], whatever optim.lr says
            for group in optimizer.param_groups:
                group["lr"] = self.values[0]
        super().__init__(optimizer, last_epoch)

    def _value(self, t: int) -> float:
        # bisect_right: at t == boundaries[i] the next value already applies ("epoch < 50" -> 50 is past)
        return self.values[bisect.bisect_right(self.boundaries, t)]

    def get_lr(self) -> list[float]:
        return [self._value(self.last_epoch)] * len(self.optimizer.param_groups)

    # used by torch when stepped with an explicit position (SequentialLR does so at its milestones)
    _get_closed_form_lr = get_lr


@register("scheduler", "exponential_floor")
class ExponentialFloorLR(lr_scheduler.LRScheduler):
    """lr(t) = max(lr · gamma^t, min_lr): exponential decay that stops at a floor.

    The NICE paper's code (github.com/laurent-dinh/nice, exp/nice_mnist.yaml) divides the learning rate by
    1.0005 after every update down to 1e-4 (pylearn2's ``ExponentialDecay(decay_factor, min_lr)``), i.e.
    ``gamma: 0.9995002`` (1/1.0005) with ``interval: step``. torch's ExponentialLR has no floor and chaining it
    with a constant through SequentialLR needs the crossing step worked out by hand, hence this class."""

    def __init__(self, optimizer: torch.optim.Optimizer, gamma: float, min_lr: float = 0.0, last_epoch: int = -1):
        if not 0 < gamma <= 1:
            raise ConfigError(f"scheduler.gamma must be in (0, 1] (a decay factor per step), got {gamma}")
        if min_lr < 0:
            raise ConfigError(f"scheduler.min_lr must be >= 0, got {min_lr}")
        self.gamma, self.min_lr = float(gamma), float(min_lr)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        return [max(base * self.gamma ** self.last_epoch, min(self.min_lr, base)) for base in self.base_lrs]

    _get_closed_form_lr = get_lr
