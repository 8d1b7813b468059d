"""Mutual-information estimators and the prior term of Deep INFOMAX (kexue.fm/archives/6024;
docs/posts/6_infomax.md), as small functions of discriminator scores.

* Jensen-Shannon (the blog's, f-GAN bound): with s = σ(T) for positive pairs (x, its own z) and negative
  pairs (x, another sample's z), minimise −E_pos log σ(T) − E_neg log(1 − σ(T)) (binary cross-entropy).
  ``clip=True`` is the blog's form −mean(log(s_pos + 1e-6) + log(1 − s_neg + 1e-6)) on sigmoid outputs;
  ``clip=False`` computes it from the logits with softplus (log σ(t) = −softplus(−t), log(1 − σ(t)) =
  −softplus(t)), which is exact and never takes the log of a rounded 0.
* InfoNCE (the Deep InfoMax paper's alternative): each row of a (B, B) score matrix holds one positive (on
  the diagonal) and B − 1 negatives (the other samples of the batch); the loss is the cross-entropy of
  picking the diagonal, log B − (the InfoNCE lower bound on I).
* Prior: KL(N(μ, σ²) ‖ N(0, I)) = −½ (1 + log σ² − μ² − σ²) per dimension, averaged over the batch and, as in
  the blog's code, over the dimensions too (``reduction="mean"``; "sum" sums the dimensions, 256 times more).
"""
from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

BLOG_EPS = 1e-6


def js_loss(pos_logits: Tensor, neg_logits: Tensor, clip: bool = False) -> Tensor:
    """Binary cross-entropy of positives as 1 and negatives as 0, each averaged over all its elements."""
    pos_logits, neg_logits = pos_logits.float(), neg_logits.float()  # fp32 under train.amp (no-op otherwise)
    if clip:
        return -(torch.log(torch.sigmoid(pos_logits) + BLOG_EPS).mean()
                 + torch.log(1 - torch.sigmoid(neg_logits) + BLOG_EPS).mean())
    return F.softplus(-pos_logits).mean() + F.softplus(neg_logits).mean()


def infonce_loss(scores: Tensor) -> Tensor:
    """Cross-entropy of the diagonal over each row of ``scores`` (B, B, *positions*): entry [i, j] scores
    sample i's x side against sample j's z. Averaged over rows (and positions)."""
    if scores.shape[0] != scores.shape[1]:
        raise ValueError(f"InfoNCE needs a square (B, B, ...) score matrix, got {tuple(scores.shape)}")
    b, scores = scores.shape[0], scores.float()
    target = torch.arange(b, device=scores.device).view(b, *([1] * (scores.dim() - 2))).expand(
        b, *scores.shape[2:])
    return F.cross_entropy(scores, target)


def kl_to_standard_normal(mu: Tensor, logvar: Tensor, reduction: Literal["mean", "sum"] = "mean") -> Tensor:
    """E_x KL(N(μ, σ²) ‖ N(0, I)): ``mean`` over batch and dimensions (the blog), or ``sum`` over the
    dimensions and mean over the batch (the usual VAE convention)."""
    mu, logvar = mu.float(), logvar.float()
    per_dim = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp())
    if reduction == "mean":
        return per_dim.mean()
    if reduction == "sum":
        return per_dim.sum(1).mean()
    raise ValueError(f"reduction must be mean or sum, got {reduction!r}")


def shuffled_indices(n: int, generator: torch.Generator | None = None, allow_self: bool = False,
                     device: torch.device | str = "cpu") -> Tensor:
    """Indices that pair each of ``n`` samples with another one of the batch, for negatives.

    ``allow_self=False``: a random derangement, so no sample is its own negative: draw a permutation p and
    pair p[i] with p[i + 1] (cyclically), a single cycle through the batch. ``allow_self=True``: a plain
    random permutation, as the blog's ``K.random_shuffle``, where about one sample per batch is paired with
    itself (a "negative" that is a positive)."""
    if n < 2 and not allow_self:
        raise ValueError(f"in-batch negatives need a batch of at least 2, got {n}")
    perm = torch.randperm(n, generator=generator)
    if allow_self:
        return perm.to(device)
    out = torch.empty_like(perm)
    out[perm] = perm.roll(-1)
    return out.to(device)
