"""A plain VAE (Kingma & Welling 2014, arXiv:1312.6114) on flattened images: the worked example of
docs/ADDING_A_MODEL.md, and the baseline the clustering VAE (post 3, models/cluster_vae.py) extends with a
mixture prior.

    encoder   x (D pixels in [0, 1]) -> MLP -> (mu, log sigma^2), each ``latent_dim``
    decoder   z = mu + sigma * eps -> MLP -> D Bernoulli logits
    recon     sum over pixels of the binary cross-entropy of the grey values (nats per image)
    kl        KL(q(z|x) || N(0, I)), nats per image

Both terms are returned unweighted; the Trainer weights them with ``loss_weights`` (default 1 each: the ELBO;
``loss_weights.kl: 4`` gives a beta-VAE). The evaluation adds ``elbo`` = -(recon + kl), a bound on the
log-likelihood of the grey values treated as Bernoulli probabilities (not a bits/dim of the 256-level data).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from models.base import Model
from registry import register


def mlp(sizes: list[int]) -> nn.Sequential:
    """Linear layers with ReLU between them (none after the last)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes, sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


@register("model", "vae")
class VAE(Model):
    def __init__(self, image_shape: list[int] = (1, 28, 28), hidden: list[int] = (512, 256), latent_dim: int = 16):
        super().__init__()
        if latent_dim < 1 or any(h < 1 for h in hidden):
            raise ValueError(f"VAE needs latent_dim >= 1 and positive hidden sizes, got {latent_dim}, {list(hidden)}")
        self.image_shape = tuple(int(s) for s in image_shape)
        self.latent_dim = latent_dim
        dim = math.prod(self.image_shape)
        self.encoder = mlp([dim, *hidden, 2 * latent_dim])
        self.decoder = mlp([latent_dim, *reversed(hidden), dim])

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """uint8 images (N, C, H, W) -> (mu, log variance), each (N, latent_dim)."""
        mu, log_var = self.encoder(x.flatten(1).float() / 255.0).chunk(2, dim=1)
        return mu, log_var

    def _terms(self, x: Tensor) -> dict[str, Tensor]:
        mu, log_var = self.encode(x)
        z = mu + torch.randn_like(mu) * (0.5 * log_var).exp()
        logits = self.decoder(z)
        target = x.flatten(1).float() / 255.0
        recon = F.binary_cross_entropy_with_logits(logits.float(), target, reduction="none").sum(1).mean()
        kl = (0.5 * (mu.float() ** 2 + log_var.float().exp() - 1 - log_var.float())).sum(1).mean()
        return {"recon": recon, "kl": kl}

    def training_losses(self, batch: dict[str, Tensor], phase: str = "main") -> dict[str, Tensor]:
        return self._terms(batch["x"])

    def default_loss_weights(self) -> dict[str, float]:
        """Both terms at 1: the negative ELBO. ``loss_weights.kl: 4`` in a config makes a beta-VAE."""
        return {"recon": 1.0, "kl": 1.0}

    @torch.no_grad()
    def evaluation_metrics(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        terms = self._terms(batch["x"])
        return {**terms, "elbo": -(terms["recon"] + terms["kl"])}

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, **kwargs) -> Tensor:
        """``n`` decoded means of z ~ N(0, I), as images in [0, 1]."""
        device = next(self.parameters()).device
        z = torch.randn(n, self.latent_dim, generator=generator, device=generator.device if generator else device)
        return torch.sigmoid(self.decoder(z.to(device))).view(n, *self.image_shape)
