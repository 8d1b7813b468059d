"""sample.py's command line (issue 20): every bad flag or sample argument is exit code 2 with one stderr line
naming the flag (only flags sample.py has) and the fix; checked before the model is built."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

import sample
from tests.engine.test_checkpoint_door import craft
from tests.entry import call_main

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def ckpt(tmp_path) -> Path:
    """A tiny NICE checkpoint (crafted, untrained)."""
    return craft(tmp_path, lambda s: None)


def call(argv: list[str], capsys) -> tuple[int, str, str]:
    return call_main(sample.main, argv, capsys)


# (id, arguments after --checkpoint <ckpt>; "{ckpt}" / "{dir}" are replaced, expected text)
CASES = [
    ("unknown-flag", ["--temperature", "0.5"], "unrecognized arguments: --temperature (see sample.py --help)"),
    ("n-not-int", ["--n", "many"], "argument --n: invalid int value: 'many'"),
    ("n-zero", ["--n", "0"], "--n must be in [1, 100,000], got 0"),
    ("n-negative", ["--n", "-4"], "--n must be in [1, 100,000], got -4"),
    ("n-huge", ["--n", "10000000"], "--n must be in [1, 100,000]"),
    ("nrow-zero", ["--nrow", "0"], "--nrow must be >= 1, got 0"),
    ("seed-negative", ["--seed", "-1"], "--seed must be in [0, 2**63 - 1], got -1"),
    ("no-equals", ["temperature"], "sample argument 'temperature' must look like key=value"),
    ("not-a-name", ["1=2"], "sample argument '1=2' must look like key=value"),
    ("twice", ["temperature=0.5", "temperature=0.7"], "sample argument temperature is given twice; keep one"),
    ("unknown-arg", ["temp=0.5"], "NICE.sample does not accept ['temp']; did you mean 'temperature'?"),
    ("arg-type", ["temperature=hot"], "sample arguments.temperature must be float, got 'hot'"),
    ("arg-nan", ["temperature=.nan"], "sample arguments.temperature: nan is not a finite number"),
    ("arg-n", ["n=4"], "sample arguments.n is set by the sampler itself; drop it"),
    ("device", ["--device", "cuda:77"], "--device cuda:77 but CUDA is not available"),
    ("device-junk", ["--device", "toaster"], "--device 'toaster' is not a device"),
    ("out-unwritable", ["--out", "/proc/x/g.png"], "--out /proc/x/g.png cannot be written"),
    ("out-suffix", ["--out", "{dir}/grid.nope"], "cannot be written"),
]


@pytest.mark.parametrize("args, expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_command_line_is_one_line(ckpt, capsys, args, expected):
    args = [a.format(dir=ckpt.parent) for a in args]
    code, out, err = call(["--checkpoint", str(ckpt), "--n", "4", *args] if args[:1] != ["--n"] else
                          ["--checkpoint", str(ckpt), *args], capsys)
    assert code == 2, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], err
    assert "--resume" not in err and "train." not in err.replace("train.py", "")  # only sample.py's own flags


@pytest.mark.parametrize("argv, expected", [
    ([], "the following arguments are required: --checkpoint"),
    (["--checkpoint", "{dir}/none.pt"], "--checkpoint {dir}/none.pt not found; pass a run's best.pt or last.pt"),
    (["--checkpoint", "{dir}"], "--checkpoint {dir} is a directory"),
], ids=["missing-flag", "missing-file", "a-folder"])
def test_missing_checkpoint_names_the_flag(tmp_path, capsys, argv, expected):
    code, _, err = call([a.format(dir=tmp_path) for a in argv], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert expected.format(dir=tmp_path) in err and "--resume" not in err


def test_good_arguments_sample(ckpt, capsys, tmp_path):
    out_png = tmp_path / "g.png"
    code, out, err = call(["--checkpoint", str(ckpt), "--n", "6", "--nrow", "3", "--out", str(out_png),
                           "temperature=0.5"], capsys)
    assert code == 0, err
    assert out.strip() == str(out_png) and out_png.is_file()
    code, out, err = call(["--checkpoint", str(ckpt), "--n", "4", "--seed", str(2 ** 63 - 1)], capsys)
    assert code == 0 and Path(out.strip()).is_file(), err


@pytest.mark.slow
def test_a_shell_sees_one_line(ckpt):
    result = subprocess.run([sys.executable, str(ROOT / "sample.py"), "--checkpoint", str(ckpt), "--bogus"],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2 and "Traceback" not in result.stderr and "usage:" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        "error: unrecognized arguments: --bogus (see sample.py --help)"]
    assert torch.load(ckpt, weights_only=True)["format"]  # the file was only read
