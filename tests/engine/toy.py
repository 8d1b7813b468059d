"""A tiny classifier registered as model ``toy``, for engine tests that must not depend on a real model."""
from __future__ import annotations

import torch
from torch import nn

from models.base import Model
from registry import register, _REGISTRY


class Toy(Model):
    def __init__(self, in_dim: int = 16, classes: int = 10, dropout: float = 0.0, nan_after: int | None = None):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(in_dim, 8), nn.Tanh(), nn.Dropout(dropout),
                                 nn.Linear(8, classes))
        self.nan_after = nan_after
        self.calls = 0

    def training_losses(self, batch, phase="main"):
        self.calls += 1
        logits = self.net(batch["x"].float() / 255)
        ce = nn.functional.cross_entropy(logits, batch["y"])
        if self.nan_after is not None and self.calls > self.nan_after:
            ce = ce * float("nan")
        return {"ce": ce}

    def evaluation_metrics(self, batch):
        logits = self.net(batch["x"].float() / 255)
        return {"ce": nn.functional.cross_entropy(logits, batch["y"]),
                "acc": (logits.argmax(1) == batch["y"]).float().mean()}

    @torch.no_grad()
    def sample(self, n, generator=None):
        return torch.rand(n, 1, 4, 4, generator=generator)


if "toy" not in _REGISTRY["model"]:
    register("model", "toy")(Toy)


def toy_config(tmp_path, **train) -> dict:
    """A resolved config of the toy model on 50 fake 4x4 images."""
    from engine.config import validate
    cfg = {
        "model": {"name": "toy", "dropout": 0.2},
        "data": {"name": "fake", "image_shape": [1, 4, 4], "n_train": 50, "n_test": 20},
        "optim": {"name": "adam", "lr": 0.01},
        "train": {"batch_size": 4, "epochs": 2, "log_every": 1, "out_dir": str(tmp_path), "run_name": "toy",
                  **train},
        "callbacks": {"checkpoint": {"monitor": "val/ce"}},
    }
    return validate(cfg)
