"""Power iteration, spectral penalties and the gradient penalty against exact values."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from losses.lipschitz import (frobenius_penalty, gradient_penalty, hinge_critic_loss, kernel_matrix,
                              lipschitz_proxy, power_iteration, spectral_norm_penalty, wgan_critic_loss,
                              wgan_generator_loss)


@pytest.mark.parametrize("shape", [(20, 30), (64, 32, 3, 3), (128, 64, 5, 5), (1, 256)])
def test_power_iteration_converges_to_the_largest_singular_value(shape):
    w = torch.randn(*shape, generator=torch.Generator().manual_seed(sum(shape)))
    exact = float(torch.linalg.matrix_norm(kernel_matrix(w), 2))
    assert float(power_iteration(w, 1000)) == pytest.approx(exact, rel=1e-3)
    # the blog's 5 steps from all-ones give an estimate, never above the true value
    assert float(power_iteration(w, 5)) <= exact * (1 + 1e-6)


def test_power_iteration_on_a_clear_spectral_gap_and_on_a_vector():
    g = torch.Generator().manual_seed(0)
    u, _ = torch.linalg.qr(torch.randn(8, 8, generator=g))
    v, _ = torch.linalg.qr(torch.randn(6, 6, generator=g))
    w = u[:, :6] @ torch.diag(torch.tensor([3.0, 1.0, 0.5, 0.4, 0.2, 0.1])) @ v.T
    assert float(power_iteration(w, 20)) == pytest.approx(3.0, rel=1e-3)
    gamma = torch.tensor([3.0, -4.0])  # a BatchNorm γ: the blog's "σ" is its L2 norm
    assert float(power_iteration(gamma, 5)) == pytest.approx(5.0)


def test_spectral_and_frobenius_penalties():
    net = nn.Sequential(nn.Linear(5, 7), nn.ReLU(), nn.Linear(7, 3))
    sigmas = [float(torch.linalg.matrix_norm(m.weight, 2)) for m in (net[0], net[2])]
    assert float(spectral_norm_penalty(net, 500)) == pytest.approx(sum(s * s for s in sigmas), rel=1e-3)
    assert float(frobenius_penalty(net)) == pytest.approx(float(net[0].weight.pow(2).sum() + net[2].weight.pow(2).sum()))
    proxy = lipschitz_proxy(net, 500)
    assert proxy["product"] == pytest.approx(sigmas[0] * sigmas[1], rel=1e-3)
    spectral_norm_penalty(net).backward()  # differentiable, through the iteration
    assert net[0].weight.grad is not None


class Linear(nn.Module):
    """f(x) = w · vec(x): its gradient is w everywhere, so ‖∇f‖ = ‖w‖."""

    def __init__(self, w: torch.Tensor):
        super().__init__()
        self.w = w

    def forward(self, x):
        return x.flatten(1) @ self.w


@pytest.mark.parametrize("norm, two_sided, one_sided", [(1.0, 0.0, 0.0), (3.0, 4.0, 4.0), (0.5, 0.25, 0.0)])
def test_gradient_penalty_of_a_linear_critic(norm, two_sided, one_sided):
    w = torch.randn(12)
    critic = Linear(w / w.norm() * norm)
    real, fake = torch.randn(5, 3, 2, 2), torch.randn(5, 3, 2, 2)
    assert float(gradient_penalty(critic, real, fake)) == pytest.approx(two_sided, abs=1e-6)
    assert float(gradient_penalty(critic, real, fake, one_sided=True)) == pytest.approx(one_sided, abs=1e-6)


def test_gradient_penalty_by_hand_on_a_quadratic_critic():
    critic = lambda x: 0.5 * x.pow(2).flatten(1).sum(1)  # noqa: E731   ∇f(x) = x
    real, fake = torch.randn(4, 3, 2, 2), torch.randn(4, 3, 2, 2)
    gp = gradient_penalty(critic, real, fake, generator=torch.Generator().manual_seed(7))
    eps = torch.rand(4, 1, 1, 1, generator=torch.Generator().manual_seed(7))  # per sample, same draw
    mixed = eps * real + (1 - eps) * fake
    expected = ((mixed.flatten(1).pow(2).sum(1) + 1e-9).sqrt() - 1).pow(2).mean()
    assert float(gp) == pytest.approx(float(expected), rel=1e-6)


def test_gan_losses():
    real, fake = torch.tensor([1.0, 3.0]), torch.tensor([0.0, -2.0])
    assert float(wgan_critic_loss(real, fake)) == -3.0 and float(wgan_generator_loss(fake)) == 1.0
    assert float(hinge_critic_loss(real, fake)) == pytest.approx((0 + 0) / 2 + (1 + 0) / 2)
