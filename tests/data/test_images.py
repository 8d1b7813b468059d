"""Tests of data/images.py: npz and JPEG-bytes loading, torchvision conversion, errors, the embedded sample.

Real-data tests read ../shared/data beside the repository (or $KEXUE_DATA) and are skipped when it is
absent. No test touches the network: every socket connection fails.
"""
import io
import os
import socket
from pathlib import Path

import numpy as np
import pytest
import torch

import registry
from data import images
from data.images import celeba, cifar10, fashion_mnist, mnist, mnist_sample
from errors import DataError


def shared_data_dir() -> Path:
    from_env = os.environ.get("KEXUE_DATA")
    if from_env and (Path(from_env) / "mnist.npz").is_file():
        return Path(from_env)
    return Path(__file__).resolve().parents[2].parent / "shared" / "data"


SHARED = shared_data_dir()


def needs_shared(filename: str):
    return pytest.mark.skipif(not (SHARED / filename).is_file(), reason=f"{SHARED / filename} is absent")


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a test tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def pattern(shape: tuple[int, ...], seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=shape, dtype=np.uint8)


def write_split_npz(path: Path, image_shape: tuple[int, ...], n_train: int = 6, n_test: int = 3, **override):
    arrays = {
        "x_train": pattern((n_train, *image_shape), 0), "y_train": np.arange(n_train, dtype=np.uint8) % 10,
        "x_test": pattern((n_test, *image_shape), 1), "y_test": (np.arange(n_test, dtype=np.uint8) + 3) % 10,
    }
    arrays.update(override)
    np.savez(path, **arrays)
    return arrays


def test_a_config_names_each_grey_dataset_by_its_file(tmp_path):
    """``data.name`` + ``data.root`` as a config gives them (engine/build.py's load_dataset) read the file the
    name stands for; the embedded sample needs no root."""
    from engine.build import load_dataset

    for name in ("mnist", "fashion_mnist"):
        arrays = write_split_npz(tmp_path / f"{name}.npz", (28, 28), n_train=6, n_test=4)
        splits = load_dataset({"name": name, "root": str(tmp_path)})
        assert splits["train"]["x"].shape == (6, 1, 28, 28) and splits["test"]["x"].dtype == torch.uint8
        assert sorted(splits["train"]["y"].tolist()) == sorted(arrays["y_train"].tolist())
    sample = load_dataset({"name": "mnist_sample"})
    assert sample["train"]["x"].shape[1:] == (1, 28, 28) and len(sample["test"]["x"]) == 1000
    assert registry.lookup("dataset", "cifar10") is cifar10 and registry.lookup("dataset", "celeba") is celeba


def test_grey_npz_loads_as_n1hw_uint8(tmp_path):
    arrays = write_split_npz(tmp_path / "mnist.npz", (28, 28))
    data = mnist(root=str(tmp_path))
    for split, n in [("train", 6), ("test", 3)]:
        x, y = data[split]["x"], data[split]["y"]
        assert x.shape == (n, 1, 28, 28) and x.dtype == torch.uint8 and x.is_contiguous()
        assert y.shape == (n,) and y.dtype == torch.int64
        assert torch.equal(x[:, 0], torch.from_numpy(arrays[f"x_{split}"]))
        assert y.tolist() == arrays[f"y_{split}"].tolist()


def test_colour_npz_loads_as_n3hw_with_channels_moved(tmp_path):
    x_train = pattern((4, 32, 32, 3), 2)
    x_train[2, 5, 7] = (11, 22, 33)  # pixel at row 5, column 7 of image 2
    write_split_npz(tmp_path / "cifar10.npz", (32, 32, 3), n_train=4, x_train=x_train)
    x = cifar10(root=str(tmp_path))["train"]["x"]
    assert x.shape == (4, 3, 32, 32) and x.dtype == torch.uint8 and x.is_contiguous()
    assert x[2, :, 5, 7].tolist() == [11, 22, 33]
    assert torch.equal(x, torch.from_numpy(x_train).permute(0, 3, 1, 2))


def test_root_defaults_to_kexue_data(tmp_path, monkeypatch):
    arrays = write_split_npz(tmp_path / "fashion_mnist.npz", (28, 28))
    monkeypatch.setenv("KEXUE_DATA", str(tmp_path))
    assert images.data_root(None) == tmp_path
    assert torch.equal(fashion_mnist()["test"]["x"][:, 0], torch.from_numpy(arrays["x_test"]))


def test_celeba_npz_of_the_requested_size(tmp_path):
    write_split_npz(tmp_path / "celeba_8.npz", (8, 8, 3))
    assert celeba(root=str(tmp_path), image_size=8)["train"]["x"].shape == (6, 3, 8, 8)
    write_split_npz(tmp_path / "celeba_16.npz", (8, 8, 3))
    with pytest.raises(DataError, match=r"celeba_16\.npz.*\(N, 16, 16, 3\)"):
        celeba(root=str(tmp_path), image_size=16)


@pytest.mark.parametrize("loader, looked_for", [
    (mnist, ["mnist.npz", "MNIST/raw"]),
    (fashion_mnist, ["fashion_mnist.npz", "FashionMNIST/raw"]),
    (cifar10, ["cifar10.npz", "cifar10_jpeg_bytes.npz", "cifar-10-batches-py"]),
    (celeba, ["celeba_64.npz", "celeba"]),
])
def test_missing_data_names_every_path_and_the_fix(tmp_path, loader, looked_for):
    root = tmp_path / "empty"
    root.mkdir()
    with pytest.raises(DataError) as caught:
        loader(root=str(root), download=False)
    message = str(caught.value)
    assert "\n" not in message
    for part in looked_for:
        assert str(root / part) in message
    assert "data.root" in message and "data.download=true" in message
    assert list(root.iterdir()) == []  # nothing was downloaded or created


class FakeTorchvisionDataset:
    """Stands in for torchvision's MNIST / CIFAR10: records its arguments, refuses per-sample access."""
    calls: list = []

    def __init__(self, root, train, download):
        FakeTorchvisionDataset.calls.append((root, train, download))
        n = 5 if train else 2
        if self.colour:
            self.data = pattern((n, 32, 32, 3), 3 + train)  # numpy (N, H, W, C), targets a list
            self.targets = list(range(n))
        else:
            self.data = torch.from_numpy(pattern((n, 28, 28), 5 + train))  # tensor (N, H, W)
            self.targets = torch.arange(n)

    def __getitem__(self, index):
        raise AssertionError("per-sample access")


@pytest.mark.parametrize("loader, class_name, colour", [(mnist, "MNIST", False), (cifar10, "CIFAR10", True)])
def test_torchvision_route_converts_data_and_targets(tmp_path, monkeypatch, loader, class_name, colour):
    import torchvision.datasets

    fake = type(class_name, (FakeTorchvisionDataset,), {"colour": colour})
    monkeypatch.setattr(torchvision.datasets, class_name, fake)
    FakeTorchvisionDataset.calls = []
    data = loader(root=str(tmp_path), download=False)
    assert FakeTorchvisionDataset.calls == [(str(tmp_path), True, False), (str(tmp_path), False, False)]
    x, y = data["train"]["x"], data["train"]["y"]
    expected = fake(str(tmp_path), True, False).data
    if colour:
        assert x.shape == (5, 3, 32, 32)
        assert torch.equal(x, torch.from_numpy(expected).permute(0, 3, 1, 2))
    else:
        assert x.shape == (5, 1, 28, 28)
        assert torch.equal(x[:, 0], expected)
    assert x.dtype == torch.uint8 and x.is_contiguous()
    assert y.dtype == torch.int64 and y.tolist() == [0, 1, 2, 3, 4]


def test_wrong_ndim_names_the_file_and_expected_shape(tmp_path):
    path = tmp_path / "mnist.npz"
    write_split_npz(path, (28, 28), x_train=pattern((6, 784), 0))
    with pytest.raises(DataError, match=r"mnist\.npz: x_train is uint8 \(6, 784\).*\(N, 28, 28\)") as caught:
        mnist(root=str(tmp_path))
    assert str(path) in str(caught.value)


def test_wrong_dtype_missing_keys_and_garbage_are_data_errors(tmp_path):
    path = tmp_path / "mnist.npz"
    write_split_npz(path, (28, 28), x_test=pattern((3, 28, 28), 1).astype(np.float32))
    with pytest.raises(DataError, match="x_test is float32"):
        mnist(root=str(tmp_path))
    write_split_npz(path, (28, 28), y_train=np.zeros(5, dtype=np.uint8))
    with pytest.raises(DataError, match="y_train is uint8 \\(5,\\) for 6 images"):
        mnist(root=str(tmp_path))
    np.savez(path, x_train=pattern((6, 28, 28), 0))
    with pytest.raises(DataError, match="lacks the arrays y_train, x_test, y_test"):
        mnist(root=str(tmp_path))
    path.write_bytes(b"not an archive")
    with pytest.raises(DataError, match="not a readable .npz"):
        mnist(root=str(tmp_path))


def jpeg_bytes_npz(path: Path, colours: dict[str, list[tuple[int, int, int]]]) -> None:
    from PIL import Image

    arrays = {"class_names": np.array(["a", "b"])}
    for split, split_colours in colours.items():
        blobs = []
        for colour in split_colours:
            buffer = io.BytesIO()
            Image.new("RGB", (32, 32), colour).save(buffer, format="JPEG", quality=95)
            blobs.append(np.frombuffer(buffer.getvalue(), dtype=np.uint8))
        arrays[f"{split}_jpeg"] = np.concatenate(blobs)
        arrays[f"{split}_offsets"] = np.cumsum([0] + [len(b) for b in blobs]).astype(np.int64)
        arrays[f"y_{split}"] = np.arange(len(blobs), dtype=np.uint8) % 2
    np.savez(path, **arrays)


def test_jpeg_bytes_are_decoded_once_and_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("KEXUE_CACHE", str(tmp_path / "cache"))
    source = tmp_path / "cifar10_jpeg_bytes.npz"
    jpeg_bytes_npz(source, {"train": [(200, 10, 10), (10, 200, 10), (10, 10, 200)], "test": [(128, 128, 128)]})
    data = cifar10(root=str(tmp_path))
    x = data["train"]["x"]
    assert x.shape == (3, 3, 32, 32) and x.dtype == torch.uint8 and data["test"]["x"].shape == (1, 3, 32, 32)
    means = x.float().mean(dim=(2, 3))
    assert torch.allclose(means, torch.tensor([[200., 10, 10], [10, 200, 10], [10, 10, 200]]), atol=3)
    assert data["train"]["y"].tolist() == [0, 1, 0]
    assert len(list((tmp_path / "cache").glob("*.npz"))) == 1

    def no_decoding(*args):
        raise AssertionError("decoded again although the cache is valid")

    decode = images._decode_jpeg_npz
    monkeypatch.setattr(images, "_decode_jpeg_npz", no_decoding)
    assert torch.equal(cifar10(root=str(tmp_path))["train"]["x"], x)
    os.utime(source, ns=(0, 0))  # the same bytes provisioned afresh (a new mtime): the copy is still used
    assert torch.equal(cifar10(root=str(tmp_path))["train"]["x"], x)
    jpeg_bytes_npz(source, {"train": [(0, 0, 0)], "test": [(255, 255, 255)]})  # new content: decoded again
    with pytest.raises(AssertionError, match="decoded again"):
        cifar10(root=str(tmp_path))
    legacy = tmp_path / "cache" / "cifar10_jpeg_bytes-decoded-123-456.npz"   # an older code's size-mtime key
    legacy.write_bytes(b"old")
    monkeypatch.setattr(images, "_decode_jpeg_npz", decode)
    assert cifar10(root=str(tmp_path))["train"]["x"].shape == (1, 3, 32, 32)
    assert len(list((tmp_path / "cache").glob("*.npz"))) == 1  # one decoded copy per source name


def test_mnist_sample_is_the_embedded_default():
    data = mnist_sample()
    for split, n in [("train", 5000), ("test", 1000)]:
        x, y = data[split]["x"], data[split]["y"]
        assert x.shape == (n, 1, 28, 28) and x.dtype == torch.uint8 and y.dtype == torch.int64
        assert int(x.min()) == 0 and int(x.max()) == 255
        assert sorted(y.unique().tolist()) == list(range(10))


def test_embedded_sample_is_small():
    assert (images.EMBEDDED_DIR / "mnist_sample.npz").stat().st_size < 3_000_000


@pytest.mark.needs_shared_data
@needs_shared("mnist.npz")
def test_real_mnist_and_the_sample_is_its_prefix():
    data = mnist(root=str(SHARED))
    assert data["train"]["x"].shape == (60000, 1, 28, 28) and data["test"]["x"].shape == (10000, 1, 28, 28)
    assert sorted(data["train"]["y"].unique().tolist()) == list(range(10))
    sample = mnist_sample()
    for split, n in [("train", 5000), ("test", 1000)]:
        assert torch.equal(sample[split]["x"], data[split]["x"][:n])
        assert torch.equal(sample[split]["y"], data[split]["y"][:n])


@pytest.mark.needs_shared_data
@needs_shared("fashion_mnist.npz")
def test_real_fashion_mnist():
    data = fashion_mnist(root=str(SHARED))
    assert data["train"]["x"].shape == (60000, 1, 28, 28) and data["test"]["x"].shape == (10000, 1, 28, 28)
    assert data["train"]["y"].dtype == torch.int64
    assert sorted(data["test"]["y"].unique().tolist()) == list(range(10))


@pytest.mark.slow
@pytest.mark.needs_shared_data
@needs_shared("cifar10_jpeg_bytes.npz")
def test_real_cifar10_from_jpeg_bytes(tmp_path, monkeypatch):
    if (SHARED / "cifar10.npz").is_file():
        pytest.skip(f"{SHARED / 'cifar10.npz'} exists, so the JPEG-bytes archive would not be read")
    monkeypatch.setenv("KEXUE_CACHE", str(tmp_path))
    data = cifar10(root=str(SHARED))
    assert data["train"]["x"].shape == (50000, 3, 32, 32) and data["test"]["x"].shape == (10000, 3, 32, 32)
    assert torch.bincount(data["train"]["y"]).tolist() == [5000] * 10
    assert torch.bincount(data["test"]["y"]).tolist() == [1000] * 10
    channel_means = data["train"]["x"].float().mean(dim=(0, 2, 3))
    assert torch.allclose(channel_means, torch.tensor([125.3, 123.0, 113.9]), atol=1.5)  # CIFAR-10's means


def test_a_class_major_split_is_put_in_a_fixed_random_order(tmp_path):
    """The offline CIFAR-10 copy is stored class by class; any prefix of a split must still hold every class."""
    n = 40
    x_train = pattern((n, 32, 32, 3), 3)
    y_train = np.repeat(np.arange(4, dtype=np.uint8), n // 4)  # 0 0 ... 1 1 ... 3 3
    write_split_npz(tmp_path / "cifar10.npz", (32, 32, 3), n_train=n, x_train=x_train, y_train=y_train)
    first = cifar10(root=str(tmp_path))["train"]
    second = cifar10(root=str(tmp_path))["train"]
    assert torch.equal(first["x"], second["x"]) and torch.equal(first["y"], second["y"])  # the same order each load
    assert len(set(first["y"][:12].tolist())) >= 3
    # images keep their labels
    original = torch.from_numpy(x_train).permute(0, 3, 1, 2)
    for img, label in zip(first["x"], first["y"]):
        index = next(i for i in range(n) if torch.equal(original[i], img))
        assert int(y_train[index]) == int(label)
    # a split that is not class-major (the test split here, 3 images, 3 classes) keeps its order
    assert cifar10(root=str(tmp_path))["test"]["y"].tolist() == [3, 4, 5]
