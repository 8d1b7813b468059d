"""The center-loss demo of kexue.fm "让Keras更酷一些！精巧的层与花式的回调" (https://kexue.fm/archives/5765,
2018-08-06). This repository's page: docs/posts/1_callbacks_layers.md, "Model".

    feature   f = x·W_f + b_f               x: pixels/255 flattened (N, 784), f: (N, 2), no activation
    logits    s = f·kernel + bias           kernel (2, 10), bias (10,)
    losses    ce     = CE(s, y)                                    (integer labels)
              center = mean_n Σ_j (centers[y_n]_j − f_{n,j})²      (losses/center.py; centers (10, 2))
    total     ce + λ·center,  λ = loss_weights.center (0.5 in the post; 0 = the plain softmax baseline)

The post's Dense-with-a-loss layer becomes ``CenterLossHead`` (the logits) plus a named ``center`` loss term
that the Trainer weights from the config: in PyTorch a loss attached to a layer is just another entry of the
model's loss dict.

Where this departs from the blog's code, and why:
- Keras initialisers made explicit: the feature Dense has glorot_uniform (Xavier-uniform) kernel and zero
  bias; the head's kernel and centres are glorot_normal, here a normal truncated at 2 std with
  std = sqrt(2/(fan_in + fan_out)) as in Keras 2.2.0-2.2.2 (Inferred: later Keras versions rescale the std by
  1/0.8796 to undo the truncation).
- The head keeps Keras's (in, out) kernel layout, so the logits are x @ kernel (torch's Linear is (out, in)).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from losses.center import center_loss
from models.base import Model
from registry import register


def glorot_normal_(tensor: Tensor) -> Tensor:
    """Keras 2.2 glorot_normal of a 2-d weight: fan_in = shape[0], fan_out = shape[1], normal with std
    sqrt(2/(fan_in + fan_out)) truncated at ±2 std."""
    std = math.sqrt(2.0 / (tensor.shape[0] + tensor.shape[1]))
    return nn.init.trunc_normal_(tensor, std=std, a=-2 * std, b=2 * std)


class CenterLossHead(nn.Module):
    """Dense layer with a center loss: logits = x·kernel + bias, and one trainable centre per class."""

    def __init__(self, in_features: int, num_classes: int):
        super().__init__()
        self.kernel = nn.Parameter(glorot_normal_(torch.empty(in_features, num_classes)))  # (in, out), Keras
        self.bias = nn.Parameter(torch.zeros(num_classes))
        self.centers = nn.Parameter(glorot_normal_(torch.empty(num_classes, in_features)))  # (classes, in)

    def forward(self, features: Tensor) -> Tensor:
        """features (N, in) -> logits (N, classes)."""
        return features @ self.kernel + self.bias

    def center_loss(self, features: Tensor, labels: Tensor) -> Tensor:
        return center_loss(features, self.centers, labels)


@register("model", "center_loss_mlp")
class CenterLossMLP(Model):
    """784 → Dense(feature_dim) (linear) → CenterLossHead(classes). Losses ``ce`` and ``center``."""

    def __init__(self, in_dim: int = 784, feature_dim: int = 2, classes: int = 10):
        super().__init__()
        self.feature = nn.Linear(in_dim, feature_dim)
        nn.init.xavier_uniform_(self.feature.weight)  # Keras Dense defaults
        nn.init.zeros_(self.feature.bias)
        self.head = CenterLossHead(feature_dim, classes)

    def features(self, x: Tensor) -> Tensor:
        """uint8 images (N, ...) in 0..255 -> the feature the head sees, (N, feature_dim)."""
        return self.feature(x.flatten(1).float() / 255.0)

    def forward(self, x: Tensor) -> Tensor:
        """uint8 images -> logits (N, classes)."""
        return self.head(self.features(x))

    def default_loss_weights(self) -> dict[str, float]:
        """ce and center 1. λ, the center term's weight, is each experiment's own (configs: 0.5, the post's,
        and 0.01; ``loss_weights.center=0``: the softmax baseline), so the configs set it; 1 is the weight a
        config without it has always trained with."""
        return {"ce": 1.0, "center": 1.0}

    def training_losses(self, batch: dict[str, Tensor], phase: str = "main") -> dict[str, Tensor]:
        f = self.features(batch["x"])
        return {"ce": F.cross_entropy(self.head(f), batch["y"]), "center": self.head.center_loss(f, batch["y"])}

    @torch.no_grad()
    def evaluation_metrics(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        f = self.features(batch["x"])
        logits = self.head(f)
        return {"ce": F.cross_entropy(logits, batch["y"]),
                "acc": (logits.argmax(dim=1) == batch["y"]).float().mean(),
                "center": self.head.center_loss(f, batch["y"])}


@register("model", "center_loss_cnn")
class CenterLossCNN(CenterLossMLP):
    """LeNets++ of the center-loss paper (Wen et al. 2016, ECCV, Table 1 of its MNIST experiment): three stages
    of two 5x5 convolutions (32, 64, 128 filters, padding 2, PReLU) each followed by 2x2 max-pooling, then a
    Dense to the ``feature_dim``-d feature (PReLU) and the same CenterLossHead. The blog's demo uses a linear
    784 -> 2 feature (``center_loss_mlp``), which cannot separate MNIST well in 2-d; this is the reference
    architecture readers compare a 2-d center-loss figure against. Losses ``ce`` and ``center``."""

    def __init__(self, image_shape: list[int] = (1, 28, 28), feature_dim: int = 2, classes: int = 10,
                 widths: list[int] = (32, 64, 128)):
        super().__init__(in_dim=1, feature_dim=feature_dim, classes=classes)
        c, h, w = image_shape
        layers: list[nn.Module] = []
        for width in widths:
            layers += [nn.Conv2d(c, width, 5, padding=2), nn.PReLU(width),
                       nn.Conv2d(width, width, 5, padding=2), nn.PReLU(width), nn.MaxPool2d(2)]
            c, h, w = width, h // 2, w // 2
        self.body = nn.Sequential(*layers, nn.Flatten())
        self.feature = nn.Sequential(nn.Linear(c * h * w, feature_dim), nn.PReLU(feature_dim))

    def features(self, x: Tensor) -> Tensor:
        """uint8 images (N, C, H, W) in 0..255 -> the feature the head sees, (N, feature_dim)."""
        return self.feature(self.body(x.float() / 255.0))
