#!/usr/bin/env python3
"""The post-3 seed table: clustering VAE and autoencoder + k-means, mean ± std over seeds, per dataset.

    python scripts/cluster_table.py --runs-dir ~/kexue-runs [docs/runs] [--datasets mnist fashion] [--out docs/figures/cluster_seeds]

Reads, for each dataset D, the finished runs ``<runs-dir>/cluster_vae_<D>_seed<s>/results.json`` (the clustering
VAE's own classifier clusters on the test split, ``val/clustering_*``: the configs validate on the test split)
and ``<runs-dir>/cluster_ae_<D>_seed<s>/kmeans_baseline.json`` (scripts/kmeans_baseline.py on the autoencoder
run of the same encoder: ``test/*``). Hungarian (one-to-one) accuracy is the headline, as in the clustering
literature; purity (many-to-one), NMI and ARI beside it. The std is the sample std (n − 1). A run folder
without its result file (not finished) is listed as missing, never counted.

Prints a markdown table and writes ``<out>.json`` with every per-seed value and the files read.
"""
from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
from pathlib import Path

from engine.cli import user_errors_exit_2
from errors import ConfigError

METRICS = ("acc", "purity", "nmi", "ari")
METHODS = {"clustering VAE": ("cluster_vae", "results.json", "val/clustering_"),
           "autoencoder + k-means": ("cluster_ae", "kmeans_baseline.json", "test/")}


def collect(runs_dirs: list[Path], prefix: str, result_file: str, key_prefix: str) -> tuple[dict, list[str], dict]:
    """{seed: {metric: value}} of the finished runs ``<prefix>_seed<s>``, the folders without results, and
    {seed: file read}. A run in several folders is read from the first that holds its finished result."""
    found, missing, files = {}, set(), {}
    for runs_dir in runs_dirs:
        for folder in sorted(runs_dir.glob(f"{prefix}_seed*")):
            match = re.fullmatch(rf"{re.escape(prefix)}_seed(\d+)", folder.name)
            if not match or not folder.is_dir() or int(match.group(1)) in found:
                continue
            path = folder / result_file
            result = json.loads(path.read_text()) if path.is_file() else None
            if result is None or (result_file == "results.json" and not result.get("finished", True)):
                missing.add(folder.name)
                continue
            try:
                found[int(match.group(1))] = {m: float(result[key_prefix + m]) for m in METRICS}
            except KeyError as e:
                raise ConfigError(f"{path} has no {e.args[0]!r}; is it a clustering run's {result_file}?") from None
            files[int(match.group(1))] = str(path)
            missing.discard(folder.name)
    missing -= {f"{prefix}_seed{s}" for s in found}
    return dict(sorted(found.items())), sorted(missing), dict(sorted(files.items()))


def mean_std(values: list[float]) -> tuple[float, float | None]:
    """Mean and sample std; the std of one seed is undefined (None, printed as no spread at all, not ± 0)."""
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else None


@user_errors_exit_2
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs-dir", type=Path, nargs="+", required=True,
                        help="run folders' parents, e.g. ~/kexue-runs docs/runs (the first holding a run is read)")
    parser.add_argument("--datasets", nargs="+", default=["mnist", "fashion"])
    parser.add_argument("--out", type=Path, default=None, help="write <out>.json (default: print only)")
    args = parser.parse_args(argv)
    for runs_dir in args.runs_dir:
        if not runs_dir.is_dir():
            raise ConfigError(f"--runs-dir {runs_dir} is not a folder")
    report = {"runs_dirs": [str(d) for d in args.runs_dir], "rows": []}
    lines = ["| dataset | method | seeds | Hungarian acc | purity | NMI | ARI |", "|---|---|---|---|---|---|---|"]
    for dataset in args.datasets:
        for method, (prefix, result_file, key_prefix) in METHODS.items():
            found, missing, files = collect(args.runs_dir, f"{prefix}_{dataset}", result_file, key_prefix)
            row = {"dataset": dataset, "method": method, "seeds": list(found), "missing": missing,
                   "per_seed": found, "files": files}
            if found:
                row.update({m: dict(zip(("mean", "std"), mean_std([v[m] for v in found.values()])))
                            for m in METRICS})
                cells = [f"{row[m]['mean']:.4f}" + (f" ± {row[m]['std']:.4f}" if row[m]["std"] is not None else " (one seed)")
                         for m in METRICS]
                lines.append(f"| {dataset} | {method} | {', '.join(map(str, found))} | " + " | ".join(cells) + " |")
            report["rows"].append(row)
            if missing:
                print(f"{dataset}, {method}: not finished, not counted: {', '.join(missing)}", file=sys.stderr)
    print("\n".join(lines))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.with_suffix(".json").write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
