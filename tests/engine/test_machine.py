"""engine/machine.py: each training process of a run appends where it ran to segments.jsonl."""
from __future__ import annotations

import json
import socket

import torch

from engine import machine
from tests.engine.test_cli import train_small_here


def test_each_training_process_appends_one_segment(tmp_path, capsys):
    first = train_small_here(tmp_path, capsys, "train.epochs=1")
    assert first.returncode == 0, first.stderr
    run = tmp_path / "quickstart"
    (start,) = machine.read_segments(run)
    assert start["step"] == 0 and start["epoch"] == 0 and start["host"] == socket.gethostname()
    assert start["threads"] == torch.get_num_threads() and start["device"] == "cpu"
    assert start["torch"] == torch.__version__ and start["cpu"] == machine.cpu_model() and start["cpu"]
    assert set(start["cpu_flags"]) <= set(machine.SPEED_FLAGS) and start["cores"] >= 1

    # continued to a second epoch: a second line, from the update and epoch the resume loaded
    steps = json.loads((run / "results.json").read_text())["step"]
    again = train_small_here(tmp_path, capsys, "train.epochs=2", "--resume", "auto")
    assert again.returncode == 0, again.stderr
    segments = machine.read_segments(run)
    assert [(s["step"], s["epoch"]) for s in segments] == [(0, 0), (steps, 1)]
    assert segments[1]["started"] >= segments[0]["started"]


def test_a_torn_last_line_is_left_out_and_a_missing_file_is_empty(tmp_path):
    assert machine.read_segments(tmp_path) == []
    record = machine.record_segment(tmp_path, 5, 1, "cpu")
    with open(tmp_path / machine.SEGMENTS_NAME, "a") as f:
        f.write('{"started": "2026-')   # a process killed while appending its line
    assert machine.read_segments(tmp_path) == [record]


def test_cpu_flags_are_read_from_cpuinfo(monkeypatch, tmp_path):
    fake = tmp_path / "cpuinfo"
    fake.write_text("processor\t: 0\nmodel name\t: Some CPU 9000\nflags\t\t: fpu avx2 avx512f avx512_bf16\n\n"
                    "processor\t: 1\nmodel name\t: Some CPU 9000\nflags\t\t: fpu avx2 avx512f avx512_bf16\n")
    real_open = open
    monkeypatch.setattr("builtins.open", lambda path, *a, **k: real_open(fake if path == "/proc/cpuinfo" else path,
                                                                           *a, **k))
    assert machine.cpu_info() == {"cpu": "Some CPU 9000", "cpu_flags": ["avx512_bf16", "avx512f", "avx2"]}
