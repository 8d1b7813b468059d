"""Fréchet distance between two sets of features (the formula of FID), and the feature extractors it uses.

FD = ‖μ₁ − μ₂‖² + Tr(Σ₁ + Σ₂ − 2 (Σ₁ Σ₂)^{1/2}), in float64, the matrix square root by scipy.linalg.sqrtm (a
tiny imaginary part from rounding is dropped; a large one is an error). With features from a classifier
trained in this repository it is a "classifier Fréchet distance": comparable between runs scored with the same
classifier, sample counts and reference split, never with published FIDs, which use Inception-v3 pool features.
``inception_features`` computes those when a user supplies the weights (they cannot be downloaded here).
"""
from __future__ import annotations

import numpy as np
import torch
from scipy import linalg
from torch import Tensor


def feature_stats(features: Tensor) -> tuple[np.ndarray, np.ndarray]:
    """(mean (D,), covariance (D, D)) in float64 of (N, D) features."""
    f = features.double().cpu().numpy()
    return f.mean(0), np.cov(f, rowvar=False)


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    diff = mu1 - mu2
    covmean, _ = linalg.sqrtm(sigma1 @ sigma2, disp=False)
    if not np.isfinite(covmean).all():  # singular product: offset the diagonals, as the FID reference code
        offset = np.eye(len(mu1)) * 1e-6
        covmean = linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            raise ValueError(f"matrix square root has an imaginary part of {np.abs(covmean.imag).max():.3g}")
        covmean = covmean.real
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))


def inception_model(weights_path: str):
    """torchvision's Inception-v3 with the weights in ``weights_path`` (a state dict, e.g. the FID port's
    pt_inception or torchvision's IMAGENET1K_V1 file), returning the 2048-d pool features."""
    from torchvision.models import inception_v3

    model = inception_v3(weights=None, aux_logits=True, init_weights=False)
    state = torch.load(weights_path, map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    model.fc = torch.nn.Identity()
    return model.eval()


@torch.no_grad()
def inception_features(model, images_uint8: Tensor, batch_size: int = 50) -> Tensor:
    """2048-d features of uint8 (N, 3, H, W) images: resized to 299 (bilinear), ImageNet-normalised."""
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    out = []
    for i in range(0, len(images_uint8), batch_size):
        x = images_uint8[i:i + batch_size].float() / 255.0
        x = torch.nn.functional.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
        out.append(model((x - mean) / std))
    return torch.cat(out)
