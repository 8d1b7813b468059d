#!/usr/bin/env python3
"""The 2-d features of the center-loss demo of kexue.fm/archives/5765, without and with the center term.

    python scripts/center_loss_figure.py --center runs/center_loss_mnist \
        --no-center runs/center_loss_mnist_nocenter [--out docs/figures]

A codebase addition (docs/posts/1_callbacks_layers.md): the post trains the
784 -> Dense(2) -> CenterLossHead(10) demo but plots nothing. Each argument is a run folder (its best.pt, else
last.pt) or a checkpoint file of model ``center_loss_mlp`` or ``center_loss_cnn`` (LeNets++). Both models embed the whole test split of their
dataset (loaded as in training: data.root or $KEXUE_DATA); each panel scatters those 2-d features coloured by
true class and marks the class means of the features (o) and, where the center term was trained
(loss_weights.center > 0), the learned centres (x). Panels have their own axis scales: without the center term
the features spread over a far larger range. Titles give the run, update, λ and the test accuracy recomputed
here from the features. Written to --out: ``center_loss_features.png`` and ``center_loss_features.json``
(command, checkpoints, runs, steps, λ, test accuracy and cross-entropy).
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, never a display
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from engine.cli import user_errors_exit_2  # noqa: E402
from engine.runs import load_run  # noqa: E402
from errors import ConfigError  # noqa: E402

STEM = "center_loss_features"
CENTER_LOSS_MODELS = ("center_loss_mlp", "center_loss_cnn")  # the blog's linear feature; the paper's LeNets++


@torch.no_grad()
def embed(spec: str, batch_size: int = 1000) -> dict:
    run = load_run(spec, CENTER_LOSS_MODELS,
                   purpose=f"this figure needs one of {', '.join(CENTER_LOSS_MODELS)}")  # eval mode
    path, state, config, model = run.path, run.state, run.config, run.model
    if "test" not in run.dataset:  # loaded with the run's own data settings
        raise ConfigError(f"dataset {config['data']['name']!r} has no test split to embed")
    data = run.dataset["test"]
    feats, logits = [], []
    for i in range(0, len(data["x"]), batch_size):
        f = model.features(data["x"][i:i + batch_size])
        feats.append(f)
        logits.append(model.head(f))
    f, logits, y = torch.cat(feats), torch.cat(logits), data["y"]
    lam = float(state["loss_weights"].get("center", 1.0))
    return {"checkpoint": str(path), "model": config["model"]["name"], "run_name": config["train"]["run_name"],
            "step": state["progress"]["step"],
            "epochs_done": state["progress"]["epoch"], "lambda": lam, "n_test": len(y),
            "test_acc": float((logits.argmax(1) == y).float().mean()),
            "test_ce": float(F.cross_entropy(logits, y)),
            "features": f, "labels": y, "centers": model.head.centers.detach().clone()}


def panel(ax, run: dict) -> None:
    f, y = run["features"].numpy(), run["labels"].numpy()
    colours = plt.get_cmap("tab10")
    for k in range(int(y.max()) + 1):
        pts = f[y == k]
        ax.scatter(pts[:, 0], pts[:, 1], s=1.5, alpha=0.35, color=colours(k), linewidths=0, rasterized=True)
        mean = pts.mean(axis=0)
        ax.scatter(*mean, s=60, facecolors="white", edgecolors=colours(k), linewidths=1.5, zorder=3)
        ax.annotate(str(k), mean, xytext=(4, 4), textcoords="offset points", fontsize=9, weight="bold",
                    color=colours(k), zorder=4)
        # legend entries with visible markers
        ax.scatter([], [], s=20, color=colours(k), label=str(k))
    if run["lambda"] > 0:
        c = run["centers"].numpy()
        ax.scatter(c[:, 0], c[:, 1], marker="x", s=70, color="black", linewidths=1.8, zorder=5,
                   label="learned centre")
    ax.scatter([], [], s=50, facecolors="white", edgecolors="grey", label="class mean")
    ax.set_title(f"{run['run_name']}  (λ = {run['lambda']:g})\nupdate {run['step']}, "
                 f"test accuracy {100 * run['test_acc']:.2f}%", fontsize=10)
    ax.set_xlabel("feature 1")
    ax.set_ylabel("feature 2")
    ax.set_aspect("equal", adjustable="datalim")
    ax.legend(fontsize=7, markerscale=1.0, ncol=2, loc="best", framealpha=0.8)


@user_errors_exit_2
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--center", required=True, help="run folder or checkpoint trained with the center term")
    parser.add_argument("--no-center", required=True, help="run folder or checkpoint with loss_weights.center=0")
    parser.add_argument("--out", default="docs/figures", help="output folder (default docs/figures)")
    parser.add_argument("--stem", default=STEM, help=f"file name stem of the outputs (default {STEM})")
    args = parser.parse_args(argv)
    runs = {"no_center": embed(args.no_center), "center": embed(args.center)}
    fig, axes = plt.subplots(1, 2, figsize=(12, 6))
    for ax, run in zip(axes, runs.values()):
        panel(ax, run)
    model = "LeNets++" if runs["center"]["model"] == "center_loss_cnn" else "linear 784 -> 2"
    fig.suptitle(f"center-loss demo ({model} feature): 2-d features of the {runs['center']['n_test']:,} test "
                 f"digits, softmax only (left) and with the center loss (right)\n(a codebase addition: "
                 f"kexue.fm/archives/5765 trains this demo but plots nothing)", fontsize=10)
    fig.tight_layout()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    fig.savefig(out / f"{args.stem}.png", dpi=130)
    plt.close(fig)
    manifest = {
        "figure": f"{args.stem}.png",
        "command": "python scripts/center_loss_figure.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:])),
        "caption": "2-d test features of the center-loss demo, coloured by class; o = class means, "
                   "x = learned centres (only where the center term was trained); each panel has its own scale",
        "runs": {role: {k: v for k, v in run.items() if k not in ("features", "labels", "centers")}
                 for role, run in runs.items()},
    }
    (out / f"{args.stem}.json").write_text(json.dumps(manifest, indent=1) + "\n")
    for role, run in runs.items():
        print(f"{role}: {run['run_name']} update {run['step']} λ={run['lambda']:g} "
              f"test acc {run['test_acc']:.4f} test ce {run['test_ce']:.4f}", flush=True)
    print(f"wrote {out / (args.stem + '.png')}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
