"""generate.py's command line (issue 20): a bad flag or checkpoint is exit code 2 with one stderr line naming
generate.py's own flag and the fix (the shared OneLineParser of engine/cli.py)."""
from __future__ import annotations

import pytest

import generate
from tests.engine.test_checkpoint_door import craft
from tests.entry import call_main

CASES = [
    ("unknown-flag", ["--n", "3"], "unrecognized arguments: --n (see generate.py --help)"),
    ("beam-not-int", ["--beam", "wide"], "argument --beam: invalid int value: 'wide'"),
    ("beam-zero", ["--beam", "0"], "--beam must be >= 1 (1 = greedy), got 0"),
    ("max-len-zero", ["--max-len", "0"], "--max-len must be >= 1, got 0"),
    ("device", ["--device", "toaster"], "--device 'toaster' is not a device"),
    ("missing-file", ["--checkpoint", "{dir}/none.pt"], "--checkpoint {dir}/none.pt not found"),
    ("not-seq2seq", [], "holds a 'nice' model; generate.py needs a seq2seq checkpoint"),
    ("no-checkpoint-flag", ["--file", "x.txt"], "the following arguments are required: --checkpoint"),
]


@pytest.mark.parametrize("args, expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_command_line_is_one_line(tmp_path, capsys, args, expected):
    ckpt = craft(tmp_path, lambda s: None)
    args = [a.format(dir=tmp_path) for a in args]
    argv = args if ("--checkpoint" in args or "--file" in args) else ["--checkpoint", str(ckpt), *args, "text"]
    code, _, err = call_main(generate.main, argv, capsys)
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and expected.format(dir=tmp_path) in lines[0] and "Traceback" not in err, err
    assert "--resume" not in err and "--split" not in err
