"""Center-loss head and the center_loss_mlp model: the loss against a hand computation, gradients, shapes."""
from __future__ import annotations

import pytest
import torch

import registry
from engine.config import load_plugins
from losses.center import center_loss
from models.center_loss import CenterLossHead, CenterLossMLP


def test_center_loss_equals_hand_computation():
    features = torch.tensor([[1.0, 2.0], [0.0, -1.0], [3.0, 0.5]])
    centers = torch.tensor([[0.0, 0.0], [1.0, 1.0], [2.0, -1.0]])
    labels = torch.tensor([0, 2, 1])
    # sample 0: (0-1)² + (0-2)² = 5; sample 1: (2-0)² + (-1+1)² = 4; sample 2: (1-3)² + (1-0.5)² = 4.25
    assert center_loss(features, centers, labels).item() == pytest.approx((5 + 4 + 4.25) / 3)


def test_gradients_reach_the_centers():
    torch.manual_seed(0)
    head = CenterLossHead(2, 3)
    x = torch.randn(3, 2, requires_grad=True)
    y = torch.tensor([0, 2, 0])
    head.center_loss(x, y).backward()
    # d/dc_k of mean_n |c_{y_n} - x_n|² = (2/N) Σ_{n: y_n = k} (c_k - x_n); class 1 has no sample
    c = head.centers.detach()
    expected = torch.stack([2 / 3 * ((c[0] - x[0]) + (c[0] - x[2])), torch.zeros(2), 2 / 3 * (c[2] - x[1])])
    torch.testing.assert_close(head.centers.grad, expected.detach())
    torch.testing.assert_close(x.grad, 2 / 3 * (x - c[y]).detach())  # and the features are pulled to them


def test_head_layout_and_logits():
    head = CenterLossHead(2, 10)
    assert head.kernel.shape == (2, 10) and head.centers.shape == (10, 2)  # Keras (in, out); a centre per class
    assert torch.equal(head.bias, torch.zeros(10))
    assert all(p.requires_grad for p in head.parameters())
    x = torch.randn(5, 2)
    torch.testing.assert_close(head(x), x @ head.kernel + head.bias)


def test_model_losses_metrics_and_features():
    load_plugins()
    assert registry.lookup("model", "center_loss_mlp") is CenterLossMLP
    torch.manual_seed(0)
    model = CenterLossMLP(in_dim=16, feature_dim=2, classes=10)
    batch = {"x": torch.randint(0, 256, (6, 1, 4, 4), dtype=torch.uint8), "y": torch.tensor([0, 1, 2, 3, 4, 0])}
    f = model.features(batch["x"])
    assert f.shape == (6, 2)
    losses = model.training_losses(batch)
    assert set(losses) == {"ce", "center"}
    logits = model.head(f)
    torch.testing.assert_close(losses["ce"], torch.nn.functional.cross_entropy(logits, batch["y"]))
    torch.testing.assert_close(losses["center"], center_loss(f, model.head.centers, batch["y"]))
    (losses["ce"] + 0.5 * losses["center"]).backward()
    assert model.head.centers.grad[:5].abs().sum() > 0 and model.feature.weight.grad.abs().sum() > 0
    metrics = model.evaluation_metrics(batch)
    assert metrics["acc"].item() == pytest.approx((logits.argmax(1) == batch["y"]).float().mean().item())
    torch.testing.assert_close(model(batch["x"]), logits)


def test_lenetpp_shapes_and_losses():
    from models.center_loss import CenterLossCNN
    torch.manual_seed(0)
    model = CenterLossCNN()
    x = torch.randint(0, 256, (4, 1, 28, 28), dtype=torch.uint8)
    y = torch.tensor([0, 1, 2, 3])
    assert model.features(x).shape == (4, 2) and model(x).shape == (4, 10)
    losses = model.training_losses({"x": x, "y": y})
    assert set(losses) == {"ce", "center"} and all(torch.isfinite(v) for v in losses.values())


def test_paper_centre_update_is_an_sgd_step_on_the_center_term():
    """Wen et al.'s rule c_j <- c_j - alpha * sum_{i: y_i = j} (c_j - x_i) / (1 + n_j) is one plain SGD step on
    lambda * center (the form trained here) with the per-class step alpha = 2 * lr * lambda * (1 + n_j) / N:
    the gradient of lambda * mean_i ||c_{y_i} - x_i||^2 with respect to c_j is (2 lambda / N) sum (c_j - x_i)."""
    from losses.center import center_loss
    torch.manual_seed(0)
    n, lam, lr = 12, 0.5, 0.1
    feats, labels = torch.randn(n, 2), torch.randint(0, 3, (n,))
    centers = torch.randn(3, 2, requires_grad=True)
    (lam * center_loss(feats, centers, labels)).backward()
    sgd = centers.detach() - lr * centers.grad
    paper = centers.detach().clone()
    for j in range(3):
        members = feats[labels == j]
        alpha = 2 * lr * lam * (1 + len(members)) / n
        paper[j] -= alpha * (centers.detach()[j] - members).sum(0) / (1 + len(members))
    assert torch.allclose(sgd, paper, atol=1e-6)
