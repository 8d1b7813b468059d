"""train.py's own flags: each bad one is one stderr line, exit 2, naming only train.py's flags."""
from __future__ import annotations

import pytest

import train
from tests.engine.test_run_state import write_config
from tests.entry import call_main

CASES = [
    ("no-config", [], "--config"),
    ("unknown-flag", ["--config", "{cfg}", "--epochs", "3"], "unrecognized arguments"),
    ("bad-override", ["--config", "{cfg}", "train.epochs"], "must look like key.sub=value"),
    ("resume-missing-file", ["--config", "{cfg}", "--resume", "{dir}/nothing.pt"], "not found"),
    ("resume-not-a-checkpoint", ["--config", "{cfg}", "--resume", "{cfg}"], "unreadable"),
    ("config-missing", ["--config", "{dir}/none.yaml"], "not found"),
]


@pytest.mark.parametrize("args, expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_train_command_line_is_one_line(tmp_path, capsys, args, expected):
    cfg = write_config(tmp_path)
    argv = [a.format(cfg=cfg, dir=tmp_path) for a in args]
    code, _, err = call_main(train.main, argv, capsys)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and expected in lines[0] and "Traceback" not in err, err
    assert "--checkpoint" not in err and "--split" not in err  # other scripts' flags


def test_resume_auto_on_a_folder_with_only_unreadable_checkpoints(tmp_path, capsys):
    cfg = write_config(tmp_path)
    run = tmp_path / "runs" / "tiny"
    run.mkdir(parents=True)
    (run / "last.pt").write_bytes(b"PK\x03\x04 torn")
    code, _, err = call_main(train.main, ["--config", str(cfg), "train.run_name=tiny", "--resume", "auto"], capsys)
    lines = [line for line in err.strip().splitlines() if line.startswith("error:")]
    assert code == 2 and len(lines) == 1 and "no readable checkpoint" in lines[0], err
    assert (run / "last.pt").read_bytes() == b"PK\x03\x04 torn"  # never overwritten
