"""Fréchet distance against closed forms; the Inception hook loads user weights."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from metrics.frechet import feature_stats, frechet_distance, inception_features, inception_model


def test_fd_of_a_set_with_itself_is_zero_and_a_shift_adds_its_square():
    x = torch.randn(3000, 6, generator=torch.Generator().manual_seed(0))
    mu, sigma = feature_stats(x)
    assert frechet_distance(mu, sigma, mu, sigma) == pytest.approx(0.0, abs=1e-8)
    mu2, sigma2 = feature_stats(x + torch.tensor([1.0, 2.0, 0, 0, 0, 0]))
    assert frechet_distance(mu, sigma, mu2, sigma2) == pytest.approx(5.0, rel=1e-6)


def test_fd_of_gaussians_with_diagonal_covariances():
    # FD(N(0, a²I), N(0, b²I)) in d dims = d (a − b)²
    mu = np.zeros(4)
    assert frechet_distance(mu, np.eye(4) * 4.0, mu, np.eye(4) * 1.0) == pytest.approx(4 * (2 - 1) ** 2)


def test_inception_hook_loads_user_weights(tmp_path):
    from torchvision.models import inception_v3

    torch.manual_seed(0)
    path = tmp_path / "inception.pth"
    torch.save(inception_v3(weights=None, aux_logits=True, init_weights=True).state_dict(), path)
    features = inception_features(inception_model(str(path)), torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8))
    assert features.shape == (2, 2048)
