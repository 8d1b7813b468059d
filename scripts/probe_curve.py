#!/usr/bin/env python3
"""Probe accuracy of a representation run against epochs and CPU-hours, from its probe files.

    python scripts/probe_curve.py RUN [--feature z_mean] [--out docs/figures/infomax_cifar10_probe_curve]

Collects the ``probe_*.json`` files that scripts/probe_features.py wrote for RUN's checkpoints (``probe_last.json``
in RUN, ``probe_step*.json`` in RUN/snapshots/; probe each snapshot first, e.g.
``for c in RUN/snapshots/step*.pt; do python scripts/probe_features.py $c --k 20 200 --temperature 0.1; done``),
and plots, for one feature, k-NN (cosine k=20 plain votes; k=200 votes weighted exp(sim/T)) and linear-probe
test accuracy against epochs and against the training process's CPU time in hours (``cpu_s``: core-hours at
one thread, not inflated by other jobs on the machine), or its wall time where a checkpoint did not record CPU
time (runs of older code). The random-encoder floor (``probe_random.json``, ``probe_features.py --random-init``)
and the raw-pixel floor (``probe_pixels.json``, ``--pixels``) are drawn as horizontal lines when present.

Writes ``<out>.json`` (per checkpoint: step, epoch, wall_s, cpu_s and the accuracies) and ``<out>.png``.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from engine.cli import user_errors_exit_2  # noqa: E402
from errors import ConfigError  # noqa: E402
from scripts.runs_status import epochs_table  # noqa: E402


def accuracies(report: dict, feature: str, path: Path) -> dict:
    """{name: test accuracy} of one probe report for ``feature``: knn cosine k=20, the weighted k-NN, linear."""
    if feature not in report.get("features", {}):
        raise ConfigError(f"{path} has no feature {feature!r} (it has: {', '.join(report.get('features', {}))}); "
                          f"pass --feature")
    entry = report["features"][feature]
    out = {"linear": entry["linear"]["test_acc"]}
    for key, value in entry["knn"].items():
        out[f"knn_{key}"] = value
    return out


def updates_per_epoch(run: Path) -> float | None:
    """Updates per epoch from the run's summary.csv (runs_status.epochs_table: a row per finished epoch), so that
    a snapshot's x is the epochs done (step 7,820 of 782 an epoch: 10), not the 0-based index of the epoch it was
    written in; None without a finished epoch (the checkpoint's own epoch is used then)."""
    rows = epochs_table(run)
    return rows[-1]["step"] / rows[-1]["epoch"] if rows and rows[-1]["epoch"] > 0 and rows[-1]["step"] > 0 else None


@user_errors_exit_2
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--feature", default="z_mean")
    parser.add_argument("--out", type=Path, default=None, help="default: <run>/probe_curve")
    args = parser.parse_args(argv)
    files = sorted((args.run / "snapshots").glob("probe_*.json")) + sorted(args.run.glob("probe_*.json"))
    rows, floors = {}, {}
    per_epoch = updates_per_epoch(args.run)
    for path in files:
        report = json.loads(path.read_text())
        if report.get("random_init"):
            floors["random encoder"] = accuracies(report, args.feature, path)
            continue
        if report.get("pixels"):
            floors["raw pixels"] = accuracies(report, "pixels", path)
            continue
        epoch = report["step"] / per_epoch if per_epoch else report.get("epoch")
        rows[report["step"]] = {"file": str(path), "step": report["step"], "epoch": epoch,
                                "wall_s": report.get("train_wall_s"), "cpu_s": report.get("train_cpu_s"),
                                **accuracies(report, args.feature, path)}
    if not rows:
        raise ConfigError(f"{args.run} holds no probe_*.json of a trained checkpoint; run scripts/probe_features.py "
                          f"on its checkpoints first")
    rows = [rows[s] for s in sorted(rows)]
    keys = [k for k in rows[-1] if k == "linear" or k.startswith("knn_cosine")]
    out = args.out or args.run / "probe_curve"
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    time_axis = (("cpu_s", "training CPU time (h; core-hours at one thread)") if all(r["cpu_s"] is not None for r in rows)
                 else ("wall_s", "training wall time (h of one process)"))
    for ax, x, label in ((axes[0], "epoch", "epochs done"), (axes[1], *time_axis)):
        usable = [r for r in rows if r[x] is not None]
        xs = [r[x] / 3600 if x != "epoch" else r[x] for r in usable]
        for i, key in enumerate(keys):
            line, = ax.plot(xs, [100 * r[key] for r in usable], marker="o", label=key)
            for j, (floor, values) in enumerate(floors.items()):
                if key in values:
                    ax.axhline(100 * values[key], color=line.get_color(), ls=("--", ":")[j % 2], lw=1,
                               label=f"{key}, {floor}" if x == "epoch" else None)
        ax.set_xlabel(label)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(f"CIFAR-10 test accuracy (%), {args.feature}")
    axes[0].legend(fontsize=7)
    fig.suptitle(f"{args.run.name}: probes of {args.feature}")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out.with_suffix(".png"), dpi=110)
    out.with_suffix(".json").write_text(json.dumps({"run": str(args.run), "feature": args.feature, "rows": rows,
                                                     "floors": floors}, indent=1) + "\n")
    print(out.with_suffix(".png"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
