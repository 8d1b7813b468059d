"""Batched augmentations (data/augment.py): identities at zero strength, per-sample draws, ranges."""
from __future__ import annotations

import torch

from data.augment import color_jitter, gray, resized_crop_flip, simclr_like


def batch(n: int = 8) -> torch.Tensor:
    return torch.rand(n, 3, 16, 16, generator=torch.Generator().manual_seed(0))


def test_full_crop_without_flip_is_the_identity():
    x = batch()
    y = resized_crop_flip(x, scale=(1.0, 1.0), ratio=(1.0, 1.0), flip=0.0)
    torch.testing.assert_close(y, x, atol=1e-5, rtol=0)


def test_full_crop_with_certain_flip_mirrors_every_image():
    x = batch()
    y = resized_crop_flip(x, scale=(1.0, 1.0), ratio=(1.0, 1.0), flip=1.0)
    torch.testing.assert_close(y, x.flip(-1), atol=1e-5, rtol=0)


def test_zero_jitter_and_no_grayscale_is_the_identity_and_certain_grayscale_is_gray():
    x = batch()
    torch.testing.assert_close(color_jitter(x, strength=0.0, p=1.0, gray_p=0.0), x)
    y = color_jitter(x, strength=0.0, p=1.0, gray_p=1.0)
    torch.testing.assert_close(y, gray(x).expand_as(x))


def test_each_sample_gets_its_own_draw_and_a_generator_repeats_them():
    x = batch(1).expand(6, -1, -1, -1).contiguous()  # six copies of one image
    y = simclr_like(x, generator=torch.Generator().manual_seed(1))
    assert y.shape == x.shape and y.dtype == torch.float32
    assert 0.0 <= float(y.min()) and float(y.max()) <= 1.0
    distinct = {tuple(v.flatten()[:32].tolist()) for v in y}
    assert len(distinct) == 6
    again = simclr_like(x, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(y, again)


def test_uint8_input_is_scaled_to_unit_range():
    x = (batch() * 255).to(torch.uint8)
    y = simclr_like(x, crop_scale=(1.0, 1.0), jitter=0.0, generator=torch.Generator().manual_seed(0))
    assert y.dtype == torch.float32 and float(y.max()) <= 1.0 and float(y.max()) > 0.5
