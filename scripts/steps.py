"""One step of a scripts/reproduce.py target, apart from the table (scripts/targets.py) that lists them: the
``Step`` record, how its arguments are formed (placeholders, quick-mode overrides), the state of a training
run's folder, and carrying the step out: its command run from the repository root with the output in a log
file, or a copy.
"""
from __future__ import annotations

import contextlib
import datetime
import json
import os
import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PLACEHOLDER = re.compile(r"\{(runs|fig|run:([A-Za-z0-9_.-]+))\}")  # {runs}, {fig}, {run:NAME}


@dataclass
class Step:
    target: str
    index: int                      # 1-based within the target
    count: int                      # steps in the target
    kind: str                       # train | script | copy
    label: str = ""
    argv: list[str] = field(default_factory=list)
    status: str = "run"             # run | resume | skip | given | above | copy
    note: str = ""
    budget: float = 0.0             # seconds in this mode (0 when nothing runs)
    log: Path | None = None
    capture: Path | None = None     # the file that gets the command's stdout
    copy: tuple[Path, Path] | None = None
    needs: tuple[str, ...] = ()     # run names this step reads (a train step: the run it makes)

    @property
    def where(self) -> str:
        return f"step {self.index}/{self.count} of target {self.target} ({self.label})"


def show(path: Path) -> str:
    """A path as commands print it: relative to the repository root (their cwd) when inside it."""
    path = Path(path).resolve()
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


def needs_of(texts) -> tuple[str, ...]:
    return tuple(dict.fromkeys(m.group(2) for t in texts for m in PLACEHOLDER.finditer(t) if m.group(2)))


def fill(text: str, dirs: dict[str, str]) -> str:
    return PLACEHOLDER.sub(lambda m: dirs[m.group(2) or m.group(1)], text)


def merge_overrides(*lists: list[str]) -> list[str]:
    """key=value overrides in order of first appearance, the last value of a key winning (as train.py would)."""
    return list({item.split("=", 1)[0]: item for lst in lists for item in lst}.values())


def option_groups(tokens: list[str]) -> list[list[str]]:
    """The tokens cut before each ``--option``: [[positional ...], ["--a", "1", "2"], ["--b"], ...]."""
    groups: list[list[str]] = []
    for token in tokens:
        if token.startswith("--") or not groups:
            groups.append([])
        groups[-1].append(token)
    return groups


def merge_options(args: list[str], quick: list[str]) -> list[str]:
    """Script arguments with the quick ones applied: a quick ``--option`` (with its values) that ``args``
    already has replaces it there, any other is appended."""
    merged = option_groups(args)
    for group in option_groups(quick):
        heads = [g[0] for g in merged]
        if group[0].startswith("--") and group[0] in heads:
            merged[heads.index(group[0])] = group
        else:
            merged.append(group)
    return [token for group in merged for token in group]


def run_state(run_dir: Path, config: dict) -> tuple[str, str]:
    """(status, note) of a run folder against the requested resolved config: skip, resume or run."""
    try:
        done = json.loads((run_dir / "results.json").read_text())
    except (OSError, ValueError):
        done = None
    resumable = (run_dir / "last.pt").is_file()
    if done is not None:
        epochs, steps = config["train"]["epochs"], config["train"]["max_steps"]
        epoch, step = int(done.get("epoch", 0)), int(done.get("step", 0))
        if epoch >= epochs or (steps is not None and step >= steps):
            return "skip", f"finished run in {show(run_dir)} (epoch {epoch}, update {step})" + mismatch(run_dir, config)
        if resumable:
            return "resume", (f"{show(run_dir)} stopped at epoch {epoch}, update {step} of "
                              f"{f'{steps} updates' if steps else f'{epochs} epochs'}: resumed")
    return ("resume", f"{show(run_dir)} holds last.pt but no results.json: resumed") if resumable else ("run", "")


def mismatch(run_dir: Path, config: dict) -> str:
    """A note when a finished run's settings differ from the requested ones (nulls filled at build time and
    the train/callback bookkeeping keys are not compared)."""
    import yaml
    from engine.config import diff_keys
    from engine.loss_weights import translate_config
    from errors import UserError
    try:
        saved = yaml.safe_load((run_dir / "config.yaml").read_text()) or {}
        if isinstance(saved, dict):  # a run of older code: its model.reg_weight ... read as loss_weights
            saved = translate_config(saved)
    except (OSError, yaml.YAMLError, UserError):
        return ""
    keys = []
    for section in ("model", "data", "optim", "loss_weights"):
        want = {k: v for k, v in (config.get(section) or {}).items() if v is not None}
        keys += diff_keys({k: v for k, v in (saved.get(section) or {}).items() if k in want}, want, section)
    keys += [f"train.{k}" for k in ("seed", "batch_size") if saved.get("train", {}).get(k) != config["train"][k]]
    return f"; NOTE: its config differs from this step's in {', '.join(keys)} (delete it to retrain)" if keys else ""


def shell_line(step: Step) -> str:
    """The step as a shell command (what --dry-run prints)."""
    if step.kind == "copy":
        return shlex.join(["cp", show(step.copy[0]), show(step.copy[1])])
    line = shlex.join(step.argv)
    return f"{line} | tee {shlex.quote(show(step.capture))}" if step.capture else line


# ============================================================================================= running
def execute(step: Step) -> tuple[int, str]:
    """Run one command from the repository root, its stdout and stderr appended to the step's log (stdout to
    the capture file instead, when the step has one: kept only on success, and added to the log). Ctrl-C
    reaches the command too (train.py saves last.pt and exits): wait for it. Returns (exit code, last line)."""
    step.log.parent.mkdir(parents=True, exist_ok=True)
    part = step.capture.with_name(step.capture.name + ".part") if step.capture else None
    with open(step.log, "a", encoding="utf-8") as log:
        log.write(f"# {datetime.datetime.now().isoformat(timespec='seconds')} {shell_line(step)}\n")
        log.flush()
        start = log.tell()
        if part:
            part.parent.mkdir(parents=True, exist_ok=True)
        with open(part, "w", encoding="utf-8") if part else contextlib.nullcontext(log) as out:
            proc = subprocess.Popen(step.argv, cwd=REPO, stdout=out, stderr=log,
                                    env={**os.environ, "PYTHONUNBUFFERED": "1", "MPLBACKEND": "Agg"})
            try:
                code = proc.wait()
            except KeyboardInterrupt:  # a second Ctrl-C (in this wait) aborts everything
                print("\ninterrupt: waiting for the step to save and stop (Ctrl-C again to abort it)", flush=True)
                code = proc.wait() or 130
        if part:
            log.write(part.read_text(encoding="utf-8"))
            if code == 0:
                part.replace(step.capture)
            else:
                part.unlink()
    with open(step.log, "rb") as f:
        f.seek(max(start, f.seek(0, os.SEEK_END) - 4096))
        lines = [line.strip() for line in f.read().decode("utf-8", "replace").splitlines() if line.strip()]
    return code, lines[-1] if lines else ""


def do_copy(step: Step) -> tuple[int, str]:
    src, dst = step.copy
    if not src.is_file():
        return 1, f"{show(src)} not found (the step before should have written it)"
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)
    print(f"copied {show(src)} -> {show(dst)}", flush=True)
    return 0, ""
