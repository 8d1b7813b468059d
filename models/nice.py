"""NICE: additive-coupling flow on MNIST, after kexue.fm "细水长flow之NICE" (https://kexue.fm/archives/5776,
2018-08-11; code github.com/bojone/flow nice.py, last change 2018-08-16). Page: docs/posts/2_nice.md.

Equations (x: flattened image, D = 784; blocks k = 1..K, K = 4):

    encoder, block k:  x ← reverse(x);  x1, x2 = x[0::2], x[1::2]   (even/odd interleave)
                       h1 = x1,  h2 = x2 − m_k(x1)                   (the blog's encoder subtracts)
                       x ← merge_interleaved(h1, h2)
                       (odd D only, every second block: h2 = x2, h1 = x1 − m_k(x2); see below)
    scaling:           z = exp(a) ⊙ h,  a ∈ R^D                      (a learnable; 1/exp(a_i) = prior std)
    log-det:           log|det ∂z/∂x| = Σ_i a_i                      (each coupling is triangular with unit
                                                                      diagonal; a reversal has |det| = 1)
    generator:         h = exp(−a) ⊙ z; for k = K..1: x2 = h2 + m_k(h1), merge, undo the reversal.

m_k: MLP ⌈D/2⌉ → 1000 ×5 (ReLU) → ⌊D/2⌋ with a ReLU on the output too (so m ≥ 0 and the generator only
pushes pixels up). Parameters for the defaults: 4 × 4,789,392 + 784 = 19,158,352 (the post: "about 2×10^7").

Losses (nats/image, mean over the batch):
    blog:    ½ Σ_i z_i² − Σ_i a_i on x = x_uint8/255 (noisy in training: x − 0.01·U[0, 1)); the constant
             (D/2)·log 2π ≈ 720.4 is dropped, so the value is ≈ −2200 after training.
    standard ("dequantize"): −log p(z) − Σ a on x = (x_uint8 + U[0, 1))/n_bins, the full NLL of a density on
             [0, 1)^D, and bits/dim = (NLL/D + log n_bins)/log 2 (losses/flow.py).

Where this departs from the blog's code, and why:
- Keras defaults made explicit: Xavier-uniform Dense kernels and zero biases (``keras_init``), a ~ truncated
  normal with std sqrt(2/(1 + D)) (glorot_normal of a (1, D) weight in Keras 2.2.0-2.2.2; Inferred).
- Extra, switchable variants for the Standard evaluation, all off in the blog defaults: the dequantised
  preprocessing with full NLL and bits/dim, a logistic prior (the NICE paper's choice on MNIST), no output
  ReLU, no scaling layer. ``coupling`` is an explicit field so configs say which layer "NICE" means;
  only "additive" (the blog's and the paper's) is implemented.
- The blog's unused random-permutation mode is not implemented.
- Odd D (never the blog's, D = 784): a reversal then keeps index parity, so with the blog's scheme the same
  ⌊D/2⌋ coordinates would be transformed in every block and the other ⌈D/2⌉ never. So for odd D every second
  block (k = 2, 4, ...) swaps the roles: the odd positions condition the even ones (m_k: ⌊D/2⌋ → ⌈D/2⌉), and
  two blocks transform every coordinate. Even D is exactly the blog's scheme (same parameters and outputs).
- ``sample`` returns pixels in [0, 1] clipped; the blog multiplies by 255 and clips to [0, 255] (the same).
"""
from __future__ import annotations

import math
from typing import Literal

import torch
from torch import Tensor, nn

from losses.flow import (bits_per_dim, gaussian_log_density, logistic_log_density,
                         sample_logistic)
from models.base import Model
from models.layers import TrainOnlyNoise, keras_init_, merge_interleaved, split_interleaved
from registry import register

# the choices of the constructor's string arguments (the config validator checks them)
Coupling = Literal["additive"]
Prior = Literal["gaussian", "logistic"]
TrainNoise = Literal["none", "negative_uniform"]
Preprocessing = Literal["blog", "dequantize"]


def coupling_network(in_dim: int, out_dim: int, hidden_units: int, hidden_layers: int,
                     output_relu: bool) -> nn.Sequential:
    """m_k: in_dim → hidden_units × hidden_layers (ReLU) → out_dim (+ ReLU on the output if asked)."""
    widths = [in_dim] + [hidden_units] * hidden_layers
    layers: list[nn.Module] = []
    for fan_in, fan_out in zip(widths[:-1], widths[1:]):
        layers += [nn.Linear(fan_in, fan_out), nn.ReLU()]
    layers.append(nn.Linear(widths[-1], out_dim))
    if output_relu:
        layers.append(nn.ReLU())
    return nn.Sequential(*layers)


@register("model", "nice")
class NICE(Model):
    def __init__(self, image_shape: tuple[int, int, int] = (1, 28, 28), num_couplings: int = 4,
                 hidden_units: int = 1000, hidden_layers: int = 5, coupling: Coupling = "additive",
                 output_relu: bool = True, scaling: bool = True, prior: Prior = "gaussian",
                 train_noise: TrainNoise = "negative_uniform", noise_amplitude: float = 0.01,
                 preprocess: Preprocessing = "blog", n_bins: int = 256, keras_init: bool = True):
        super().__init__()
        if len(image_shape) != 3 or any(int(s) < 1 for s in image_shape):
            raise ValueError(f"NICE image_shape must be [C, H, W] with positive sizes, got {image_shape!r}")
        self.image_shape = tuple(int(s) for s in image_shape)
        self.dim = math.prod(self.image_shape)
        if self.dim < 2:
            raise ValueError(f"NICE needs at least 2 dimensions to split, got image_shape {image_shape!r}")
        if num_couplings < 1 or hidden_units < 1 or hidden_layers < 0:
            raise ValueError("NICE needs num_couplings >= 1, hidden_units >= 1 and hidden_layers >= 0, got "
                             f"{num_couplings}, {hidden_units}, {hidden_layers}")
        if n_bins < 2:
            raise ValueError(f"NICE n_bins must be at least 2, got {n_bins}")
        if noise_amplitude < 0:
            raise ValueError(f"NICE noise_amplitude must be >= 0, got {noise_amplitude}")
        self.prior, self.preprocess_mode, self.n_bins = prior, preprocess, n_bins

        # interleaved split: ⌈D/2⌉ even positions condition the ⌊D/2⌋ odd ones (the other way round in the
        # blocks where ``_swaps``)
        even_dim, odd_dim = (self.dim + 1) // 2, self.dim // 2
        self.couplings = nn.ModuleList(
            coupling_network(*((odd_dim, even_dim) if self._swaps(k) else (even_dim, odd_dim)),
                             hidden_units, hidden_layers, output_relu)
            for k in range(num_couplings))
        if keras_init:
            keras_init_(self.couplings)
        if scaling:
            # a (Keras shape (1, D)): glorot_normal has fan_in = 1, fan_out = D, std = sqrt(2/(1 + D)),
            # truncated at 2 std in Keras 2.2.0-2.2.2
            std = math.sqrt(2.0 / (1 + self.dim))
            self.log_scale = nn.Parameter(nn.init.trunc_normal_(torch.empty(self.dim), std=std,
                                                                a=-2 * std, b=2 * std))
        else:
            self.register_parameter("log_scale", None)
        # blog: x ← x − amplitude·U[0, 1) in training only (the same as adding U[−amplitude, 0))
        self.train_noise = (TrainOnlyNoise("uniform", low=-noise_amplitude, high=0.0)
                            if train_noise == "negative_uniform" else nn.Identity())

    # ------------------------------------------------------------------------------------ the bijection
    def _swaps(self, k: int) -> bool:
        """Whether block k (0-based) transforms the even positions from the odd ones: every second block when
        D is odd, where a reversal keeps parity and would otherwise leave the even positions untouched."""
        return self.dim % 2 == 1 and k % 2 == 1

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """x: (N, D) preprocessed pixels -> (z: (N, D), log|det ∂z/∂x|: (N,))."""
        h = x
        for k, m in enumerate(self.couplings):
            h = h.flip(-1)
            even, odd = split_interleaved(h)
            if self._swaps(k):
                h = merge_interleaved(even - m(odd), odd)
            else:
                h = merge_interleaved(even, odd - m(even))  # encoder: h2 = x2 − m(x1) (blog sign)
        if self.log_scale is None:
            return h, h.new_zeros(h.shape[0])
        z = h * self.log_scale.exp()
        # only the scaling layer contributes: additive couplings and reversals have |det| = 1
        return z, self.log_scale.sum().expand(h.shape[0])

    def inverse(self, z: Tensor) -> Tensor:
        """z: (N, D) -> x: (N, D), the exact inverse of ``forward``."""
        h = z if self.log_scale is None else z * (-self.log_scale).exp()
        for k in reversed(range(len(self.couplings))):
            m, (even, odd) = self.couplings[k], split_interleaved(h)
            if self._swaps(k):
                h = merge_interleaved(even + m(odd), odd)
            else:
                h = merge_interleaved(even, odd + m(even))  # generator: x2 = h2 + m(h1)
            h = h.flip(-1)  # undo the reversal
        return h

    # ----------------------------------------------------------------------------------------- losses
    def preprocess(self, x_uint8: Tensor) -> Tensor:
        """(N, C, H, W) uint8 in 0..255 -> (N, D) float on the model's scale (train noise in training only)."""
        dtype = self.couplings[0][0].weight.dtype
        x = x_uint8.reshape(x_uint8.shape[0], -1).to(dtype)
        if self.preprocess_mode == "blog":
            x = x / 255.0
        else:  # uniform dequantisation into [0, 1): every integer value owns a bin of width 1/n_bins
            x = (x + torch.rand_like(x)) / self.n_bins
        return self.train_noise(x)

    def _negative_log_density(self, z: Tensor, log_det: Tensor, with_constant: bool) -> Tensor:
        """−log q(x) = −log p(z) − log det per image (N,). Without the constant, the Gaussian case is the
        blog's ½ Σ z² − Σ a (the logistic log-density has no z-free term to drop)."""
        if self.prior == "gaussian":
            if with_constant:
                return -gaussian_log_density(z) - log_det
            return 0.5 * z.pow(2).sum(dim=1) - log_det
        return -logistic_log_density(z) - log_det

    def default_loss_weights(self) -> dict[str, float]:
        """One term, weight 1."""
        return {"nll": 1.0}

    def training_losses(self, batch: dict[str, Tensor], phase: str = "main") -> dict[str, Tensor]:
        z, log_det = self(self.preprocess(batch["x"]))
        # blog: the constant-free loss; dequantize: the full NLL (nats/image) of the density on [0, 1)^D
        nll = self._negative_log_density(z, log_det, with_constant=self.preprocess_mode == "dequantize")
        return {"nll": nll.mean()}

    @torch.no_grad()
    def evaluation_metrics(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """Batch means. Called in eval mode, so no train noise; the dequantisation noise uses torch's global
        RNG (seed it for a fixed-noise test number)."""
        z, log_det = self(self.preprocess(batch["x"]))
        nll_nats = self._negative_log_density(z, log_det, with_constant=True).mean()
        # the two parts of the loss, to see which one moves: the scaling layer's log-det (= sum of a) and
        # the prior term (for the Gaussian prior, 0.5 |z|^2)
        parts = {"log_det": log_det.mean(), "prior_nll": nll_nats + log_det.mean()}
        if self.preprocess_mode == "blog":
            # Clean pixels x/255: never turn this into bits/dim. A density of undequantised data is not a
            # likelihood of discrete data and can fall without bound (docs/posts/2_nice.md, "Pitfalls").
            loss = self._negative_log_density(z, log_det, with_constant=False).mean()
            return {"loss": loss, "nll_nats": nll_nats, **parts}
        return {"nll_nats": nll_nats, "bits_per_dim": bits_per_dim(nll_nats, self.dim, self.n_bins), **parts}

    # ---------------------------------------------------------------------------------------- sampling
    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, temperature: float = 0.75) -> Tensor:
        """n images (n, C, H, W) in [0, 1]: z = temperature · (prior sample), decoded and clipped.

        temperature is the post's 退火参数 σ (0.75 there). The noise is drawn on the generator's device
        (CPU by default) and then moved, so a seeded CPU generator gives the same grid on any device."""
        weight = self.couplings[0][0].weight
        noise_device = generator.device if generator is not None else weight.device
        shape = (n, self.dim)
        if self.prior == "gaussian":
            z = torch.randn(shape, generator=generator, device=noise_device, dtype=weight.dtype)
        else:
            z = sample_logistic(shape, generator=generator, device=noise_device, dtype=weight.dtype)
        x = self.inverse(temperature * z.to(weight.device))
        return x.clamp(0.0, 1.0).reshape(n, *self.image_shape)
