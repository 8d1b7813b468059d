"""losses/flow.py against hand-computed values and torch.distributions."""
import math

import pytest
import torch
from torch.distributions import Normal, TransformedDistribution, Uniform
from torch.distributions.transforms import SigmoidTransform

from losses.flow import (bits_per_dim, gaussian_constant, gaussian_log_density, logistic_log_density,
                         sample_logistic)


def standard_logistic():
    # logistic = logit(U(0, 1)): the inverse of the sigmoid applied to a uniform
    return TransformedDistribution(Uniform(0.0, 1.0), [SigmoidTransform().inv])


@pytest.mark.parametrize("nll, n_bins, expected", [
    # nll/D = 3·log 2, + log 256 = 8·log 2 -> (3 + 8)·log 2 / log 2 = 11 bits/dim
    (784 * 3 * math.log(2), 256, 11.0),
    # nll = 0 -> only the bin volume: log 256 / log 2 = 8 bits/dim
    (0.0, 256, 8.0),
    # negative NLL (a density above 1): nll/D = −2·log 2 -> −2 + 8 = 6 bits/dim
    (-784 * 2 * math.log(2), 256, 6.0),
    # c = 255 (the blog's x/255 scale): nll/D = log 5 -> (log 5 + log 255)/log 2 = log2(1275)
    (784 * math.log(5), 255, math.log2(1275)),
])
def test_bits_per_dim_hand_computed(nll, n_bins, expected):
    assert bits_per_dim(nll, 784, n_bins) == pytest.approx(expected, abs=1e-12)


def test_bits_per_dim_on_tensors_and_default_n_bins():
    nll = torch.tensor([0.0, 784 * math.log(2)], dtype=torch.float64)
    assert torch.allclose(bits_per_dim(nll, 784), torch.tensor([8.0, 9.0], dtype=torch.float64))


def test_gaussian_log_density_matches_torch_distributions():
    z = torch.randn(5, 3, 4, dtype=torch.float64) * 3
    expected = Normal(0.0, 1.0).log_prob(z).reshape(5, -1).sum(1)
    assert gaussian_log_density(z).shape == (5,)
    assert torch.allclose(gaussian_log_density(z), expected, atol=1e-10)


def test_gaussian_constant_is_the_z_free_part():
    assert gaussian_constant(784) == pytest.approx(392 * math.log(2 * math.pi))
    assert gaussian_constant(784) == pytest.approx(720.4, abs=0.05)  # (784/2)·log 2π ≈ 720.4
    z = torch.zeros(2, 784, dtype=torch.float64)
    assert torch.allclose(-gaussian_log_density(z), torch.full((2,), gaussian_constant(784), dtype=torch.float64))


def test_logistic_log_density_matches_torch_distributions():
    z = torch.linspace(-8, 8, 24, dtype=torch.float64).reshape(2, 12)
    expected = standard_logistic().log_prob(z).sum(1)
    assert torch.allclose(logistic_log_density(z), expected, atol=1e-10)
    # closed form at 0: p(0) = σ(0)² = 1/4 per dim
    assert logistic_log_density(torch.zeros(1, 10)).item() == pytest.approx(10 * math.log(0.25), rel=1e-6)


def test_logistic_log_density_stays_finite_far_out():
    z = torch.tensor([[-200.0, 200.0]])
    value = logistic_log_density(z)
    assert torch.isfinite(value).all()
    assert value.item() == pytest.approx(-400.0, rel=1e-6)  # log p(z) ≈ −|z| for large |z|


def test_sample_logistic_statistics():
    g = torch.Generator().manual_seed(0)
    z = sample_logistic((200_000,), generator=g, dtype=torch.float64)
    assert torch.isfinite(z).all()
    assert abs(z.mean().item()) < 0.02
    assert z.var().item() == pytest.approx(math.pi ** 2 / 3, rel=0.02)  # logistic variance π²/3
    # median and quartiles: F(z) = σ(z), so the 75% quantile is log 3
    assert torch.quantile(z[:100_000], 0.75).item() == pytest.approx(math.log(3), abs=0.02)
