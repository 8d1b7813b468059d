"""Mutual-information estimators, negatives and the KL prior against hand computations and closed forms."""
from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Normal, kl_divergence

from losses.infomax import infonce_loss, js_loss, kl_to_standard_normal, shuffled_indices


def test_js_loss_on_hand_computed_scores():
    pos, neg = torch.tensor([0.0, 2.0]), torch.tensor([0.0, -1.0, 1.0])
    # −mean log σ(pos) − mean log(1 − σ(neg)) = mean softplus(−pos) + mean softplus(neg)
    expected = (math.log(2) + math.log(1 + math.exp(-2))) / 2 + \
        (math.log(2) + math.log(1 + math.exp(-1)) + math.log(1 + math.exp(1))) / 3
    assert float(js_loss(pos, neg)) == pytest.approx(expected, rel=1e-6)
    # the blog's clipped form differs only by the 1e-6 inside the logs
    assert float(js_loss(pos, neg, clip=True)) == pytest.approx(expected, abs=1e-5)
    # at saturation the clipped form is bounded by −log(1e-6) per term, the exact one is not
    assert float(js_loss(torch.tensor([-50.0]), torch.tensor([50.0]), clip=True)) == pytest.approx(
        -2 * math.log(1e-6), rel=1e-3)
    assert float(js_loss(torch.tensor([-50.0]), torch.tensor([50.0]))) == pytest.approx(100.0, rel=1e-6)


def test_infonce_on_a_hand_computed_matrix():
    scores = torch.tensor([[2.0, 0.0], [1.0, 1.0]])
    row0 = -(2.0 - math.log(math.exp(2) + 1))
    row1 = -(1.0 - math.log(2 * math.e))
    assert float(infonce_loss(scores)) == pytest.approx((row0 + row1) / 2, rel=1e-6)
    # with positions: each position is its own InfoNCE problem, averaged
    stacked = torch.stack([scores, scores.T], dim=-1)  # (2, 2, 2)
    row1_t = -(1.0 - math.log(math.exp(0) + math.exp(1)))
    row0_t = -(2.0 - math.log(math.exp(2) + math.exp(1)))
    assert float(infonce_loss(stacked)) == pytest.approx((row0 + row1 + row0_t + row1_t) / 4, rel=1e-6)
    # equal scores: log B
    assert float(infonce_loss(torch.zeros(8, 8))) == pytest.approx(math.log(8))
    with pytest.raises(ValueError, match="square"):
        infonce_loss(torch.zeros(2, 3))


def test_derangement_never_pairs_a_sample_with_itself():
    g = torch.Generator().manual_seed(0)
    for n in (2, 3, 5, 64):
        for _ in range(200):
            idx = shuffled_indices(n, g)
            assert sorted(idx.tolist()) == list(range(n))  # a permutation
            assert (idx != torch.arange(n)).all()
    fixed = sum(int((shuffled_indices(64, g, allow_self=True) == torch.arange(64)).sum()) for _ in range(200))
    assert fixed > 0  # the blog's plain shuffle does pair some samples with themselves (about 1 per batch)
    with pytest.raises(ValueError):
        shuffled_indices(1)


def test_kl_matches_the_closed_form_of_torch_distributions():
    mu, logvar = torch.randn(5, 7), torch.randn(5, 7)
    exact = kl_divergence(Normal(mu, (0.5 * logvar).exp()), Normal(0.0, 1.0))  # (5, 7)
    assert float(kl_to_standard_normal(mu, logvar)) == pytest.approx(float(exact.mean()), rel=1e-5)
    assert float(kl_to_standard_normal(mu, logvar, "sum")) == pytest.approx(float(exact.sum(1).mean()), rel=1e-5)
    assert float(kl_to_standard_normal(torch.zeros(3, 4), torch.zeros(3, 4))) == 0.0
