"""k-NN and linear probes on features whose answers are known."""
from __future__ import annotations

import torch

from metrics.probes import knn_accuracy, linear_probe, nearest_neighbours


def clusters(n_per: int, classes: int, dim: int, spread: float, seed: int):
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(classes, dim, generator=g) * 5
    y = torch.arange(classes).repeat_interleave(n_per)
    return centres[y] + spread * torch.randn(len(y), dim, generator=g), y


def test_nearest_neighbours_cosine_and_euclidean():
    bank = torch.tensor([[1.0, 0.0], [0.0, 1.0], [10.0, 1.0]])
    q = torch.tensor([[2.0, 0.0]])
    sims, idx = nearest_neighbours(bank, q, 2, "cosine")
    assert idx.tolist() == [[0, 2]]
    _, idx = nearest_neighbours(bank, q, 2, "euclidean")
    assert idx.tolist() == [[0, 1]]  # distances 1, 2.24 and 8.06; cosines 1, 0 and 0.995


def test_separable_features_are_classified_perfectly_and_random_ones_at_chance():
    train_f, train_y = clusters(50, 4, 8, 0.5, 0)
    test_f, test_y = clusters(20, 4, 8, 0.5, 0)
    test_f = test_f + 0.01  # not the same points
    assert knn_accuracy(train_f, train_y, test_f, test_y, k=5) == 1.0
    assert knn_accuracy(train_f, train_y, test_f, test_y, k=5, weighted=True, metric="euclidean") == 1.0
    assert linear_probe(train_f, train_y, test_f, test_y)["test_acc"] == 1.0
    g = torch.Generator().manual_seed(1)
    noise_tr, noise_te = torch.randn(400, 8, generator=g), torch.randn(400, 8, generator=g)
    y_tr, y_te = torch.randint(0, 4, (400,), generator=g), torch.randint(0, 4, (400,), generator=g)
    assert 0.15 < knn_accuracy(noise_tr, y_tr, noise_te, y_te, k=20) < 0.35
    assert 0.15 < linear_probe(noise_tr, y_tr, noise_te, y_te)["test_acc"] < 0.35
