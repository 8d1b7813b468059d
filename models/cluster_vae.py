"""VAE with one-step clustering: kexue.fm/archives/5887 (2018-09-17), code github.com/bojone/vae
``vae_keras_cluster.py``. Page: docs/posts/3_cluster_vae.md. The loss is in losses/cluster_vae.py.

    encoder   x/255 (N,1,28,28) → [Conv(32,3,s2) LReLU Conv(32,3) LReLU] → [Conv(64,3,s2) LReLU Conv(64,3) LReLU]
              → flatten 3136 → μ(x), log σ²(x) ∈ R^20
    sample    z = μ + exp(½ log σ²)·ε
    decoder   z → Dense(3136) → (64,7,7) → [ConvT(64,3) LReLU ConvT(64,3,s2) LReLU]
              → [ConvT(32,3) LReLU ConvT(32,3,s2) LReLU] → ConvT(1,3) sigmoid → x̂ (N,1,28,28)
    classify  p(y|z) = softmax(Dense(10)(ReLU(Dense(256)(z))))     on the SAMPLED z
    clusters  μ_y: a trainable (10, 20) matrix initialised to zeros

Cluster assignment of an image is argmax_y p(y | μ(x)) (the encoder mean, not a sample). Generating from
cluster y decodes z = μ_y + temperature·ε (temperature 1 in the post).

Keras details kept: Glorot-uniform kernels and zero biases; TensorFlow's 'same' padding, which for a
stride-2 3×3 convolution on an even size pads only after (bottom/right), and whose transposed stride-2
convolution is the exact adjoint of that (so here: no padding, then crop the last row and column). LeakyReLU
slope 0.2.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from losses.cluster_vae import (DEFAULT_RECON_WEIGHT, VARIANTS, Variant, category_term, cluster_k, cluster_term,
                                reconstruction)
from models.base import Model
from models.layers import keras_init_
from registry import register


class SameConvStride2(nn.Sequential):
    """Conv2d 3×3 stride 2 with TensorFlow 'same' padding on an even input: pad 0 before, 1 after."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__(nn.ZeroPad2d((0, 1, 0, 1)), nn.Conv2d(c_in, c_out, 3, stride=2))


class SameConvTransposeStride2(nn.ConvTranspose2d):
    """ConvTranspose2d 3×3 stride 2 with TensorFlow 'same' padding: H → 2H, the adjoint of SameConvStride2."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__(c_in, c_out, 3, stride=2)

    def forward(self, x: Tensor) -> Tensor:
        h, w = x.shape[-2:]
        return super().forward(x)[..., : 2 * h, : 2 * w]


def _lrelu() -> nn.Module:
    return nn.LeakyReLU(0.2)


@register("model", "cluster_vae")
class ClusterVAE(Model):
    """The blog's clustering VAE. ``loss``: ``december`` (final code) or ``september``. Loss terms ``recon``
    (unweighted), ``cluster`` and ``category``; λ is ``loss_weights.recon`` (default: 2.5 for december, 5 for
    september, as in the two versions of the code; ``model.recon_weight`` is its older spelling, still read:
    engine/loss_weights.py).

    ``sample_z: false`` decodes and classifies z = μ(x) instead of a sample: with ``loss_weights.cluster=0``
    and ``loss_weights.category=0`` the same encoder and decoder train as a plain deterministic autoencoder,
    the autoencoder + k-means floor (scripts/kmeans_baseline.py; configs/cluster_ae_*.yaml). Keeping the sample
    there is not an autoencoder: with no KL term nothing bounds σ, and on MNIST (seeds 0 and 1) log σ² climbed
    past 100 within 20 updates, once the decoder had learned to ignore z, until z overflowed to NaN."""

    def __init__(self, latent_dim: int = 20, clusters: int = 10, base_filters: int = 16,
                 classifier_hidden: int = 256, loss: Variant = "december", image_shape: list[int] = (1, 28, 28),
                 sample_z: bool = True):
        super().__init__()
        self.sample_z = bool(sample_z)
        c, h, w = image_shape
        if h % 4 or w % 4:
            raise ValueError(f"image_shape {list(image_shape)}: height and width must be multiples of 4")
        self.image_shape, self.latent_dim, self.clusters, self.variant = tuple(image_shape), latent_dim, clusters, loss
        f1, f2 = 2 * base_filters, 4 * base_filters  # the filter count doubles before each stage: 16 → 32 → 64
        self.encoder = nn.Sequential(
            SameConvStride2(c, f1), _lrelu(), nn.Conv2d(f1, f1, 3, padding=1), _lrelu(),
            SameConvStride2(f1, f2), _lrelu(), nn.Conv2d(f2, f2, 3, padding=1), _lrelu(), nn.Flatten())
        self.hidden_shape = (f2, h // 4, w // 4)
        flat = f2 * (h // 4) * (w // 4)
        self.mean_head = nn.Linear(flat, latent_dim)
        self.logvar_head = nn.Linear(flat, latent_dim)
        self.decoder_input = nn.Linear(latent_dim, flat)
        self.decoder = nn.Sequential(
            nn.ConvTranspose2d(f2, f2, 3, padding=1), _lrelu(), SameConvTransposeStride2(f2, f2), _lrelu(),
            nn.ConvTranspose2d(f2, f1, 3, padding=1), _lrelu(), SameConvTransposeStride2(f1, f1), _lrelu(),
            nn.ConvTranspose2d(f1, c, 3, padding=1), nn.Sigmoid())
        self.classifier = nn.Sequential(nn.Linear(latent_dim, classifier_hidden), nn.ReLU(),
                                        nn.Linear(classifier_hidden, clusters))
        keras_init_(self)
        self.cluster_means = nn.Parameter(torch.zeros(clusters, latent_dim))

    # ----------------------------------------------------------------------------------- parts
    @staticmethod
    def pixels(x: Tensor) -> Tensor:
        """uint8 images in 0..255 → float in [0, 1] (the blog's x/255)."""
        return x.float() / 255.0

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """pixels in [0, 1] → (μ(x), log σ²(x)), each (N, latent_dim)."""
        h = self.encoder(x)
        return self.mean_head(h), self.logvar_head(h)

    def decode(self, z: Tensor) -> Tensor:
        return self.decoder(self.decoder_input(z).view(-1, *self.hidden_shape))

    def cluster_probs(self, z: Tensor) -> Tensor:
        return F.softmax(self.classifier(z).float(), dim=1)

    @torch.no_grad()
    def assign(self, x: Tensor) -> Tensor:
        """uint8 images → cluster ids argmax_y p(y | μ(x)), int64 (N,)."""
        mean, _ = self.encode(self.pixels(x))
        return self.classifier(mean).argmax(dim=1)

    # ----------------------------------------------------------------------------------- Trainer contract
    def default_loss_weights(self) -> dict[str, float]:
        """λ on ``recon`` (2.5 or 5, by the loss version); ``cluster`` and ``category`` 1."""
        return {"recon": DEFAULT_RECON_WEIGHT[self.variant], "cluster": 1.0, "category": 1.0}

    @classmethod
    def legacy_loss_weights(cls, args: dict) -> dict[str, tuple[str | None, float | None]]:
        """``recon_weight`` was λ inside the model (null: the loss version's default)."""
        if "recon_weight" not in args:
            return {}
        value, variant = args["recon_weight"], args.get("loss")
        default = DEFAULT_RECON_WEIGHT[variant] if variant in VARIANTS else None
        return {"recon_weight": ("recon", default if value is None else value)}

    def _terms(self, x: Tensor) -> dict[str, Tensor]:
        # the loss terms in fp32 under train.amp (``.float()`` is a no-op on fp32 tensors)
        mean, logvar = (t.float() for t in self.encode(x))
        z = mean + torch.exp(0.5 * logvar) * torch.randn_like(mean) if self.sample_z else mean
        x_hat = self.decode(z).float()
        p_y = self.cluster_probs(z)
        k = cluster_k(self.variant, z, mean, logvar, self.cluster_means)
        return {"recon": reconstruction(x, x_hat), "cluster": cluster_term(p_y, k), "category": category_term(p_y)}

    def training_losses(self, batch: dict[str, Tensor], phase: str = "main") -> dict[str, Tensor]:
        """The three terms of the blog's loss, unweighted (the Trainer puts λ on ``recon``); also the
        evaluation metrics (Model's default), whose weighted total the Trainer reports as ``val/loss``."""
        return self._terms(self.pixels(batch["x"]))

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, cluster: int | None = None,
               temperature: float = 1.0) -> Tensor:
        """n images in [0, 1]: z = μ_y + temperature·ε decoded (the sigmoid mean). With ``cluster`` all from
        that cluster; without, clusters 0..K−1 in consecutive equal blocks (a 10×10 grid: one row each)."""
        device = self.cluster_means.device
        if cluster is None:
            ys = torch.arange(n) * self.clusters // max(n, 1)
        else:
            if not 0 <= int(cluster) < self.clusters:
                raise ValueError(f"cluster must be in 0..{self.clusters - 1}, got {cluster}")
            ys = torch.full((n,), int(cluster))
        noise_device = generator.device if generator is not None else device
        eps = torch.randn((n, self.latent_dim), generator=generator, device=noise_device).to(device)
        return self.decode(self.cluster_means[ys.to(device)] + temperature * eps)
