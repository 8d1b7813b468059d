"""The contract between a model and the Trainer.

The Trainer knows nothing about any model: it asks the model which optimizer group an update trains
(``phase``), gets a dict of named scalar losses for a batch (``training_losses``), sums them with the
config's ``loss_weights`` (default 1 each), back-propagates and steps that group's optimizer. Models with
several optimizers (GANs, critics) return several groups and alternate them in ``phase``; the Trainer needs
no special case for them.

Batches are dicts of tensors already on the model's device. Image batches hold ``x``: uint8 (N, C, H, W)
in 0..255 and ``y``: int64 (N,). Each model converts pixels to its own scale (x/255, dequantisation, ...)
because the scale is part of the model's likelihood (bits/dim needs it).
"""
from __future__ import annotations

import torch
from torch import Tensor, nn


class Model(nn.Module):
    def optimizer_groups(self) -> dict[str, list[nn.Parameter]]:
        """Parameters of each optimizer, by name. One group called ``main`` by default."""
        return {"main": [p for p in self.parameters() if p.requires_grad]}

    def phase(self, update: int) -> str:
        """Name of the optimizer group trained by optimizer update number ``update`` (0-based)."""
        return "main"

    def after_optimizer_step(self, phase: str) -> None:
        """Called by the Trainer right after each optimizer step of ``phase`` (e.g. a projection of weights
        onto a constraint set, as Keras applies kernel constraints). Default: nothing."""

    def training_losses(self, batch: dict[str, Tensor], phase: str = "main") -> dict[str, Tensor]:
        """Named scalar losses (means over the batch) whose weighted sum is minimised in this phase."""
        raise NotImplementedError(f"{type(self).__name__} must implement training_losses")

    @torch.no_grad()
    def evaluation_metrics(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """Named scalar metrics of one evaluation batch (batch means). The Trainer calls this in eval
        mode and averages over batches weighted by batch size. Default: the training losses."""
        return self.training_losses(batch, self.phase(0))

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, **kwargs) -> Tensor:
        """``n`` images in [0, 1], shape (n, C, H, W), for sample grids. Optional."""
        raise NotImplementedError(f"{type(self).__name__} does not sample")
