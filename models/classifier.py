"""A small CNN classifier, for two jobs of the Lipschitz post (kexue.fm/archives/6051;
docs/posts/8_lipschitz.md):

1. the feature extractor of the classifier Fréchet distance that scores GAN samples offline (scripts/gan_fd.py;
   Inception weights cannot be downloaded here), and
2. the generalisation side of the post: the same classifier trained with no regulariser, with L2 weight decay on
   the kernels (λ·Σ‖W‖_F², the Frobenius bound of the Lipschitz constant) or with the spectral-norm regulariser
   (λ·Σσ(W)², σ by 5 power steps from all-ones, as the post derives), compared by test accuracy and by the
   product of the layers' σ (metric ``lipschitz``). The loss terms are ``xent`` and the unweighted penalty,
   ``l2`` or ``spectral``; λ is ``loss_weights.l2`` / ``loss_weights.spectral`` (default 0: the post gives no
   value; ``model.reg_weight`` is its older spelling, still read: engine/loss_weights.py).

    x/255 − 0.5 → [Conv3×3(c) ReLU Conv3×3(c) ReLU MaxPool2] for c in widths → flatten → Dense(hidden) ReLU
                → Dense(classes)
No BatchNorm and no dropout, so the regulariser is the only thing bounding the Lipschitz constant (BatchNorm's
division by the batch std would rescale it), and the penultimate features are deterministic.
"""
from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

import registry
from losses.lipschitz import frobenius_penalty, lipschitz_proxy, spectral_norm_penalty
from models.base import Model

Regularizer = Literal["none", "l2", "spectral"]
REG_WEIGHT = 0.0  # the regulariser's default λ (older code's reg_weight default): a run sets its own


@registry.register("model", "cnn_classifier")
class CNNClassifier(Model):
    def __init__(self, image_shape: list[int] = (3, 32, 32), classes: int = 10, widths: list[int] = (32, 64, 128),
                 hidden: int = 256, regularizer: Regularizer = "none", sn_iterations: int = 5):
        super().__init__()
        c, h, w = image_shape
        scale = 2 ** len(widths)
        if h % scale or w % scale:
            raise ValueError(f"image_shape {list(image_shape)}: height and width must be multiples of {scale}")
        layers: list[nn.Module] = []
        for width in widths:
            layers += [nn.Conv2d(c, width, 3, padding=1), nn.ReLU(), nn.Conv2d(width, width, 3, padding=1), nn.ReLU(),
                       nn.MaxPool2d(2)]
            c = width
        self.body = nn.Sequential(*layers, nn.Flatten(), nn.Linear(c * (h // scale) * (w // scale), hidden), nn.ReLU())
        self.head = nn.Linear(hidden, classes)
        self.regularizer, self.sn_iterations = regularizer, sn_iterations

    @staticmethod
    def pixels(x: Tensor) -> Tensor:
        return x.float() / 255.0 - 0.5

    def forward(self, x: Tensor) -> Tensor:
        """uint8 images → logits."""
        return self.head(self.body(self.pixels(x)))

    @torch.no_grad()
    def features(self, x: Tensor) -> dict[str, Tensor]:
        """The penultimate (hidden-d) features of uint8 images: the Fréchet-distance feature space."""
        return {"penultimate": self.body(self.pixels(x))}

    def default_loss_weights(self) -> dict[str, float]:
        """xent 1; the regulariser's λ 0 (what older code's ``reg_weight`` defaulted to): set it in
        ``loss_weights``."""
        return {"xent": 1.0, **({self.regularizer: REG_WEIGHT} if self.regularizer != "none" else {})}

    @classmethod
    def legacy_loss_weights(cls, args: dict) -> dict[str, tuple[str | None, float | None]]:
        """``reg_weight`` was λ inside the model, of the term named by ``regularizer`` (none: no term)."""
        if "reg_weight" not in args:
            return {}
        term = args.get("regularizer") if args.get("regularizer") in ("l2", "spectral") else None
        return {"reg_weight": (term, REG_WEIGHT if args["reg_weight"] is None else args["reg_weight"])}

    def penalty(self) -> Tensor:
        if self.regularizer == "l2":
            return frobenius_penalty(self)
        return spectral_norm_penalty(self, self.sn_iterations)

    def training_losses(self, batch: dict[str, Tensor], phase: str = "main") -> dict[str, Tensor]:
        out = {"xent": F.cross_entropy(self(batch["x"]), batch["y"])}
        if self.regularizer != "none":
            out[self.regularizer] = self.penalty()  # λ: loss_weights.<regularizer>
        return out

    @torch.no_grad()
    def evaluation_metrics(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        logits = self(batch["x"])
        return {"xent": F.cross_entropy(logits, batch["y"]), "acc": (logits.argmax(1) == batch["y"]).float().mean()}


@registry.register("metric", "lipschitz")
def lipschitz_metric(model, batches) -> dict[str, float]:
    """Product of the σ of every Linear/Conv kernel (50 power steps each; matrix view of conv kernels) and its
    log: the Lipschitz proxy the post reasons with. Does not look at the data."""
    product = lipschitz_proxy(model, 50)["product"]
    return {"product": product, "log_product": float(torch.tensor(product).log())}
