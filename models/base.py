"""The contract between a model and the Trainer.

The Trainer knows nothing about any model: it asks the model which optimizer group an update trains
(``phase``), gets a dict of named scalar losses for a batch (``training_losses``), sums them with the loss
weights, back-propagates and steps that group's optimizer. Models with several optimizers (GANs, critics)
return several groups and alternate them in ``phase``; the Trainer needs no special case for them.

Loss weights have one mechanism (engine/loss_weights.py): a model returns its terms UNWEIGHTED and declares
the weight of each in ``default_loss_weights`` (the post's values); the Trainer uses those, each overridden by
the config's ``loss_weights.<term>``, and logs the raw terms (``train/<term>``, ``val/<term>``) beside the
weighted total (``train/loss``, ``val/loss``) and the weights in force (``weight/<term>``). A model never
multiplies a term by a weight of its own. Older versions of some models did, through constructor arguments
(``gp_weight``, ``reg_weight``, ``recon_weight``, InfoMax's ``alpha``/``beta``/``gamma``); such a model names
them in ``legacy_loss_weights`` so that configs and checkpoints written then still read the same.

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
        """Named scalar losses (means over the batch), unweighted: the Trainer minimises their sum weighted by
        the resolved loss weights (``default_loss_weights`` and the config's ``loss_weights``)."""
        raise NotImplementedError(f"{type(self).__name__} must implement training_losses")

    def default_loss_weights(self) -> dict[str, float]:
        """The weight of each loss term ``training_losses`` returns (in any phase) unless the config's
        ``loss_weights.<term>`` sets it: the post's values, for this model's constructor arguments. A term
        left out weighs 1. Name only terms the model returns (a name that is none is refused at the first
        update as an unknown ``loss_weights`` key). A default other than 1 must be what older code applied,
        or be backed by a ``legacy_loss_weights`` entry: checkpoints written before the weights moved out of
        the models saved only the config's weights, and resume with these defaults. Default: every term 1."""
        return {}

    @classmethod
    def legacy_loss_weights(cls, args: dict) -> dict[str, tuple[str | None, float | None]]:
        """The constructor arguments through which older versions of this model weighted a loss term
        itself, among ``args`` (a model section, the constructor's defaults filled in): {argument: (the term
        it weighted, or None where it weighted none with these arguments; the weight the older model gave that
        term, its value or, when null, the older default)}. engine/loss_weights.py moves them to
        ``loss_weights`` when a config or a checkpoint is read. Default: none."""
        return {}

    @torch.no_grad()
    def evaluation_metrics(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """Named scalar metrics of one evaluation batch (batch means). The Trainer calls this in eval
        mode and averages over batches weighted by batch size. Default: the training losses."""
        return self.training_losses(batch, self.phase(0))

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, **kwargs) -> Tensor:
        """``n`` images in [0, 1], shape (n, C, H, W), for sample grids. Optional."""
        raise NotImplementedError(f"{type(self).__name__} does not sample")
