"""Image datasets, loaded whole into memory as uint8 tensors.

Every dataset returns ``{"train": {"x": X, "y": Y}, "test": {"x": X, "y": Y}}`` with X a contiguous uint8
tensor (N, C, H, W) in 0..255 (C = 1 grey, 3 colour) and Y an int64 tensor (N,). Images are decoded once at
load time; nothing touches PIL or a per-sample ``__getitem__`` afterwards.

Where the files are looked for. The data root is the ``root`` argument, else the environment variable
``KEXUE_DATA``, else ``~/.cache/kexue-torch/data``. Under it, in this order:

* ``mnist``, ``fashion_mnist``, ``cifar10``: ``<root>/<name>.npz`` holding uint8 arrays ``x_train``,
  ``y_train``, ``x_test``, ``y_test`` (images N×H×W grey or N×H×W×3 colour); for cifar10 also
  ``<root>/cifar10_jpeg_bytes.npz`` (JPEG bytes + offsets), decoded once with PIL and cached as an npz in
  ``$KEXUE_CACHE`` (default ``~/.cache/kexue-torch``) keyed by the source's content; then the
  torchvision datasets (``MNIST``, ``FashionMNIST``, ``CIFAR10``) under the root, downloaded only when
  ``download`` is true.
* ``celeba``: ``<root>/celeba_<image_size>.npz`` in the same npz layout, else torchvision's ``CelebA`` files
  under ``<root>/celeba``, each JPEG centre-cropped to a square and resized to ``image_size`` (slow: ~200k
  files). CelebA has no classes; its labels are all 0.
* ``mnist_sample``: the embedded default, ``data/embedded/mnist_sample.npz`` beside this file (the first 5000
  training and 1000 test MNIST digits; see ``data/embedded/README.md``).

Anything missing or malformed raises ``errors.DataError`` with a one-line message naming the paths and the fix.
"""
import hashlib
import io
import os
import tempfile
import warnings
import zipfile
from pathlib import Path
from typing import NoReturn

import numpy as np
import torch

from errors import ConfigError, DataError
from registry import register

Splits = dict[str, dict[str, torch.Tensor]]
SPLITS = ("train", "test")
EMBEDDED_DIR = Path(__file__).parent / "embedded"
ROOT_FIX = "set data.root (or KEXUE_DATA) to a folder that holds them, or set data.download=true"


def data_root(root: str | None) -> Path:
    """The folder datasets are looked for in: ``root``, else $KEXUE_DATA, else ~/.cache/kexue-torch/data."""
    chosen = root or os.environ.get("KEXUE_DATA") or "~/.cache/kexue-torch/data"
    return Path(chosen).expanduser()


def cache_dir() -> Path:
    """Where decoded copies of compressed sources are kept: $KEXUE_CACHE, else ~/.cache/kexue-torch."""
    return Path(os.environ.get("KEXUE_CACHE") or "~/.cache/kexue-torch").expanduser()


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _shape_text(image_shape: tuple[int, ...]) -> str:
    return "(N, " + ", ".join(str(d) for d in image_shape) + ")"


def _to_tensors(x: np.ndarray, y: np.ndarray) -> dict[str, torch.Tensor]:
    """(N, H, W) or (N, H, W, 3) uint8 images and integer labels -> the batch format."""
    x = x[:, None] if x.ndim == 3 else x.transpose(0, 3, 1, 2)
    return {"x": torch.from_numpy(np.ascontiguousarray(x)),
            "y": torch.from_numpy(np.asarray(y).astype(np.int64))}


def _check_split(source: Path, split: str, x: np.ndarray, y: np.ndarray, image_shape: tuple[int, ...]) -> None:
    expected = f"expected x_{split} uint8 {_shape_text(image_shape)} and y_{split} integer (N,)"
    if x.dtype != np.uint8 or x.shape[1:] != image_shape:
        raise DataError(f"{source}: x_{split} is {x.dtype} {tuple(x.shape)}; {expected}")
    if y.ndim != 1 or y.shape[0] != x.shape[0] or not np.issubdtype(y.dtype, np.integer):
        raise DataError(f"{source}: y_{split} is {y.dtype} {tuple(y.shape)} for {x.shape[0]} images; {expected}")


def _arrays_to_splits(source: Path, arrays: dict[str, np.ndarray], image_shape: tuple[int, ...]) -> Splits:
    out = {}
    for split in SPLITS:
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        _check_split(source, split, x, y, image_shape)
        out[split] = _to_tensors(x, y)
    return out


def load_npz(path: Path, image_shape: tuple[int, ...]) -> Splits:
    """Load an npz with x_train, y_train, x_test, y_test; ``image_shape`` is (H, W) grey or (H, W, 3) colour."""
    keys = [f"{kind}_{split}" for split in SPLITS for kind in ("x", "y")]
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [k for k in keys if k not in archive.files]
            if missing:
                raise DataError(f"{path} lacks the arrays {', '.join(missing)}; expected uint8 x_train, y_train, "
                                f"x_test, y_test with images {_shape_text(image_shape)}")
            arrays = {k: archive[k] for k in keys}
    except (OSError, ValueError, zipfile.BadZipFile) as e:
        raise DataError(f"{path} is not a readable .npz archive ({_one_line(e)}); replace or delete it") from e
    return _arrays_to_splits(path, arrays, image_shape)


def _decode_jpegs(source: Path, blob: np.ndarray, offsets: np.ndarray, image_shape: tuple[int, ...]) -> np.ndarray:
    from PIL import Image

    images = np.empty((len(offsets) - 1, *image_shape), dtype=np.uint8)
    for i, (start, end) in enumerate(zip(offsets[:-1], offsets[1:])):
        try:
            with Image.open(io.BytesIO(blob[start:end].tobytes())) as image:
                images[i] = np.asarray(image.convert("RGB"))
        except (OSError, ValueError) as e:
            raise DataError(f"{source}: image {i} does not decode to {image_shape} RGB ({_one_line(e)})") from e
    return images


def _decode_jpeg_npz(source: Path, image_shape: tuple[int, ...]) -> dict[str, np.ndarray]:
    """Arrays x_/y_train, x_/y_test from the layout of prepare_cifar10.py (``<split>_jpeg`` + offsets)."""
    try:
        with np.load(source, allow_pickle=False) as archive:
            arrays = {}
            for split in SPLITS:
                offsets = archive[f"{split}_offsets"]
                arrays[f"x_{split}"] = _decode_jpegs(source, archive[f"{split}_jpeg"], offsets, image_shape)
                arrays[f"y_{split}"] = archive[f"y_{split}"]
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as e:
        raise DataError(f"{source} is not a JPEG-bytes archive with train_jpeg, train_offsets, y_train, "
                        f"test_jpeg, test_offsets, y_test ({_one_line(e)})") from e
    return arrays


def _write_npz_atomically(path: Path, arrays: dict[str, np.ndarray]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; the cache is as readable as any other cached file
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def load_jpeg_npz_cached(source: Path, image_shape: tuple[int, ...]) -> Splits:
    """Decode a JPEG-bytes npz once; later loads read the decoded copy from the cache directory.

    The copy is keyed by the source's content (sha256; 0.1–0.2 s for CIFAR-10's 56 MB), not its mtime: a data
    folder provisioned afresh (same bytes, new mtime) reuses the copy instead of adding another 184 MB one. After
    a new copy is written, the other copies of the same source name (an earlier content, or the size-and-mtime
    keys of older code) are deleted: one decoded copy per source name.
    """
    with open(source, "rb") as f:
        digest = hashlib.file_digest(f, "sha256").hexdigest()[:16]
    cached = cache_dir() / f"{source.stem}-decoded-{digest}.npz"
    if cached.is_file():
        try:
            return load_npz(cached, image_shape)
        except DataError:
            pass  # a damaged cache entry: decode again and overwrite it
    arrays = _decode_jpeg_npz(source, image_shape)
    splits = _arrays_to_splits(source, arrays, image_shape)
    try:
        _write_npz_atomically(cached, arrays)
        for stale in cached.parent.glob(f"{source.stem}-decoded-*.npz"):
            if stale != cached:
                stale.unlink(missing_ok=True)
    except OSError as e:
        warnings.warn(f"could not cache decoded {source.name} at {cached}: {_one_line(e)}")
    return splits


def _numpy_images(data) -> np.ndarray:
    return data.numpy() if isinstance(data, torch.Tensor) else np.asarray(data)


def _from_torchvision(name: str, class_name: str, folder: Path, root: Path, download: bool,
                      looked_for: list[Path], image_shape: tuple[int, ...]) -> Splits:
    """Read ``.data``/``.targets`` of torchvision's ``class_name`` for both splits (no per-sample access)."""
    from torchvision import datasets

    dataset_class = getattr(datasets, class_name)
    try:
        parts = [dataset_class(str(root), train=(split == "train"), download=download) for split in SPLITS]
    except (RuntimeError, OSError) as e:
        _raise_not_found(name, looked_for, class_name, folder, download, e)
    out = {}
    for split, part in zip(SPLITS, parts):
        x, y = _numpy_images(part.data), np.asarray(part.targets)
        _check_split(folder, split, x, y, image_shape)
        out[split] = _to_tensors(x, y)
    return out


def _raise_not_found(name: str, looked_for: list[Path], class_name: str, folder: Path, download: bool,
                     cause: BaseException) -> NoReturn:
    files = ", ".join(str(p) for p in looked_for)
    if download:
        raise DataError(f"{name} could not be downloaded to {folder} ({_one_line(cause)}); check the network, "
                        f"or put {looked_for[0].name} under {looked_for[0].parent} and set data.root") from cause
    detail = f" (torchvision: {_one_line(cause)})" if folder.exists() else ""
    raise DataError(f"{name} not found: looked for {files} and torchvision {class_name} files under {folder}"
                    f"{detail}; {ROOT_FIX}") from cause


CLASS_MAJOR_SEED = 0


def unsort_class_major(splits: Splits) -> Splits:
    """Put any split stored in class-major order (labels non-decreasing, in runs: at least two classes and
    at most half as many classes as images) in a fixed random order (a permutation seeded with
    ``CLASS_MAJOR_SEED``, the same on every load).

    The offline CIFAR-10 copy (``cifar10_jpeg_bytes.npz``) holds 5,000 airplanes, then 5,000 automobiles, ...;
    the original files are in random order. Training shuffles anyway, but every prefix (``data.limit_train``,
    ``data.limit_eval``, the first n test images a script scores) would otherwise hold one or two classes."""
    out = {}
    for split, part in splits.items():
        y = part["y"]
        if len(y) > 1 and bool((y[1:] >= y[:-1]).all()) and 2 <= len(torch.unique(y)) <= len(y) // 2:
            order = torch.randperm(len(y), generator=torch.Generator().manual_seed(CLASS_MAJOR_SEED))
            part = {k: v[order] for k, v in part.items()}
        out[split] = part
    return out


def _load_standard(name: str, class_name: str, torchvision_folder: str, image_shape: tuple[int, ...],
                   root: str | None, download: bool, jpeg_npz: str | None = None) -> Splits:
    base = data_root(root)
    npz_path = base / f"{name}.npz"
    if npz_path.is_file():
        return unsort_class_major(load_npz(npz_path, image_shape))
    looked_for = [npz_path]
    if jpeg_npz is not None:
        jpeg_path = base / jpeg_npz
        if jpeg_path.is_file():
            return unsort_class_major(load_jpeg_npz_cached(jpeg_path, image_shape))
        looked_for.append(jpeg_path)
    return _from_torchvision(name, class_name, base / torchvision_folder, base, download, looked_for, image_shape)


@register("dataset", "mnist")
def mnist(root: str | None = None, download: bool = False) -> Splits:
    """MNIST, 60000 / 10000 grey 28×28 digits."""
    return _load_standard("mnist", "MNIST", "MNIST/raw", (28, 28), root, download)


@register("dataset", "fashion_mnist")
def fashion_mnist(root: str | None = None, download: bool = False) -> Splits:
    """Fashion-MNIST, 60000 / 10000 grey 28×28 clothing images."""
    return _load_standard("fashion_mnist", "FashionMNIST", "FashionMNIST/raw", (28, 28), root, download)


@register("dataset", "cifar10")
def cifar10(root: str | None = None, download: bool = False) -> Splits:
    """CIFAR-10, 50000 / 10000 colour 32×32 images (the offline JPEG copy is class-major: put in a fixed
    random order on load, see ``unsort_class_major``)."""
    return _load_standard("cifar10", "CIFAR10", "cifar-10-batches-py", (32, 32, 3), root, download,
                          jpeg_npz="cifar10_jpeg_bytes.npz")


def _square_resized(path: Path, image_size: int) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as image:
        image = image.convert("RGB")
        width, height = image.size
        side = min(width, height)
        left, top = (width - side) // 2, (height - side) // 2
        square = image.crop((left, top, left + side, top + side))
        return np.asarray(square.resize((image_size, image_size), Image.Resampling.BICUBIC))


@register("dataset", "celeba")
def celeba(root: str | None = None, image_size: int = 64, download: bool = False) -> Splits:
    """CelebA aligned faces (train / test partitions), centre square crop resized to ``image_size``."""
    if image_size < 1:
        raise ConfigError(f"data.image_size must be a positive number of pixels, got {image_size}")
    base = data_root(root)
    image_shape = (image_size, image_size, 3)
    npz_path = base / f"celeba_{image_size}.npz"
    if npz_path.is_file():
        return load_npz(npz_path, image_shape)
    from torchvision import datasets

    folder = base / "celeba"
    out = {}
    for split in SPLITS:
        try:
            part = datasets.CelebA(str(base), split=split, target_type=[], download=download)
        except (RuntimeError, OSError, ImportError) as e:
            _raise_not_found("celeba", [npz_path], "CelebA", folder, download, e)
        image_folder = folder / "img_align_celeba"
        x = np.empty((len(part.filename), *image_shape), dtype=np.uint8)
        for i, filename in enumerate(part.filename):
            try:
                x[i] = _square_resized(image_folder / filename, image_size)
            except OSError as e:
                raise DataError(f"celeba: cannot read {image_folder / filename} ({_one_line(e)}); "
                                f"restore the file or set data.download=true") from e
        out[split] = _to_tensors(x, np.zeros(len(x), dtype=np.int64))
    return out


@register("dataset", "mnist_sample")
def mnist_sample() -> Splits:
    """The embedded default: the first 5000 training and 1000 test MNIST digits, shipped with the code."""
    path = EMBEDDED_DIR / "mnist_sample.npz"
    if not path.is_file():
        raise DataError(f"the embedded sample {path} is missing; reinstall kexue-torch, or run "
                        f"scripts/make_embedded_sample.py PATH/TO/mnist.npz")
    return load_npz(path, (28, 28))
