"""``fake``: random uint8 images with labels, for smoke tests and dry runs of any config (like torchvision's
FakeData, but produced in one batched call and deterministic in ``seed``)."""
from __future__ import annotations

import torch

from registry import register


@register("dataset", "fake")
def fake(image_shape: list[int] = [1, 28, 28], num_classes: int = 10, n_train: int = 256, n_test: int = 64,
         seed: int = 0) -> dict[str, dict[str, torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)

    def split(n: int) -> dict[str, torch.Tensor]:
        x = torch.randint(0, 256, (n, *image_shape), generator=g, dtype=torch.uint8)
        return {"x": x, "y": torch.randint(0, num_classes, (n,), generator=g)}

    return {"train": split(n_train), "test": split(n_test)}
