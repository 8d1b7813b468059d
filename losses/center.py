"""Center loss as coded in kexue.fm/archives/5765 (docs/posts/1_callbacks_layers.md, "Losses").

For features x_n (N, D), integer labels y_n and one trainable centre c_k (K, D) per class:

    center(x, y) = (1/N) Σ_n Σ_j (c_{y_n, j} − x_{n, j})²

summed over the D feature dimensions (so its scale grows with D; the post's λ = 0.5 is for D = 2) and
averaged over the batch, as Keras averages the per-sample loss. The centres get their gradient from this
term, not from the moving-average update of the original center-loss paper (Wen et al. 2016).
"""
from __future__ import annotations

from torch import Tensor


def center_loss(features: Tensor, centers: Tensor, labels: Tensor) -> Tensor:
    """features (N, D), centers (K, D), labels int64 (N,) in 0..K-1 -> scalar mean over the batch."""
    return (centers[labels] - features.float()).pow(2).sum(dim=1).mean()
