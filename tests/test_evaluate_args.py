"""evaluate.py's command line (issue 20): a bad flag, override or checkpoint path is exit code 2 with one
stderr line naming evaluate.py's own flag and the fix (the shared OneLineParser of engine/cli.py)."""
from __future__ import annotations

import pytest

import evaluate
from tests.engine.test_checkpoint_door import craft
from tests.entry import call_main

CASES = [
    ("unknown-flag", ["--resume", "auto"], "unrecognized arguments: --resume (see evaluate.py --help)"),
    ("batch-not-int", ["--batch-size", "big"], "argument --batch-size: invalid int value: 'big'"),
    ("batch-zero", ["--batch-size", "0"], "--batch-size must be >= 1, got 0"),
    ("model-override", ["model.hidden_units=3"], "evaluate.py only takes data.* overrides"),
    ("data-range", ["data.limit_eval=0"], "data.limit_eval must be >= 1 (null = all), got 0"),
    ("data-unknown", ["data.limt_eval=3"], "unknown key data.limt_eval; did you mean 'limit_eval'?"),
    ("split", ["--split", "tset"], "split 'tset' does not exist with data.val=test"),
    ("device", ["--device", "toaster"], "--device 'toaster' is not a device"),
    ("missing-file", ["--checkpoint", "{dir}/none.pt"], "--checkpoint {dir}/none.pt not found"),
    ("a-folder", ["--checkpoint", "{dir}"], "--checkpoint {dir} is a directory"),
]


@pytest.mark.parametrize("args, expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_command_line_is_one_line(tmp_path, capsys, args, expected):
    ckpt = craft(tmp_path, lambda s: None)
    args = [a.format(dir=tmp_path) for a in args]
    argv = args if "--checkpoint" in args else ["--checkpoint", str(ckpt), *args]
    code, _, err = call_main(evaluate.main, argv, capsys)
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and expected.format(dir=tmp_path) in lines[0] and "Traceback" not in err, err
    if "unrecognized" not in expected:
        assert "--resume" not in err
