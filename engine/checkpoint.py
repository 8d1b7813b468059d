"""Checkpoints: atomic writes, safe loading, RNG state capture.

A checkpoint is a dict of tensors and plain Python values only (no pickled objects), so it loads with
``torch.load(..., weights_only=True)``. It is written to a temporary file in the same folder, flushed and
fsync'ed, then renamed over the target: a crash or Ctrl-C during the save leaves the old file intact.
Before ``last.pt`` is replaced, the previous one is kept as ``last.prev.pt``, which ``--resume auto`` falls
back to if ``last.pt`` is unreadable.
"""
from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from errors import CheckpointError

FORMAT = "kexue-torch/1"


def atomic_save(obj: Any, path: str | Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    # make the rename itself durable
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def save_rotating(obj: Any, path: str | Path) -> None:
    """Save ``path`` atomically, keeping the file it replaces as ``<stem>.prev.pt``."""
    path = Path(path)
    if path.exists():
        os.replace(path, path.with_name(f"{path.stem}.prev{path.suffix}"))
    atomic_save(obj, path)


def load(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    """Load a checkpoint with ``weights_only=True``; a clear CheckpointError for every failure."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} not found; pass --resume auto or an existing .pt file")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # truncated zip, pickled objects refused by weights_only, ...
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(f"checkpoint {path} is unreadable ({first[:200]}); "
                              f"use another checkpoint (e.g. last.prev.pt) or retrain") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a kexue-torch checkpoint (no format tag {FORMAT!r})")
    return ckpt


def find_resumable(run_dir: str | Path) -> tuple[Path, dict]:
    """The newest readable checkpoint of a run folder: last.pt, else last.prev.pt."""
    run_dir = Path(run_dir)
    errors = []
    for name in ("last.pt", "last.prev.pt"):
        path = run_dir / name
        if not path.exists():
            continue
        try:
            return path, load(path)
        except CheckpointError as e:
            errors.append(str(e))
            print(f"warning: {e}; trying an older checkpoint", flush=True)
    raise CheckpointError(f"no readable checkpoint in {run_dir} (looked for last.pt, last.prev.pt)"
                          + (f": {errors[-1]}" if errors else "; start without --resume"))


def resolve_run_checkpoint(spec: str | Path, prefer: tuple[str, ...] = ("best.pt", "last.pt")) -> Path:
    """A checkpoint file as given, or the first of ``prefer`` found in a run folder (for sampling, evaluation
    and figure scripts, which accept either)."""
    path = Path(spec)
    if path.is_file():
        return path
    if path.is_dir():
        for name in prefer:
            if (path / name).is_file():
                return path / name
        raise CheckpointError(f"run folder {path} holds none of {', '.join(prefer)}; is the run finished?")
    raise CheckpointError(f"{path} is neither a checkpoint file nor a run folder")


# ----------------------------------------------------------------------------------------- RNG state
def rng_state() -> dict:
    np_state = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": {"key": torch.from_numpy(np_state[1].astype(np.int64)), "pos": int(np_state[2]),
                  "has_gauss": int(np_state[3]), "cached": float(np_state[4])},
        "python": [random.getstate()[0], list(random.getstate()[1]), random.getstate()[2]],
    }


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    n = state["numpy"]
    np.random.set_state(("MT19937", n["key"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"]))
    version, key, gauss = state["python"]
    random.setstate((version, tuple(key), gauss))
