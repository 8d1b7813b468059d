#!/usr/bin/env python3
"""Train one config under several seeds and report mean ± standard deviation of its final metrics.

    python scripts/seed_sweep.py --config configs/cluster_vae_mnist.yaml [--seeds 0 1 2 3 4] \
        [--out-dir runs/sweep] [--metrics val/clustering_acc val/clustering_purity] [key.sub=value ...]

Clustering results swing between seeds (docs/posts/3_cluster_vae.md, "Pitfalls"), so one number
says little. Each seed s runs ``train.py --config C train.seed=s train.run_name=<config>_seed<s>
train.out_dir=<out-dir> [overrides]`` in its own process. A seed whose run folder already holds results.json
is not rerun; one with a last.pt but no results.json (interrupted) is resumed with ``--resume auto``: the
sweep can be stopped and restarted. The metrics come from each run's results.json (the final weights);
the std is the sample standard deviation (n − 1). Printed as a markdown table and written to
``<out-dir>/<config>_sweep.json`` with the seeds, the per-seed values and the commands.
"""
from __future__ import annotations

import argparse
import json
import shlex
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SKIP = {"step", "epoch", "wall_s"}


def run_seed(config: Path, seed: int, out_dir: Path, overrides: list[str]) -> tuple[dict, list[str]]:
    name = f"{config.stem}_seed{seed}"
    run_dir = out_dir / name
    command = [sys.executable, str(REPO / "train.py"), "--config", str(config), f"train.seed={seed}",
               f"train.run_name={name}", f"train.out_dir={out_dir}", *overrides]
    if (run_dir / "results.json").exists():
        print(f"seed {seed}: {run_dir}/results.json exists, not rerun", flush=True)
    else:
        if (run_dir / "last.pt").exists():
            command.append("--resume=auto")
        print(f"seed {seed}: {shlex.join(command)}", flush=True)
        result = subprocess.run(command, cwd=REPO)
        if result.returncode != 0:
            raise SystemExit(f"error: seed {seed} failed (exit {result.returncode}); its run folder {run_dir} "
                             f"is kept: fix the cause and rerun this command to resume it")
    return json.loads((run_dir / "results.json").read_text()), command


def summarise(results: dict[int, dict], metrics: list[str] | None) -> dict[str, dict]:
    keys = metrics or sorted({k for r in results.values() for k, v in r.items()
                              if k not in SKIP and isinstance(v, (int, float))})
    summary = {}
    for key in keys:
        missing = [s for s, r in results.items() if key not in r]
        if missing:
            raise SystemExit(f"error: metric {key} is not in results.json of seed(s) {missing}; "
                             f"available: {', '.join(sorted(next(iter(results.values()))))}")
        values = [float(results[s][key]) for s in results]
        summary[key] = {"mean": statistics.fmean(values),
                        "std": statistics.stdev(values) if len(values) > 1 else 0.0,
                        "values": dict(zip(map(str, results), values))}
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--out-dir", type=Path, default=REPO / "runs" / "sweep")
    parser.add_argument("--metrics", nargs="+", default=None, help="results.json keys (default: every metric)")
    parser.add_argument("overrides", nargs="*", help="key.sub=value, passed to every run")
    args = parser.parse_args(argv)
    if not args.config.is_file():
        print(f"error: config file {args.config} not found; pass e.g. --config configs/cluster_vae_mnist.yaml",
              file=sys.stderr)
        return 2
    if len(set(args.seeds)) != len(args.seeds):
        print(f"error: --seeds has duplicates: {args.seeds}", file=sys.stderr)
        return 2
    results, commands = {}, {}
    for seed in args.seeds:
        results[seed], command = run_seed(args.config.resolve(), seed, args.out_dir.resolve(), args.overrides)
        commands[seed] = shlex.join(command)
    summary = summarise(results, args.metrics)
    print(f"\n{args.config.stem}, seeds {args.seeds}\n\n| metric | mean | std | " +
          " | ".join(f"seed {s}" for s in args.seeds) + " |\n|---|---|---|" + "---|" * len(args.seeds))
    for key, s in summary.items():
        print(f"| {key} | {s['mean']:.4f} | {s['std']:.4f} | " +
              " | ".join(f"{s['values'][str(seed)]:.4f}" for seed in args.seeds) + " |")
    out = args.out_dir / f"{args.config.stem}_sweep.json"
    out.write_text(json.dumps({"config": str(args.config), "seeds": args.seeds, "overrides": args.overrides,
                               "summary": summary, "commands": {str(k): v for k, v in commands.items()}}, indent=1))
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
