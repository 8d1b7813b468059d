#!/usr/bin/env python3
"""Regenerate a figure or table of docs/RESULTS.md: train the runs it needs that are missing, then draw it.

    python scripts/reproduce.py --list                          # the targets, one line each
    python scripts/reproduce.py nice [center_loss ...]          # full runs under runs/, figures to docs/figures/
    python scripts/reproduce.py all --quick                     # every figure from short runs (< 30 min, 2 cores)
    python scripts/reproduce.py all --quick --dry-run           # print every command, run nothing
    python scripts/reproduce.py nice --runs-dir ../runs         # use (and complete) the runs already made there
    python scripts/reproduce.py nice_gap --run nice_mnist_blog=../runs/nice_mnist_blog   # this run, no training

A target is an ordered list of steps (the TARGETS table below, plain data: extend it there). A step is

* a training run, named by a key of RUNS: ``train.py --config C <args> train.out_dir=<runs-dir>
  train.run_name=<name>``. It is skipped when ``<runs-dir>/<name>`` holds a finished run (results.json whose
  epoch / step reached the step's train.epochs / train.max_steps; a run stopped with Ctrl-C also writes
  results.json, and is resumed), continued with ``--resume auto`` when the folder holds a last.pt, trained
  otherwise. ``--run NAME=PATH`` uses the finished run folder PATH instead (never trained or resumed).
  The output is tee'd to ``<run folder>/train.log``;
* a script (``{"script": "scripts/x.py", "args": [...]}``), run with this interpreter from the repository
  root, its output tee'd to ``<runs-dir>/_logs/<target>/<NN>_<script>.log``, and its stdout also written to
  the file ``stdout`` names, when it names one (JSON lines, markdown tables);
* a copy of a file a script wrote into a run folder (``{"copy": SRC, "to": DST}``), next to the figures.

In the arguments, ``{runs}`` is the runs folder, ``{fig}`` the figure folder and ``{run:NAME}`` the folder of
run NAME. Run names are shared between targets (``all`` trains each run once).

``--quick`` appends each step's ``quick`` overrides (few updates, a few thousand training images, small
evaluation and probe sets), puts the runs under runs_quick/ and the figures under docs/figures/quick/ (the
real figures in docs/figures/ are never written), and leaves a QUICK.md in both folders saying that these come
from short runs: they check the pipeline, not the numbers. ``budget`` is the estimated seconds of a step in
quick mode on a quiet 2-core machine, ``full_budget`` in full mode (from the wall times in docs/RESULTS.md
where there is one); the total of the steps to run is printed before starting.

Data: the children find their datasets as train.py does (data.root, else $KEXUE_DATA, else
~/.cache/kexue-torch/data); ``--set data.root=DIR`` passes a key to every training run. A target whose data
is missing fails with the dataset's own one-line error. A failing step stops everything with a message naming
the step and its log file (``--keep-going``: go on with the targets that do not need the failed run) and the
exit code of the step. An unknown target or a bad argument: one line on stderr, exit code 2.
"""
from __future__ import annotations

import argparse
import importlib
import datetime
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# ============================================================================================ the table
# Quick-mode overrides of the training runs. data.limit_train / data.limit_eval cut the splits (after the
# holdout split, if any); the budgets assume these.
Q_NICE = ["train.epochs=1", "data.limit_train=5120", "data.limit_eval=1000"]              # 40 updates
Q_CVAE = ["train.epochs=1", "data.limit_train=3000", "data.limit_eval=1000"]              # 30 updates
Q_CENTER = ["train.epochs=1", "data.limit_train=6400", "data.limit_eval=1000"]            # 200 tiny updates
Q_S2S = ["train.epochs=1", "data.limit_train=640", "data.limit_eval=64"]                  # 10 updates
Q_INFOMAX = ["train.epochs=1", "data.limit_train=1280", "data.limit_eval=500"]            # 20 updates
Q_CLASSIFIER = ["train.epochs=1", "data.limit_train=2560", "data.limit_eval=500"]         # 20 updates
Q_GAN = ["train.max_steps=24", "train.checkpoint_every=12", "callbacks.checkpoint.snapshot_every=12",
         "callbacks.samples.every_steps=12", "data.limit_train=1536", "data.limit_eval=500"]  # 4 iterations

# Training runs, by run name: config, full-mode overrides (as in docs/RESULTS.md), quick overrides appended in
# quick mode, budget (seconds, quick) and full_budget (seconds, full).
RUNS = {
    "nice_mnist_blog": {"config": "configs/nice_mnist_blog.yaml", "args": ["train.epochs=14"],
                        "quick": Q_NICE, "budget": 40, "full_budget": 3500},
    # RESULTS: 10 epochs, then resumed to 16 (constant lr: the same as 16 in one go)
    "nice_mnist_blog_nonoise": {"config": "configs/nice_mnist_blog.yaml",
                                "args": ["model.train_noise=none", "train.epochs=16"],
                                "quick": Q_NICE, "budget": 40, "full_budget": 4250},
    # RESULTS: stopped at epoch 15 and resumed to 24
    "nice_mnist": {"config": "configs/nice_mnist.yaml", "args": ["train.epochs=24"],
                   "quick": Q_NICE, "budget": 40, "full_budget": 5600},
    "cluster_vae_mnist": {"config": "configs/cluster_vae_mnist.yaml", "args": [],
                          "quick": Q_CVAE, "budget": 35, "full_budget": 6600},
    "cluster_vae_fashion": {"config": "configs/cluster_vae_fashion.yaml", "args": [],
                            "quick": Q_CVAE, "budget": 35, "full_budget": 6500},
    "cluster_vae_mnist_sep_seed0": {"config": "configs/cluster_vae_mnist_sep.yaml",
                                    "args": ["train.epochs=15", "train.seed=0"],
                                    "quick": Q_CVAE, "budget": 35, "full_budget": 1900},
    "center_loss_mnist": {"config": "configs/center_loss_mnist.yaml", "args": [],
                          "quick": Q_CENTER, "budget": 15, "full_budget": 60},
    "center_loss_mnist_nocenter": {"config": "configs/center_loss_mnist.yaml", "args": ["loss_weights.center=0"],
                                   "quick": Q_CENTER, "budget": 15, "full_budget": 60},
    "seq2seq_lcsts": {"config": "configs/seq2seq_lcsts.yaml", "args": [],
                      "quick": Q_S2S, "budget": 30, "full_budget": 1800},
    "seq2seq_lcsts_nocopy": {"config": "configs/seq2seq_lcsts.yaml", "args": ["model.copy_prior=false"],
                             "quick": Q_S2S, "budget": 30, "full_budget": 1800},
    # RESULTS: 10 epochs in 91 min beside other jobs
    "infomax_cifar10": {"config": "configs/infomax_cifar10.yaml", "args": ["train.epochs=10"],
                        "quick": Q_INFOMAX, "budget": 40, "full_budget": 5500},
    # two augmented views: each step encodes the batch twice (about 7 min per epoch on one thread)
    "infomax_cifar10_views2": {"config": "configs/infomax_cifar10_views2.yaml", "args": ["train.epochs=10"],
                               "quick": Q_INFOMAX, "budget": 60, "full_budget": 5000},
    # the feature extractor of the classifier Fréchet distance, and the unregularised arm of the regulariser table
    "fd_classifier_cifar10": {"config": "configs/classifier_cifar10.yaml", "args": [],
                              "quick": Q_CLASSIFIER, "budget": 30, "full_budget": 3600},
    # 5e-4 collapsed to chance with Adam (docs/RESULTS.md, post 8); 5e-5 trains
    "classifier_cifar10_l2": {"config": "configs/classifier_cifar10.yaml",
                              "args": ["model.regularizer=l2", "loss_weights.l2=5.0e-5"],
                              "quick": Q_CLASSIFIER, "budget": 30, "full_budget": 3600},
    "classifier_cifar10_spectral": {"config": "configs/classifier_cifar10.yaml",
                                    "args": ["model.regularizer=spectral", "loss_weights.spectral=1.0e-2"],
                                    "quick": Q_CLASSIFIER, "budget": 35, "full_budget": 4500},
    # 60,000 updates; critic steps of 0.6 s (SN), 0.9 s (GP), 0.45 s (projection) measured by bench/gan_step.py
    "gan_cifar10_sn": {"config": "configs/gan_cifar10_sn.yaml", "args": [],
                       "quick": Q_GAN, "budget": 40, "full_budget": 37000},
    "gan_cifar10_gp": {"config": "configs/gan_cifar10_gp.yaml", "args": [],
                       "quick": Q_GAN, "budget": 50, "full_budget": 56000},
    "gan_cifar10_sn_projection": {"config": "configs/gan_cifar10_sn_projection.yaml", "args": [],
                                  "quick": Q_GAN, "budget": 35, "full_budget": 27000},
}

CVAE_METRICS = ["val/clustering_acc", "val/clustering_purity", "val/clustering_nmi", "val/clustering_ari"]

# Targets: one per figure or table of docs/RESULTS.md. Steps: {"train": RUN} | {"script": PATH, "args": [...],
# "quick": [...applied in quick mode: an option already in args is replaced, others appended], "stdout": FILE, "train_overrides": [...] (the script passes trailing
# key=value overrides to train.py: written after "--", quick_train_overrides and --set appended), "budget",
# "full_budget"} | {"copy": SRC, "to": DST}.
TARGETS = {
    "nice": {
        "about": "post 2: NICE sample grids with/without noise, temperature strips, prior std, standard NICE "
                 "(grid + test NLL of best.pt), run tables",
        "steps": [
            {"train": "nice_mnist_blog"},
            {"train": "nice_mnist_blog_nonoise"},
            {"train": "nice_mnist"},
            {"script": "scripts/nice_figures.py", "args": ["--noise", "{run:nice_mnist_blog}", "--no-noise",
                                                           "{run:nice_mnist_blog_nonoise}", "--out", "{fig}"],
             "budget": 25, "full_budget": 60},
            # a second call, as docs/figures/nice_figures.json records: the standard model's own strip and prior std
            {"script": "scripts/nice_figures.py", "args": ["--standard", "{run:nice_mnist}", "--out", "{fig}"],
             "budget": 15, "full_budget": 30},
            {"script": "evaluate.py", "args": ["--checkpoint", "{run:nice_mnist}/best.pt", "--split", "test"],
             "stdout": "{fig}/nice_mnist_best_test.json", "budget": 15, "full_budget": 60},
            {"script": "scripts/run_report.py",
             "args": ["{run:nice_mnist_blog}", "{run:nice_mnist_blog_nonoise}", "{run:nice_mnist}"],
             "stdout": "{fig}/nice_runs.md", "budget": 3, "full_budget": 3},
        ],
    },
    "nice_gap": {
        "about": "post 2: the gap to the blog's -2200 (scripts/nice_gap.py: clean/noisy loss, scale vector) as JSON lines",
        "steps": [
            {"train": "nice_mnist_blog"},
            {"train": "nice_mnist_blog_nonoise"},
            {"script": "scripts/nice_gap.py", "args": ["{run:nice_mnist_blog}", "{run:nice_mnist_blog_nonoise}"],
             "stdout": "{fig}/nice_gap.jsonl", "budget": 20, "full_budget": 120},
        ],
    },
    "cluster_vae_mnist": {
        "about": "post 3: clustering-VAE members/samples grids, overview and scores on MNIST, run table",
        "steps": [
            {"train": "cluster_vae_mnist"},
            {"script": "scripts/cluster_vae_figures.py", "args": ["{run:cluster_vae_mnist}", "--out", "{fig}"],
             "budget": 45, "full_budget": 90},
            {"script": "scripts/run_report.py", "args": ["{run:cluster_vae_mnist}", "--curve", "val/clustering_purity"],
             "stdout": "{fig}/cluster_vae_mnist_runs.md", "budget": 3, "full_budget": 3},
        ],
    },
    "cluster_vae_fashion": {
        "about": "post 3: clustering-VAE members/samples grids, overview and scores on Fashion-MNIST, run table",
        "steps": [
            {"train": "cluster_vae_fashion"},
            {"script": "scripts/cluster_vae_figures.py", "args": ["{run:cluster_vae_fashion}", "--out", "{fig}"],
             "budget": 45, "full_budget": 90},
            {"script": "scripts/run_report.py", "args": ["{run:cluster_vae_fashion}", "--curve", "val/clustering_purity"],
             "stdout": "{fig}/cluster_vae_fashion_runs.md", "budget": 3, "full_budget": 3},
        ],
    },
    "cluster_vae_seeds": {
        "about": "post 3: the five-seed table on MNIST (15 epochs per seed; scripts/seed_sweep.py)",
        "steps": [
            {"script": "scripts/seed_sweep.py",
             "args": ["--config", "configs/cluster_vae_mnist.yaml", "--seeds", "0", "1", "2", "3", "4",
                      "--out-dir", "{runs}/sweep", "--metrics", *CVAE_METRICS],
             "quick": ["--seeds", "0", "1"],
             "train_overrides": ["train.epochs=15"], "quick_train_overrides": Q_CVAE,
             "budget": 75, "full_budget": 8500},
            {"copy": "{runs}/sweep/cluster_vae_mnist_sweep.json", "to": "{fig}/cluster_vae_mnist_sweep.json"},
        ],
    },
    "cluster_vae_september": {
        "about": "post 3: the September loss variant, seed 0, 15 epochs (run table and final scores)",
        "steps": [
            {"train": "cluster_vae_mnist_sep_seed0"},
            {"script": "scripts/run_report.py",
             "args": ["{run:cluster_vae_mnist_sep_seed0}", "--curve", "val/clustering_purity"],
             "stdout": "{fig}/cluster_vae_mnist_sep_runs.md", "budget": 3, "full_budget": 3},
            {"copy": "{run:cluster_vae_mnist_sep_seed0}/results.json",
             "to": "{fig}/cluster_vae_mnist_sep_seed0_results.json"},
        ],
    },
    "center_loss": {
        "about": "post 1: 2-d features of the center-loss demo with and without the center term, run tables",
        "steps": [
            {"train": "center_loss_mnist"},
            {"train": "center_loss_mnist_nocenter"},
            {"script": "scripts/center_loss_figure.py",
             "args": ["--center", "{run:center_loss_mnist}", "--no-center", "{run:center_loss_mnist_nocenter}",
                      "--out", "{fig}"],
             "budget": 15, "full_budget": 20},
            {"script": "scripts/run_report.py", "args": ["{run:center_loss_mnist}", "{run:center_loss_mnist_nocenter}"],
             "stdout": "{fig}/center_loss_runs.md", "budget": 3, "full_budget": 3},
        ],
    },
    "dynamics": {
        "about": "posts 5 and 7: optimizer trajectories, Heun vs Euler error, Heun vs SGD budget, MNIST losses "
                 "(no training run; embedded MNIST sample)",
        "steps": [
            {"script": "scripts/dynamics_figures.py", "args": ["--out", "{fig}"],
             "quick": ["--rosenbrock-steps", "300", "--regression-epochs", "5", "--regression-samples", "512",
                       "--mnist-epochs", "1", "--mnist-train", "1000", "--mnist-test", "500"],
             "budget": 20, "full_budget": 60},
        ],
    },
    "seq2seq": {
        "about": "post 4: title_eval table on LCSTS test (ROUGE-1/2/L, Lead, beam 3 and greedy), copy prior on/off",
        "steps": [
            {"train": "seq2seq_lcsts"},
            {"train": "seq2seq_lcsts_nocopy"},
            {"script": "scripts/title_eval.py", "args": ["--checkpoint", "{run:seq2seq_lcsts}/best.pt", "--beams", "3", "1"],
             "quick": ["--max-len", "16", "--examples", "3"], "budget": 45, "full_budget": 120},
            {"copy": "{run:seq2seq_lcsts}/title_eval_lcsts_test.json", "to": "{fig}/title_eval_seq2seq_lcsts.json"},
            {"copy": "{run:seq2seq_lcsts}/title_eval_lcsts_test_examples.md",
             "to": "{fig}/title_eval_seq2seq_lcsts_examples.md"},
            {"script": "scripts/title_eval.py",
             "args": ["--checkpoint", "{run:seq2seq_lcsts_nocopy}/best.pt", "--beams", "3", "1"],
             "quick": ["--max-len", "16", "--examples", "3"], "budget": 45, "full_budget": 120},
            {"copy": "{run:seq2seq_lcsts_nocopy}/title_eval_lcsts_test.json",
             "to": "{fig}/title_eval_seq2seq_lcsts_nocopy.json"},
            {"script": "scripts/run_report.py", "args": ["{run:seq2seq_lcsts}", "{run:seq2seq_lcsts_nocopy}"],
             "stdout": "{fig}/seq2seq_runs.md", "budget": 3, "full_budget": 3},
        ],
    },
    "infomax": {
        "about": "post 6: Deep INFOMAX on CIFAR-10 (the blog's model and the two-view variant), k-NN/linear "
                 "probes (trained and random-init floor) and retrieval grids",
        "steps": [
            {"train": "infomax_cifar10"},
            {"script": "scripts/probe_features.py", "args": ["{run:infomax_cifar10}"],
             "quick": ["--limit-train", "2000", "--features", "z_mean"], "budget": 45, "full_budget": 600},
            {"copy": "{run:infomax_cifar10}/probe_last.json", "to": "{fig}/infomax_cifar10_probe_last.json"},
            {"script": "scripts/probe_features.py", "args": ["{run:infomax_cifar10}", "--random-init"],
             "quick": ["--limit-train", "2000", "--features", "z_mean"], "budget": 45, "full_budget": 600},
            {"copy": "{run:infomax_cifar10}/probe_random.json", "to": "{fig}/infomax_cifar10_probe_random.json"},
            {"script": "scripts/infomax_retrieval.py", "args": ["{run:infomax_cifar10}", "--out", "{fig}"],
             "budget": 150, "full_budget": 300},
            {"train": "infomax_cifar10_views2"},
            {"script": "scripts/probe_features.py", "args": ["{run:infomax_cifar10_views2}"],
             "quick": ["--limit-train", "2000", "--features", "z_mean"], "budget": 45, "full_budget": 600},
            {"copy": "{run:infomax_cifar10_views2}/probe_last.json",
             "to": "{fig}/infomax_cifar10_views2_probe_last.json"},
            {"script": "scripts/infomax_retrieval.py",
             "args": ["{run:infomax_cifar10_views2}", "--tag", "cifar10_views2", "--out", "{fig}"],
             "budget": 150, "full_budget": 300},
        ],
    },
    "gan_fd": {
        "about": "post 8: classifier Fréchet distance against iterations and wall time for SN, GP and the "
                 "projection variant (needs the classifier run and the three GAN runs)",
        "steps": [
            {"train": "fd_classifier_cifar10"},
            {"train": "gan_cifar10_sn"},
            {"train": "gan_cifar10_gp"},
            {"train": "gan_cifar10_sn_projection"},
            {"script": "scripts/gan_fd.py",
             "args": ["{run:gan_cifar10_sn}", "{run:gan_cifar10_gp}", "{run:gan_cifar10_sn_projection}",
                      "--classifier", "{run:fd_classifier_cifar10}", "--out", "{fig}/gan_fd"],
             "quick": ["--n", "500"], "budget": 60, "full_budget": 1500},
        ],
    },
    "classifier_regularisers": {
        "about": "post 8: CIFAR-10 classifier without / with L2 (Frobenius) / spectral regulariser: accuracy and "
                 "Lipschitz-product tables",
        "steps": [
            {"train": "fd_classifier_cifar10"},
            {"train": "classifier_cifar10_l2"},
            {"train": "classifier_cifar10_spectral"},
            {"script": "scripts/run_report.py",
             "args": ["{run:fd_classifier_cifar10}", "{run:classifier_cifar10_l2}", "{run:classifier_cifar10_spectral}",
                      "--curve", "val/acc"],
             "stdout": "{fig}/classifier_regularisers_acc.md", "budget": 3, "full_budget": 3},
            {"script": "scripts/run_report.py",
             "args": ["{run:fd_classifier_cifar10}", "{run:classifier_cifar10_l2}", "{run:classifier_cifar10_spectral}",
                      "--curve", "val/lipschitz_product"],
             "stdout": "{fig}/classifier_regularisers_lipschitz.md", "budget": 3, "full_budget": 3},
        ],
    },
}

QUICK_BUDGET_LIMIT = 30 * 60   # `all --quick` must fit this on 2 cores (the sum of the quick budgets is checked)
FULL_RUNS, QUICK_RUNS = REPO / "runs", REPO / "runs_quick"
FULL_FIGURES, QUICK_FIGURES = REPO / "docs" / "figures", REPO / "docs" / "figures" / "quick"
QUICK_NOTE = """# Quick outputs: for checking the pipeline, not for the numbers

Everything in this folder comes from `python scripts/reproduce.py ... --quick`: short training runs (a few dozen
updates on a few thousand training images, small evaluation and probe sets). The per-step overrides are in the
TARGETS and RUNS tables of scripts/reproduce.py, and `python scripts/reproduce.py all --quick --dry-run` prints
every command. These files show that each path from data to figure runs; their numbers and images are not
results. The real figures are in docs/figures/, the numbers in docs/RESULTS.md, both from full runs.

Invocations:
"""
PLACEHOLDER = re.compile(r"\{(runs|fig|run:([A-Za-z0-9_.-]+))\}")


class UsageError(Exception):
    """A bad argument or table entry: one line on stderr, exit code 2."""


# ========================================================================================== planning
@dataclass
class Step:
    target: str
    index: int                      # 1-based within the target
    count: int                      # steps in the target
    kind: str                       # train | script | copy
    label: str
    argv: list[str] = field(default_factory=list)
    status: str = "run"             # run | resume | skip | given | above | copy
    note: str = ""
    budget: float = 0.0             # seconds in this mode (0 when nothing runs)
    log: Path | None = None
    capture: Path | None = None
    copy: tuple[Path, Path] | None = None
    run_name: str | None = None
    needs: tuple[str, ...] = ()     # run names this step reads


def show(path: Path) -> str:
    """A path as commands print it: relative to the repository root (their cwd) when inside it."""
    path = Path(path)
    try:
        return str(path.resolve().relative_to(REPO))
    except ValueError:
        return str(path.resolve())


def check_table() -> None:
    """Every step is well formed, and every {run:NAME} names a run trained earlier in the same target."""
    for name, target in TARGETS.items():
        if name == "all" or not target.get("about") or not target.get("steps"):
            raise UsageError(f"target {name!r}: needs 'about' and 'steps' (and may not be called 'all')")
        trained: set[str] = set()
        for step in target["steps"]:
            kinds = [k for k in ("train", "script", "copy") if k in step]
            if len(kinds) != 1:
                raise UsageError(f"target {name!r}: step {step} must have exactly one of train, script, copy")
            if "train" in step:
                if step["train"] not in RUNS:
                    raise UsageError(f"target {name!r}: run {step['train']!r} is not in RUNS")
                trained.add(step["train"])
                continue
            texts = [step["copy"], step["to"]] if "copy" in step else [*step.get("args", []), *step.get("quick", []),
                                                                        step.get("stdout", "")]
            for text in texts:
                for m in PLACEHOLDER.finditer(text):
                    if m.group(2) and m.group(2) not in trained:
                        raise UsageError(f"target {name!r}: {text} uses run {m.group(2)!r} before a train step for it")


def merge_overrides(*lists: list[str]) -> list[str]:
    """key=value overrides in order of first appearance, the last value of a key winning (as train.py would)."""
    merged: dict[str, str] = {}
    for item in (x for lst in lists for x in lst):
        merged[item.split("=", 1)[0]] = item
    return list(merged.values())


def merge_options(args: list[str], quick: list[str]) -> list[str]:
    """Script arguments with the quick ones applied: a quick option that ``args`` already has replaces it with
    its values (the tokens up to the next ``--option``), any other is appended."""
    out = list(args)
    i = 0
    while i < len(quick):
        j = i + 1
        while j < len(quick) and not quick[j].startswith("--"):
            j += 1
        group = quick[i:j]
        if group[0].startswith("--") and group[0] in out:
            k = out.index(group[0])
            end = k + 1
            while end < len(out) and not out[end].startswith("--"):
                end += 1
            out[k:end] = group
        else:
            out += group
        i = j
    return out


def fill(text: str, dirs: dict[str, str]) -> str:
    def sub(m: re.Match) -> str:
        return dirs[m.group(2)] if m.group(2) else dirs[m.group(1)]
    return PLACEHOLDER.sub(sub, text)


def needs_of(texts) -> tuple[str, ...]:
    return tuple(dict.fromkeys(m.group(2) for t in texts for m in PLACEHOLDER.finditer(t) if m.group(2)))


def run_state(run_dir: Path, config: dict) -> tuple[str, str]:
    """(status, note) of a run folder against the requested resolved config: skip, resume or run."""
    results = run_dir / "results.json"
    if results.is_file():
        try:
            done = json.loads(results.read_text())
        except (OSError, ValueError):
            done = {}
        want_epochs, want_steps = config["train"]["epochs"], config["train"]["max_steps"]
        epoch, step = int(done.get("epoch", 0)), int(done.get("step", 0))
        if epoch >= want_epochs or (want_steps is not None and step >= want_steps):
            return "skip", f"finished run in {show(run_dir)} (epoch {epoch}, update {step})" + mismatch(run_dir, config)
        if (run_dir / "last.pt").is_file():
            return "resume", (f"{show(run_dir)} stopped at epoch {epoch}, update {step} of "
                              f"{f'{want_steps} updates' if want_steps else f'{want_epochs} epochs'}: resumed")
    if (run_dir / "last.pt").is_file():
        return "resume", f"{show(run_dir)} holds last.pt but no results.json: resumed"
    return "run", ""


def mismatch(run_dir: Path, config: dict) -> str:
    """A note when a finished run's settings differ from the requested ones (nulls filled at build time and
    the train/callback bookkeeping keys are not compared)."""
    import yaml
    from engine.config import diff_keys
    from engine.loss_weights import translate_config
    from errors import UserError
    try:
        saved = yaml.safe_load((run_dir / "config.yaml").read_text())
        if isinstance(saved, dict):  # a run of older code: its model.reg_weight ... read as loss_weights
            saved = translate_config(saved)
    except (OSError, yaml.YAMLError, UserError):
        return ""
    keys = []
    for section in ("model", "data", "optim", "loss_weights"):
        want = {k: v for k, v in (config.get(section) or {}).items() if v is not None}
        have = {k: v for k, v in ((saved or {}).get(section) or {}).items() if k in want}
        keys += diff_keys(have, want, section)
    for key in ("seed", "batch_size"):
        if (saved or {}).get("train", {}).get(key) != config["train"][key]:
            keys.append(f"train.{key}")
    return f"; NOTE: its config differs from this step's in {', '.join(keys)} (delete it to retrain)" if keys else ""


def plan(names: list[str], quick: bool, runs_dir: Path, fig_dir: Path, given: dict[str, Path],
         extra: list[str]) -> list[Step]:
    """The steps of the targets in order, each with its command and what will happen to it."""
    importlib.import_module("engine.build")  # registers the callbacks (engine.config.load_plugins does not)
    from engine.config import load_config
    from errors import UserError

    dirs = {"runs": show(runs_dir), "fig": show(fig_dir)}
    dirs.update({name: show(runs_dir / name) for name in RUNS})
    dirs.update({name: show(path) for name, path in given.items()})
    python = sys.executable
    planned: set[str] = set()
    steps: list[Step] = []
    for target in names:
        spec = TARGETS[target]["steps"]
        for i, step in enumerate(spec, 1):
            s = Step(target, i, len(spec), "train" if "train" in step else "script" if "script" in step else "copy", "")
            if s.kind == "train":
                name = s.run_name = step["train"]
                run = RUNS[name]
                run_dir = runs_dir / name
                overrides = merge_overrides(run["args"], run["quick"] if quick else [], extra,
                                            [f"train.out_dir={dirs['runs']}", f"train.run_name={name}"])
                try:
                    config = load_config(REPO / run["config"], overrides)
                except UserError as e:
                    raise UsageError(f"target {target}, run {name}: {e}") from None
                s.label, s.needs = f"train {name}", (name,)
                s.argv = [python, "train.py", "--config", run["config"], *overrides]
                s.log = run_dir / "train.log"
                if name in given:
                    s.status, s.note = "given", f"--run {name}={dirs[name]}: not trained"
                elif name in planned:
                    s.status, s.note = "above", "already planned above"
                else:
                    s.status, s.note = run_state(run_dir, config)
                    if s.status == "resume":
                        s.argv += ["--resume", "auto"]
                    planned.add(name)
                if s.status in ("run", "resume"):
                    s.budget = run["budget"] if quick else run["full_budget"]
            elif s.kind == "script":
                args = merge_options(step.get("args", []), step.get("quick", []) if quick else [])
                if "train_overrides" in step:
                    args += ["--", *merge_overrides(step["train_overrides"],
                                                    step.get("quick_train_overrides", []) if quick else [], extra)]
                    try:  # the script hands these to train.py: check them now
                        load_config(REPO / args[args.index("--config") + 1], args[args.index("--") + 1:])
                    except (UserError, ValueError) as e:
                        raise UsageError(f"target {target}, step {i} ({step['script']}): {e}") from None
                s.needs = needs_of([*args, step.get("stdout", "")])
                s.argv = [python, step["script"], *(fill(a, dirs) for a in args)]
                s.label = step["script"]
                s.log = runs_dir / "_logs" / target / f"{i:02d}_{Path(step['script']).stem}.log"
                s.capture = REPO / fill(step["stdout"], dirs) if step.get("stdout") else None
                s.budget = step.get("budget", 0) if quick else step.get("full_budget", 0)
            else:
                s.needs = needs_of([step["copy"], step["to"]])
                s.copy = (REPO / fill(step["copy"], dirs), REPO / fill(step["to"], dirs))
                s.label, s.status = f"copy to {show(s.copy[1])}", "copy"
            steps.append(s)
    return steps


def shell_line(step: Step) -> str:
    if step.kind == "copy":
        return shlex.join(["cp", show(step.copy[0]), show(step.copy[1])])
    line = shlex.join(step.argv)
    return f"{line} | tee {shlex.quote(show(step.capture))}" if step.capture else line


# ========================================================================================== running
def write_quick_notes(folders: list[Path], command: str, names: list[str]) -> None:
    stamp = datetime.datetime.now().isoformat(timespec="seconds")
    for folder in folders:
        folder.mkdir(parents=True, exist_ok=True)
        note = folder / "QUICK.md"
        text = note.read_text(encoding="utf-8") if note.is_file() else QUICK_NOTE
        note.write_text(text + f"- {stamp}: `{command}` (targets: {', '.join(names)})\n", encoding="utf-8")


def execute(step: Step) -> tuple[int, str]:
    """Run one command from the repository root, its output tee'd to the console and the step's log (and its
    stdout to the capture file, written only on success). Returns (exit code, last stderr line)."""
    step.log.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "MPLBACKEND": "Agg"}
    lock, last_err = threading.Lock(), [""]
    captured: list[str] = []
    with open(step.log, "a", encoding="utf-8") as log:
        log.write(f"# {datetime.datetime.now().isoformat(timespec='seconds')} {shell_line(step)}\n")
        log.flush()
        proc = subprocess.Popen(step.argv, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, encoding="utf-8", errors="replace", bufsize=1)

        def pump(stream, console, is_stdout: bool) -> None:
            for line in stream:
                with lock:
                    console.write(line)
                    console.flush()
                    log.write(line)
                    log.flush()
                    if is_stdout:
                        captured.append(line)
                    elif line.strip():
                        last_err[0] = line.strip()

        threads = [threading.Thread(target=pump, args=(proc.stdout, sys.stdout, True), daemon=True),
                   threading.Thread(target=pump, args=(proc.stderr, sys.stderr, False), daemon=True)]
        for t in threads:
            t.start()
        interrupted = False
        while True:
            try:
                code = proc.wait()
                break
            except KeyboardInterrupt:  # the child got the SIGINT too: train.py saves last.pt and exits
                interrupted = True
                print("\ninterrupt: waiting for the step to save and stop (Ctrl-C again to abort it)", flush=True)
        for t in threads:
            t.join()
    if interrupted and code == 0:
        code = 130
    if code == 0 and step.capture is not None:
        step.capture.parent.mkdir(parents=True, exist_ok=True)
        step.capture.write_text("".join(captured), encoding="utf-8")
    return code, last_err[0]


def do_copy(step: Step) -> tuple[int, str]:
    src, dst = step.copy
    if not src.is_file():
        return 1, f"{show(src)} not found (the step before should have written it)"
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)
    print(f"copied {show(src)} -> {show(dst)}", flush=True)
    return 0, ""


def run_all(steps: list[Step], keep_going: bool) -> int:
    failed_runs: set[str] = set()
    failed: list[str] = []
    first_code = 0
    skip_target = None
    for step in steps:
        where = f"step {step.index}/{step.count} of target {step.target} ({step.label})"
        if step.target == skip_target:
            continue
        blocked = [n for n in step.needs if n in failed_runs]
        if blocked:
            print(f"\n== {where}: not run, it needs the failed run {', '.join(blocked)}", flush=True)
            failed.append(step.target)
            skip_target = step.target
            continue
        if step.status in ("skip", "given", "above"):
            print(f"\n== {where}: skipped, {step.note}", flush=True)
            continue
        print(f"\n== {where}" + (f": {step.note}" if step.note else "") + (f" (~{step.budget:.0f} s)" if step.budget
                                                                          else ""), flush=True)
        if step.kind == "copy":
            code, last = do_copy(step)
            log = None
        else:
            print(shell_line(step), flush=True)
            code, last = execute(step)
            log = step.log
        if code == 0:
            continue
        code = code if code > 0 else 1  # killed by a signal
        if step.run_name:
            failed_runs.add(step.run_name)
        reason = f": {last}" if last else ""
        print(f"error: {where} failed with exit code {code}{reason}"
              + (f"; log: {show(log)}" if log else ""), file=sys.stderr, flush=True)
        if code == 130:
            print("interrupted; run the same command again to continue (finished runs are skipped, stopped ones "
                  "resumed)", file=sys.stderr, flush=True)
            return 130
        first_code = first_code or code
        failed.append(step.target)
        if not keep_going:
            return code
        skip_target = step.target
    if failed:
        print(f"error: failed targets: {', '.join(dict.fromkeys(failed))}", file=sys.stderr, flush=True)
        return first_code or 1
    return 0


# ========================================================================================== interface
def budget_of(name: str, quick: bool) -> float:
    key = "budget" if quick else "full_budget"
    return sum((RUNS[s["train"]][key] if "train" in s else s.get(key, 0)) for s in TARGETS[name]["steps"])


def total_budget(names: list[str], quick: bool) -> float:
    """Seconds for the targets from scratch, each run counted once."""
    key, seen, total = "budget" if quick else "full_budget", set(), 0.0
    for name in names:
        for s in TARGETS[name]["steps"]:
            if "train" in s:
                if s["train"] not in seen:
                    seen.add(s["train"])
                    total += RUNS[s["train"]][key]
            else:
                total += s.get(key, 0)
    return total


def duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min" if seconds < 7200 else f"{seconds / 3600:.1f} h"


def list_targets() -> None:
    width = max(map(len, TARGETS))
    print(f"{'target':{width}}  {'quick':>9}  {'full':>9}  what it makes")
    for name, target in TARGETS.items():
        print(f"{name:{width}}  {duration(budget_of(name, True)):>9}  {duration(budget_of(name, False)):>9}  "
              f"{target['about']}")
    print(f"{'all':{width}}  {duration(total_budget(list(TARGETS), True)):>9}  "
          f"{duration(total_budget(list(TARGETS), False)):>9}  every target above, each run trained once")


def parse_given(items: list[str], names: list[str]) -> dict[str, Path]:
    used = list(dict.fromkeys(s["train"] for n in names for s in TARGETS[n]["steps"] if "train" in s))
    given = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise UsageError(f"--run {item!r} must look like NAME=PATH (e.g. nice_mnist=../runs/nice_mnist)")
        if name not in used:
            raise UsageError(f"--run {name}: not a run of the chosen targets (their runs: {', '.join(used) or 'none'})")
        folder = Path(path).expanduser().resolve()
        if not folder.is_dir() or not (folder / "results.json").is_file():
            raise UsageError(f"--run {name}={path}: {folder} is not a finished run folder (no results.json)")
        given[name] = folder
    return given


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     epilog="targets: all, " + ", ".join(TARGETS) + " (--list describes them)")
    parser.add_argument("targets", nargs="*", help="targets to make, or 'all'")
    parser.add_argument("--list", action="store_true", help="list the targets with a one-line description")
    parser.add_argument("--quick", action="store_true",
                        help="short runs under runs_quick/, figures under docs/figures/quick/ (checks the pipeline)")
    parser.add_argument("--dry-run", action="store_true", help="print every command, run nothing")
    parser.add_argument("--runs-dir", type=Path, help="run folders (default runs/, with --quick runs_quick/)")
    parser.add_argument("--out", type=Path, help="figure folder (default docs/figures/, with --quick docs/figures/quick/)")
    parser.add_argument("--run", action="append", default=[], metavar="NAME=PATH",
                        help="use this finished run folder for run NAME instead of training it (repeatable)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="extra",
                        help="override passed to every training run, e.g. train.threads=1 or data.root=DIR")
    parser.add_argument("--keep-going", action="store_true",
                        help="after a failure, go on with the targets that do not need the failed run")
    args = parser.parse_args(argv)
    try:
        check_table()
        if args.list:
            list_targets()
            return 0
        if not args.targets:
            raise UsageError("name a target (valid targets: all, " + ", ".join(TARGETS) + "); --list describes them")
        unknown = [t for t in args.targets if t != "all" and t not in TARGETS]
        if unknown:
            raise UsageError(f"unknown target {unknown[0]!r}; valid targets: all, " + ", ".join(TARGETS))
        names = list(TARGETS) if "all" in args.targets else list(dict.fromkeys(args.targets))
        for item in args.extra:
            if "=" not in item:
                raise UsageError(f"--set {item!r} must look like key.sub=value (e.g. train.threads=1)")
        runs_dir = (args.runs_dir.expanduser().resolve() if args.runs_dir else QUICK_RUNS if args.quick else FULL_RUNS)
        fig_dir = (args.out.expanduser().resolve() if args.out else QUICK_FIGURES if args.quick else FULL_FIGURES)
        if args.quick and fig_dir == FULL_FIGURES:
            raise UsageError(f"--quick never writes to {show(FULL_FIGURES)} (the real figures); "
                             f"leave --out unset (default {show(QUICK_FIGURES)})")
        if args.quick and runs_dir == FULL_RUNS:
            raise UsageError(f"--quick never trains into {show(FULL_RUNS)} (the full runs); leave --runs-dir unset "
                             f"(default {show(QUICK_RUNS)})")
        given = parse_given(args.run, names)
        if str(REPO) not in sys.path:
            sys.path.insert(0, str(REPO))
        steps = plan(names, args.quick, runs_dir, fig_dir, given, args.extra)
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr, flush=True)
        return 2

    mode = "QUICK (short runs: for checking the pipeline, not for the numbers)" if args.quick else "full"
    to_run = [s for s in steps if s.status in ("run", "resume") and s.kind != "copy"]
    budget = sum(s.budget for s in steps)
    print(f"# reproduce {' '.join(names)}: mode {mode}; runs in {show(runs_dir)}, figures in {show(fig_dir)}")
    print(f"# {len(to_run)} commands to run ({len(steps) - len(to_run)} skipped or copies); estimated "
          f"{duration(budget)} ({budget:.0f} s{', on a quiet 2-core machine' if args.quick else ''})", flush=True)
    if args.dry_run:
        print(f"cd {shlex.quote(str(REPO))}")
        if os.environ.get("KEXUE_DATA"):
            print(f"export KEXUE_DATA={shlex.quote(os.environ['KEXUE_DATA'])}")
        print(f"mkdir -p {shlex.quote(show(fig_dir))}")
        if args.quick:
            print(f"# writes {show(fig_dir / 'QUICK.md')} and {show(runs_dir / 'QUICK.md')}")
        target = None
        for step in steps:
            if step.target != target:
                target = step.target
                print(f"\n# == {target}: {TARGETS[target]['about']}")
            head = f"# [{step.index}/{step.count}] {step.label}"
            if step.status in ("skip", "given", "above"):
                print(f"{head}: skipped, {step.note}\n# {shell_line(step)}")
                continue
            extra = f"; ~{step.budget:.0f} s" if step.budget else ""
            log = f"; log {show(step.log)}" if step.log else ""
            print(f"{head}{': ' + step.note if step.note else ''}{extra}{log}\n{shell_line(step)}")
        return 0
    fig_dir.mkdir(parents=True, exist_ok=True)
    if args.quick:
        write_quick_notes([fig_dir, runs_dir], shlex.join(["python", "scripts/reproduce.py", *argv]), names)
    code = run_all(steps, args.keep_going)
    if code == 0:
        print(f"\ndone: {', '.join(names)}; outputs in {show(fig_dir)}"
              + (" (QUICK: short runs, not for the numbers)" if args.quick else ""), flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
