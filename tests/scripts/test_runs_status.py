"""scripts/runs_status.py: the state of real run folders (finished, stopped, training), read from files only."""
from __future__ import annotations

import json
import os
import shutil
import socket

from engine import machine
from scripts import runs_status
from tests.engine.test_cli import assert_user_error, in_process, train_small_here


def test_finished_stopped_and_live_runs(tmp_path, capsys):
    """One real 3-epoch run of 4 updates an epoch, then two copies: one without results.json and with the lock of
    a process that has ended (stopped), one whose lock names this live process (training)."""
    out = tmp_path / "runs"
    assert train_small_here(out, capsys, "train.epochs=3", "train.run_name=done").returncode == 0
    done = status = runs_status.status(out / "done")
    assert status["state"] == "finished" and (status["epoch"], status["epochs"]) == (3, 3)
    assert (status["step"], status["budget"]) == (12, 12)
    # wall_s is recorded to 0.1 s, and this run can take under 0.05 s on a fast CPU: equal, not positive
    assert status["wall_s"] == json.loads((out / "done" / "results.json").read_text())["wall_s"] >= 0
    assert status["eta_s"] is None and status["last_save"]

    host = socket.gethostname()
    for name, pid in (("stopped", 2 ** 22 + 7), ("live", os.getpid())):  # 2**22 + 7: above Linux's pid_max
        shutil.copytree(out / "done", out / name)
        (out / name / "results.json").unlink()
        (out / name / ".lock").write_text(f"pid {pid} on {host} since 2026-12-02 16:06:34\n")
    stopped, live = runs_status.status(out / "stopped"), runs_status.status(out / "live")
    assert stopped["state"] == "stopped" and stopped["eta_s"] is None
    assert stopped["wall_s"] == float(
        (out / "done" / "summary.csv").read_text().splitlines()[-1].split(",")[-2]) >= 0
    assert live["state"] == f"training (pid {os.getpid()})" and live["eta_s"] == 0  # at its budget already

    result = in_process(runs_status.main, [str(out)], capsys)
    assert result.returncode == 0, result.stderr
    rows = {line.split(" | ")[0][2:]: line.split(" | ") for line in result.stdout.splitlines()[2:]}
    assert sorted(rows) == ["done", "live", "stopped"]
    assert rows["done"][1:4] == ["finished", "3 / 3", "12 / 12"] and rows["live"][-2] == "0.0 h"
    # the CPU that trained it, from segments.jsonl (one training process: one model, named once)
    assert rows["done"][-1] == f"{machine.cpu_model()} |" and done["machines"] == [machine.cpu_model()]
    lines = in_process(runs_status.main, [str(out), "--json"], capsys).stdout.splitlines()
    assert [json.loads(line)["run"] for line in lines] == ["done", "live", "stopped"] and json.loads(lines[0]) == done


def test_a_missing_folder_is_one_line(tmp_path, capsys):
    assert_user_error(in_process(runs_status.main, [str(tmp_path / "nowhere")], capsys), "no such folder")


def test_damaged_files_are_read_around_not_a_traceback(tmp_path, capsys):
    """A kill can cut summary.csv or metrics.jsonl mid-line, and a hand-edited config can be anything: the folder
    is still listed, with what can be read."""
    run = tmp_path / "cut"
    run.mkdir()
    (run / "config.yaml").write_text("train: [not, a, mapping]\n")
    (run / "summary.csv").write_text("epoch,step,wall_s,cpu_s\n1,4,2.0,1.0\n2,8,4.0,2.0\n3,1")
    (run / "metrics.jsonl").write_text('{"step": 8}\n{"step": 9, "train/lo')
    (run / "results.json").write_text("[1, 2]")
    (run / "last.pt").write_bytes(b"")
    status = runs_status.status(run)
    assert (status["state"], status["epoch"], status["step"], status["budget"]) == ("stopped", 2, 8, None)
    assert status["wall_s"] == 4.0
    result = in_process(runs_status.main, [str(tmp_path)], capsys)
    assert result.returncode == 0 and "| cut | stopped | 2 | 8 |" in result.stdout, result.stdout
