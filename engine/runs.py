"""A finished run for the code that reads one (sample.py, evaluate.py, generate.py, scripts/, bench/).

``load_run`` does the sequence every such reader needs, in one place: find the checkpoint (a file as given,
or a run folder's best.pt / last.pt), load it once with the structured checks of ``checkpoint.load``, check
the model name the caller expects, build the model and load its weights (``build.model_from_state``: names,
shapes and size checked before anything is allocated). The ``Run`` it returns holds the checkpoint, its
config and the model, and loads the run's dataset only when asked. Every problem is one ``UserError`` line
naming the path (and the flag it came from), the problem and the fix.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import torch

from engine import checkpoint
from engine.build import build_splits, load_dataset, model_from_state
from errors import CheckpointError, ConfigError

# what a run folder is searched for, in order, when nothing else is asked: the best weights, else the last
BEST_THEN_LAST = ("best.pt", "last.pt")


@dataclass
class Run:
    """One checkpoint of a run, read once: weights, config and step come from the same file even while a
    running job replaces it. ``model`` is built on first use (``load_run`` builds it unless ``build=False``)."""

    path: Path                  # the checkpoint file read
    state: dict                 # the loaded checkpoint (checked with expect="weights")
    source: str                 # how messages name it: "--checkpoint runs/x/best.pt" or "checkpoint runs/x/best.pt"
    device: torch.device | str = "cpu"
    use_ema: bool = False

    @property
    def config(self) -> dict:
        return self.state["config"]

    @property
    def model_name(self) -> str:
        return self.config["model"]["name"]

    @property
    def run_name(self) -> str:
        return self.config.get("train", {}).get("run_name", self.path.parent.name)

    @property
    def folder(self) -> Path:
        """The folder the checkpoint lies in (the run folder for best.pt and last.pt)."""
        return self.path.parent

    @property
    def progress(self) -> dict:
        return self.state.get("progress", {})

    @property
    def step(self) -> int:
        """Optimizer updates done when the checkpoint was written."""
        return int(self.progress.get("step", 0))

    def callback_state(self, name: str) -> dict:
        """The saved state of callback ``name`` (``checkpoint``, ``metrics``, ``ema``, ...)."""
        return checkpoint.callback_state(self.state, name)

    def training_time(self) -> dict:
        """``{"wall_s", "cpu_s"}``: the run's training time up to this checkpoint, summed over resumed segments
        (the metrics callback's record; None where it was not recorded: ``cpu_s`` by checkpoints of older code)."""
        timing = self.callback_state("metrics")
        return {"wall_s": timing.get("wall_s"), "cpu_s": timing.get("cpu_s")}

    @cached_property
    def model(self) -> torch.nn.Module:
        """The trained model in eval mode (the EMA weights with ``use_ema``)."""
        return model_from_state(self.state, self.device, self.use_ema, source=self.source)

    @cached_property
    def dataset(self) -> dict[str, dict[str, torch.Tensor]]:
        """The dataset's own splits (``train``, usually ``test``), loaded with the run's data settings
        (data.root, else $KEXUE_DATA) on first use."""
        return load_dataset(self.config["data"])

    @cached_property
    def splits(self) -> dict[str, dict[str, torch.Tensor]]:
        """The splits the engine carved in training (train, val per ``data.val``, test), on first use."""
        splits = build_splits(self.config["data"])
        splits.pop("model_args", None)
        return splits


def find_checkpoint(spec: str | Path, prefer: tuple[str, ...] = BEST_THEN_LAST, option: str | None = None,
                    model: str | tuple[str, ...] | None = None) -> Path:
    """The checkpoint file ``spec`` names: the file itself, or the first of ``prefer`` in a run folder
    (``prefer=()``: files only, as the ``--checkpoint`` flags want). ``option`` is the flag the user gave the
    path with, named in the message; ``model`` words the fix ("pass a seq2seq run's best.pt ...")."""
    path = Path(spec).expanduser()
    if path.is_file():
        return path
    named = f"{option} {path}" if option else str(path)
    kind = f"{' or '.join(_names(model))} " if model else ""
    if path.is_dir() and prefer:
        return checkpoint.resolve_run_checkpoint(path, prefer)  # or one line: the folder holds none of them
    what = "is a directory" if path.is_dir() else "not found"
    where = " (or its run folder)" if prefer else ""
    raise CheckpointError(f"{named} {what}; pass a {kind}run's best.pt or last.pt{where}")


def load_run(spec: str | Path, model: str | tuple[str, ...] | None = None, *,
             prefer: tuple[str, ...] = BEST_THEN_LAST, device: torch.device | str = "cpu", use_ema: bool = False,
             build: bool = True, option: str | None = None, purpose: str | None = None) -> Run:
    """The run that ``spec`` (a run folder or a checkpoint file) names, its model built and in eval mode.

    ``model``: the model name (or names) the caller can use; another is one ConfigError line naming the path,
    the name found and ``purpose`` (what the caller needs, e.g. "generate.py needs a seq2seq checkpoint"; by
    default the expected name), checked before the model is built. ``prefer``: the files looked for in a run
    folder, in order (``()``: refuse folders). ``device``, ``use_ema``: where and which weights. ``build=False``
    leaves the model to be built on first use of ``Run.model`` (to check arguments against the config first,
    or to build a fresh model instead). ``option``: the command-line flag ``spec`` came from, named in the
    messages."""
    path = find_checkpoint(spec, prefer, option, model)
    state = checkpoint.load(path, expect="weights")
    run = Run(path, state, f"{option} {path}" if option else f"checkpoint {path}", device, use_ema)
    if model is not None and run.model_name not in _names(model):
        expected = " or ".join(_names(model))
        why = purpose or f"expected a {expected} model; pass a run or checkpoint of one"
        raise ConfigError(f"{run.source} holds a {run.model_name!r} model; {why}")
    if build:
        run.model  # noqa: B018 (built now, so that a bad checkpoint fails here)
    return run


def _names(model: str | tuple[str, ...]) -> tuple[str, ...]:
    return (model,) if isinstance(model, str) else tuple(model)


def snapshot_paths(run: Path) -> list[Path]:
    """A run's weights over training, in update order: its ``snapshots/step*.pt``
    (``callbacks.checkpoint.snapshot_every``), then ``last.pt``; a checkpoint file given instead stands alone.
    (A last.pt saved at a snapshot's update holds the same weights: callers skip a repeated step.)"""
    run = Path(run)
    paths = sorted((run / "snapshots").glob("step*.pt")) if run.is_dir() else []
    last = run / "last.pt" if run.is_dir() else run
    if last.is_file():
        paths.append(last)
    if not paths:
        raise CheckpointError(f"{run} holds no snapshots/step*.pt and no last.pt; train with "
                              f"callbacks.checkpoint.snapshot_every or pass a checkpoint file")
    return paths
