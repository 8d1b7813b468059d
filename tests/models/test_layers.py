"""models/layers.py: split/merge round trips and positions, TrainOnlyNoise on/off and its statistics."""
import pytest
import torch

from models.layers import (TrainOnlyNoise, merge_halves, merge_interleaved, split_halves,
                           split_interleaved)


@pytest.mark.parametrize("dim", [2, 7, 8, 784])
def test_interleaved_round_trip(dim):
    x = torch.randn(3, 2, dim)
    even, odd = split_interleaved(x)
    assert even.shape[-1] == (dim + 1) // 2 and odd.shape[-1] == dim // 2
    assert torch.equal(merge_interleaved(even, odd), x)


def test_interleaved_takes_even_and_odd_positions():
    x = torch.arange(8.0).unsqueeze(0)
    even, odd = split_interleaved(x)
    assert even.tolist() == [[0.0, 2.0, 4.0, 6.0]]
    assert odd.tolist() == [[1.0, 3.0, 5.0, 7.0]]
    assert merge_interleaved(torch.zeros(1, 4), torch.ones(1, 4)).tolist() == [[0, 1, 0, 1, 0, 1, 0, 1]]


def test_merge_interleaved_rejects_mismatched_sizes():
    with pytest.raises(ValueError):
        merge_interleaved(torch.zeros(1, 2), torch.zeros(1, 5))


def test_merge_interleaved_passes_gradients():
    even = torch.randn(2, 3, requires_grad=True)
    odd = torch.randn(2, 3, requires_grad=True)
    weights = torch.arange(6.0)
    (merge_interleaved(even, odd) * weights).sum().backward()
    assert even.grad[0].tolist() == [0.0, 2.0, 4.0]
    assert odd.grad[0].tolist() == [1.0, 3.0, 5.0]


@pytest.mark.parametrize("dim", [2, 7, 8])
def test_halves_round_trip_and_positions(dim):
    x = torch.arange(float(dim)).repeat(2, 1)
    first, second = split_halves(x)
    assert first[0].tolist() == list(range(dim // 2))
    assert second[0].tolist() == list(range(dim // 2, dim))
    assert torch.equal(merge_halves(first, second), x)


def test_train_only_noise_is_identity_in_eval():
    x = torch.randn(4, 10)
    for layer in (TrainOnlyNoise("uniform", -0.01, 0.0), TrainOnlyNoise("gaussian", std=1.0)):
        layer.eval()
        assert layer(x) is x


def test_train_only_noise_uniform_statistics():
    torch.manual_seed(0)
    layer = TrainOnlyNoise("uniform", low=-0.01, high=0.0).train()
    x = torch.full((400_000,), 0.5, dtype=torch.float64)
    noise = layer(x) - x
    assert noise.min() >= -0.01 and noise.max() <= 0.0
    # U[a, b): mean (a + b)/2 = −0.005, variance (b − a)²/12 = 1e-4/12
    assert noise.mean().item() == pytest.approx(-0.005, abs=2e-5)
    assert noise.var().item() == pytest.approx(1e-4 / 12, rel=0.02)


def test_train_only_noise_gaussian_statistics():
    torch.manual_seed(0)
    layer = TrainOnlyNoise("gaussian", std=0.3).train()
    x = torch.zeros(400_000, dtype=torch.float64)
    noise = layer(x)
    assert abs(noise.mean().item()) < 3e-3
    assert noise.var().item() == pytest.approx(0.09, rel=0.02)


def test_train_only_noise_validates_its_arguments():
    with pytest.raises(ValueError, match="uniform, gaussian"):
        TrainOnlyNoise("laplace")
    with pytest.raises(ValueError):
        TrainOnlyNoise("uniform", low=1.0, high=0.0)
