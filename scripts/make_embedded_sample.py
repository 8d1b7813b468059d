#!/usr/bin/env python3
"""Make data/embedded/mnist_sample.npz, the small MNIST sample shipped as the default dataset.

    python scripts/make_embedded_sample.py [SOURCE_MNIST_NPZ]

SOURCE defaults to ../shared/data/mnist.npz beside the repository (the offline copy of the original
LeCun idx files, as uint8 arrays x_train, y_train, x_test, y_test). The sample keeps the first 5000
training and the first 1000 test digits in their original order, compressed. Prints the sha256 that
data/embedded/README.md records.
"""
import argparse
import hashlib
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = REPO.parent / "shared" / "data" / "mnist.npz"
OUT = REPO / "data" / "embedded" / "mnist_sample.npz"
NUM_TRAIN, NUM_TEST = 5000, 1000


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", nargs="?", type=Path, default=DEFAULT_SOURCE,
                        help="MNIST .npz with uint8 x_train, y_train, x_test, y_test (default ../shared/data/mnist.npz)")
    source = parser.parse_args(argv).source
    with np.load(source, allow_pickle=False) as mnist:
        arrays = {
            "x_train": mnist["x_train"][:NUM_TRAIN],
            "y_train": mnist["y_train"][:NUM_TRAIN],
            "x_test": mnist["x_test"][:NUM_TEST],
            "y_test": mnist["y_test"][:NUM_TEST],
        }
    for key, array in arrays.items():
        assert array.dtype == np.uint8, f"{source}: {key} is {array.dtype}, expected uint8"
    assert arrays["x_train"].shape == (NUM_TRAIN, 28, 28) and arrays["x_test"].shape == (NUM_TEST, 28, 28)

    OUT.parent.mkdir(parents=True, exist_ok=True)
    tmp = OUT.with_name(OUT.stem + ".tmp.npz")
    np.savez_compressed(tmp, **arrays)
    tmp.replace(OUT)
    digest = hashlib.sha256(OUT.read_bytes()).hexdigest()
    print(f"{OUT} {OUT.stat().st_size} bytes sha256 {digest}")


if __name__ == "__main__":
    main()
