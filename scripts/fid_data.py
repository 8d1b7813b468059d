#!/usr/bin/env python3
"""FID and KID between two splits of one image dataset, e.g. CIFAR-10 train (50k) against test (10k).

    python scripts/fid_data.py --dataset cifar10 [--a train --b test] [--n-a 50000 --n-b 10000] [--cache DIR]

The calibration of the GAN scores: how far our data's own splits are apart under the same protocol
(metrics/fid.py: TF-FID Inception pool3, uint8 resized bilinearly to 299, float32 features). Our CIFAR-10 is a
JPEG re-encoded copy, so this is the number to set beside the one people quote for the original PNG data. The
first ``--n-a`` / ``--n-b`` images of each split (the loader's fixed order) are used; features are cached by
their pixels' hash (``--cache``, default ~/.cache/kexue-torch/fid), the test split's shared with
scripts/gan_fd.py. Prints one JSON line (FID, KID and the protocol) and writes it to ``--out`` when given.

``--cache-only`` computes (or finds) the features of the splits and stops, e.g. the test split's with both threads
before single-thread GAN runs score against it (scripts/campaign/issue18.sh): one JSON line names the files.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from engine.build import load_dataset, resolve_device
from engine.cli import user_errors_exit_2
from engine.config import load_plugins
from errors import ConfigError
from metrics import fid


@user_errors_exit_2
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="cifar10", help="a registered image dataset (cifar10, ...)")
    parser.add_argument("--root", help="data folder (default: KEXUE_DATA, as train.py's data.root)")
    parser.add_argument("--a", default="train")
    parser.add_argument("--b", default="test")
    parser.add_argument("--n-a", type=int, default=None, help="images of split --a (default: all)")
    parser.add_argument("--n-b", type=int, default=None, help="images of split --b (default: all)")
    parser.add_argument("--inception-weights", help="the network's TorchScript file (default: the fid extra's)")
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "kexue-torch" / "fid")
    parser.add_argument("--out", type=Path, help="also write the JSON line here")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda or cuda:N (float32, TF32 off)")
    parser.add_argument("--cache-only", action="store_true",
                        help="only compute (or find) the splits' cached features, no score")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = fid.full_float32(resolve_device(args.device, "--device"))
    load_plugins()
    net = fid.load_network(args.inception_weights, device)
    splits = load_dataset({"name": args.dataset, **({"root": args.root} if args.root else {})})
    start = time.perf_counter()
    feats, files = {}, {}
    for split, n in ((args.a, args.n_a), (args.b, args.n_b)):
        if split not in splits:
            raise ConfigError(f"dataset {args.dataset!r} has no split {split!r} (it has: {', '.join(sorted(splits))})")
        x = splits[split]["x"]
        n = n or len(x)
        if not 2 <= n <= len(x):
            raise ConfigError(f"--n-{'a' if split == args.a else 'b'} {n}: the {split} split has {len(x)} images")
        ref = fid.cached_reference(net, x[:n], f"{args.dataset}_{split}", args.cache)
        print(f"{split}: {ref['file']} ({'cached' if ref['cached'] else 'computed'})", file=sys.stderr, flush=True)
        feats[split], files[split] = ref["features"], ref["file"]
    if args.cache_only:
        result = {"dataset": args.dataset,
                  "cached": {k: {"file": f, "n": len(feats[k])} for k, f in files.items()},
                  "network_form": fid.network_tag(net)}
    else:
        a, b = feats[args.a], feats[args.b]
        kid_mean, kid_std = fid.kid(a, b)
        result = {"dataset": args.dataset, "a": args.a, "n_a": len(a), "b": args.b, "n_b": len(b),
                  "fid": fid.fid_from_features(a, b), "kid": kid_mean, "kid_std": kid_std,
                  "protocol": {**fid.protocol(len(a), f"first {len(b)} of {args.dataset}_{args.b}", len(b)),
                               "n_generated": None, "n_a": len(a), "network_form": fid.network_tag(net)}}
    result.update(wall_s=round(time.perf_counter() - start, 1), threads=torch.get_num_threads(), device=str(device))
    line = json.dumps(result)
    print(line)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(line + "\n")
    return 0

if __name__ == "__main__":
    sys.exit(main())
