"""The entry points end to end: Ctrl-C, bad checkpoints, non-finite losses, sampling and evaluation."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from PIL import Image

import evaluate
import sample
import train
from engine import checkpoint
from tests.entry import call_main

ROOT = Path(__file__).resolve().parents[2]
SMALL = ["model.hidden_units=16", "model.hidden_layers=1", "data.name=fake", "data.n_train=64", "data.n_test=32",
         "train.batch_size=16", "callbacks.samples.n=4"]


def run(script: str, *args, timeout=300):
    return subprocess.run([sys.executable, str(ROOT / script), *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


def assert_user_error(result, text: str):
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and text in result.stderr, result.stderr


def train_small(tmp_path, *extra):
    return run("train.py", "--config", "configs/quickstart.yaml", *SMALL, f"train.out_dir={tmp_path}", *extra)


def in_process(main, argv: list[str], capsys):
    """``main(argv)`` run in this process (no interpreter start: ~3 s less than ``run``), as a CompletedProcess
    for ``assert_user_error``; the shell path itself is covered by the tests that use ``run``."""
    code, out, err = call_main(main, argv, capsys)
    return subprocess.CompletedProcess(argv, code, out, err)


def train_here(capsys, config: str, *overrides):
    """train.py in this process, keeping the process's torch thread count (train.threads set to it)."""
    return in_process(train.main, ["--config", str(ROOT / config), f"train.threads={torch.get_num_threads()}",
                                   *overrides], capsys)


def train_small_here(tmp_path, capsys, *extra):
    """``train_small`` in this process."""
    return train_here(capsys, "configs/quickstart.yaml", *SMALL, f"train.out_dir={tmp_path}", *extra)


@pytest.mark.slow
def test_ctrl_c_saves_and_exits_cleanly(tmp_path):
    proc = subprocess.Popen([sys.executable, str(ROOT / "train.py"), "--config", "configs/quickstart.yaml", *SMALL,
                             "data.n_train=4096", "train.epochs=1000", f"train.out_dir={tmp_path}"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    metrics = tmp_path / "quickstart" / "metrics.jsonl"
    deadline = time.time() + 120
    while not (metrics.exists() and metrics.stat().st_size > 0) and time.time() < deadline:
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "--resume auto" in out
    state = checkpoint.load(tmp_path / "quickstart" / "last.pt")
    assert state["progress"]["step"] >= 10
    resumed = train_small(tmp_path, "data.n_train=4096", "train.epochs=1", "--resume", "auto")
    assert resumed.returncode == 0 and "resumed from" in resumed.stdout


@pytest.mark.slow
def test_ctrl_c_again_and_again_exits_130_not_by_signal(tmp_path):
    """A first Ctrl-C, then more every 5 ms until the process is gone: each later one either aborts at once
    (before the stop's save) or is ignored (once the run has saved and is exiting, teardown included). Exit
    code 130 every time, never death by SIGINT, and last.pt stays readable."""
    last = tmp_path / "quickstart" / "last.pt"
    proc = subprocess.Popen([sys.executable, str(ROOT / "train.py"), "--config", "configs/quickstart.yaml",
                             *SMALL, "train.epochs=1000", f"train.out_dir={tmp_path}"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not last.exists() and time.time() < deadline:
        time.sleep(0.05)
    while proc.poll() is None:  # (before the fix: killed by SIGINT in the teardown, exit -2, most times)
        try:
            proc.send_signal(signal.SIGINT)
        except ProcessLookupError:
            break
        time.sleep(0.005)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, (proc.returncode, err[-2000:])
    assert "Traceback" not in err
    checkpoint.load(last)


@pytest.mark.slow
def test_truncated_and_pickled_checkpoints_are_refused(tmp_path, capsys):
    assert train_small_here(tmp_path, capsys, "train.epochs=1").returncode == 0
    ckpt = tmp_path / "quickstart" / "last.pt"
    data = ckpt.read_bytes()
    bad = tmp_path / "truncated.pt"
    bad.write_bytes(data[: len(data) // 3])
    assert_user_error(train_small_here(tmp_path, capsys, "train.epochs=2", "--resume", str(bad)), "is unreadable")
    evil = tmp_path / "evil.pt"
    torch.save({"format": checkpoint.FORMAT, "x": Path("/")}, evil)  # a pickled object, not a tensor
    assert_user_error(in_process(sample.main, ["--checkpoint", str(evil)], capsys), "is unreadable")
    assert_user_error(run("sample.py", "--checkpoint", str(tmp_path / "missing.pt")), "not found")  # the shell


@pytest.mark.slow
def test_nonfinite_loss_stops_with_one_line(tmp_path, capsys):
    result = train_small_here(tmp_path, capsys, "loss_weights.nll=.inf")
    assert_user_error(result, "non-finite loss at update 0 (epoch 0, phase main): nll=")


@pytest.mark.slow
def test_sample_and_evaluate_from_checkpoint(tmp_path, capsys):
    assert train_small_here(tmp_path, capsys, "train.epochs=1").returncode == 0
    best = tmp_path / "quickstart" / "best.pt"
    out = tmp_path / "grid.png"
    result = in_process(sample.main, ["--checkpoint", str(best), "--n", "9", "--out", str(out), "temperature=0.5"],
                        capsys)
    assert result.returncode == 0, result.stderr
    assert Image.open(out).size == (3 * 28, 3 * 28)
    assert_user_error(in_process(sample.main, ["--checkpoint", str(best), "temp=0.5"], capsys),
                      "does not accept ['temp']")
    ev = in_process(evaluate.main, ["--checkpoint", str(best), "--split", "val"], capsys)
    assert ev.returncode == 0, ev.stderr
    metrics = json.loads(ev.stdout)
    assert metrics["images"] == 32 and "loss" in metrics and "nll_nats" in metrics
