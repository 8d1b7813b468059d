#!/usr/bin/env python3
"""Figures and scores of a finished clustering-VAE run (kexue.fm/archives/5887; docs/posts/3_cluster_vae.md).

    python scripts/cluster_vae_figures.py RUN [--tag mnist] [--out docs/figures] [--seed 0]

RUN is a run folder (its last.pt: the blog keeps the final weights) or a checkpoint file of model
``cluster_vae``. The data is loaded as in training (data.root or $KEXUE_DATA). Written to --out:

* ``cluster_vae_<tag>_members_<i>.png``, i = 0..K−1: the code's "cluster i" figure, an 8×8 grid (224×224 px)
  of random TEST images assigned to cluster i (argmax_y p(y|μ(x))), fewer when the cluster is smaller;
* ``cluster_vae_<tag>_samples_<i>.png``: the code's "samples of class i", 8×8 decodings of z = μ_i + ε;
* ``cluster_vae_<tag>_overview.png`` (an addition, not in the post): one row per cluster, ordered by the label
  the Hungarian mapping gives it, 8 members left and 8 samples right, with the cluster's size and purity, and
  the test confusion matrix (clusters × labels);
* ``cluster_vae_<tag>.json``: the command, checkpoint, step, and Hungarian accuracy, purity (the blog's
  accuracy), NMI, ARI and cluster sizes on the train and test splits, plus the test contingency table.

Images are chosen with a CPU generator seeded with --seed, so the figures are reproducible.
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
from torchvision.utils import make_grid, save_image  # noqa: E402

from data.loader import InMemoryLoader  # noqa: E402
from engine.cli import user_errors_exit_2  # noqa: E402
from engine.runs import load_run  # noqa: E402
from errors import ConfigError  # noqa: E402
from metrics.clustering import assignments, clustering_report, contingency, hungarian_mapping  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SIDE = 8  # the code's 8 × 8 grids


def members(x: torch.Tensor, ids: torch.Tensor, cluster: int, n: int, generator: torch.Generator) -> torch.Tensor:
    """Up to n random images (float, [0, 1]) of ``x`` assigned to ``cluster``."""
    index = torch.nonzero(ids == cluster).flatten()
    index = index[torch.randperm(len(index), generator=generator)[:n]]
    return x[index].float() / 255.0


def pad_to(images: torch.Tensor, n: int, shape) -> torch.Tensor:
    """Fill a short grid with black images, so every grid has the same layout."""
    if len(images) >= n:
        return images
    return torch.cat([images, torch.zeros(n - len(images), *shape)])


def overview(path: Path, rows: list[dict], table, title: str) -> None:
    fig = plt.figure(figsize=(15, 0.62 * len(rows) + 1.0))
    grid = fig.add_gridspec(len(rows), 3, width_ratios=[8, 8, 5], wspace=0.05, hspace=0.12)
    for r, row in enumerate(rows):
        for c, key in enumerate(("members", "samples")):
            ax = fig.add_subplot(grid[r, c])
            ax.imshow(make_grid(row[key], nrow=SIDE, padding=1, pad_value=1.0)[0].numpy(), cmap="gray",
                      vmin=0, vmax=1, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(f"cluster {row['cluster']}\n→ label {row['label']}\n{row['size']} imgs, "
                              f"{row['purity']:.0%}", rotation=0, ha="right", va="center", fontsize=8)
            if r == 0:
                ax.set_title("test images assigned to the cluster" if c == 0 else "decoded z = μ_y + ε", fontsize=10)
    ax = fig.add_subplot(grid[:, 2])
    order = [row["cluster"] for row in rows]
    ax.imshow(table[order], cmap="Blues", aspect="auto")
    for i, cluster in enumerate(order):
        for j in range(table.shape[1]):
            if table[cluster, j]:
                ax.text(j, i, str(table[cluster, j]), ha="center", va="center", fontsize=6,
                        color="white" if table[cluster, j] > table.max() / 2 else "black")
    ax.set_yticks(range(len(order)), [f"c{c}" for c in order], fontsize=8)
    ax.set_xticks(range(table.shape[1]), range(table.shape[1]), fontsize=8)
    ax.set_xlabel("true label")
    ax.set_title("test confusion (cluster × label)", fontsize=10)
    fig.suptitle(title, fontsize=10)
    fig.savefig(path, dpi=80, bbox_inches="tight")
    plt.close(fig)


@user_errors_exit_2
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="run folder (its last.pt) or checkpoint file of a cluster_vae run")
    parser.add_argument("--tag", default=None, help="file-name tag (default: the run's dataset name)")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "figures")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    run = load_run(args.run, "cluster_vae", prefer=("last.pt",), purpose="this script draws cluster_vae figures")
    path, state, config, model, splits = run.path, run.state, run.config, run.model, run.dataset
    if "test" not in splits:
        raise ConfigError(f"dataset {config['data']['name']!r} has no test split to cluster")
    tag = args.tag or config["data"]["name"]
    args.out.mkdir(parents=True, exist_ok=True)
    step = run.step

    scores, ids = {}, {}
    for split in ("train", "test"):
        ids[split], labels = assignments(model, InMemoryLoader(splits[split], 1000).batches())
        scores[split] = clustering_report(ids[split], labels, model.clusters)
        scores[split]["sizes"] = torch.bincount(ids[split], minlength=model.clusters).tolist()
    table = contingency(ids["test"], splits["test"]["y"], model.clusters)
    mapping = hungarian_mapping(ids["test"], splits["test"]["y"])

    g = torch.Generator().manual_seed(args.seed)
    shape = splits["test"]["x"].shape[1:]
    rows, files = [], []
    for i in range(model.clusters):
        mem = members(splits["test"]["x"], ids["test"], i, SIDE * SIDE, g)
        samples = model.sample(SIDE * SIDE, generator=g, cluster=i).float()
        for kind, images in (("members", mem), ("samples", samples)):
            file = args.out / f"cluster_vae_{tag}_{kind}_{i}.png"
            save_image(pad_to(images, SIDE * SIDE, shape), file, nrow=SIDE, padding=0)
            files.append(file.name)
        size = int(table[i].sum())
        rows.append({"cluster": i, "label": mapping.get(i, "-"), "size": size,
                     "purity": table[i].max() / size if size else 0.0,
                     "members": pad_to(mem[:SIDE], SIDE, shape), "samples": samples[:SIDE]})
    rows.sort(key=lambda r: (r["label"] if isinstance(r["label"], int) else 99, r["cluster"]))
    te = scores["test"]
    title = (f"{config['train']['run_name']} ({tag}), update {step}: test Hungarian acc {te['acc']:.3f}, "
             f"purity (blog's acc) {te['purity']:.3f}, NMI {te['nmi']:.3f}  (a codebase addition)")
    overview(args.out / f"cluster_vae_{tag}_overview.png", rows, table, title)
    files.append(f"cluster_vae_{tag}_overview.png")

    manifest = {"command": "python scripts/cluster_vae_figures.py " + shlex.join(sys.argv[1:] if argv is None else argv),
                "checkpoint": str(path), "run_name": config["train"]["run_name"], "step": step,
                "epochs_done": int(state["progress"]["epoch"]), "seed": args.seed, "loss": config["model"]["loss"],
                "scores": scores, "test_contingency": table.tolist(),
                "hungarian_mapping": {str(k): v for k, v in mapping.items()}, "files": files}
    (args.out / f"cluster_vae_{tag}.json").write_text(json.dumps(manifest, indent=1))
    for split in ("train", "test"):
        s = scores[split]
        print(f"{split}: Hungarian acc {s['acc']:.4f} purity {s['purity']:.4f} NMI {s['nmi']:.4f} "
              f"ARI {s['ari']:.4f} empty clusters {int(s['empty'])}")
    print(f"wrote {len(files)} figures and cluster_vae_{tag}.json to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
