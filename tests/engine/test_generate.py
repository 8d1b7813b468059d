"""generate.py end to end: titles from arguments, a file and standard input; awkward lines never crash."""
from __future__ import annotations

import subprocess
import sys

from tests.engine.test_cli import ROOT, assert_user_error, run, train_small

AWKWARD = ["一丁七万丈三上下丌不与丏丐丑丒专且", "", "   ", "Hello, world! 12345",
           "😀😃😄😁 🎉🎉 emoji only", "一丁七" * 400, "混合 text 与 😀 emoji 一丁"]


def test_each_line_gets_one_output_line_and_messages_name_the_line(seq2seq_checkpoint, tmp_path):
    articles = tmp_path / "articles.txt"
    articles.write_text("\n".join(AWKWARD) + "\n", encoding="utf-8")
    result = run("generate.py", "--checkpoint", str(seq2seq_checkpoint), "--file", str(articles), "--max-len", "5")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stdout.splitlines()) == len(AWKWARD)
    assert "line 2: empty, no title" in result.stderr and "line 3: empty, no title" in result.stderr
    assert "line 6: 1,200 characters; only the first 400 are read" in result.stderr
    assert "line 5: no character of it is in the model's vocabulary" in result.stderr


def test_arguments_and_standard_input(seq2seq_checkpoint):
    by_args = run("generate.py", "--checkpoint", str(seq2seq_checkpoint), "--greedy", "--max-len", "4", AWKWARD[0],
                  AWKWARD[4])
    assert by_args.returncode == 0 and len(by_args.stdout.splitlines()) == 2, by_args.stderr
    by_stdin = subprocess.run([sys.executable, str(ROOT / "generate.py"), "--checkpoint", str(seq2seq_checkpoint),
                               "--greedy", "--max-len", "4"], input=AWKWARD[0] + "\n" + AWKWARD[4] + "\n",
                              cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert by_stdin.returncode == 0 and by_stdin.stdout == by_args.stdout


def test_bad_invocations_are_one_line_errors(seq2seq_checkpoint, tmp_path):
    assert_user_error(run("generate.py", "--checkpoint", str(tmp_path / "none.pt"), "文本"), "none.pt")
    assert_user_error(run("generate.py", "--checkpoint", str(seq2seq_checkpoint), "--file", str(tmp_path / "no.txt")),
                      "no.txt")
    assert_user_error(run("generate.py", "--checkpoint", str(seq2seq_checkpoint), "--beam", "0", "文本"), "--beam")
    assert train_small(tmp_path, "train.max_steps=1").returncode == 0
    assert_user_error(run("generate.py", "--checkpoint", str(tmp_path / "quickstart" / "last.pt"), "文本"),
                      "needs a seq2seq checkpoint")
