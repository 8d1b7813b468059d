"""The CNN classifier of the Lipschitz experiments: regularisers and the Lipschitz proxy metric."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from losses.lipschitz import kernel_matrix
from models.classifier import CNNClassifier, lipschitz_metric

SMALL = dict(image_shape=[3, 8, 8], widths=[4], hidden=8, classes=3)


def batch():
    g = torch.Generator().manual_seed(0)
    return {"x": torch.randint(0, 256, (5, 3, 8, 8), dtype=torch.uint8, generator=g),
            "y": torch.randint(0, 3, (5,), generator=g)}


def layers(model):
    return [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def test_regularisers_add_the_raw_penalty_weighted_by_the_trainer():
    torch.manual_seed(0)
    plain = CNNClassifier(**SMALL)
    assert set(plain.training_losses(batch())) == {"xent"} and plain.default_loss_weights() == {"xent": 1.0}
    l2 = CNNClassifier(**SMALL, regularizer="l2")
    l2.load_state_dict(plain.state_dict())
    frob = sum(float(m.weight.pow(2).sum()) for m in layers(l2))
    assert float(l2.training_losses(batch())["l2"]) == pytest.approx(frob, rel=1e-5)
    assert l2.default_loss_weights() == {"xent": 1.0, "l2": 0.0}  # lambda: loss_weights.l2
    spectral = CNNClassifier(**SMALL, regularizer="spectral", sn_iterations=500)
    spectral.load_state_dict(plain.state_dict())
    exact = sum(float(torch.linalg.matrix_norm(kernel_matrix(m.weight), 2)) ** 2 for m in layers(spectral))
    assert float(spectral.training_losses(batch())["spectral"]) == pytest.approx(exact, rel=1e-3)


def test_lipschitz_metric_is_the_product_of_layer_norms():
    model = CNNClassifier(**SMALL)
    product = 1.0
    for m in layers(model):
        product *= float(torch.linalg.matrix_norm(kernel_matrix(m.weight), 2))
    assert lipschitz_metric(model, iter([]))["product"] == pytest.approx(product, rel=1e-3)
    assert model.features(batch()["x"])["penultimate"].shape == (5, 8)
