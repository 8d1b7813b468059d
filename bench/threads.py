"""The blog NICE training step under OpenMP thread settings, on a quiet machine and beside one CPU-bound process.

What is measured
    Seconds per training step (the blog NICE, 19.2M parameters, batch 128, fused Adam) in a fresh child
    process per setting, since libgomp reads its environment once when torch loads it:

    today     torch's default: one thread per core, libgomp's default spin (what runs without this policy)
    one       1 thread (OMP_NUM_THREADS=1)
    passive   OMP_WAIT_POLICY=PASSIVE, threads as today
    spin<N>   GOMP_SPINCOUNT=N, threads as today
    policy    what train.py does by default (engine/threads.py: the idle-core thread count)

    each first on a quiet machine, then beside a CPU-bound process this script starts itself (a Python busy
    loop, one core). The settings alternate within each round (--rounds rounds); each child runs --warmup
    steps, then times --steps steps and reports their median.

Pass (issue 17): policy_busy / one_quiet <= 1.5 and policy_quiet / today_quiet <= 1.03.

    python bench/threads.py            # about 4 minutes on 2 cores
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def child(steps: int, warmup: int, policy: bool) -> None:
    if policy:
        from engine import threads
        threads.configure_openmp()
    import torch

    from engine.build import build_model
    if policy:
        n = threads.default_threads()
        if n:
            torch.set_num_threads(n)
    torch.manual_seed(0)
    model = build_model({"model": {"name": "nice"}})
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7, fused=True)
    x = torch.randint(0, 256, (128, 1, 28, 28), dtype=torch.uint8)
    times = []
    for i in range(warmup + steps):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        model.training_losses({"x": x})["nll"].backward()
        opt.step()
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    print(json.dumps({"s_per_step": statistics.median(times), "threads": torch.get_num_threads()}))


SETTINGS = {
    "today": ({}, False),
    "one": ({"OMP_NUM_THREADS": "1"}, False),
    "passive": ({"OMP_WAIT_POLICY": "PASSIVE"}, False),
    "spin1000": ({"GOMP_SPINCOUNT": "1000"}, False),
    "spin10000": ({"GOMP_SPINCOUNT": "10000"}, False),
    "spin100000": ({"GOMP_SPINCOUNT": "100000"}, False),
    "policy": ({}, True),
}
CLEAN = ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "MKL_NUM_THREADS", "KMP_BLOCKTIME")


def run_child(name: str, args) -> dict:
    extra, policy = SETTINGS[name]
    env = {k: v for k, v in os.environ.items() if k not in CLEAN}
    env.update(extra)
    cmd = [sys.executable, __file__, "--child", "--steps", str(args.steps), "--warmup", str(args.warmup)]
    if policy:
        cmd.append("--policy")
    out = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--settings", default=",".join(SETTINGS))
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--policy", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.steps, args.warmup, args.policy)
        return
    names = args.settings.split(",")
    result = {"bench": "threads", "cores": os.cpu_count(), "steps": args.steps}
    for scenario in ("quiet", "busy"):
        burner = None
        if scenario == "busy":
            burner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
            time.sleep(1.0)
        try:
            runs = {n: [] for n in names}
            for r in range(args.rounds):
                for n in names:
                    got = run_child(n, args)
                    runs[n].append(got["s_per_step"])
                    result[f"{n}_{scenario}_threads"] = got["threads"]
                    print(f"{scenario} round {r} {n}: {got['s_per_step']:.4f} s/step, {got['threads']} threads",
                          file=sys.stderr, flush=True)
            for n in names:
                result[f"{n}_{scenario}"] = round(min(runs[n]), 5)
        finally:
            if burner is not None:
                burner.kill()
                burner.wait()
    if {"policy", "one", "today"} <= set(names):
        result["policy_busy_over_one_quiet"] = round(result["policy_busy"] / result["one_quiet"], 3)
        result["policy_quiet_over_today_quiet"] = round(result["policy_quiet"] / result["today_quiet"], 3)
        result["today_busy_over_one_quiet"] = round(result["today_busy"] / result["one_quiet"], 3)
    import torch
    result["torch"] = torch.__version__
    print(json.dumps(result))


if __name__ == "__main__":
    main()
