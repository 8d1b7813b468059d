"""Owning a run folder: one process at a time, and a folder that holds a run is never started over.

``claim(run_dir, resume)`` is what train.py does before it builds anything:

* it takes an exclusive ``fcntl.flock`` on ``<run>/.lock`` (the file records the owner's pid, host and start
  time). The kernel drops the lock when its process ends, however it ends, so a lock left by a killed
  process is simply free: the next run takes it over and says whose it was. A second live process on the
  same folder is refused with a RunFolderBusy error (one line, exit code 2);
* without ``--resume`` it refuses a folder that already holds a run: any checkpoint (``last.pt``,
  ``last.prev.pt``, ``best.pt``, ``snapshots/*.pt``) or a non-empty ``metrics.jsonl``;
* it deletes the temporary files a killed save left (engine/checkpoint.py).

Before any of that, ``check_writable`` makes sure the folder can be created and written (``train.out_dir``
below a regular file, in ``/proc``, read-only, a name too long ...), so that a bad ``train.out_dir`` is one
line before any data is loaded, not an OSError traceback.

Under torchrun only rank 0 writes the run folder, so only rank 0 claims it. Where ``fcntl`` does not exist
(Windows) the folder is not locked, with a note.
"""
from __future__ import annotations

import os
import socket
import time
from pathlib import Path

from engine import checkpoint
from errors import ConfigError, UserError

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

LOCK_NAME = ".lock"
CHECKPOINT_FILES = ("last.pt", "last.prev.pt", "best.pt")


class RunFolderBusy(UserError):
    pass


def holds_run(run_dir: str | Path) -> list[str]:
    """The files that show ``run_dir`` already holds (part of) a run; empty when it holds none."""
    run_dir = Path(run_dir)
    found = [name for name in CHECKPOINT_FILES if (run_dir / name).exists()]
    if (run_dir / "snapshots").is_dir() and any((run_dir / "snapshots").glob("*.pt")):
        found.append("snapshots/")
    metrics = run_dir / "metrics.jsonl"
    if metrics.is_file() and metrics.stat().st_size > 0:
        found.append("metrics.jsonl")
    return found


class RunLock:
    """An exclusive lock on a run folder for the life of this process (or until ``release``)."""

    def __init__(self, run_dir: str | Path):
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LOCK_NAME
        self.fd: int | None = None

    def acquire(self) -> "RunLock":
        if fcntl is None:
            print(f"note: {self.run_dir} is not locked (no fcntl on this platform); run one process per "
                  f"run folder", flush=True)
            return self
        self.run_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            owner = os.read(fd, 4096).decode("utf-8", "replace").strip() or "another process"
            os.close(fd)
            raise RunFolderBusy(f"{self.run_dir} is in use by {owner}; wait for that run to end, or give this "
                                f"one its own folder with train.run_name=<new name>") from None
        stale = os.read(fd, 4096).decode("utf-8", "replace").strip()
        if stale:
            print(f"note: took over the lock of {self.run_dir} left by {stale}, which is no longer running",
                  flush=True)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()} since "
                      f"{time.strftime('%Y-%m-%d %H:%M:%S')}\n".encode(), 0)
        os.fsync(fd)
        self.fd = fd
        return self

    def release(self) -> None:
        """Give the folder up; the lock file is emptied, so the next run sees a clean hand-over."""
        if self.fd is None:
            return
        try:
            os.ftruncate(self.fd, 0)
            fcntl.flock(self.fd, fcntl.LOCK_UN)
        finally:
            os.close(self.fd)
            self.fd = None


def check_writable(run_dir: str | Path) -> None:
    """Create ``run_dir`` (with its parents) and write and remove a probe file in it; a ConfigError naming
    ``train.out_dir`` when that fails."""
    run_dir = Path(run_dir)
    fix = "set train.out_dir to a folder this user can write"
    try:
        blocker = next((p for p in [run_dir, *run_dir.parents] if p.exists() and not p.is_dir()), None)
    except OSError:  # a name too long to look up: mkdir below says so
        blocker = None
    if blocker is not None:
        raise ConfigError(f"train.out_dir: the run folder {run_dir} cannot be created, {blocker} is a file, "
                          f"not a folder; {fix}")
    probe = run_dir / f".write-test.tmp{os.getpid()}"  # a kill leaves what remove_temporaries deletes
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise ConfigError(f"train.out_dir: the run folder {run_dir} cannot be created or written "
                          f"({e.strerror or type(e).__name__}); {fix}") from None


def claim(run_dir: str | Path, resume: bool) -> RunLock:
    """Check that ``run_dir`` can be written, lock it, refuse to start over a run in it unless resuming, and
    remove a killed save's temporary files. The caller releases the returned lock when the run ends."""
    check_writable(run_dir)
    lock = RunLock(run_dir).acquire()
    try:
        existing = holds_run(run_dir)
        if existing and not resume:
            raise RunFolderBusy(f"{run_dir} already holds a run ({', '.join(existing)}); continue it with "
                                f"--resume auto, or start a new one with train.run_name=<new name>")
        for path in checkpoint.remove_temporaries(run_dir):
            print(f"note: removed {path.name}, left by a save that was killed", flush=True)
    except BaseException:
        lock.release()
        raise
    return lock
