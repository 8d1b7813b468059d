"""Small reusable layers: train-only input noise and the dimension splits of coupling layers.

- ``TrainOnlyNoise``: Keras' ``K.in_train_phase(x + noise, x)``, i.e. noise added iff ``self.training``.
- ``split_interleaved``/``merge_interleaved``: even/odd positions along the last dim (the NICE blog's split).
- ``split_halves``/``merge_halves``: contiguous first/second half along the last dim (the common alternative;
  using it instead of the interleave silently changes the NICE model, see docs/posts/2_nice.md, "Pitfalls").
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

NOISE_KINDS = ("uniform", "gaussian")


class TrainOnlyNoise(nn.Module):
    """x + noise in training mode, x unchanged in eval mode.

    kind="uniform": noise ~ U[low, high) per element; kind="gaussian": noise ~ N(0, std²).
    The NICE blog's negative noise x − 0.01·U[0, 1) is ``TrainOnlyNoise("uniform", low=-0.01, high=0.0)``
    (the same distribution up to the end points of the interval)."""

    def __init__(self, kind: str = "uniform", low: float = 0.0, high: float = 1.0, std: float = 1.0):
        super().__init__()
        if kind not in NOISE_KINDS:
            raise ValueError(f"TrainOnlyNoise kind must be one of {', '.join(NOISE_KINDS)}, got {kind!r}")
        if kind == "uniform" and not high >= low:
            raise ValueError(f"TrainOnlyNoise needs low <= high, got low={low}, high={high}")
        if kind == "gaussian" and std < 0:
            raise ValueError(f"TrainOnlyNoise needs std >= 0, got {std}")
        self.kind, self.low, self.high, self.std = kind, low, high, std

    def forward(self, x: Tensor) -> Tensor:
        if not self.training:
            return x
        if self.kind == "uniform":
            return x + self.low + (self.high - self.low) * torch.rand_like(x)
        return x + self.std * torch.randn_like(x)

    def extra_repr(self) -> str:
        if self.kind == "uniform":
            return f"kind=uniform, low={self.low}, high={self.high}"
        return f"kind=gaussian, std={self.std}"


def split_interleaved(x: Tensor) -> tuple[Tensor, Tensor]:
    """(..., D) -> (even positions (..., ⌈D/2⌉), odd positions (..., ⌊D/2⌋))."""
    return x[..., 0::2], x[..., 1::2]


def merge_interleaved(even: Tensor, odd: Tensor) -> Tensor:
    """Inverse of ``split_interleaved``: even -> positions 0, 2, 4, ..., odd -> 1, 3, 5, ..."""
    if even.shape[-1] - odd.shape[-1] not in (0, 1) or even.shape[:-1] != odd.shape[:-1]:
        raise ValueError(f"cannot interleave shapes {tuple(even.shape)} and {tuple(odd.shape)}")
    out = even.new_empty(*even.shape[:-1], even.shape[-1] + odd.shape[-1])
    # slice assignment into a fresh tensor is tracked by autograd like any copy
    out[..., 0::2] = even
    out[..., 1::2] = odd
    return out


def split_halves(x: Tensor) -> tuple[Tensor, Tensor]:
    """(..., D) -> (first ⌊D/2⌋ positions, remaining ⌈D/2⌉ positions)."""
    half = x.shape[-1] // 2
    return x[..., :half], x[..., half:]


def merge_halves(first: Tensor, second: Tensor) -> Tensor:
    """Inverse of ``split_halves``."""
    return torch.cat([first, second], dim=-1)


def keras_init_(module: nn.Module) -> nn.Module:
    """Keras' default initialisation for every Linear, Conv and ConvTranspose inside ``module``: Glorot
    (Xavier) uniform kernels and zero biases (torch's defaults are Kaiming-uniform with a fan-in bias)."""
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return module
