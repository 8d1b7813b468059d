"""torch's own optimizers and LR schedulers, registered by the names configs use.

The schedulers are torch's (``torch.optim.lr_scheduler``); ``build_scheduler`` adds the per-step linear
warmup in front of any of them with ``SequentialLR``. Warmup counts optimizer updates, not micro-batches.
"""
from __future__ import annotations

import torch
from torch.optim import lr_scheduler

import registry

for _name, _cls in {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD,
                    "rmsprop": torch.optim.RMSprop}.items():
    registry.add("optimizer", _name, _cls)


@registry.register("scheduler", "none")
def constant(optimizer: torch.optim.Optimizer) -> lr_scheduler.LRScheduler:
    """The learning rate stays as the optimizer set it."""
    return lr_scheduler.ConstantLR(optimizer, factor=1.0, total_iters=0)


for _name, _cls in {"cosine": lr_scheduler.CosineAnnealingLR, "multistep": lr_scheduler.MultiStepLR,
                    "step": lr_scheduler.StepLR, "exponential": lr_scheduler.ExponentialLR}.items():
    registry.add("scheduler", _name, _cls)


def build_scheduler(optimizer: torch.optim.Optimizer, sched_cfg: dict) -> lr_scheduler.LRScheduler:
    """A scheduler from a resolved ``scheduler`` config section, with ``warmup_steps`` of linear warmup:
    update n (0-based) of the warmup uses lr * (n + 1) / warmup_steps, the last one the full lr."""
    kwargs = {k: v for k, v in sched_cfg.items() if k not in ("name", "warmup_steps", "interval")}
    main = registry.lookup("scheduler", sched_cfg["name"])(optimizer, **kwargs)
    warmup = sched_cfg.get("warmup_steps", 0)
    if warmup <= 0:
        return main
    ramp = lr_scheduler.LinearLR(optimizer, start_factor=1.0 / warmup, end_factor=1.0,
                                 total_iters=max(warmup - 1, 0))
    return lr_scheduler.SequentialLR(optimizer, [ramp, main], milestones=[warmup])
