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

import math

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

    # ------------------------------------------------------------------------------ optional methods
    # What scripts, metrics and callbacks call on a model that has it. They test for it with ``hasattr`` (a
    # script refuses a model without it in one line), so the base class does not define these:
    #
    #   features(x) -> dict[str, Tensor] | Tensor   frozen features of a batch of inputs, named (N, d) tensors
    #       (metrics/probes.py, scripts/probe_features.py, infomax_retrieval.py; gan_fd.py's classifier), or one
    #       (N, d) tensor (scripts/center_loss_figure.py)
    #   assign(x) -> Tensor                         a cluster id per input (N,), with the attribute
    #       ``clusters`` (their number): metrics/clustering.py's ``clustering`` metric, cluster_vae_figures.py
    #   tokenizer                                   the model's text vocabulary, ``encode(text, max_len)`` and
    #       ``decode(ids)`` (data/text.py's CharTokenizer): generate.py, title_probe
    #   generate(src, beam, max_len) -> list[list[int]]   decoded ids of a batch of source ids (title_probe,
    #       the ``titles`` metric, bench/beam_search.py)
    #   titles(texts, beam, max_len, max_src_len, blog_quirk) -> list[str]   generated titles of raw
    #       articles (generate.py, scripts/title_eval.py)
    #
    # ``sample`` (above) is the one such method with a stub: sample.py and the ``samples`` callback compare
    # a model's ``sample`` with ``Model.sample`` to refuse a model that does not sample before any work.

    @classmethod
    def input_mismatch(cls, args: dict, sample_shape: list[int]) -> tuple[str, str] | None:
        """Why a model built from ``args`` (its resolved config section) cannot take inputs ``x`` of
        one-sample shape ``sample_shape`` (e.g. [1, 28, 28]), as (the setting, the fix), e.g.
        ("model.in_dim=100", "set model.in_dim=784"); None when it can, or cannot tell. The engine asks
        before the model is built (engine/build.py's ``check_data_fits_model``), so that a model whose input
        size disagrees with the dataset's is one line, not a matrix-size traceback at the first batch.

        The default knows the size settings of this repository's image models: ``image_shape`` ([C, H, W]),
        ``in_dim`` (the flattened size) and ``image_size`` with ``channels`` (square images). A model with
        other size settings overrides it."""
        shape = [int(s) for s in sample_shape]
        image_shape, in_dim = args.get("image_shape"), args.get("in_dim")
        size, channels = args.get("image_size"), args.get("channels")
        if isinstance(image_shape, (list, tuple)) and [int(s) for s in image_shape] != shape:
            return (f"model.image_shape={list(image_shape)}",
                    f"set model.image_shape=[{','.join(map(str, shape))}] (or change the data)")
        if isinstance(in_dim, int) and not isinstance(in_dim, bool) and in_dim != math.prod(shape):
            return f"model.in_dim={in_dim}", f"set model.in_dim={math.prod(shape)} (the values of one image)"
        if isinstance(size, int) and isinstance(channels, int) and len(shape) == 3 \
                and [channels, size, size] != shape:
            return (f"model.channels={channels}, model.image_size={size}",
                    f"set model.channels={shape[0]} and model.image_size={shape[1]}")
        return None
