"""Fréchet distance against closed forms, on any SciPy version without a warning."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from scipy import linalg

from metrics.frechet import feature_stats, frechet_distance, trace_sqrt_product


def random_rotation(d: int, seed: int) -> np.ndarray:
    q, r = np.linalg.qr(np.random.default_rng(seed).standard_normal((d, d)))
    return q * np.sign(np.diagonal(r))


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


def test_fd_of_gaussians_with_shared_eigenvectors():
    # Σ₁ = Q diag(a²) Qᵀ, Σ₂ = Q diag(b²) Qᵀ commute: FD = ‖μ₁ − μ₂‖² + Σ (aᵢ − bᵢ)²
    q = random_rotation(5, seed=1)
    a, b = np.array([0.5, 1.0, 2.0, 3.0, 0.1]), np.array([1.5, 1.0, 0.5, 2.5, 0.2])
    mu1, mu2 = np.arange(5.0), np.arange(5.0)[::-1].copy()
    fd = frechet_distance(mu1, q @ np.diag(a ** 2) @ q.T, mu2, q @ np.diag(b ** 2) @ q.T)
    assert fd == pytest.approx(((mu1 - mu2) ** 2).sum() + ((a - b) ** 2).sum(), rel=1e-12)


def test_fd_of_two_by_two_gaussians_that_do_not_commute():
    # 2×2 with positive eigenvalues: Tr(M^{1/2}) = √λ₁ + √λ₂ = √(tr M + 2 √det M), here with M = Σ₁ Σ₂
    sigma1, sigma2 = np.array([[2.0, 0.9], [0.9, 1.0]]), np.array([[1.0, -0.4], [-0.4, 3.0]])
    m = sigma1 @ sigma2
    expected = 1.0 + np.trace(sigma1) + np.trace(sigma2) - 2 * np.sqrt(np.trace(m) + 2 * np.sqrt(np.linalg.det(m)))
    assert frechet_distance(np.zeros(2), sigma1, np.array([1.0, 0.0]), sigma2) == pytest.approx(expected, rel=1e-12)


def test_fd_of_samples_approaches_the_closed_form_of_their_gaussians():
    q = random_rotation(4, seed=2)
    a, b = np.array([1.0, 2.0, 0.5, 1.0]), np.array([2.0, 1.0, 1.0, 0.5])
    g = np.random.default_rng(3)
    x = g.standard_normal((200_000, 4)) * a @ q.T
    y = g.standard_normal((200_000, 4)) * b @ q.T + 1.0
    fd = frechet_distance(*feature_stats(torch.from_numpy(x)), *feature_stats(torch.from_numpy(y)))
    assert fd == pytest.approx(4.0 + ((a - b) ** 2).sum(), rel=0.02)


def test_trace_sqrt_agrees_with_scipy_sqrtm_on_a_non_singular_product():
    g = np.random.default_rng(4)
    f1, f2 = g.standard_normal((500, 20)), g.standard_normal((500, 20)) @ g.standard_normal((20, 20))
    sigma1, sigma2 = np.cov(f1, rowvar=False), np.cov(f2, rowvar=False)
    reference = np.trace(linalg.sqrtm(sigma1 @ sigma2)).real
    assert trace_sqrt_product(sigma1, sigma2) == pytest.approx(reference, rel=1e-10)


@pytest.mark.parametrize("n", [1000, 20])  # 20 samples of 64 features: singular covariances
def test_no_warning_on_any_scipy_version(n):
    g = torch.Generator().manual_seed(5)
    x, y = torch.randn(n, 64, generator=g), 2 * torch.randn(n, 64, generator=g) + 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a DeprecationWarning (sqrtm's disp) or a LinAlgWarning would fail here
        fd = frechet_distance(*feature_stats(x), *feature_stats(y))
        same = frechet_distance(*feature_stats(x), *feature_stats(x))
    assert np.isfinite(fd) and fd > 64
    assert same == pytest.approx(0.0, abs=1e-6 * fd)


def test_a_non_symmetric_matrix_is_refused():
    with pytest.raises(ValueError, match="not symmetric"):
        frechet_distance(np.zeros(2), np.array([[1.0, 0.5], [0.0, 1.0]]), np.zeros(2), np.eye(2))
