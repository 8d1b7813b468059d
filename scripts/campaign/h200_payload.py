#!/usr/bin/env python3
"""The payload of scripts/campaign/issue18_h200.sh: what its two device calls carry, in .gpu/a and .gpu/b.

    python scripts/campaign/h200_payload.py --data ../shared/data --classifier ~/kexue-runs/fd_classifier_cifar10

A device call carries at most 64 MiB with the working tree, and the Inception file alone is 87 MB: so the first call
carries the CIFAR-10 JPEG bytes (re-saved with np.savez_compressed: the identical JPEG headers of 60,000 images
deflate, 56 MB -> ~18 MB; the same bytes, so the same decoded pixels and reference features), the FD classifier's
best.pt and config, the first --split-at bytes of the Inception file and the pytorch-fid wheel, and starts the
training; the second call, on the same warm machine, carries the rest of the Inception file and its SHA-256.
Left out of the calls: docs/ (take it out of the index for the calls: git rm -r -q --cached docs, and put /docs/,
/.gpu/ and /runs-carry/ in .git/info/exclude; git reset -q -- docs afterwards).
"""
from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

from metrics import fid


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="the folder holding cifar10_jpeg_bytes.npz")
    parser.add_argument("--classifier", type=Path, required=True, help="the FD classifier's run folder")
    parser.add_argument("--out", type=Path, default=Path(".gpu"))
    parser.add_argument("--split-at", type=int, default=32_000_000, help="bytes of the Inception file in call a")
    args = parser.parse_args()
    a, b = args.out / "a", args.out / "b"
    for d in (a, b):
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir(parents=True)
    with np.load(args.data / "cifar10_jpeg_bytes.npz") as src:
        np.savez_compressed(a / "cifar10_jpeg_bytes.npz", **{k: src[k] for k in src.files})
    (a / "fd_classifier_cifar10").mkdir()
    for name in ("best.pt", "config.yaml", "results.json"):
        shutil.copy2(args.classifier / name, a / "fd_classifier_cifar10" / name)
    blob = fid.weights_path(None).read_bytes()
    (a / "inception.part1").write_bytes(blob[:args.split_at])
    (b / "inception.part2").write_bytes(blob[args.split_at:])
    (b / "inception.sha256").write_text(f"{hashlib.sha256(blob).hexdigest()}  default_1.pt\n")
    version = importlib.metadata.version("pytorch-fid")
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", f"pytorch-fid=={version}", "-d",
                    str(a)], check=True)
    for d in (a, b):
        print(d, sum(f.stat().st_size for f in d.rglob("*") if f.is_file()), "bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
