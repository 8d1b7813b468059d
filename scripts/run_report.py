"""Markdown tables from finished run folders, for docs/RESULTS.md (numbers are read, never typed).

    python scripts/run_report.py runs/nice_mnist_blog runs/nice_mnist [--curve val/loss]

For each run: the per-epoch curve of one metric (``--curve``), and a summary line with the best value of the
checkpoint monitor, its epoch, the final metrics of results.json (test/... when the run held a test split out)
and the wall time. ``summary.csv`` rows from several resumed segments are all used; when a segment restarted
its clock (runs made before wall time was carried over), the segments' times are added.
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

import yaml


def read_rows(run: Path) -> list[dict]:
    with open(run / "summary.csv") as f:
        rows = [{k: (float(v) if v not in ("", None) else None) for k, v in r.items()} for r in csv.DictReader(f)]
    # a resumed run appends rows; keep the last row of each epoch
    by_epoch = {int(r["epoch"]): r for r in rows}
    return [by_epoch[e] for e in sorted(by_epoch)]


def wall_time(rows: list[dict]) -> float:
    """Total seconds: wall_s is cumulative within a segment; a drop means a segment restarted its clock."""
    total, previous = 0.0, 0.0
    for r in rows:
        if r["wall_s"] < previous:
            total += previous
        previous = r["wall_s"]
    return total + previous


def report(run: Path, curve: str) -> str:
    config = yaml.safe_load((run / "config.yaml").read_text())
    rows = read_rows(run)
    results = json.loads((run / "results.json").read_text()) if (run / "results.json").exists() else {}
    monitor = (config.get("callbacks") or {}).get("checkpoint", {}).get("monitor")
    lines = [f"**{run.name}** (model {config['model']['name']}, data {config['data']['name']}, "
             f"val={config['data']['val']}, seed {config['train']['seed']}, batch {config['train']['batch_size']})", ""]
    metric = curve if curve in rows[0] else monitor
    lines += ["| epoch | " + " | ".join(str(int(r["epoch"])) for r in rows) + " |",
              "|---|" + "---|" * len(rows),
              f"| {metric} | " + " | ".join(f"{r[metric]:.4g}" for r in rows) + " |"]
    train_key = next((k for k in rows[0] if k.startswith("train/") and k != "train/loss"), "train/loss")
    lines.append(f"| {train_key} (train mean) | " + " | ".join(f"{r[train_key]:.4g}" for r in rows) + " |")
    if monitor and monitor in rows[0]:
        sign = 1 if config["callbacks"]["checkpoint"].get("mode", "min") == "min" else -1
        best = min(rows, key=lambda r: sign * r[monitor])
        lines += ["", f"best {monitor} = {best[monitor]:.5g} at epoch {int(best['epoch'])} of {len(rows)}"]
    finals = {k: v for k, v in results.items() if k.startswith("test/")}
    if finals:
        lines.append("final weights on the test split: " + ", ".join(f"{k} = {v:.5g}" for k, v in finals.items()))
    lines.append(f"wall time {wall_time(rows) / 60:.1f} min over {int(rows[-1]['step'])} updates")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--curve", default="", help="metric of the per-epoch row (default: the monitor)")
    args = parser.parse_args(argv)
    for run in args.runs:
        if not (run / "summary.csv").exists():
            print(f"error: {run}/summary.csv not found; is {run} a run folder?", file=sys.stderr)
            return 2
        print(report(run, args.curve) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
