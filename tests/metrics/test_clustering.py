"""Clustering metrics against hand-computed cases."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from metrics.clustering import (ari, clustering_report, contingency, hungarian_accuracy, hungarian_mapping, nmi,
                                purity)


def test_permuted_labelling_scores_one():
    labels = np.array([0, 0, 1, 1, 2, 2, 3, 3])
    clusters = np.array([2, 2, 0, 0, 3, 3, 1, 1])  # the same partition, other names
    assert hungarian_accuracy(clusters, labels) == 1.0
    assert purity(clusters, labels) == 1.0
    assert nmi(clusters, labels) == pytest.approx(1.0)
    assert ari(clusters, labels) == pytest.approx(1.0)
    assert hungarian_mapping(clusters, labels) == {2: 0, 0: 1, 3: 2, 1: 3}


def test_known_two_by_two_confusion():
    # contingency rows = clusters, columns = labels: [[30, 10], [20, 40]]
    clusters = np.array([0] * 40 + [1] * 60)
    labels = np.array([0] * 30 + [1] * 10 + [0] * 20 + [1] * 40)
    assert contingency(clusters, labels).tolist() == [[30, 10], [20, 40]]
    assert hungarian_accuracy(clusters, labels) == pytest.approx(0.70)   # 0→0, 1→1: 30 + 40
    assert purity(clusters, labels) == pytest.approx(0.70)


def test_purity_exceeds_hungarian_when_two_clusters_share_a_label():
    clusters = np.array([0, 0, 1, 1, 2, 2])
    labels = np.array([0, 0, 0, 0, 1, 1])
    assert purity(clusters, labels) == 1.0                  # clusters 0 and 1 both map to label 0
    assert hungarian_accuracy(clusters, labels) == pytest.approx(4 / 6)  # one-to-one: only one of them can


def test_purity_at_least_hungarian_on_random_labellings():
    rng = np.random.default_rng(0)
    for _ in range(50):
        n, k = int(rng.integers(5, 200)), int(rng.integers(2, 12))
        clusters, labels = rng.integers(0, k, n), rng.integers(0, k, n)
        assert purity(clusters, labels) >= hungarian_accuracy(clusters, labels) - 1e-12


def test_nmi_and_ari_by_hand():
    # clusters {0,1 | 2,3}, labels {0 | 1,2,3}: contingency [[1, 1], [0, 2]]
    clusters, labels = np.array([0, 0, 1, 1]), np.array([0, 1, 1, 1])
    h_c = math.log(2)
    h_y = -(0.25 * math.log(0.25) + 0.75 * math.log(0.75))
    # Σ p(c,y) log p(c,y)/(p(c) p(y)) over the three non-empty cells
    mi = 0.25 * math.log(0.25 / (0.5 * 0.25)) + 0.25 * math.log(0.25 / (0.5 * 0.75)) \
        + 0.5 * math.log(0.5 / (0.5 * 0.75))
    assert nmi(clusters, labels) == pytest.approx(mi / ((h_c + h_y) / 2))
    # pairs: index = C(2,2) = 1; a = 1 + 1 = 2; b = C(3,2) = 3; total C(4,2) = 6; expected = 1; max = 2.5
    assert ari(clusters, labels) == pytest.approx((1 - 1) / (2.5 - 1))


def test_report_counts_empty_clusters_and_accepts_tensors():
    report = clustering_report(torch.tensor([0, 0, 0, 3]), torch.tensor([1, 1, 1, 2]), n_clusters=5)
    assert report["empty"] == 3.0 and report["largest"] == 0.75 and report["acc"] == 1.0


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="1-d integer"):
        purity(np.array([0.5, 1.0]), np.array([0, 1]))
    with pytest.raises(ValueError, match="3 cluster ids for 2 labels"):
        purity(np.array([0, 1, 1]), np.array([0, 1]))
