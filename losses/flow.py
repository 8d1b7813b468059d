"""Likelihood pieces of normalising flows: prior log-densities and bits/dim.

A flow z = f(x) gives the change-of-variables log-density

    log q(x) = log p(z) + log|det ∂f/∂x|,

so a flow model only needs its prior's log-density (here a standard Gaussian or a standard logistic, one
independent component per dimension) and its own log-determinant. All densities are summed over every
dimension except the first (batch) one and returned per example, shape (N,).

bits/dim is (NLL in nats per image / D + log c) / log 2 for data scaled as x = (x_int + u) / c, u ~ U[0, 1)
(c = 256 in the standard configs); report nats per image beside it. See docs/posts/2_nice.md.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

LOG_2PI = math.log(2.0 * math.pi)


def _sum_per_example(values: Tensor) -> Tensor:
    """(N, ...) -> (N,): sum over all dimensions but the batch one."""
    return values.reshape(values.shape[0], -1).sum(dim=1)


def gaussian_log_density(z: Tensor) -> Tensor:
    """log N(z; 0, I) per example: Σ_i (−½ z_i² − ½ log 2π). z: (N, ...) -> (N,)."""
    return _sum_per_example(-0.5 * z.pow(2) - 0.5 * LOG_2PI)


def logistic_log_density(z: Tensor) -> Tensor:
    """Standard logistic log-density per example. z: (N, ...) -> (N,).

    p(z) = σ(z)·σ(−z), so log p(z) = −(softplus(−z) + softplus(z)); the softplus form stays finite for
    large |z| where log σ(z) would underflow. (The NICE paper's MNIST prior.)"""
    return _sum_per_example(-(F.softplus(z) + F.softplus(-z)))


def gaussian_constant(num_dims: int) -> float:
    """(D/2)·log 2π: the part of −log N(z; 0, I) that does not depend on z (dropped by the NICE blog loss)."""
    return 0.5 * num_dims * LOG_2PI


def sample_logistic(shape: tuple[int, ...], generator: torch.Generator | None = None,
                    device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> Tensor:
    """Standard logistic samples by inversion: z = log u − log(1 − u), u ~ U(0, 1)."""
    u = torch.rand(shape, generator=generator, device=device, dtype=dtype)
    tiny = torch.finfo(u.dtype).tiny  # u = 0 would give −inf
    u = u.clamp(min=tiny, max=1.0 - torch.finfo(u.dtype).eps)
    return torch.log(u) - torch.log1p(-u)


def bits_per_dim(nll_nats_per_image: Tensor | float, num_dims: int, n_bins: int = 256) -> Tensor | float:
    """Bits per dimension of discrete data from the NLL (nats/image) of its continuous version.

    The NLL must be that of dequantised data scaled to [0, 1): x = (x_int + u) / n_bins, u ~ U[0, 1).
    Each integer image owns a cube of side 1/n_bins, so (Jensen for the inequality)

        P(x_int) = n_bins^(−D) · E_u[q((x_int + u)/n_bins)] ≥ n_bins^(−D) · exp(E_u[log q((x_int + u)/n_bins)]),

    and −log2 P(x_int) / D ≤ (NLL/D + log n_bins) / log 2. The + log n_bins term is that cube's volume:
    forgetting it (the classic bits/dim bug) reports a number 8 bits too low for n_bins = 256.

    Never apply this to a density of clean, undequantised pixels: it is not a likelihood of discrete data
    and can be pushed towards −∞ (docs/posts/2_nice.md, "Pitfalls")."""
    return (nll_nats_per_image / num_dims + math.log(n_bins)) / math.log(2.0)
