"""Deep INFOMAX, the blog's variant: kexue.fm/archives/6024 (2018-10-02), code github.com/bojone/infomax
``infomax_cifar10.py`` (78e0fbb). Page: docs/posts/6_infomax.md. Estimators: losses/infomax.py.

    input    x/255 − 0.5 (the blog's [−0.5, 0.5])
    encoder  3 × [Conv3×3 same (64, 128, 256) → BN → LeakyReLU 0.2 → MaxPool 2]  → C, the 4×4×256 local map
             2 × [Conv3×3 same 256 → BN → LeakyReLU 0.2] → global max-pool (256) → Dense z_mean, Dense z_log_var
    z        z_mean + exp(½ z_log_var)·ε;  the feature used downstream is z_mean
    global   T_g(a, z): Dense 256 ReLU ×3 → 1 on concat[a, z]; the blog's pair is a = z itself
             (``global_pair: z``); the DIM paper's is a = the flattened C (``global_pair: feature_map``)
    local    T_l(C_ij, z): the same MLP as 1×1 convs on concat[C, z tiled to 4×4] (512 channels)
    loss     α·global + β·local + γ·KL(N(z_mean, σ²) ‖ N(0, I))  with α 0.5, β 1.5, γ 0.01; the encoder and
             both discriminators minimise this one loss (one optimizer; not adversarial). The model returns
             the terms ``global``, ``local`` and ``prior`` unweighted; α, β, γ are ``loss_weights.global``,
             ``.local`` and ``.prior`` (``model.alpha``/``beta``/``gamma`` are their older spellings, still
             read: engine/loss_weights.py)

Negatives pair each sample with another one of the batch (a shuffle of z for the global term, of C for the
local one, drawn separately). ``negatives: derangement`` (default) never pairs a sample with itself;
``permutation`` is the blog's plain shuffle, which sometimes does.

``estimator: js`` is the blog's Jensen-Shannon bound (``blog_clip`` keeps its log(σ + 1e-6) form; the default
computes it from logits). ``estimator: infonce`` is the DIM paper's: every sample's x side is scored against
every z of the batch, so the critic is separable (paper's "encoder and dot product" form), T(a, z) =
φ(a)·ψ(z), with φ and ψ the MLP shapes above ending in 256-d embeddings instead of one score; the B×B (and
B×B×16 local) score matrices then cost one matrix product.

``views: 2`` (not the blog's, nor the DIM paper's: the two-view form of Augmented Multiscale DIM, Bachman et
al. 2019): each image is augmented twice (``data/augment.py``: random resized crop, flip, colour jitter,
grayscale), each view encoded separately, and every pair takes its x side from one view and z from the other
(both ways, averaged). With one view the critics can tell images apart by their colour statistics alone, a
shortcut that gives colour features; a colour change between the views closes it.

BatchNorm: Keras momentum 0.99 = torch momentum 0.01, eps 1e-3. Only images go through BN (no positive and
negative concatenated through it). Features for probes: ``features(x)`` in eval mode (running statistics).
"""
from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

from data.augment import simclr_like
from losses.infomax import infonce_loss, js_loss, kl_to_standard_normal, shuffled_indices
from models.base import Model
from registry import register

Estimator = Literal["js", "infonce"]
GlobalPair = Literal["z", "feature_map"]
Negatives = Literal["derangement", "permutation"]
WEIGHTS = {"global": 0.5, "local": 1.5, "prior": 0.01}  # the blog's α, β, γ
LEGACY_WEIGHT_ARGS = {"alpha": "global", "beta": "local", "gamma": "prior"}  # older constructor arguments


def conv_block(c_in: int, c_out: int, pool: bool) -> nn.Sequential:
    layers = [nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out, eps=1e-3, momentum=0.01),
              nn.LeakyReLU(0.2)]
    return nn.Sequential(*layers, nn.MaxPool2d(2)) if pool else nn.Sequential(*layers)


def mlp(d_in: int, hidden: int, d_out: int, conv: bool) -> nn.Sequential:
    """Three hidden ReLU layers then a linear output, as Linear layers or as 1×1 convolutions."""
    def layer(a: int, b: int) -> nn.Module:
        return nn.Conv2d(a, b, 1) if conv else nn.Linear(a, b)
    return nn.Sequential(layer(d_in, hidden), nn.ReLU(), layer(hidden, hidden), nn.ReLU(),
                         layer(hidden, hidden), nn.ReLU(), layer(hidden, d_out))


@register("model", "infomax")
class InfoMax(Model):
    def __init__(self, image_shape: list[int] = (3, 32, 32), latent_dim: int = 256,
                 filters: list[int] = (64, 128, 256), top_blocks: int = 2, disc_hidden: int = 256,
                 estimator: Estimator = "js", global_pair: GlobalPair = "z", negatives: Negatives = "derangement",
                 blog_clip: bool = False, kl_reduction: Literal["mean", "sum"] = "mean", views: Literal[1, 2] = 1,
                 crop_scale: list[float] = (0.3, 1.0), jitter: float = 0.4):
        super().__init__()
        self.views, self.crop_scale, self.jitter = views, tuple(crop_scale), jitter
        c, h, w = image_shape
        scale = 2 ** len(filters)
        if h % scale or w % scale:
            raise ValueError(f"image_shape {list(image_shape)}: height and width must be multiples of {scale} "
                             f"({len(filters)} pooling blocks)")
        self.image_shape, self.latent_dim = tuple(image_shape), latent_dim
        self.estimator, self.global_pair, self.negatives = estimator, global_pair, negatives
        self.blog_clip, self.kl_reduction = blog_clip, kl_reduction
        channels = [c, *filters]
        self.local_encoder = nn.Sequential(*(conv_block(a, b, pool=True) for a, b in zip(channels, channels[1:])))
        width = filters[-1]
        self.map_shape = (width, h // scale, w // scale)
        self.top = nn.Sequential(*(conv_block(width, width, pool=False) for _ in range(top_blocks)))
        self.mean_head = nn.Linear(width, latent_dim)
        self.logvar_head = nn.Linear(width, latent_dim)
        x_side = latent_dim if global_pair == "z" else width * self.map_shape[1] * self.map_shape[2]
        if estimator == "js":  # concat critics, one score per pair
            self.global_disc = mlp(x_side + latent_dim, disc_hidden, 1, conv=False)
            self.local_disc = mlp(width + latent_dim, disc_hidden, 1, conv=True)
        else:  # separable critics: embeddings whose dot products are the scores
            self.global_x, self.global_z = (mlp(d, disc_hidden, disc_hidden, conv=False) for d in (x_side, latent_dim))
            self.local_x = mlp(width, disc_hidden, disc_hidden, conv=True)
            self.local_z = mlp(latent_dim, disc_hidden, disc_hidden, conv=False)

    # ------------------------------------------------------------------------------------- the weights
    def default_loss_weights(self) -> dict[str, float]:
        """α 0.5 on ``global``, β 1.5 on ``local``, γ 0.01 on ``prior`` (the blog's)."""
        return dict(WEIGHTS)

    @classmethod
    def legacy_loss_weights(cls, args: dict) -> dict[str, tuple[str | None, float | None]]:
        """``alpha``, ``beta`` and ``gamma`` were α, β, γ inside the model."""
        return {arg: (term, WEIGHTS[term] if args[arg] is None else args[arg])
                for arg, term in LEGACY_WEIGHT_ARGS.items() if arg in args}

    # ----------------------------------------------------------------------------------------- parts
    @staticmethod
    def pixels(x: Tensor) -> Tensor:
        """uint8 images → float in [−0.5, 0.5] (the blog's x/255 − 0.5)."""
        return x.float() / 255.0 - 0.5

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """pixels → (local map C (B, 256, 4, 4), pooled top features (B, 256), z_mean, z_log_var)."""
        fmap = self.local_encoder(x)
        pooled = self.top(fmap).amax(dim=(2, 3))
        return fmap, pooled, self.mean_head(pooled), self.logvar_head(pooled)

    @torch.no_grad()
    def features(self, x: Tensor) -> dict[str, Tensor]:
        """Frozen features of uint8 images for probes: ``z_mean`` (the blog's), ``pooled`` (the globally
        max-pooled conv features under the heads) and ``fmap`` (the flattened local map, 4096-d)."""
        fmap, pooled, mean, _ = self.encode(self.pixels(x))
        return {"z_mean": mean, "pooled": pooled, "fmap": fmap.flatten(1)}

    # -------------------------------------------------------------------------------------- the loss
    def _negatives(self, n: int, device) -> Tensor:
        return shuffled_indices(n, allow_self=self.negatives == "permutation", device=device)

    def _global_term(self, x_side: Tensor, z: Tensor) -> Tensor:
        if self.estimator == "infonce":
            return infonce_loss(self.global_x(x_side) @ self.global_z(z).T)
        z_neg = z[self._negatives(len(z), z.device)]  # the x side stays, z comes from another sample
        pos_scores = self.global_disc(torch.cat([x_side, z], 1))
        neg_scores = self.global_disc(torch.cat([x_side, z_neg], 1))
        return js_loss(pos_scores, neg_scores, self.blog_clip)

    def _local_term(self, fmap: Tensor, z: Tensor) -> Tensor:
        b, _, h, w = fmap.shape
        if self.estimator == "infonce":
            emb = self.local_x(fmap)  # (B, D, h, w)
            scores = torch.einsum("idhw,jd->ijhw", emb, self.local_z(z))  # map of sample i vs z of sample j
            return infonce_loss(scores)
        tiled = z[:, :, None, None].expand(-1, -1, h, w)
        fmap_neg = fmap[self._negatives(b, fmap.device)]
        pos_scores = self.local_disc(torch.cat([fmap, tiled], 1))
        neg_scores = self.local_disc(torch.cat([fmap_neg, tiled], 1))
        return js_loss(pos_scores, neg_scores, self.blog_clip)

    def _view(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Encode pixels: (local map, sampled z, z_mean, z_log_var)."""
        fmap, _, mean, logvar = self.encode(x)
        return fmap, mean + torch.exp(0.5 * logvar) * torch.randn_like(mean), mean, logvar

    def _pair_terms(self, a: tuple, b: tuple) -> tuple[Tensor, Tensor]:
        """Global and local terms with the x side from view ``a`` and z from view ``b``."""
        x_side = a[1] if self.global_pair == "z" else a[0].flatten(1)  # the blog's quirk: z paired with z
        return self._global_term(x_side, b[1]), self._local_term(a[0], b[1])

    def _terms(self, x: Tensor) -> dict[str, Tensor]:
        """``x`` uint8 images. One view: the blog's loss on the images as they are. Two views: each image
        augmented twice, the pairs taken across the views both ways and averaged."""
        if self.views == 1:
            views = [self._view(self.pixels(x))]
            pairs = [(0, 0)]
        else:
            views = [self._view(simclr_like(x, crop_scale=self.crop_scale, jitter=self.jitter) - 0.5)
                     for _ in range(2)]
            pairs = [(0, 1), (1, 0)]
        terms = [self._pair_terms(views[i], views[j]) for i, j in pairs]
        prior = sum(kl_to_standard_normal(v[2], v[3], self.kl_reduction) for v in views) / len(views)
        return {"global": sum(t[0] for t in terms) / len(terms), "local": sum(t[1] for t in terms) / len(terms),
                "prior": prior}

    def training_losses(self, batch: dict[str, Tensor], phase: str = "main") -> dict[str, Tensor]:
        """global, local and prior, unweighted (the Trainer's α, β, γ make the blog's loss); also the
        evaluation metrics (Model's default), whose weighted total the Trainer reports as ``val/loss``."""
        return self._terms(batch["x"])
