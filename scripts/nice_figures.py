#!/usr/bin/env python3
"""NICE figures of kexue.fm/archives/5776 from finished runs (docs/posts/2_nice.md).

    python scripts/nice_figures.py --noise runs/nice_mnist_blog --no-noise runs/nice_mnist_blog_nonoise \
        [--standard runs/nice_mnist] [--out docs/figures] [--seed 0] [--temperature 0.75]

Each argument is a run folder (its best.pt, else last.pt) or a checkpoint file. Written to --out:

* ``<model>_samples_T<σ>.png`` for every model given: the post's 15×15 grid of 28×28 samples tiled with no
  gaps (420×420 px), x = f⁻¹(σ·z), clipped to [0, 1] and scaled by 255. z is drawn from a CPU generator
  seeded with --seed, so every model decodes the SAME z and the grids compare image by image (and match
  ``sample.py --checkpoint ... --seed 0 temperature=0.75`` on CPU).
* additions, not in the post, for one model (--extras-from, the noise model by default):
  ``<model>_temperatures.png``, rows at σ ∈ {0.5, 0.6, 0.75, 0.9, 1.0} decoded from one base z;
  ``<model>_prior_std.png``, the learned prior std 1/exp(a_i) per pixel on a log colour scale.
* ``nice_figures.json``: per figure the checkpoint, run name, update step, temperature, seed, a caption and
  the command line. Entries of figures not rewritten by this call are kept.
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, never a display
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from matplotlib.colors import LogNorm  # noqa: E402
from torchvision.utils import make_grid, save_image  # noqa: E402

from engine.cli import user_errors_exit_2  # noqa: E402
from engine.runs import load_run  # noqa: E402
from errors import ConfigError  # noqa: E402

GRID_SIDE = 15                                   # the post's 15 × 15 grid
STRIP_TEMPERATURES = (0.5, 0.6, 0.75, 0.9, 1.0)  # an addition (docs/posts/2_nice.md)
STRIP_LENGTH = 15                                # digits per temperature row
MANIFEST = "nice_figures.json"


@dataclass(frozen=True)
class Role:
    grid_stem: str    # file stem of the 15×15 grid
    extras_stem: str  # file stem of the additions (temperature strip, prior std)
    description: str


ROLES = {
    "noise": Role("nice_blog_noise", "nice_blog", "blog NICE trained with negative noise x − 0.01·U[0,1)"),
    "no_noise": Role("nice_blog_nonoise", "nice_blog_nonoise", "blog NICE trained without noise"),
    "standard": Role("nice_standard", "nice_standard", "standard NICE (dequantised, logistic prior)"),
}


@dataclass
class Loaded:
    role: str
    path: Path
    model: torch.nn.Module
    run_name: str
    step: int
    monitored: dict  # {"val/loss": best value} when the checkpoint callback recorded one


def load(role: str, spec: str) -> Loaded:
    # one read for weights and step, so both come from the same file even while a running job replaces best.pt
    run = load_run(spec, "nice", purpose="this script draws NICE figures")  # eval mode: no train noise
    monitor = run.config.get("callbacks", {}).get("checkpoint", {}).get("monitor")
    best = run.callback_state("checkpoint").get("best")
    return Loaded(role, run.path, run.model, run.run_name, run.step,
                  {monitor: best} if monitor and best is not None else {})


@torch.no_grad()
def decode(model, n: int, seed: int, temperature: float) -> torch.Tensor:
    """n images (n, C, H, W) in [0, 1] from z = temperature · (prior sample of a CPU generator seeded with
    ``seed``): the same seed and n give the same z for every model with the same prior."""
    generator = torch.Generator().manual_seed(seed)
    return model.sample(n, generator=generator, temperature=temperature).float().cpu()


def temperature_tag(t: float) -> str:
    return f"T{t:g}"


def provenance(item: Loaded) -> str:
    metric = "".join(f", {k} {v:.1f}" for k, v in item.monitored.items())
    return f"run {item.run_name}, {item.path.name} at step {item.step}{metric}"


def write_grid(item: Loaded, out_dir: Path, seed: int, temperature: float) -> tuple[Path, str]:
    images = decode(item.model, GRID_SIDE * GRID_SIDE, seed, temperature)
    path = out_dir / f"{ROLES[item.role].grid_stem}_samples_{temperature_tag(temperature)}.png"
    save_image(images, path, nrow=GRID_SIDE, padding=0)  # no gaps: 15·28 = 420 px square
    caption = (f"{GRID_SIDE}×{GRID_SIDE} samples of the {ROLES[item.role].description} ({provenance(item)}), "
               f"temperature σ = {temperature:g}, z seed {seed} (the same z for every model of this command)")
    return path, caption


def write_temperature_strip(item: Loaded, out_dir: Path, seed: int) -> tuple[Path, str]:
    rows = [make_grid(decode(item.model, STRIP_LENGTH, seed, t), nrow=STRIP_LENGTH, padding=0)[0]
            for t in STRIP_TEMPERATURES]  # each (H, STRIP_LENGTH·W); the same base z in every row
    height, width = rows[0].shape
    fig, axes = plt.subplots(len(rows), 1, figsize=(width / 50, len(rows) * height / 50 + 0.9))
    for ax, t, row in zip(axes, STRIP_TEMPERATURES, rows):
        ax.imshow(row.numpy(), cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_ylabel(f"σ = {t:g}", rotation=0, ha="right", va="center", fontsize=11)
    fig.suptitle(f"Addition (not in the post): temperature σ, one base z (seed {seed})\n{provenance(item)}",
                 fontsize=10)
    path = out_dir / f"{ROLES[item.role].extras_stem}_temperatures.png"
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    caption = (f"Addition, not in the post: samples of the {ROLES[item.role].description} ({provenance(item)}) "
               f"at σ ∈ {{{', '.join(f'{t:g}' for t in STRIP_TEMPERATURES)}}}, each row decoded from the same "
               f"{STRIP_LENGTH} base z (seed {seed})")
    return path, caption


def write_prior_std(item: Loaded, out_dir: Path) -> tuple[Path, str] | None:
    model = item.model
    if model.log_scale is None:
        print(f"note: {item.path} has no scaling layer (model.scaling=false); no prior-std map", flush=True)
        return None
    std = (-model.log_scale.detach().float().cpu()).exp()  # prior std of z_i = 1/exp(a_i)
    # Additive couplings keep every value at its position and each block reverses the order once, so latent
    # i sits at pixel i after an even number of blocks and at pixel D−1−i after an odd number.
    if len(model.couplings) % 2:
        std = std.flip(0)
    channels, height, width = model.image_shape
    image = std.reshape(channels, height, width).permute(1, 0, 2).reshape(height, channels * width)
    fig, ax = plt.subplots(figsize=(5.2, 4.4))
    shown = ax.imshow(image.numpy(), cmap="viridis", norm=LogNorm(), interpolation="nearest")
    fig.colorbar(shown, ax=ax, label="prior std 1/exp(a_i) (log scale)")
    ax.set_xticks([])
    ax.set_yticks([])
    label = "std" if model.prior == "gaussian" else "scale"
    ax.set_title(f"Addition (not in the post): learned prior {label} per pixel\n"
                 f"min {std.min():.2g}, median {std.median():.2g}, max {std.max():.2g}; {item.run_name} "
                 f"step {item.step}", fontsize=9)
    path = out_dir / f"{ROLES[item.role].extras_stem}_prior_std.png"
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    caption = (f"Addition, not in the post: the learned prior {label} 1/exp(a_i) of each latent dimension at its "
               f"pixel, log colour scale, {ROLES[item.role].description} ({provenance(item)}). Tiny values "
               f"are the post's wasted dimensions (维度浪费), expected at the always-black border.")
    return path, caption


def update_manifest(out_dir: Path, entries: dict[str, dict]) -> Path:
    """Merge ``entries`` (keyed by file name) into the manifest; other figures' entries stay."""
    path = out_dir / MANIFEST
    manifest = json.loads(path.read_text()) if path.is_file() else {}
    figures = manifest.get("figures", {})
    figures.update(entries)
    manifest = {"about": "NICE figures (kexue.fm/archives/5776), written by scripts/nice_figures.py",
                "figures": dict(sorted(figures.items()))}
    path.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    return path


@user_errors_exit_2
def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--noise", help="run folder or checkpoint: blog model trained with negative noise")
    parser.add_argument("--no-noise", dest="no_noise", help="run folder or checkpoint: blog model, no noise")
    parser.add_argument("--standard", help="run folder or checkpoint: configs/nice_mnist.yaml (grid only)")
    parser.add_argument("--out", default="docs/figures", help="output folder (default docs/figures)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the base noise z (default 0)")
    parser.add_argument("--temperature", type=float, default=0.75, help="σ of the grids (post: 0.75)")
    parser.add_argument("--extras-from", dest="extras_from", choices=sorted(ROLES),
                        help="model of the temperature strip and prior-std map (default: noise, else the "
                             "first given)")
    parser.add_argument("--threads", type=int, help="torch.set_num_threads (default: torch's)")
    args = parser.parse_args(argv)
    specs = {role: getattr(args, role) for role in ROLES if getattr(args, role)}
    if not specs:
        raise ConfigError("give at least one of --noise, --no-noise, --standard (a run folder or a .pt file)")
    if args.temperature <= 0:
        raise ConfigError(f"--temperature must be positive, got {args.temperature}")
    extras_from = args.extras_from or ("noise" if "noise" in specs else next(iter(specs)))
    if extras_from not in specs:
        raise ConfigError(f"--extras-from {extras_from}: give that model too (--{extras_from.replace('_', '-')})")
    if args.threads:
        torch.set_num_threads(args.threads)

    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    command = "python scripts/nice_figures.py " + shlex.join(argv)
    entries = {}
    for role, spec in specs.items():
        item = load(role, spec)
        written = [(write_grid(item, out_dir, args.seed, args.temperature), args.temperature, False)]
        if role == extras_from:
            written.append((write_temperature_strip(item, out_dir, args.seed), list(STRIP_TEMPERATURES), True))
            prior_std = write_prior_std(item, out_dir)
            if prior_std is not None:
                written.append((prior_std, None, True))
        for (path, caption), temperature, addition in written:
            entries[path.name] = {"caption": caption, "model": role, "checkpoint": str(item.path),
                                  "run_name": item.run_name, "step": item.step,
                                  "checkpoint_metric": item.monitored, "temperature": temperature,
                                  "seed": args.seed, "addition_not_in_post": addition, "command": command}
            print(path, flush=True)
        del item  # one 19M-parameter model in memory at a time
    print(update_manifest(out_dir, entries), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
