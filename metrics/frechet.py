"""Fréchet distance between two sets of features (the formula of FID), and the feature extractors it uses.

FD = ‖μ₁ − μ₂‖² + Tr(Σ₁ + Σ₂ − 2 (Σ₁ Σ₂)^{1/2}), in float64, the trace of the matrix square root from two
symmetric eigendecompositions (``trace_sqrt_product`` says why not scipy.linalg.sqrtm). With features from a
classifier trained in this repository it is a "classifier Fréchet distance": comparable between runs scored with
the same classifier, sample counts and reference split, never with published FIDs, which use Inception-v3 pool
features: metrics/fid.py computes those (FID and KID) with the TF-FID network of the ``fid`` extra.
"""
from __future__ import annotations

import numpy as np
from torch import Tensor


def feature_stats(features: Tensor) -> tuple[np.ndarray, np.ndarray]:
    """(mean (D,), covariance (D, D)) in float64 of (N, D) features."""
    f = features.double().cpu().numpy()
    return f.mean(0), np.cov(f, rowvar=False)


def psd_sqrt(a: np.ndarray) -> np.ndarray:
    """Symmetric square root of a symmetric positive semi-definite matrix, by ``eigh`` (the negative
    eigenvalues that rounding leaves on a singular matrix count as 0)."""
    w, v = np.linalg.eigh(a)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def trace_sqrt_product(sigma1: np.ndarray, sigma2: np.ndarray) -> float:
    """Tr((Σ₁ Σ₂)^{1/2}) of two covariance matrices (symmetric positive semi-definite).

    With S = Σ₁^{1/2}, Σ₁ Σ₂ = S (S Σ₂) has the eigenvalues of (S Σ₂) S = S Σ₂ S, which is symmetric positive
    semi-definite; so the trace is Σ √λᵢ(S Σ₂ S), from two ``eigh`` calls, real by construction. This replaces
    scipy.linalg.sqrtm(Σ₁ Σ₂), which behaves differently across SciPy versions: its ``disp`` argument is
    deprecated since 1.16 and a TypeError from 1.18; without it, SciPy < 1.16 prints a line to standard output
    on a singular product and 1.16+ emits a LinAlgWarning, which happens whenever there are fewer samples than
    features; and its general (Schur) method gives complex results from rounding, to be dropped, with a
    diagonal offset as the fallback for a failed singular product. For non-singular covariances both give the
    same number to float error (tested)."""
    s = psd_sqrt(sigma1)
    m = s @ sigma2 @ s
    eigenvalues = np.linalg.eigvalsh((m + m.T) / 2)
    return float(np.sqrt(np.clip(eigenvalues, 0.0, None)).sum())


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """FD between N(μ₁, Σ₁) and N(μ₂, Σ₂); the Σ must be covariance matrices (a ValueError otherwise)."""
    mu1, mu2 = np.asarray(mu1, dtype=np.float64), np.asarray(mu2, dtype=np.float64)
    sigma1, sigma2 = np.asarray(sigma1, dtype=np.float64), np.asarray(sigma2, dtype=np.float64)
    for name, sigma in (("sigma1", sigma1), ("sigma2", sigma2)):
        if sigma.shape != (len(mu1), len(mu1)) or not np.isfinite(sigma).all():
            raise ValueError(f"{name} must be a finite {len(mu1)}x{len(mu1)} covariance, got shape {sigma.shape}")
        if np.abs(sigma - sigma.T).max() > 1e-8 * np.abs(sigma).max():
            raise ValueError(f"{name} is not symmetric, so not a covariance matrix")
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * trace_sqrt_product(sigma1, sigma2))
