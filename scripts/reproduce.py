#!/usr/bin/env python3
"""Regenerate a figure or table of docs/RESULTS.md: train the runs it needs that are missing, then draw it.

    python scripts/reproduce.py --list                          # the targets, one line each
    python scripts/reproduce.py nice [center_loss ...]          # full runs under runs/, figures to docs/figures/
    python scripts/reproduce.py all --quick                     # every figure from short runs (< 30 min, 2 cores)
    python scripts/reproduce.py all --quick --dry-run           # print every command, run nothing
    python scripts/reproduce.py nice --runs-dir ../runs         # use (and complete) the runs already made there
    python scripts/reproduce.py nice_gap --run nice_mnist_blog=../runs/nice_mnist_blog   # this run, no training

The targets, steps and runs are the table in scripts/targets.py (plain data). A run is skipped when its folder
holds a finished run (results.json at the step's train.epochs / max_steps), resumed with ``--resume auto`` when
it holds a last.pt (a Ctrl-C'd run too), trained otherwise; ``--run NAME=PATH`` uses the finished run PATH
instead. Commands run from the repository root with this interpreter, their output appended to a log
(``<run folder>/train.log``, ``<runs-dir>/_logs/<target>/<NN>_<script>.log``; a step's ``stdout`` file gets the
script's standard output). ``--quick``: the quick overrides, runs under runs_quick/, figures under
docs/figures/quick/ (never docs/figures/), a QUICK.md in both (these check the pipeline, not the numbers). Data
is found as train.py finds it; ``--set data.root=DIR`` passes a key to every run. A failing step stops all
(``--keep-going``: its target and the steps needing its run) with a line naming the step, its log and last
output line, and its exit code. An unknown target or a bad argument: one line on stderr, exit code 2.
"""
from __future__ import annotations

import argparse
import datetime
import os
import shlex
import sys
from pathlib import Path

from scripts.steps import (REPO, Step, do_copy, execute, fill, merge_options, merge_overrides, needs_of,
                           run_state, shell_line, show)
from scripts.targets import QUICK_BUDGET_LIMIT, RUNS, TARGETS  # noqa: F401 (the limit: checked by the tests)

FULL_RUNS, QUICK_RUNS = REPO / "runs", REPO / "runs_quick"
FULL_FIGURES, QUICK_FIGURES = REPO / "docs" / "figures", REPO / "docs" / "figures" / "quick"
QUICK_NOTE = """# Quick outputs: for checking the pipeline, not for the numbers

Everything here comes from `python scripts/reproduce.py ... --quick`: short training runs (a few dozen updates
on a few thousand images, small evaluation and probe sets; the overrides are in scripts/targets.py, and
`python scripts/reproduce.py all --quick --dry-run` prints every command). They show that each path from data to
figure runs; their numbers and images are not results (those are in docs/figures/ and docs/RESULTS.md).

Invocations:
"""
KINDS = ("train", "script", "copy")
SKIPPED = ("skip", "given", "above")  # statuses of steps that do not run


class UsageError(Exception):
    """A bad argument or table entry: one line on stderr, exit code 2."""


def check_table() -> None:
    """Every step is well formed, and every {run:NAME} names a run trained earlier in the same target."""
    for name, target in TARGETS.items():
        if name == "all" or not target.get("about") or not target.get("steps"):
            raise UsageError(f"target {name!r}: needs 'about' and 'steps' (and may not be called 'all')")
        trained: set[str] = set()
        for step in target["steps"]:
            if sum(k in step for k in KINDS) != 1:
                raise UsageError(f"target {name!r}: step {step} must have exactly one of train, script, copy")
            if "train" in step and step["train"] not in RUNS:
                raise UsageError(f"target {name!r}: run {step['train']!r} is not in RUNS")
            trained.update([step["train"]] if "train" in step else [])
            texts = [step["copy"], step["to"]] if "copy" in step else [
                *step.get("args", []), *step.get("quick", []), step.get("stdout", "")]
            for text, run in ((t, r) for t in texts for r in needs_of([t]) if r not in trained):
                raise UsageError(f"target {name!r}: {text} uses run {run!r} before a train step for it")


def plan(names: list[str], quick: bool, runs_dir: Path, fig_dir: Path, given: dict[str, Path],
         extra: list[str]) -> list[Step]:
    """The steps of the targets in order, each with its command and what will happen to it."""
    import engine.build  # noqa: F401 (registers the callbacks the configs name)
    from engine.config import load_config
    from errors import UserError

    def config_of(path: str, overrides: list[str], where: str) -> dict:
        try:
            return load_config(REPO / path, overrides)
        except (UserError, ValueError) as e:
            raise UsageError(f"{where}: {e}") from None

    dirs = {"runs": show(runs_dir), "fig": show(fig_dir), **{n: show(runs_dir / n) for n in RUNS},
            **{n: show(p) for n, p in given.items()}}
    planned: set[str] = set()
    steps: list[Step] = []
    for target in names:
        for i, step in enumerate(TARGETS[target]["steps"], 1):
            s = Step(target, i, len(TARGETS[target]["steps"]), next(k for k in KINDS if k in step))
            if s.kind == "train":
                name, run = step["train"], RUNS[step["train"]]
                overrides = merge_overrides(run["args"], run["quick"] if quick else [], extra,
                                            [f"train.out_dir={dirs['runs']}", f"train.run_name={name}"])
                config = config_of(run["config"], overrides, f"target {target}, run {name}")
                s.label, s.needs, s.log = f"train {name}", (name,), runs_dir / name / "train.log"
                s.argv = [sys.executable, "train.py", "--config", run["config"], *overrides]
                if name in given:
                    s.status, s.note = "given", f"--run {name}={dirs[name]}: not trained"
                elif name in planned:
                    s.status, s.note = "above", "already planned above"
                else:
                    s.status, s.note = run_state(runs_dir / name, config)
                    s.argv += ["--resume", "auto"] if s.status == "resume" else []
                    planned.add(name)
                if s.status in ("run", "resume"):
                    s.budget = run["budget"] if quick else run["full_budget"]
            elif s.kind == "script":
                args = merge_options(step.get("args", []), step.get("quick", []) if quick else [])
                if "train_overrides" in step:  # the script hands these to train.py: check them now
                    args += ["--", *merge_overrides(step["train_overrides"],
                                                    step.get("quick_train_overrides", []) if quick else [], extra)]
                    config_of(args[args.index("--config") + 1], args[args.index("--") + 1:],
                              f"target {target}, step {i} ({step['script']})")
                s.label, s.needs = step["script"], needs_of([*args, step.get("stdout", "")])
                s.argv = [sys.executable, step["script"], *(fill(a, dirs) for a in args)]
                s.log = runs_dir / "_logs" / target / f"{i:02d}_{Path(step['script']).stem}.log"
                s.capture = REPO / fill(step["stdout"], dirs) if step.get("stdout") else None
                s.budget = step.get("budget", 0) if quick else step.get("full_budget", 0)
            else:
                s.needs = needs_of([step["copy"], step["to"]])
                s.copy = (REPO / fill(step["copy"], dirs), REPO / fill(step["to"], dirs))
                s.label, s.status = f"copy to {show(s.copy[1])}", "copy"
            steps.append(s)
    return steps


# ============================================================================================= running
def describe(step: Step) -> str:
    """The step's comment line and command (commented out when skipped): what --dry-run prints, and the run."""
    about = f"\n# == {step.target}: {TARGETS[step.target]['about']}\n" if step.index == 1 else ""
    head = f"{about}# [{step.index}/{step.count}] {step.label}"
    if step.status in SKIPPED:
        return f"{head}: skipped, {step.note}\n# {shell_line(step)}"
    extra = (f"; ~{step.budget:.0f} s" if step.budget else "") + (f"; log {show(step.log)}" if step.log else "")
    return f"{head}{': ' + step.note if step.note else ''}{extra}\n{shell_line(step)}"


def run_all(steps: list[Step], keep_going: bool) -> int:
    """Run the steps in order. A failure stops everything, or (``keep_going``) the rest of its target and the
    steps that need its run. Returns the first failure's exit code, 0 when all went well."""
    failed: dict[str, int] = {}  # target: exit code (0: not run, it needs a failed run)
    failed_runs: set[str] = set()
    for step in (s for s in steps if s.target not in failed):
        print(describe(step), flush=True)
        blocked = [n for n in step.needs if n in failed_runs]
        if blocked or step.status in SKIPPED:
            if blocked:
                print(f"# not run: it needs the failed run {', '.join(blocked)}", flush=True)
                failed[step.target] = 0
            continue
        code, last = do_copy(step) if step.kind == "copy" else execute(step)
        if code == 0:
            continue
        code = code if code > 0 else 1  # killed by a signal
        failed_runs.update(step.needs[:1] if step.kind == "train" else ())
        log = f"; log: {show(step.log)}" if step.log else ""
        print(f"error: {step.where} failed with exit code {code}{': ' + last if last else ''}{log}", file=sys.stderr,
              flush=True)
        if code == 130:
            print("interrupted; run the same command again to continue (finished runs are skipped, stopped ones "
                  "resumed)", file=sys.stderr, flush=True)
            return 130
        failed[step.target] = code
        if not keep_going:
            return code
    if failed:
        print(f"error: failed targets: {', '.join(failed)}", file=sys.stderr, flush=True)
    return next((c for c in failed.values() if c), 1) if failed else 0


# =========================================================================================== interface
def total_budget(names: list[str], quick: bool) -> float:
    """Seconds for the targets from scratch, each run counted once."""
    key, seen, total = "budget" if quick else "full_budget", set(), 0.0
    for step in (s for name in names for s in TARGETS[name]["steps"]):
        run = step.get("train")
        total += step.get(key, 0) if run is None else 0 if run in seen else RUNS[run][key]
        seen.add(run)
    return total


def duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min" if seconds < 7200 else f"{seconds / 3600:.1f} h"


def list_targets() -> None:
    width = max(map(len, TARGETS))
    print(f"{'target':{width}}  {'quick':>9}  {'full':>9}  what it makes")
    rows = [(name, [name], target["about"]) for name, target in TARGETS.items()]
    for name, names, about in [*rows, ("all", list(TARGETS), "every target above, each run trained once")]:
        print(f"{name:{width}}  {duration(total_budget(names, True)):>9}  {duration(total_budget(names, False)):>9}  "
              f"{about}")


def parse_given(items: list[str], names: list[str]) -> dict[str, Path]:
    """The --run NAME=PATH folders by run name: finished runs of the chosen targets."""
    used = list(dict.fromkeys(s["train"] for n in names for s in TARGETS[n]["steps"] if "train" in s))
    given = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise UsageError(f"--run {item!r} must look like NAME=PATH (e.g. nice_mnist=../runs/nice_mnist)")
        if name not in used:
            raise UsageError(f"--run {name}: not a run of the chosen targets (their runs: {', '.join(used) or 'none'})")
        given[name] = Path(path).expanduser().resolve()
        if not (given[name] / "results.json").is_file():
            raise UsageError(f"--run {name}={path}: {given[name]} is not a finished run folder (no results.json)")
    return given


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     epilog="targets: all, " + ", ".join(TARGETS) + " (--list describes them)")
    parser.add_argument("targets", nargs="*", help="targets to make, or 'all'")
    parser.add_argument("--list", action="store_true", help="list the targets with a one-line description")
    parser.add_argument("--quick", action="store_true",
                        help="short runs under runs_quick/, figures under docs/figures/quick/ (checks the pipeline)")
    parser.add_argument("--dry-run", action="store_true", help="print every command, run nothing")
    parser.add_argument("--runs-dir", type=Path, help="run folders (default runs/, with --quick runs_quick/)")
    parser.add_argument("--out", type=Path, help="figure folder (default docs/figures/, with --quick docs/figures/quick/)")
    parser.add_argument("--run", action="append", default=[], metavar="NAME=PATH",
                        help="use this finished run folder for run NAME instead of training it (repeatable)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="extra",
                        help="override passed to every training run, e.g. train.threads=1 or data.root=DIR")
    parser.add_argument("--keep-going", action="store_true",
                        help="after a failure, go on with the targets that do not need the failed run")
    return parser.parse_args(argv)


def folders(args: argparse.Namespace) -> tuple[Path, Path]:
    """(runs folder, figure folder); --quick never writes into the full ones."""
    runs_dir = args.runs_dir.expanduser().resolve() if args.runs_dir else QUICK_RUNS if args.quick else FULL_RUNS
    fig_dir = args.out.expanduser().resolve() if args.out else QUICK_FIGURES if args.quick else FULL_FIGURES
    if args.quick and fig_dir == FULL_FIGURES:
        raise UsageError(f"--quick never writes to {show(FULL_FIGURES)} (the real figures); leave --out unset "
                         f"(default {show(QUICK_FIGURES)})")
    if args.quick and runs_dir == FULL_RUNS:
        raise UsageError(f"--quick never trains into {show(FULL_RUNS)} (the full runs); leave --runs-dir unset "
                         f"(default {show(QUICK_RUNS)})")
    return runs_dir, fig_dir


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    try:
        check_table()
        if args.list:
            list_targets()
            return 0
        unknown = [t for t in args.targets if t != "all" and t not in TARGETS]
        if unknown or not args.targets:
            raise UsageError(f"{f'unknown target {unknown[0]!r}' if unknown else 'name a target'}; valid targets: "
                             f"all, {', '.join(TARGETS)} (--list describes them)")
        bad = [item for item in args.extra if "=" not in item]
        if bad:
            raise UsageError(f"--set {bad[0]!r} must look like key.sub=value (e.g. train.threads=1)")
        names = list(TARGETS) if "all" in args.targets else list(dict.fromkeys(args.targets))
        runs_dir, fig_dir = folders(args)
        steps = plan(names, args.quick, runs_dir, fig_dir, parse_given(args.run, names), args.extra)
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr, flush=True)
        return 2
    mode = "QUICK (short runs: for checking the pipeline, not for the numbers)" if args.quick else "full"
    to_run = [s for s in steps if s.status in ("run", "resume")]
    budget = sum(s.budget for s in steps)
    print(f"# reproduce {' '.join(names)}: mode {mode}; runs in {show(runs_dir)}, figures in {show(fig_dir)}\n"
          f"# {len(to_run)} commands to run ({len(steps) - len(to_run)} skipped or copies); estimated "
          f"{duration(budget)} ({budget:.0f} s{', on a quiet 2-core machine' if args.quick else ''})", flush=True)
    if args.dry_run:
        data = os.environ.get("KEXUE_DATA")
        print(f"cd {shlex.quote(str(REPO))}" + (f"\nexport KEXUE_DATA={shlex.quote(data)}" if data else "")
              + f"\nmkdir -p {shlex.quote(show(fig_dir))}"
              + (f"\n# writes {show(fig_dir / 'QUICK.md')} and {show(runs_dir / 'QUICK.md')}" if args.quick else ""))
        print("\n".join(describe(step) for step in steps))
        return 0
    fig_dir.mkdir(parents=True, exist_ok=True)
    if args.quick:
        for folder in (fig_dir, runs_dir):
            write_quick_note(folder, shlex.join(["python", "scripts/reproduce.py", *argv]), names)
    code = run_all(steps, args.keep_going)
    if code == 0:
        print(f"\ndone: {', '.join(names)}; outputs in {show(fig_dir)}"
              + (" (QUICK: short runs, not for the numbers)" if args.quick else ""), flush=True)
    return code


def write_quick_note(folder: Path, command: str, names: list[str]) -> None:
    """QUICK.md in ``folder``: what quick outputs are, and one line per invocation."""
    folder.mkdir(parents=True, exist_ok=True)
    note = folder / "QUICK.md"
    text = note.read_text(encoding="utf-8") if note.is_file() else QUICK_NOTE
    stamp = datetime.datetime.now().isoformat(timespec="seconds")
    note.write_text(text + f"- {stamp}: `{command}` (targets: {', '.join(names)})\n", encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
