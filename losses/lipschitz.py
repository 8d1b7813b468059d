"""Lipschitz tools of kexue.fm/archives/6051 (docs/posts/8_lipschitz.md): the spectral norm by power
iteration, the spectral-norm regulariser, WGAN / hinge losses and the gradient penalty.

Power iteration (written out rather than ``torch.linalg.matrix_norm(W, 2)`` because the blog's estimator is the
point: 5 iterations from an all-ones vector, recomputed at every call, gradients flowing through it):
    v ← Wᵀu / ‖Wᵀu‖,  u ← Wv / ‖Wv‖,  σ(W) ≈ uᵀWv.
A kernel is read as a matrix with the output channels as one axis, (out, in·kh·kw) for torch's (out, in, kh, kw)
(the transpose of Keras' (kh·kw·in, out): the same σ). A vector (a BatchNorm γ) is read as 1 × C, so its "σ" is
its L2 norm, as the blog's code does (the operator norm of a diagonal map would be max|γ_i|).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

EPS = 1e-12


def kernel_matrix(weight: Tensor) -> Tensor:
    """(out, rest) matrix view of a weight; a vector becomes 1 × C."""
    return weight.reshape(1, -1) if weight.dim() == 1 else weight.reshape(weight.shape[0], -1)


def power_iteration(weight: Tensor, iterations: int = 5) -> Tensor:
    """σ(W) estimated by ``iterations`` power steps from all-ones vectors (the blog's), differentiable. Always
    in fp32, also under ``train.amp`` (autocast would run the products in bf16: σ to 2-3 digits)."""
    w = kernel_matrix(weight).float()
    with torch.autocast(w.device.type, enabled=False):
        u = torch.ones(w.shape[0], dtype=w.dtype, device=w.device)
        v = None
        for _ in range(iterations):
            v = F.normalize(w.T @ u, dim=0, eps=EPS)
            u = F.normalize(w @ v, dim=0, eps=EPS)
        if v is None:
            raise ValueError("power_iteration needs at least 1 iteration")
        return u @ w @ v


def spectral_layers(model: nn.Module) -> list[tuple[str, Tensor]]:
    """(name, weight) of every Linear and Conv layer, the layers a spectral penalty or bound runs over."""
    out = []
    for name, module in model.named_modules():
        if isinstance(module, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.ConvTranspose2d)):
            out.append((name, module.weight))
    return out


def spectral_norm_penalty(model: nn.Module, iterations: int = 5) -> Tensor:
    """Σ over Linear/Conv layers of σ(W)² (Yoshida & Miyato 2017): multiply by λ and add to the loss."""
    return sum(power_iteration(w, iterations).pow(2) for _, w in spectral_layers(model))


def frobenius_penalty(model: nn.Module) -> Tensor:
    """Σ over the same layers of ‖W‖_F², the looser bound σ(W) ≤ ‖W‖_F: L2 weight decay on the kernels."""
    return sum(w.pow(2).sum() for _, w in spectral_layers(model))


@torch.no_grad()
def lipschitz_proxy(model: nn.Module, iterations: int = 50) -> dict[str, float]:
    """σ of every Linear/Conv kernel (matrix view, ``iterations`` power steps) and their product, the usual
    upper-bound proxy of the network's Lipschitz constant (for 1-Lipschitz activations; for convolutions the
    matrix view's σ is itself a proxy of the operator norm)."""
    sigmas = {name: float(power_iteration(w, iterations)) for name, w in spectral_layers(model)}
    product = 1.0
    for s in sigmas.values():
        product *= s
    return {"product": product, **{f"sigma/{k}": v for k, v in sigmas.items()}}


# ------------------------------------------------------------------------------------------- GAN losses
def wgan_critic_loss(real_scores: Tensor, fake_scores: Tensor) -> Tensor:
    """mean f(G(z)) − mean f(x): minimising it maximises the critic's estimate of the Wasserstein distance."""
    return fake_scores.mean() - real_scores.mean()


def wgan_generator_loss(fake_scores: Tensor) -> Tensor:
    return -fake_scores.mean()


def hinge_critic_loss(real_scores: Tensor, fake_scores: Tensor) -> Tensor:
    return F.relu(1 - real_scores).mean() + F.relu(1 + fake_scores).mean()


def gradient_penalty(critic, real: Tensor, fake: Tensor, one_sided: bool = False,
                     generator: torch.Generator | None = None) -> Tensor:
    """mean over samples of (‖∇f(x̂)‖ − 1)² (two-sided, the blog's code) or max(‖∇f(x̂)‖ − 1, 0)² (one-sided, the
    post's suggestion), at x̂ = ε·real + (1 − ε)·fake with ε ~ U[0, 1] per sample; ‖·‖ over all of a sample's
    elements, sqrt(Σg² + 1e-9) as in the blog. The graph of the gradient is kept (double backprop)."""
    eps = torch.rand(real.shape[0], *([1] * (real.dim() - 1)), generator=generator, device=real.device)
    mixed = (eps * real + (1 - eps) * fake).requires_grad_(True)
    grad, = torch.autograd.grad(critic(mixed).sum(), mixed, create_graph=True)
    norm = torch.sqrt(grad.flatten(1).pow(2).sum(1) + 1e-9)
    gap = (norm - 1).clamp(min=0) if one_sided else norm - 1
    return gap.pow(2).mean()
