#!/usr/bin/env python3
"""Copy a run folder's text records (never its weights) into the repository, so its numbers outlive the machine.

    python scripts/archive_run.py ~/kexue-runs/cluster_vae_fashion_seed0 [more runs] [--to docs/runs]

Run folders live outside the repository (``~/kexue-runs``) and a machine that is not handed on takes them
with it: it happened twice to this project's campaign, and the results of the lost folders survived only as
prose in docs/RESULTS.md. This copies, for each RUN, the files that the tables and curves are made from:

- ``config.yaml`` (the resolved config), ``results.json``, ``summary.csv`` (one row per epoch), ``metrics.jsonl``,
  ``segments.jsonl`` (the machine of each training process, engine/machine.py);
- ``kmeans_baseline.json`` (scripts/kmeans_baseline.py) and every ``probe_*.json`` (scripts/probe_features.py),
  also those under ``snapshots/``;

into ``<to>/<run name>/`` with the same relative paths, and writes ``archive.json`` there: where each file came
from, its size and sha256, and when. Checkpoints (``*.pt``) are never copied; a record over 2 MB is refused
(one line, naming it). Archiving again replaces the earlier copy of a file and keeps files the folder no longer
has. scripts/cluster_table.py reads an archive as it reads a runs folder (``--runs-dir ~/kexue-runs docs/runs``),
and scripts/campaign/lib.sh skips a run whose archive says it finished.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
import time
from pathlib import Path

from engine.cli import user_errors_exit_2
from errors import ConfigError

RECORDS = ("config.yaml", "results.json", "summary.csv", "metrics.jsonl", "segments.jsonl", "kmeans_baseline.json",
           "probe_*.json", "snapshots/probe_*.json")
MAX_BYTES = 2 * 1024 * 1024


def records(run: Path) -> list[Path]:
    """The record files of a run folder, relative to it, in a fixed order."""
    found = []
    for pattern in RECORDS:
        found.extend(sorted(p.relative_to(run) for p in run.glob(pattern) if p.is_file()))
    return found


def archive(run: Path, to: Path) -> dict:
    """Copy ``run``'s records to ``to/<run.name>/``; return the manifest written there as archive.json."""
    if not run.is_dir():
        raise ConfigError(f"run folder {run} does not exist; pass a folder of train.out_dir (e.g. ~/kexue-runs/NAME)")
    files = records(run)
    if "config.yaml" not in {str(f) for f in files}:
        raise ConfigError(f"{run} has no config.yaml: is it a run folder made by train.py?")
    for rel in files:
        size = (run / rel).stat().st_size
        if size > MAX_BYTES:
            raise ConfigError(f"{run / rel} is {size / 2**20:.1f} MB, over the archive's 2 MB for one record; "
                              "leave it out of the repository (delete or move it) and archive again")
    dest = to / run.name
    manifest_path = dest / "archive.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {"files": {}}
    for rel in files:
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(run / rel, target)
        data = target.read_bytes()
        manifest["files"][str(rel)] = {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    manifest.update(source=str(run.resolve()), archived=time.strftime("%Y-%m-%d %H:%M:%S %z"),
                    finished=bool(json.loads((run / "results.json").read_text()).get("finished", True))
                    if (run / "results.json").is_file() else False)
    manifest["files"] = dict(sorted(manifest["files"].items()))
    manifest_path.write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


@user_errors_exit_2
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="run folders")
    parser.add_argument("--to", type=Path, default=Path(__file__).resolve().parents[1] / "docs" / "runs",
                        help="archive folder (default: docs/runs of this checkout)")
    args = parser.parse_args(argv)
    for run in args.runs:
        manifest = archive(run, args.to)
        state = "finished" if manifest["finished"] else "not finished"
        print(f"{run.name}: {len(manifest['files'])} records ({state}) -> {args.to / run.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
