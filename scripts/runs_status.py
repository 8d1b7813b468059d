#!/usr/bin/env python3
"""Where every run folder under a directory stands, for a session's note and docs/RESULTS.md: finished,
training (its process) or stopped; the epoch and update reached against the run's budget; training time so far
(wall and CPU, summed over resumed segments); the time of the last save; and for a live run the time left at
its recent pace.

    python scripts/runs_status.py ~/kexue-runs [--json]

Only files are read (nothing is imported from the run, no checkpoint is loaded, no lock is taken, so it is safe
beside runs in flight): ``config.yaml`` (``train.epochs``, ``train.max_steps``), ``summary.csv`` (one row per
finished epoch: its last update and the cumulative ``wall_s``/``cpu_s``), the last line of ``metrics.jsonl``
(the update reached inside an epoch), ``results.json`` (written when a run ends), ``.lock`` (the owner's pid
and host, engine/run_folder.py) and ``segments.jsonl`` (the CPU of each training process, engine/machine.py:
the table's CPU column names each model once, in the order they ran; empty for folders made before it). A run is "training" when the lock's process is alive on this host, and its
budget in updates is ``max_steps`` or ``epochs`` × the updates of its first epoch. The pace is the wall time per
update over the last (up to) three finished epochs, so a pause or a change of load shows up within a few
epochs.
"""
from __future__ import annotations

import csv
import datetime
import json
import os
import socket
import sys
from pathlib import Path

import yaml

from engine.cli import OneLineParser, user_errors_exit_2
from engine.machine import read_segments
from errors import ConfigError

TAIL_BYTES = 65536


def last_json_line(path: Path) -> dict:
    """The last complete JSON line of ``path`` (read from its end), {} if none."""
    try:
        with path.open("rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - TAIL_BYTES))
            lines = f.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return {}
    for line in reversed(lines):
        try:
            return json.loads(line)
        except ValueError:
            continue
    return {}


def owner(run: Path) -> str | None:
    """``pid N`` when the lock file names a live process on this host, else None. A pid that was reused by
    another process after a reboot would read as live; the lock itself (flock) is what train.py trusts."""
    try:
        words = (run / ".lock").read_text().split()
    except OSError:
        return None
    if len(words) < 4 or words[0] != "pid" or not words[1].isdigit() or words[3] != socket.gethostname():
        return None
    return f"pid {words[1]}" if Path(f"/proc/{words[1]}").exists() else None


def epochs_table(run: Path) -> list[dict]:
    """summary.csv's complete rows as {"epoch": int, "step": int, "wall_s", "cpu_s": float | None}; a row cut by a
    kill, or one whose epoch or step is not a number, is skipped."""
    try:
        with (run / "summary.csv").open(newline="") as f:
            rows = list(csv.DictReader(f))
    except (OSError, csv.Error, UnicodeDecodeError):
        return []
    table = []
    for row in rows:
        epoch, step = number(row.get("epoch")), number(row.get("step"))
        if None in row.values() or None in row or epoch is None or step is None:
            continue
        table.append({"epoch": int(epoch), "step": int(step),
                      "wall_s": number(row.get("wall_s")), "cpu_s": number(row.get("cpu_s"))})
    return table


def number(value) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def status(run: Path) -> dict:
    """The state of one run folder (see the module docstring)."""
    try:
        train = (yaml.safe_load((run / "config.yaml").read_text()) or {}).get("train", {})
    except (OSError, UnicodeDecodeError, yaml.YAMLError, AttributeError):
        train = {}
    train = train if isinstance(train, dict) else {}
    rows = epochs_table(run)
    epochs, max_steps = (v if isinstance(v, int) else None for v in (train.get("epochs"), train.get("max_steps")))
    per_epoch = rows[0]["step"] if rows and rows[0]["epoch"] == 1 else None
    budget = max_steps or (epochs * per_epoch if epochs and per_epoch else None)
    step = last_json_line(run / "metrics.jsonl").get("step")
    step = int(step) if isinstance(step, (int, float)) else None
    if step is None and rows:
        step = rows[-1]["step"]
    results = None
    if (run / "results.json").is_file():
        try:
            results = json.loads((run / "results.json").read_text())
        except (OSError, ValueError):
            results = None
    results = results if isinstance(results, dict) else None
    live = owner(run)
    saves = [p for p in (run / "last.pt", run / "best.pt") if p.is_file()]
    state = ("finished" if results and results.get("finished", True) and not live else
             f"training ({live})" if live else "stopped" if saves else "no checkpoint")
    wall = number(results.get("wall_s")) if results else None
    cpu = number(results.get("cpu_s")) if results else None
    if wall is None and rows:
        wall, cpu = rows[-1]["wall_s"], rows[-1]["cpu_s"]
    eta = None
    if live and budget and step is not None and step >= budget:
        eta = 0  # at its budget: no pace needed (a tiny run's rounded wall times may not move at all)
    elif live and budget and step is not None and len(rows) >= 2:
        first, last = rows[max(0, len(rows) - 4)], rows[-1]
        updates = last["step"] - first["step"]
        seconds = (last["wall_s"] or 0) - (first["wall_s"] or 0)
        if updates > 0 and seconds > 0:
            eta = (budget - step) * seconds / updates
    saved = max((p.stat().st_mtime for p in saves), default=None)
    cpus = list(dict.fromkeys(str(seg.get("gpu") or seg.get("cpu") or "?") for seg in read_segments(run)))
    return {"run": run.name, "state": state, "machines": cpus, "epoch": rows[-1]["epoch"] if rows else 0,
            "epochs": epochs, "step": step, "budget": budget, "wall_s": wall, "cpu_s": cpu,
            "last_save": (datetime.datetime.fromtimestamp(saved).strftime("%Y-%m-%d %H:%M") if saved else None),
            "eta_s": round(eta) if eta is not None else None}


def hours(seconds) -> str:
    return "" if seconds is None else f"{seconds / 3600:.2f}"


def table(items: list[dict]) -> str:
    lines = ["| run | state | epoch | update | wall h | CPU h | last save | left at recent pace | ran on |",
             "|---|---|---|---|---|---|---|---|---|"]
    for s in items:
        of = f" / {s['budget']:,}" if s["budget"] else ""
        step = f"{s['step']:,}{of}" if s["step"] is not None else ""
        epoch = f"{s['epoch']} / {s['epochs']}" if s["epochs"] else str(s["epoch"])
        left = f"{s['eta_s'] / 3600:.1f} h" if s["eta_s"] is not None else ""
        lines.append(f"| {s['run']} | {s['state']} | {epoch} | {step} | {hours(s['wall_s'])} | {hours(s['cpu_s'])} | "
                     f"{s['last_save'] or ''} | {left} | {', '.join(s['machines'])} |")
    return "\n".join(lines)


@user_errors_exit_2
def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs_dir", type=Path, help="the folder holding run folders (e.g. ~/kexue-runs)")
    parser.add_argument("--json", action="store_true", help="one JSON object per run instead of the table")
    args = parser.parse_args(argv)
    if not args.runs_dir.is_dir():
        raise ConfigError(f"{args.runs_dir}: no such folder (give the train.out_dir that holds the run folders)")
    runs = sorted(p for p in args.runs_dir.iterdir() if p.is_dir() and (p / "config.yaml").is_file())
    items = [status(p) for p in runs]
    print("\n".join(json.dumps(s) for s in items) if args.json else table(items))
    return 0


if __name__ == "__main__":
    sys.exit(main())
