"""Batched random image augmentations on whole tensors (one call per batch, each sample its own draw).

Used by the two-view InfoMax variant (``models/infomax.py``, ``views: 2``), where two independent
augmentations of each image make the positive pairs. torchvision's ``transforms.v2`` draws one set of
parameters per call, so on a batch tensor every image would get the same crop and the same colour change;
per-sample parameters need either a Python loop over samples (slow on CPU) or the vectorised versions here:
a random resized crop with horizontal flip as one ``affine_grid``/``grid_sample`` call, colour jitter
(brightness, contrast, saturation) and random grayscale as per-sample factors broadcast over the batch.

Input uint8 (B, C, H, W) in 0..255 or float in [0, 1]; output float in [0, 1] of the same shape. Random draws
come from ``generator`` (default: torch's global generator, which the Trainer seeds per update).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

GRAY_WEIGHTS = (0.299, 0.587, 0.114)


def _uniform(n: int, low: float, high: float, like: Tensor, generator: torch.Generator | None) -> Tensor:
    return low + (high - low) * torch.rand(n, generator=generator, device="cpu").to(like.device, like.dtype)


def gray(x: Tensor) -> Tensor:
    """Luma of (B, 3, H, W) colour images, (B, 1, H, W); grey images are returned as they are."""
    if x.shape[1] == 1:
        return x
    w = torch.tensor(GRAY_WEIGHTS, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x * w).sum(1, keepdim=True)


def resized_crop_flip(x: Tensor, scale: tuple[float, float] = (0.3, 1.0), ratio: tuple[float, float] = (3 / 4, 4 / 3),
                      flip: float = 0.5, generator: torch.Generator | None = None) -> Tensor:
    """Per-sample random resized crop (area fraction in ``scale``, aspect ratio in ``ratio``, log-uniform),
    resized back to the input size with bilinear sampling, and a horizontal flip with probability ``flip``."""
    b = x.shape[0]
    area = _uniform(b, *scale, x, generator)
    log_r = _uniform(b, math.log(ratio[0]), math.log(ratio[1]), x, generator)
    aspect = log_r.exp()
    sx = (area * aspect).sqrt().clamp(max=1.0)   # crop width / image width
    sy = (area / aspect).sqrt().clamp(max=1.0)   # crop height / image height
    tx = (1 - sx) * _uniform(b, -1, 1, x, generator)  # centre offset in [-1, 1] coordinates
    ty = (1 - sy) * _uniform(b, -1, 1, x, generator)
    mirror = torch.where(torch.rand(b, generator=generator).to(x.device) < flip, -1.0, 1.0).to(x.dtype)
    theta = torch.zeros(b, 2, 3, dtype=x.dtype, device=x.device)
    theta[:, 0, 0], theta[:, 0, 2] = sx * mirror, tx
    theta[:, 1, 1], theta[:, 1, 2] = sy, ty
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


def color_jitter(x: Tensor, strength: float = 0.4, p: float = 0.8, gray_p: float = 0.2,
                 generator: torch.Generator | None = None) -> Tensor:
    """Per-sample brightness, contrast and saturation factors in [1 − s, 1 + s] (applied in that order,
    to a random ``p`` share of the batch), then grayscale for a random ``gray_p`` share; [0, 1] in and out."""
    b = x.shape[0]
    shape = (b, 1, 1, 1)
    on = (torch.rand(b, generator=generator) < p).to(x.device).view(shape)
    factors = [_uniform(b, 1 - strength, 1 + strength, x, generator).view(shape) for _ in range(3)]
    y = (x * factors[0]).clamp(0, 1)
    mean = gray(y).mean(dim=(1, 2, 3), keepdim=True)
    y = ((y - mean) * factors[1] + mean).clamp(0, 1)
    g = gray(y)
    y = ((y - g) * factors[2] + g).clamp(0, 1)
    y = torch.where(on, y, x)
    to_gray = (torch.rand(b, generator=generator) < gray_p).to(x.device).view(shape)
    return torch.where(to_gray, gray(y).expand_as(y), y)


def simclr_like(x: Tensor, generator: torch.Generator | None = None, crop_scale: tuple[float, float] = (0.3, 1.0),
                jitter: float = 0.4) -> Tensor:
    """Resized crop + flip, then colour jitter and grayscale, the usual view augmentation of contrastive
    learning on CIFAR-10 (without blur). uint8 or [0, 1] float in, [0, 1] float out."""
    if x.dtype == torch.uint8:
        x = x.float() / 255.0
    return color_jitter(resized_crop_flip(x, scale=crop_scale, generator=generator), strength=jitter,
                        generator=generator)
