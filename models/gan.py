"""WGAN with a Lipschitz constraint on the critic: kexue.fm/archives/6051 (2018-10-07), code github.com/bojone/gan
``keras/wgan_sn_celeba.py`` and ``keras/wgan_gp_celeba.py``. Page: docs/posts/8_lipschitz.md. Losses and
the power iteration: losses/lipschitz.py.

    critic     x ∈ [−1, 1] (S×S×3) → Conv(64, 5×5, s2) LReLU(0.3) → n−1 × [Conv(2c, 5×5, s2) BN LReLU(0.3)]
               → flatten (4·4·c) → Dense(1, no bias)                       (n = log2(S/4): 4 for 64, 3 for 32)
    generator  z (100) → Dense(4·4·c) BN ReLU → n−1 × [ConvT(c/2, 5×5, s2) BN ReLU] → ConvT(3, 5×5, s2) tanh
    losses     critic: mean f(G(z)) − mean f(x) (+ 10·GP);  generator: −mean f(G(z))   (``loss: hinge`` also)
               terms ``critic``, ``gp`` (unweighted; λ = loss_weights.gp, default 10) and ``generator``
    schedule   ``n_critic`` (5) critic updates, then 1 generator update: one "iteration" is 6 optimizer updates

``constraint`` on the critic:
  * ``sn`` (the post "after the fix"): every conv and dense kernel AND every BatchNorm γ is reparameterised as
    W/σ(W), σ by 5 power steps from all-ones at every forward, gradients through σ (a γ's σ is its L2 norm);
  * ``sn_projection`` (the post "before the fix", Keras 2.2.4 kernel constraints): plain weights in the
    forward, and after every critic step W ← W/σ(W) in place, no gradient through σ;
  * ``sn_torch``: ``torch.nn.utils.parametrizations.spectral_norm`` on kernels (persistent u, one step per
    training forward; not on γ): the standard estimator, a labelled variant;
  * ``gp``: no normalisation; two-sided gradient penalty λ(‖∇f(x̂)‖ − 1)² (``gp_one_sided`` for the post's
    max(·, 0)² suggestion), λ = ``loss_weights.gp`` (10, the blog's; ``model.gp_weight`` is its older spelling,
    still read: engine/loss_weights.py);
  * ``none``.

``critic_norm``: the normalisation after the critic's inner convs: ``batch`` (the blog's BatchNorm, default),
``layer`` (per-sample layer norm, as the WGAN-GP paper advises for a per-sample penalty) or ``none``.

Keras details kept: TensorFlow 'same' padding (5×5 stride 2 on an even size pads 1 before and 2 after; the
transposed convolution is its exact adjoint: no padding, then crop 1 before and 2 after), Glorot-uniform kernels
with zero biases, LeakyReLU slope 0.3 (Keras' default), BatchNorm momentum 0.99 (torch 0.01) and eps 1e-3.
Real, fake and interpolated batches go through the critic as separate calls (BatchNorm statistics per call).
Samples are drawn with the generator in eval mode (running statistics), as Keras' ``predict``.
"""
from __future__ import annotations

import math
from typing import Literal

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import spectral_norm

from losses.lipschitz import (gradient_penalty, hinge_critic_loss, power_iteration, wgan_critic_loss,
                              wgan_generator_loss)
from models.base import Model
from models.layers import keras_init_
from registry import register

Constraint = Literal["sn", "sn_projection", "sn_torch", "gp", "none"]
CriticLoss = Literal["wgan", "hinge"]
GP_WEIGHT = 10.0  # λ of the gradient penalty (wgan_gp_celeba.py)


class SameConv5(nn.Sequential):
    """Conv2d 5×5 stride 2 with TensorFlow 'same' padding on an even size: pad 1 before, 2 after."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__(nn.ZeroPad2d((1, 2, 1, 2)), nn.Conv2d(c_in, c_out, 5, stride=2))


class SameConvTranspose5(nn.ConvTranspose2d):
    """ConvTranspose2d 5×5 stride 2, H → 2H: the adjoint of SameConv5 (no padding, crop 1 before, 2 after)."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__(c_in, c_out, 5, stride=2)

    def forward(self, x: Tensor) -> Tensor:
        h, w = x.shape[-2:]
        return super().forward(x)[..., 1:1 + 2 * h, 1:1 + 2 * w]


def bn2d(c: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(c, eps=1e-3, momentum=0.01)


class BlogSpectralNorm(nn.Module):
    """Parametrization W ↦ W / σ(W), σ from ``iterations`` power steps started at all-ones at every call."""

    def __init__(self, iterations: int = 5):
        super().__init__()
        self.iterations = iterations

    def forward(self, weight: Tensor) -> Tensor:
        return weight / power_iteration(weight, self.iterations)


def constrained_weights(critic: nn.Module) -> list[nn.Module]:
    """The critic's modules whose ``weight`` the blog normalises: convs, linears and BatchNorm (γ)."""
    return [m for m in critic.modules() if isinstance(m, (nn.Conv2d, nn.Linear, nn.BatchNorm2d))]


def channels(image_size: int, base: int) -> list[int]:
    n = int(math.log2(image_size // 4))
    if image_size < 8 or 4 * 2 ** n != image_size:
        raise ValueError(f"image_size must be 4·2^n (8, 16, 32, 64, 128, ...), got {image_size}")
    return [base * 2 ** i for i in range(n)]


CriticNorm = Literal["batch", "layer", "none"]


def critic_norm_layer(kind: CriticNorm, c: int) -> nn.Module:
    """The normalisation after each inner critic conv: the blog's BatchNorm; ``layer``: a layer norm over
    (C, H, W) of each sample with a per-channel scale and shift (GroupNorm with one group, what the WGAN-GP paper
    suggests in place of batch norm, since its penalty is per sample); ``none``: identity (same module
    positions, so the state-dict keys of the other layers do not move)."""
    if kind == "batch":
        return bn2d(c)
    if kind == "layer":
        return nn.GroupNorm(1, c, eps=1e-3)
    return nn.Identity()


class Critic(nn.Sequential):
    def __init__(self, image_size: int, in_channels: int, base: int, slope: float, norm: CriticNorm = "batch"):
        widths = channels(image_size, base)
        layers: list[nn.Module] = [SameConv5(in_channels, widths[0]), nn.LeakyReLU(slope)]
        for a, b in zip(widths, widths[1:]):
            layers += [SameConv5(a, b), critic_norm_layer(norm, b), nn.LeakyReLU(slope)]
        layers += [nn.Flatten(), nn.Linear(widths[-1] * 16, 1, bias=False)]
        super().__init__(*layers)


class Generator(nn.Module):
    def __init__(self, image_size: int, out_channels: int, base: int, z_dim: int):
        super().__init__()
        widths = channels(image_size, base)[::-1]
        self.top = widths[0]
        self.project = nn.Sequential(nn.Linear(z_dim, widths[0] * 16), nn.BatchNorm1d(widths[0] * 16, eps=1e-3,
                                                                                      momentum=0.01), nn.ReLU())
        layers: list[nn.Module] = []
        for a, b in zip(widths, widths[1:]):
            layers += [SameConvTranspose5(a, b), bn2d(b), nn.ReLU()]
        layers += [SameConvTranspose5(widths[-1], out_channels), nn.Tanh()]
        self.body = nn.Sequential(*layers)

    def forward(self, z: Tensor) -> Tensor:
        return self.body(self.project(z).view(len(z), self.top, 4, 4))


@register("model", "gan")
class LipschitzGAN(Model):
    def __init__(self, image_size: int = 32, channels: int = 3, z_dim: int = 100, base_filters: int = 64,
                 constraint: Constraint = "sn", sn_iterations: int = 5, loss: CriticLoss = "wgan",
                 gp_one_sided: bool = False, n_critic: int = 5, lrelu_slope: float = 0.3,
                 critic_norm: CriticNorm = "batch"):
        super().__init__()
        if n_critic < 1 or sn_iterations < 1:
            raise ValueError(f"n_critic and sn_iterations must be >= 1, got {n_critic} and {sn_iterations}")
        self.image_shape = (channels, image_size, image_size)
        self.z_dim, self.constraint, self.sn_iterations, self.loss = z_dim, constraint, sn_iterations, loss
        self.gp_one_sided, self.n_critic = gp_one_sided, n_critic
        self.critic = keras_init_(Critic(image_size, channels, base_filters, lrelu_slope, critic_norm))
        self.generator = keras_init_(Generator(image_size, channels, base_filters, z_dim))
        if constraint == "sn":
            for m in constrained_weights(self.critic):
                parametrize.register_parametrization(m, "weight", BlogSpectralNorm(sn_iterations))
        elif constraint == "sn_torch":
            for m in self.critic.modules():
                if isinstance(m, (nn.Conv2d, nn.Linear)):
                    spectral_norm(m)

    # ------------------------------------------------------------------------------------ Trainer contract
    def default_loss_weights(self) -> dict[str, float]:
        """critic and generator 1; with ``constraint: gp`` the penalty's λ = 10."""
        return {"critic": 1.0, "generator": 1.0, **({"gp": GP_WEIGHT} if self.constraint == "gp" else {})}

    @classmethod
    def legacy_loss_weights(cls, args: dict) -> dict[str, tuple[str | None, float | None]]:
        """``gp_weight`` was λ inside the model (only used with ``constraint: gp``)."""
        if "gp_weight" not in args:
            return {}
        value = args["gp_weight"]
        return {"gp_weight": ("gp" if args.get("constraint") == "gp" else None,
                              GP_WEIGHT if value is None else value)}

    def optimizer_groups(self) -> dict[str, list[nn.Parameter]]:
        return {"critic": list(self.critic.parameters()), "generator": list(self.generator.parameters())}

    def phase(self, update: int) -> str:
        return "critic" if update % (self.n_critic + 1) < self.n_critic else "generator"

    @staticmethod
    def pixels(x: Tensor) -> Tensor:
        """uint8 → [−1, 1]."""
        return x.float() / 127.5 - 1.0

    def noise(self, n: int, device, generator: torch.Generator | None = None) -> Tensor:
        noise_device = generator.device if generator is not None else device
        return torch.randn(n, self.z_dim, generator=generator, device=noise_device).to(device)

    def training_losses(self, batch: dict[str, Tensor], phase: str = "critic") -> dict[str, Tensor]:
        real = self.pixels(batch["x"])
        z = self.noise(len(real), real.device)
        if phase == "generator":
            return {"generator": wgan_generator_loss(self.critic(self.generator(z)).float())}
        with torch.no_grad():
            fake = self.generator(z).float()
        # separate calls, as the blog; scores in fp32 for the means (no-ops without train.amp)
        real_scores, fake_scores = self.critic(real).float(), self.critic(fake).float()
        if self.loss == "wgan":
            out = {"critic": wgan_critic_loss(real_scores, fake_scores)}
        else:
            out = {"critic": hinge_critic_loss(real_scores, fake_scores)}
        if self.constraint == "gp":
            out["gp"] = gradient_penalty(self.critic, real, fake, self.gp_one_sided)  # λ: loss_weights.gp
        return out

    @torch.no_grad()
    def evaluation_metrics(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """The critic's estimate of the Wasserstein distance, mean f(x) − mean f(G(z)) (no GP: the penalty
        needs gradients)."""
        real = self.pixels(batch["x"])
        fake = self.generator(self.noise(len(real), real.device))
        return {"wdist": self.critic(real).mean() - self.critic(fake).mean()}

    @torch.no_grad()
    def after_optimizer_step(self, phase: str) -> None:
        if phase == "critic" and self.constraint == "sn_projection":
            for m in constrained_weights(self.critic):
                m.weight.div_(power_iteration(m.weight, self.sn_iterations))

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """n images in [0, 1] from z ~ N(0, I) (call in eval mode, as the blog's predict)."""
        device = next(self.generator.parameters()).device
        return (self.generator(self.noise(n, device, generator)) + 1) / 2

    @torch.no_grad()
    def critic_sigmas(self, iterations: int = 50) -> dict[str, float]:
        """σ of each constrained critic weight as the forward uses it (after normalisation), for diagnostics."""
        out = {}
        for name, m in self.critic.named_modules():
            if isinstance(m, (nn.Conv2d, nn.Linear, nn.BatchNorm2d)):
                out[name] = float(power_iteration(m.weight, iterations))
        return out
