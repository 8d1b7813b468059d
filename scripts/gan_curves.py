#!/usr/bin/env python3
"""Several runs' scores from scripts/gan_fd.py on one figure, and the Markdown tables docs/RESULTS.md quotes.

    python scripts/gan_curves.py RUNS/gan_fid2k_gan_cifar10_sn.json RUNS/gan_fid2k_gan_cifar10_gp.json ... \
        --out docs/figures/gan_fid2k [--budget-of gan_cifar10_gp@2000]

gan_fd.py writes one report per call (the campaign scores each run on its own, when it ends); this merges them
after checking that every report measured each metric the same way (split, noise seed, n, reference, network or
classifier: the keys gan_fd.py itself compares before it keeps a score), writes ``<out>.json`` and ``<out>.png``
(gan_fd.py's figure: each metric against iterations, wall time and CPU time) and prints, per metric, a table of
runs against generator iterations (the lowest value at each iteration in bold) with each run's last wall and CPU
hours.

``--budget-of RUN@ITERATION``: the CPU time RUN's training process had used at ITERATION becomes a budget (the
fair reading of "SN is cheaper": every run given the core-hours of GP's first 2,000 iterations), and a table gives
each run's last scored checkpoint within it and its best one. CPU seconds are comparable only between runs made
on the same kind of CPU at one thread (runs record theirs in <run>/segments.jsonl; scripts/runs_status.py shows
it).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from engine.cli import user_errors_exit_2
from errors import ConfigError
from scripts import gan_fd

LABELS = {"fid": "FID-{fid_n} (vs {fid_ref_n} of the {split} split)", "fd": "classifier FD ({n} vs {n}, {split})"}


def read_report(path: Path) -> dict:
    try:
        report = json.loads(path.read_text())
    except OSError as e:
        raise ConfigError(f"cannot read {path}: {e.strerror}; pass the .json that scripts/gan_fd.py --out wrote")
    except ValueError as e:
        raise ConfigError(f"{path} is not JSON ({e}); pass the .json that scripts/gan_fd.py --out wrote")
    if not isinstance(report, dict) or not isinstance(report.get("runs"), dict):
        raise ConfigError(f"{path} has no 'runs': not a report of scripts/gan_fd.py")
    return report


def merge(paths: list[Path]) -> dict:
    """One report of every run in ``paths``; a metric's protocol must agree across the reports that hold it."""
    merged: dict = {"runs": {}, "merged_from": [str(p) for p in paths]}
    origin: dict[str, Path] = {}  # metric -> the first report that held it
    for path in paths:
        report = read_report(path)
        for metric, keys in gan_fd.PROTOCOL_KEYS.items():
            if not any(metric in row for rows in report["runs"].values() for row in rows):
                continue
            if metric not in origin:
                origin[metric] = path
                merged.update({k: report.get(k) for k in keys})
                continue
            for key in keys:
                if key == "fd_classifier_sha256" and None in (report.get(key), merged.get(key)):
                    # older code wrote no digest: the classifier's path agrees (fd_metric), its weights are unchecked
                    print(f"note: {path} or {origin[metric]} predates the classifier weights' digest: that both "
                          f"classifier FDs come from the same weights is not checked", file=sys.stderr)
                    merged[key] = merged.get(key) or report.get(key)
                    continue
                if report.get(key) != merged.get(key):
                    raise ConfigError(f"{path} measured {metric} with {key} = {report.get(key)!r} but {origin[metric]} "
                                      f"with {merged.get(key)!r}: score both runs with the same gan_fd.py options")
        for name, rows in report["runs"].items():
            if name in merged["runs"]:
                raise ConfigError(f"run {name} is in two reports ({path} and an earlier one): pass each run once")
            merged["runs"][name] = rows
    for key in ("split", "n", "fid_n", "fid_ref_n", "seed"):
        merged.setdefault(key, None)
    return merged


def _fmt(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}"


def metric_table(report: dict, metric: str) -> str:
    """Runs against generator iterations for one metric, the lowest of each column in bold."""
    runs = {name: {r["iteration"]: r for r in rows if metric in r} for name, rows in report["runs"].items()}
    runs = {name: rows for name, rows in runs.items() if rows}
    iterations = sorted({it for rows in runs.values() for it in rows})
    lowest = {it: min(rows[it][metric] for rows in runs.values() if it in rows) for it in iterations}
    label = LABELS[metric].format(**{k: report.get(k) for k in ("fid_n", "fid_ref_n", "split", "n")})
    lines = [f"| {label} | " + " | ".join(f"it. {it}" for it in iterations) + " | wall h | CPU h |",
             "|---" * (len(iterations) + 3) + "|"]
    for name, rows in runs.items():
        cells = []
        for it in iterations:
            value = rows[it][metric] if it in rows else None
            cells.append(f"**{_fmt(value)}**" if value is not None and value == lowest[it] and len(runs) > 1
                         else _fmt(value))
        last = rows[max(rows)]
        hours = [_fmt(None) if last.get(k) is None else f"{last[k] / 3600:.2f}" for k in ("wall_s", "cpu_s")]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {hours[0]} | {hours[1]} |")
    return "\n".join(lines)


def parse_budget(text: str, report: dict) -> tuple[str, int, float]:
    name, sep, iteration = text.rpartition("@")
    if not sep or not iteration.isdigit():
        raise ConfigError(f"--budget-of {text!r}: write RUN@ITERATION, e.g. gan_cifar10_gp@2000")
    if name not in report["runs"]:
        raise ConfigError(f"--budget-of {text!r}: no run {name!r} in the reports (runs: {', '.join(report['runs'])})")
    rows = [r for r in report["runs"][name] if r["iteration"] == int(iteration) and r.get("cpu_s") is not None]
    if not rows:
        have = sorted(r["iteration"] for r in report["runs"][name] if r.get("cpu_s") is not None)
        raise ConfigError(f"--budget-of {text!r}: {name} has no scored checkpoint with CPU time at iteration "
                          f"{iteration} (it has {have}); pick one of those")
    return name, int(iteration), rows[0]["cpu_s"]


def budget_table(report: dict, metric: str, budget: tuple[str, int, float]) -> str:
    """Each run's last and best checkpoint within the CPU seconds of the budget run at its iteration."""
    name, iteration, seconds = budget
    lines = [f"| within {seconds / 3600:.2f} CPU h ({name} at iteration {iteration}), {metric} | last checkpoint "
             f"inside: iteration | CPU h | {metric} | best inside: iteration | {metric} |", "|---" * 6 + "|"]
    for run, rows in report["runs"].items():
        inside = [r for r in rows if metric in r and r.get("cpu_s") is not None and r["cpu_s"] <= seconds * 1.0001]
        if not inside:
            lines.append(f"| {run} | none scored | | | | |")
            continue
        last, best = inside[-1], min(inside, key=lambda r: r[metric])
        lines.append(f"| {run} | {last['iteration']} | {last['cpu_s'] / 3600:.2f} | {_fmt(last[metric])} | "
                     f"{best['iteration']} | {_fmt(best[metric])} |")
    return "\n".join(lines)


@user_errors_exit_2
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reports", nargs="+", type=Path, help="the .json files scripts/gan_fd.py --out wrote")
    parser.add_argument("--out", required=True, help="prefix of the merged .json and .png")
    parser.add_argument("--budget-of", help="RUN@ITERATION: that run's CPU time there as every run's budget")
    args = parser.parse_args(argv)
    report = merge(args.reports)
    budget = parse_budget(args.budget_of, report) if args.budget_of else None
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    gan_fd.write_report(report, out)
    gan_fd.plot(report, out)
    for metric in gan_fd.PROTOCOL_KEYS:
        if any(metric in r for rows in report["runs"].values() for r in rows):
            print(metric_table(report, metric) + "\n")
            if budget:
                print(budget_table(report, metric, budget) + "\n")
    print(out.with_suffix(".png"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
