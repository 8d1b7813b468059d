"""The loss of the VAE with one-step clustering (kexue.fm/archives/5887; docs/posts/3_cluster_vae.md).

Per example, with p_y = p(y|z) the classifier's softmax on the sampled z, μ_y the cluster means and
p(z|x) = N(μ(x), σ²(x)):

    loss = λ · Σ_pixels ½(x − x̂)²                  reconstruction, Gaussian decoder of variance 1/λ
         + Σ_y p_y Σ_d k_{y,d}                       cluster term, ≈ Σ_y p_y · KL(p(z|x) ‖ N(μ_y, I))
         + Σ_y p_y log p_y                           category term, KL(p(y|z) ‖ uniform) − log K

averaged over the batch, the sums inside (summing, not averaging, over 784 pixels and 20 dimensions is part of
the model: a mean would silently reweight the terms). Two versions of k in the blog's code:

* ``december`` (2018-12-10, the final code, λ = 2.5): k = −½(log σ_d² − (z_d − μ_{y,d})²), the one-sample
  estimate of log p(z|x)/q(z|y) with the parameter-free −½‖ε‖² dropped;
* ``september`` (2018-09-17, λ = 5): k = −½(1 + log σ_d² − (μ_d(x) − μ_{y,d})² − σ_d²), the analytic
  KL(N(μ(x), σ²) ‖ N(μ_y, 1)) per dimension.
"""
from __future__ import annotations

import typing
from typing import Literal

import torch
from torch import Tensor

Variant = Literal["december", "september"]
VARIANTS = typing.get_args(Variant)
DEFAULT_RECON_WEIGHT = {"december": 2.5, "september": 5.0}


def reconstruction(x: Tensor, x_hat: Tensor) -> Tensor:
    """Σ over every non-batch dimension of ½(x − x̂)², averaged over the batch (without λ)."""
    return 0.5 * (x - x_hat).pow(2).flatten(1).sum(dim=1).mean()


def cluster_k(variant: Variant, z: Tensor, mean: Tensor, logvar: Tensor, cluster_means: Tensor) -> Tensor:
    """k_{y,d} of the chosen version: (N, K, D) from z, μ(x), log σ² (N, D) and the means μ_y (K, D)."""
    if variant == "december":
        return -0.5 * (logvar.unsqueeze(1) - (z.unsqueeze(1) - cluster_means).pow(2))
    if variant == "september":
        return -0.5 * (1 + logvar.unsqueeze(1) - (mean.unsqueeze(1) - cluster_means).pow(2)
                       - logvar.exp().unsqueeze(1))
    raise ValueError(f"loss variant must be one of {', '.join(VARIANTS)}, got {variant!r}")


def cluster_term(p_y: Tensor, k: Tensor) -> Tensor:
    """Σ_y p_y Σ_d k_{y,d}, averaged over the batch. p_y (N, K), k (N, K, D)."""
    return (p_y * k.sum(dim=2)).sum(dim=1).mean()


def category_term(p_y: Tensor) -> Tensor:
    """Σ_y p_y log p_y (= −H(p(y|z))), averaged over the batch; 0·log 0 counts as 0."""
    return torch.special.xlogy(p_y, p_y).sum(dim=1).mean()
