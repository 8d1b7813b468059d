"""Run state survives everything: SIGKILL at random moments and at chosen instants inside a save, a kill in
the end-of-epoch evaluation, a corrupt last.pt, two processes on one folder, Ctrl-C (once, twice, during a
save), non-finite weights, optimizer changes on resume, and checkpoints written by older code.

The kill tests run train.py in children of a fork server (tests/engine/kill_harness.py) on a tiny NICE, and
compare the end of every interrupted run with an uninterrupted one, bit for bit: weights, optimizer states,
the metrics.jsonl records and the summary.csv rows (timing fields aside).
"""
from __future__ import annotations

import csv
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from engine import checkpoint, run_folder
from engine.build import build_trainer
from engine.config import load_config
from errors import CheckpointError, TrainingError
from tests.fixtures import assert_same_state, flat_state as _flat

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "ckpt_cf763f0"
TIMING = {"train/samples_per_s", "wall_s", "cpu_s"}

# 96 fake 8x8 images, batch 8: 12 updates an epoch, 3 epochs; last.pt every 4 updates, so one save falls on
# each epoch's last update, before its evaluation and its (epoch-interval) scheduler step
TINY = {
    "model": {"name": "nice", "image_shape": [1, 8, 8], "num_couplings": 4, "hidden_units": 16, "hidden_layers": 1},
    "data": {"name": "fake", "image_shape": [1, 8, 8], "n_train": 96, "n_test": 32},
    "optim": {"name": "adam", "lr": 1.0e-3, "eps": 1.0e-7},
    "scheduler": {"name": "step", "interval": "epoch", "step_size": 1, "gamma": 0.5},
    "train": {"epochs": 3, "batch_size": 8, "eval_batch_size": 32, "log_every": 2, "threads": 1,
              "checkpoint_every": 4},
    "callbacks": {"checkpoint": {"monitor": "val/loss"}, "ema": {"decay": 0.9, "warmup": True},
                  "metrics": {"tensorboard": False}},
}


def write_config(tmp_path: Path, name: str = "tiny", **train) -> Path:
    cfg = json.loads(json.dumps(TINY))
    cfg["train"].update(out_dir=str(tmp_path / "runs"), **train)
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


class Harness:
    """The fork server, one per test module."""

    def __init__(self):
        self.proc = subprocess.Popen([sys.executable, "-m", "tests.engine.kill_harness"], cwd=ROOT,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                     env={**os.environ, "OMP_NUM_THREADS": "1"})

    def _ask(self, request: dict) -> dict:
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def start(self, argv: list[str], log: Path, fault: str | None = None) -> int:
        return self._ask({"cmd": "run", "argv": argv, "log": str(log), "fault": fault})["pid"]

    def wait(self, pid: int) -> dict:
        return self._ask({"cmd": "wait", "pid": pid})

    def run(self, argv: list[str], log: Path, fault: str | None = None) -> dict:
        return self.wait(self.start(argv, log, fault))

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


@pytest.fixture(scope="module")
def harness():
    h = Harness()
    yield h
    h.close()


def train_argv(config: Path, run_name: str, *extra: str, resume: bool = False) -> list[str]:
    return ["--config", str(config), f"train.run_name={run_name}", *extra] + (["--resume", "auto"] if resume else [])


def records(run_dir: Path) -> list[dict]:
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(line).items() if k not in TIMING} for line in lines]


def summary_rows(run_dir: Path) -> list[dict]:
    with open(run_dir / "summary.csv", newline="") as f:
        return [{k: v for k, v in row.items() if k not in TIMING} for row in csv.DictReader(f)]


def assert_same_end(run_dir: Path, reference: Path) -> None:
    a, b = checkpoint.load(run_dir / "last.pt"), checkpoint.load(reference / "last.pt")
    assert a["progress"] == b["progress"]
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key
    assert _flat(a["optimizers"]) == _flat(b["optimizers"])
    assert _flat(a["schedulers"]) == _flat(b["schedulers"])
    assert records(run_dir) == records(reference)  # no record lost, none twice
    assert summary_rows(run_dir) == summary_rows(reference)
    assert json.loads((run_dir / "results.json").read_text())["finished"] is True


def temporaries(run_dir: Path) -> list[str]:
    return sorted(p.name for p in run_dir.rglob(".*.tmp*"))


@pytest.fixture(scope="module")
def reference(harness, tmp_path_factory):
    """An uninterrupted run of the tiny config, and the wall time of a run (the second one, timed once the
    fork server has finished its imports)."""
    tmp = tmp_path_factory.mktemp("reference")
    config = write_config(tmp)
    result = harness.run(train_argv(config, "ref"), tmp / "ref.log")
    assert result == {"code": 0, "signal": None}, (tmp / "ref.log").read_text()
    t0 = time.perf_counter()
    assert harness.run(train_argv(config, "timed"), tmp / "timed.log")["code"] == 0
    return tmp / "runs" / "ref", time.perf_counter() - t0


def resume_until_done(harness, config: Path, name: str, log: Path, limit: int = 20) -> None:
    for _ in range(limit):
        result = harness.run(train_argv(config, name, resume=True), log)
        if result["code"] == 0:
            return
        assert result["signal"] is None, log.read_text()
    raise AssertionError(f"no finished resume in {limit} tries: {log.read_text()[-2000:]}")


@pytest.mark.slow
def test_random_sigkills_resume_bit_identical(harness, reference, tmp_path):
    ref_dir, wall = reference
    config = write_config(tmp_path)
    run_dir, log = tmp_path / "runs" / "killed", tmp_path / "killed.log"
    rng = random.Random(0)
    kills, finished, seen_last, first = 0, 0, False, True
    while kills < 20:
        pid = harness.start(train_argv(config, "killed", resume=not first), log)
        first = False
        time.sleep(rng.uniform(0.0, wall))
        os.kill(pid, signal.SIGKILL)
        result = harness.wait(pid)
        if result["code"] == 0:  # the run ended before this kill: check it, then kill a new one
            assert_same_end(run_dir, ref_dir)
            assert temporaries(run_dir) == []
            shutil.rmtree(run_dir)
            finished, seen_last, first = finished + 1, False, True
            continue
        assert result["signal"] == signal.SIGKILL, log.read_text()[-2000:]
        kills += 1
        if (run_dir / "last.pt").exists():
            seen_last = True
        if seen_last:  # once the first save has finished, a readable last.pt is there after every kill
            checkpoint.load(run_dir / "last.pt")
    resume_until_done(harness, config, "killed", log)
    assert_same_end(run_dir, ref_dir)
    assert temporaries(run_dir) == []
    print(f"20 kills over {finished + 1} runs, each resumed to its end")


# Instants inside the saves, as calls of engine/checkpoint.py. The saves of the tiny run, in order: last.pt at
# update 4 (the first: nothing to keep; fsync 1 file, replace 1, fsync 2 folder), last.pt at 8 (fsync 3, link 1
# of the old file, replace 2 of the link over last.prev.pt, replace 3 over last.pt, fsync 4), last.pt at 12
# (the epoch's last update: fsync 5, link 2, replace 4, 5, fsync 6), then the epoch end: best.pt (fsync 7,
# replace 6, fsync 8) and last.pt (link 3, replace 7, 8). ``write:k`` tears the k-th file mid-write. The flag
# says whether a save has finished before the kill.
INSIDE_SAVE = [("write:1", False), ("fsync:1:after", False), ("replace:1:after", True), ("write:2", True),
               ("fsync:3:after", True), ("link:1:after", True), ("replace:2:before", True),
               ("replace:2:after", True), ("replace:3:after", True), ("write:3", True), ("link:2:after", True),
               ("replace:5:before", True), ("replace:6:before", True), ("replace:6:after", True),
               ("link:3:after", True), ("replace:8:before", True)]


@pytest.mark.slow
@pytest.mark.parametrize("fault,had_checkpoint", INSIDE_SAVE)
def test_kill_inside_the_save(harness, reference, tmp_path, fault, had_checkpoint):
    config = write_config(tmp_path)
    run_dir, log = tmp_path / "runs" / "k", tmp_path / "k.log"
    result = harness.run(train_argv(config, "k"), log, fault)
    assert result["signal"] == signal.SIGKILL, log.read_text()
    assert (run_dir / "last.pt").exists() == had_checkpoint
    if had_checkpoint:
        checkpoint.load(run_dir / "last.pt")
        if (run_dir / "last.prev.pt").exists():
            checkpoint.load(run_dir / "last.prev.pt")
    resume_until_done(harness, config, "k", log)
    assert_same_end(run_dir, reference[0])
    assert temporaries(run_dir) == []


@pytest.mark.slow
@pytest.mark.parametrize("k", [1, 2])
def test_kill_during_end_of_epoch_evaluation(harness, reference, tmp_path, k):
    """The save at the epoch's last update comes before the evaluation and the epoch's scheduler step: the
    resumed run does both, so its learning rate, summary rows and weights are those of the uninterrupted run."""
    config = write_config(tmp_path)
    run_dir, log = tmp_path / "runs" / "e", tmp_path / "e.log"
    result = harness.run(train_argv(config, "e"), log, f"evaluate:{k}")
    assert result["signal"] == signal.SIGKILL
    assert checkpoint.load(run_dir / "last.pt")["progress"]["batch_in_epoch"] == 12  # epoch end still to do
    resume_until_done(harness, config, "e", log)
    assert_same_end(run_dir, reference[0])


@pytest.mark.slow
def test_corrupt_last_fallback_then_kill_inside_next_save(harness, reference, tmp_path):
    config = write_config(tmp_path)
    run_dir, log = tmp_path / "runs" / "c", tmp_path / "c.log"
    assert harness.run(train_argv(config, "c"), log, "write:3")["signal"] == signal.SIGKILL  # at update 12
    last = run_dir / "last.pt"
    last.write_bytes(last.read_bytes()[: last.stat().st_size // 2])
    for fault in ("replace:1:before", "replace:1:after", "write:1"):
        # resumes from last.prev.pt, then dies inside its first save: a readable checkpoint must remain
        result = harness.run(train_argv(config, "c", resume=True), log, fault)
        assert result["signal"] == signal.SIGKILL
        path, _ = checkpoint.find_resumable(run_dir)
        assert checkpoint.is_whole(run_dir / "last.prev.pt")
    resume_until_done(harness, config, "c", log)
    assert_same_end(run_dir, reference[0])


@pytest.mark.slow
def test_second_process_on_a_folder_is_refused(harness, tmp_path):
    config = write_config(tmp_path, epochs=400, checkpoint_every=0)
    run_dir, log = tmp_path / "runs" / "busy", tmp_path / "busy.log"
    first = harness.start(train_argv(config, "busy"), log)
    try:
        deadline = time.time() + 60
        while not (run_dir / "metrics.jsonl").exists():
            assert time.time() < deadline, log.read_text()
            time.sleep(0.05)
        owner = (run_dir / run_folder.LOCK_NAME).read_text()
        assert owner.startswith(f"pid {first} ")
        second = subprocess.run([sys.executable, "train.py", *train_argv(config, "busy", resume=True)], cwd=ROOT,
                                capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
        assert second.returncode == 2
        lines = second.stderr.strip().splitlines()
        assert len(lines) == 1 and "is in use by pid" in lines[0] and "train.run_name" in lines[0], second.stderr
        assert (run_dir / run_folder.LOCK_NAME).read_text() == owner
    finally:
        os.kill(first, signal.SIGKILL)
        harness.wait(first)


def test_stale_lock_is_taken_over_with_a_note(harness, tmp_path):
    config = write_config(tmp_path, epochs=1)
    run_dir, log = tmp_path / "runs" / "stale", tmp_path / "stale.log"
    run_dir.mkdir(parents=True)
    (run_dir / run_folder.LOCK_NAME).write_text("pid 999999 on elsewhere since 2026-01-01 00:00:00\n")
    assert harness.run(train_argv(config, "stale"), log)["code"] == 0
    assert "took over the lock" in log.read_text() and "pid 999999" in log.read_text()
    assert (run_dir / run_folder.LOCK_NAME).read_text() == ""  # released at the end


@pytest.mark.parametrize("name", ["last.pt", "last.prev.pt", "best.pt", "snapshots/step0000006.pt", "metrics.jsonl"])
def test_folder_holding_a_run_is_not_started_over(tmp_path, name):
    run_dir = tmp_path / "run"
    (run_dir / name).parent.mkdir(parents=True, exist_ok=True)
    (run_dir / name).write_text("x")
    with pytest.raises(run_folder.RunFolderBusy, match="already holds a run.*--resume auto"):
        run_folder.claim(run_dir, resume=False)
    run_folder.claim(run_dir, resume=True).release()


def _start_and_wait_for_training(harness, config, name, log, tmp_path, fault=None):
    run_dir = tmp_path / "runs" / name
    pid = harness.start(train_argv(config, name), log, fault)
    deadline = time.time() + 60
    while not (run_dir / "last.pt").exists():
        assert time.time() < deadline, log.read_text()
        time.sleep(0.02)
    return pid, run_dir


@pytest.mark.slow
def test_ctrl_c_saves_and_does_not_mark_finished(harness, tmp_path):
    config = write_config(tmp_path, epochs=400, checkpoint_every=2)
    log = tmp_path / "i.log"
    pid, run_dir = _start_and_wait_for_training(harness, config, "i", log, tmp_path)
    os.kill(pid, signal.SIGINT)
    assert harness.wait(pid)["code"] == 130
    assert not (run_dir / "results.json").exists()
    state = checkpoint.load(run_dir / "last.pt")
    assert 0 < state["progress"]["step"] < 400 * 12
    # the line says how to continue this run: with its overrides (run name, out_dir), not the bare config
    assert f"continue with: python train.py --config {config} train.run_name=i --resume auto" in log.read_text()


@pytest.mark.slow
def test_second_ctrl_c_inside_the_save_lets_it_finish(harness, tmp_path):
    config = write_config(tmp_path, epochs=400, checkpoint_every=2)
    # the deterministic case: the second SIGINT arrives while last.pt is being written
    log = tmp_path / "d.log"
    pid, run_dir = _start_and_wait_for_training(harness, config, "d", log, tmp_path, fault="sigint_in_save:40")
    os.kill(pid, signal.SIGINT)  # the first; the stop's save is then interrupted by the fault's second
    assert harness.wait(pid)["code"] == 130
    checkpoint.load(run_dir / "last.pt")
    assert temporaries(run_dir) == []
    # and the blunt case: two Ctrl-C 10 ms apart, a few times
    for i in range(4):
        log = tmp_path / f"dd{i}.log"
        pid, run_dir = _start_and_wait_for_training(harness, config, f"dd{i}", log, tmp_path)
        os.kill(pid, signal.SIGINT)
        time.sleep(0.01)
        os.kill(pid, signal.SIGINT)
        answer = harness.wait(pid)  # {"code": exit status or None, "signal": the killing signal or None}
        assert answer["code"] == 130, (answer, log.read_text())
        checkpoint.load(run_dir / "last.pt")
        assert not (run_dir / "results.json").exists()


@pytest.mark.parametrize("name", ["nice", "gan"])
@pytest.mark.slow
def test_checkpoint_of_older_code_resumes_bit_identical(harness, tmp_path, name):
    """A last.pt written by commit cf763f0 (tests/fixtures/ckpt_cf763f0) resumes under today's code and ends
    where an uninterrupted run of today's code ends (bit for bit on a CPU like the fixture's: tests/fixtures)."""
    config = FIXTURES / f"{name}.yaml"
    out = f"train.out_dir={tmp_path}"
    assert harness.run(train_argv(config, "full", out), tmp_path / "full.log")["code"] == 0
    (tmp_path / "old").mkdir()
    shutil.copy(FIXTURES / f"{name}_last.pt", tmp_path / "old" / "last.pt")
    result = harness.run(train_argv(config, "old", out, resume=True), tmp_path / "old.log")
    assert result["code"] == 0, (tmp_path / "old.log").read_text()
    a, b = checkpoint.load(tmp_path / "old" / "last.pt"), checkpoint.load(tmp_path / "full" / "last.pt")
    assert a["progress"] == b["progress"]
    parts = [(a["model"], b["model"]), (a["optimizers"], b["optimizers"])]
    if name == "nice":
        parts.append((checkpoint.callback_state(a, "ema"), checkpoint.callback_state(b, "ema")))
        assert parts[-1][0]
    assert_same_state(parts)


# ------------------------------------------------------------------------------------ in-process checks
def tiny_config(tmp_path, **train) -> dict:
    return load_config(write_config(tmp_path, **train))


def test_nonfinite_weights_are_never_saved(tmp_path):
    cfg = tiny_config(tmp_path, checkpoint_every=3)
    trainer = build_trainer(cfg, tmp_path / "runs" / "tiny")

    class Wreck:
        def __getattr__(self, name):
            return lambda *a, **k: None

        def on_batch_end(self, trainer, logs):
            if trainer.step == 6:  # wrecked after the update, before its save
                with torch.no_grad():
                    next(trainer.model.parameters()).fill_(float("inf"))

        def state_dict(self):
            return {}

    trainer.callbacks.append(Wreck())
    with pytest.raises(TrainingError) as err:
        trainer.fit()
    message = str(err.value)
    assert "non-finite weights after update 6" in message and "update 3) is kept" in message
    assert checkpoint.load(tmp_path / "runs" / "tiny" / "last.pt")["progress"]["step"] == 3


def test_resume_applies_changed_optimizer_settings(tmp_path, capsys):
    from engine.build import resume
    cfg = tiny_config(tmp_path, epochs=1)
    build_trainer(cfg, tmp_path / "runs" / "tiny").fit()
    changed = tiny_config(tmp_path, epochs=2)
    changed["optim"].update(lr=1e-4, weight_decay=0.01)
    trainer = build_trainer(changed, tmp_path / "runs" / "tiny")
    resume(trainer, "auto")
    assert "optim.lr=0.0001 (was 0.001)" in capsys.readouterr().out
    group = trainer.optimizers["main"].param_groups[0]
    assert group["weight_decay"] == 0.01
    assert group["lr"] == pytest.approx(1e-4 * 0.5)  # the StepLR factor after one epoch goes on
    trainer.fit()
    assert trainer.optimizers["main"].param_groups[0]["lr"] == pytest.approx(1e-4 * 0.25)
    other = tiny_config(tmp_path, epochs=2)
    other["optim"] = {"name": "sgd", "lr": 1e-3}
    with pytest.raises(CheckpointError, match="optim.name=adam"):
        resume(build_trainer(other, tmp_path / "runs" / "tiny"), "auto")
    sched = tiny_config(tmp_path, epochs=2)
    sched["scheduler"]["gamma"] = 0.9
    with pytest.raises(CheckpointError, match="scheduler.gamma"):
        resume(build_trainer(sched, tmp_path / "runs" / "tiny"), "auto")


def test_checkpoint_every_without_the_checkpoint_callback(tmp_path, monkeypatch):
    cfg = tiny_config(tmp_path, epochs=1, max_steps=5, checkpoint_every=2)
    cfg["callbacks"]["checkpoint"] = False
    trainer = build_trainer(cfg, tmp_path / "runs" / "tiny")
    saved = []
    real = checkpoint.write_checkpoint
    monkeypatch.setattr(checkpoint, "write_checkpoint",
                        lambda obj, path, **kw: (saved.append((Path(path).name, obj["progress"]["step"])),
                                                 real(obj, path, **kw)))
    trainer.fit()
    assert saved == [("last.pt", 2), ("last.pt", 4), ("last.pt", 5)]


def test_callback_state_keyed_by_registered_name(tmp_path):
    trainer = build_trainer(tiny_config(tmp_path, epochs=1), tmp_path / "runs" / "tiny")
    trainer.fit()
    state = checkpoint.load(tmp_path / "runs" / "tiny" / "last.pt")
    assert set(state["callbacks"]) == {"ema", "metrics", "checkpoint", "progress"}
    old = torch.load(FIXTURES / "nice_last.pt", weights_only=True)
    assert "EMA" in old["callbacks"] and checkpoint.callback_state(old, "ema") == old["callbacks"]["EMA"]


def test_cpu_time_adds_up_over_segments_and_is_unknown_after_older_code(tmp_path):
    """cpu_s (the process's CPU seconds: core-seconds at one thread) goes into the checkpoint, summary.csv and
    results.json and sums over a resumed run's segments; a run continued from a checkpoint that did not
    record it says None rather than count only its last segment."""
    from engine.build import resume
    run_dir = tmp_path / "runs" / "tiny"
    build_trainer(tiny_config(tmp_path, epochs=1, max_steps=5), run_dir).fit()
    first = checkpoint.callback_state(checkpoint.load(run_dir / "last.pt"), "metrics")
    assert 0 < first["cpu_s"]
    trainer = build_trainer(tiny_config(tmp_path, epochs=2), run_dir)
    resume(trainer, "auto")
    trainer.fit()
    results = json.loads((run_dir / "results.json").read_text())
    assert results["cpu_s"] >= round(first["cpu_s"], 1) and results["wall_s"] > 0
    with open(run_dir / "summary.csv", newline="") as f:
        # rounded to 0.1 s: a tiny run's first epoch on a fast CPU can read 0.0
        cpu = [float(row["cpu_s"]) for row in csv.DictReader(f)]
        assert len(cpu) == 2 and 0 <= cpu[0] <= cpu[1]

    old_dir = tmp_path / "runs" / "old"
    old_dir.mkdir()
    shutil.copy(FIXTURES / "nice_last.pt", old_dir / "last.pt")  # cf763f0: wall_s recorded, cpu_s not
    cfg = load_config(FIXTURES / "nice.yaml")
    cfg["train"].update(out_dir=str(tmp_path / "runs"), epochs=1)
    trainer = build_trainer(cfg, old_dir)
    resume(trainer, "auto")
    trainer.fit()
    assert json.loads((old_dir / "results.json").read_text())["cpu_s"] is None


@pytest.mark.slow
def test_load_config_knows_every_callback_outside_train_py():
    code = ("from engine.config import load_config; "
            "c = load_config('configs/seq2seq_lcsts.yaml'); print(sorted(c['callbacks']))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "'evaluate'" in out.stdout and "'title_probe'" in out.stdout


@pytest.mark.parametrize("config", ["gan", "nice"])
@pytest.mark.slow
def test_progress_bar_forced_on(tmp_path, monkeypatch, config):
    """The tqdm bar on (as on a terminal): a GAN's updates log their total as loss_<phase>, the bar reads the
    update record's loss and phase."""
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    cfg = load_config(FIXTURES / f"{config}.yaml", [f"train.out_dir={tmp_path}", "train.log_every=1"])
    trainer = build_trainer(cfg, tmp_path / config)
    assert next(cb for cb in trainer.callbacks if type(cb).__name__ == "Progress").enabled
    trainer.fit()
    assert trainer.finished and (tmp_path / config / "results.json").exists()
