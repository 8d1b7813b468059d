"""Checkpoint files: the one function that writes them, safe loading, RNG state capture.

A checkpoint is a dict of tensors and plain Python values only (no pickled objects), so it loads with
``torch.load(..., weights_only=True)``. ``write_checkpoint`` is the only code that writes checkpoint files
(``last.pt``, ``best.pt``, snapshots); it can be killed at any instant without losing a readable file:

1. the new state is written to ``.<name>.tmp<pid>`` in the same folder, flushed and fsync'ed;
2. with ``keep_previous`` (``last.pt``), the file about to be replaced is kept as ``<stem>.prev.pt``: a hard
   link (a copy where the file system has none) made under a temporary name and renamed over the old
   ``.prev.pt``. A file that does not read as a whole zip archive (a torn or corrupt one) is never kept this
   way, so an unreadable ``last.pt`` never replaces a readable ``last.prev.pt``;
3. the temporary file is renamed over the target (``os.replace``: atomic) and the folder is fsync'ed.

The target therefore always names either the old complete file or the new complete one; after a kill only a
``.*.tmp<pid>`` file can be left over, which ``remove_temporaries`` deletes when the next run starts.
"""
from __future__ import annotations

import os
import random
import re
import shutil
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

import registry
from errors import CheckpointError, ConfigError

FORMAT = "kexue-torch/1"
_TEMPORARY = re.compile(r"^\..+\.tmp\d+$")


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # e.g. a platform that cannot open folders
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def is_whole(path: str | Path) -> bool:
    """Whether ``path`` is a complete zip archive with correct CRCs (what ``torch.save`` writes): the cheap
    check that a file was not torn by a crash, without unpickling anything."""
    try:
        with zipfile.ZipFile(path) as z:
            return z.testzip() is None
    except (OSError, zipfile.BadZipFile, EOFError, ValueError):
        return False


def write_checkpoint(obj: Any, path: str | Path, keep_previous: bool = False) -> None:
    """Write ``obj`` to ``path`` so that a kill at any instant leaves a readable file there (the old one or
    the new one); with ``keep_previous`` the replaced file is kept as ``<stem>.prev<suffix>`` (module
    docstring)."""
    path = Path(path)
    folder = path.parent
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{path.name}.tmp{os.getpid()}"
    previous = path.with_name(f"{path.stem}.prev{path.suffix}")
    tmp_previous = folder / f".{previous.name}.tmp{os.getpid()}"
    try:
        with open(tmp, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        if keep_previous and path.exists() and is_whole(path):
            try:
                os.link(path, tmp_previous)
            except OSError:  # no hard links here (some network and FAT file systems)
                shutil.copyfile(path, tmp_previous)
                with open(tmp_previous, "rb+") as f:
                    os.fsync(f.fileno())
            os.replace(tmp_previous, previous)
        os.replace(tmp, path)
    finally:
        for leftover in (tmp, tmp_previous):
            if leftover.exists():
                leftover.unlink()
    _fsync_dir(folder)


def remove_temporaries(run_dir: str | Path) -> list[Path]:
    """Delete the ``.<name>.tmp<pid>`` files a killed save left in a run folder (and its snapshots/); call it
    only while holding the folder's lock (engine/run_folder.py), when no save of another process can be
    under way. Returns what was removed."""
    removed = []
    for folder in (Path(run_dir), Path(run_dir) / "snapshots"):
        if folder.is_dir():
            for p in folder.iterdir():
                if _TEMPORARY.match(p.name) and p.is_file():
                    p.unlink()
                    removed.append(p)
    return removed


# What each kind of use needs (``expect`` of ``load``); a key present is always checked for its type.
STRUCTURE: dict[str, type] = {
    "format": str, "config": dict, "model": dict, "progress": dict, "optimizers": dict, "schedulers": dict,
    "scaler": dict, "loss_weights": dict, "callbacks": dict, "rng": dict,
}
EXPECT = {
    "any": ("format",),
    "weights": ("format", "config", "model"),      # sampling, evaluation, train.init_from
    "resume": tuple(STRUCTURE),                    # everything Trainer.state_dict writes
}
PROGRESS_KEYS = ("epoch", "batch_in_epoch", "step", "skipped_updates")
_FIX = "use a checkpoint written by train.py (e.g. the run's last.pt, last.prev.pt or best.pt)"


def _unreadable(path: Path, e: Exception) -> CheckpointError:
    """The one line for a file torch.load refuses. A file holding pickled objects or code is named as such:
    torch's own text suggests turning the safe loading off, which would run whatever code the file holds."""
    text = str(e).strip()
    found = re.search(r"Unsupported global: GLOBAL (\S+)", text)
    if found or "Unsupported class" in text:
        what = f" ({found.group(1)})" if found else ""
        return CheckpointError(f"checkpoint {path} is unreadable: refused because it holds pickled Python "
                               f"objects or code{what}, which weights_only loading does not run (a kexue-torch "
                               f"checkpoint holds only tensors and plain values); {_FIX}")
    if "Weights only load failed" in text:  # not a pickle this loader can read at all (e.g. not a .pt file)
        reason = re.search(r"WeightsUnpickler error:\s*(.+)", text)
        first = " ".join(reason.group(1).split()).split(". ")[0][:200] if reason else "not a checkpoint"
    else:
        first = " ".join(text.splitlines()[0].split()).split(". ")[0][:200] if text else ""
    return CheckpointError(f"checkpoint {path} is unreadable ({type(e).__name__}{': ' + first if first else ''}); "
                           f"use another checkpoint (e.g. last.prev.pt) or retrain")


def check_structure(ckpt: Any, path: str | Path, expect: str = "any") -> None:
    """Refuse a loaded checkpoint whose structure is not what this code writes, before anything is built from
    it: the format tag, the keys ``expect`` needs and the type of every known key present, the model section
    of its config (validated like a config), the model weights (a mapping of names to tensors) and the
    progress counters. One CheckpointError line naming the file and the first problem."""
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a kexue-torch checkpoint (no format tag {FORMAT!r}); {_FIX}")
    for key in EXPECT[expect]:
        if key not in ckpt:
            raise CheckpointError(f"checkpoint {path} has no {key!r} entry; {_FIX}")
    for key, kind in STRUCTURE.items():
        if key in ckpt and not isinstance(ckpt[key], kind):
            raise CheckpointError(f"checkpoint {path}: {key!r} is a {type(ckpt[key]).__name__}, not a "
                                  f"{kind.__name__}; {_FIX}")
    if "config" in ckpt:
        from engine.config import load_plugins
        from engine.schema import validate_named

        model_cfg = ckpt["config"].get("model")
        if not isinstance(model_cfg, dict):
            raise CheckpointError(f"checkpoint {path}: its config has no model section; {_FIX}")
        load_plugins()
        try:
            validate_named("model", model_cfg, "model", fill_defaults=False)
        except ConfigError as e:
            raise CheckpointError(f"checkpoint {path}: its config's {e} (this code cannot build its model); "
                                  f"{_FIX}") from None
    if "model" in ckpt:
        bad = next((k for k, v in ckpt["model"].items() if not isinstance(k, str) or not torch.is_tensor(v)), None)
        if bad is not None:
            raise CheckpointError(f"checkpoint {path}: model weight {str(bad)[:80]!r} is a "
                                  f"{type(ckpt['model'][bad]).__name__}, not a tensor; {_FIX}")
    if "progress" in ckpt:
        for key in PROGRESS_KEYS if expect == "resume" else ():
            value = ckpt["progress"].get(key)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise CheckpointError(f"checkpoint {path}: progress.{key} is {str(value)[:40]}, not a count; "
                                      f"{_FIX}")


def load(path: str | Path, map_location: str | torch.device = "cpu", expect: str = "any") -> dict:
    """Load a checkpoint with ``weights_only=True`` and check its structure (``check_structure``; ``expect``:
    ``any``, ``weights`` for sampling/evaluation/init_from, ``resume`` for a resume); a one-line
    CheckpointError for every failure. A checkpoint written while some models weighted their loss terms
    themselves is first rewritten to today's form (engine/loss_weights.py, ``upgrade_checkpoint``)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} not found; give the path of an existing .pt file")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # truncated zip, pickled objects refused by weights_only, ...
        raise _unreadable(path, e) from None
    from engine.config import load_plugins
    from engine.loss_weights import upgrade_checkpoint

    load_plugins()
    upgrade_checkpoint(ckpt, path)  # a checkpoint of a model that weighted terms itself reads as today's
    check_structure(ckpt, path, expect)
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
            return path, load(path, expect="resume")
        except CheckpointError as e:
            errors.append(str(e))
            print(f"warning: {e}; trying an older checkpoint", flush=True)
    raise CheckpointError(f"no readable checkpoint in {run_dir} (looked for last.pt, last.prev.pt)"
                          + (f": {errors[-1]}" if errors else "; start without --resume"))


def resolve_run_checkpoint(path_or_run: str | Path, prefer: tuple[str, ...] = ("best.pt", "last.pt")) -> Path:
    """A checkpoint file as given, or the first of ``prefer`` found in a run folder (for sampling, evaluation
    and figure scripts, which accept either)."""
    path = Path(path_or_run)
    if path.is_file():
        return path
    if path.is_dir():
        for name in prefer:
            if (path / name).is_file():
                return path / name
        raise CheckpointError(f"run folder {path} holds none of {', '.join(prefer)}; is the run finished?")
    raise CheckpointError(f"{path} is neither a checkpoint file nor a run folder")


def callback_state(state: dict, name: str) -> dict:
    """The saved state of the callback registered as ``name`` (e.g. ``ema``, ``metrics``), also from
    checkpoints written before the state was keyed by registered name (it was keyed by class name then:
    ``EMA``, ``MetricsLogger``, ...)."""
    saved = state.get("callbacks", {})
    if name in saved:
        return saved[name]
    try:
        legacy = registry.lookup("callback", name).__name__
    except KeyError:
        return {}
    return saved.get(legacy, {})


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
