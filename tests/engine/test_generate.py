"""generate.py: one output line per input line whatever the bytes (line ends at "\\n" only, invalid UTF-8, any
locale), and every bad input one ``error:`` line with exit code 2 that names only generate.py's own flags."""
from __future__ import annotations

import io
import os
import re
import subprocess
import sys

import pytest

import generate
from tests.engine.test_cli import ROOT, assert_user_error, run
from tests.entry import call_main

NICE_CHECKPOINT = ROOT / "tests" / "fixtures" / "ckpt_cf763f0" / "nice_last.pt"
OWN_FLAGS = {"--checkpoint", "--file", "--beam", "--greedy", "--max-len", "--blog-quirk", "--device", "--help"}
AWKWARD = ["一丁七万丈三上下丌不与丏丐丑丒专且", "", "   ", "Hello, world! 12345",
           "😀😃😄😁 🎉🎉 emoji only", "一丁七" * 400, "混合 text 与 😀 emoji 一丁"]
# characters at which str.splitlines (but not a file's line structure) breaks a line
INNER_BREAKS = ["\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"]


def call(argv: list[str], capsys, monkeypatch, stdin: bytes = b"") -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of generate.main in this process, ``stdin`` as its standard input."""
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8"))
    return call_main(generate.main, argv, capsys)


def titles_of(data: bytes, checkpoint, tmp_path, capsys, monkeypatch, source: str) -> tuple[list[str], str]:
    """(stdout lines, stderr) for ``data`` given as a --file or on standard input; exit code 0 asserted."""
    argv = ["--checkpoint", str(checkpoint), "--greedy", "--max-len", "4"]
    if source == "file":
        path = tmp_path / "articles.txt"
        path.write_bytes(data)
        code, out, err = call(argv + ["--file", str(path)], capsys, monkeypatch)
    else:
        code, out, err = call(argv, capsys, monkeypatch, stdin=data)
    assert code == 0, err
    assert out == "" or out.endswith("\n")
    return out.split("\n")[:-1], err


# ------------------------------------------------------------------------ one line out per line in
@pytest.mark.parametrize("source", ["file", "stdin"])
@pytest.mark.parametrize("data, lines, same_as", [
    *[(f"一丁{c}七\n万丈\n{c}\n".encode(), 3, "一丁七\n万丈\n\n".encode()) for c in INNER_BREAKS],
    (b"\xff\xfe abc\n\xe4\xb8\x80\xe4\xb8\x81\n", 2, None),       # invalid UTF-8 on line 1
    ("一丁\r\n万丈\r\n\r\n七\r\n".encode(), 4, "一丁\n万丈\n\n七\n".encode()),  # a CRLF file
    ("\n\n一丁\n\n".encode(), 4, None),                             # empty lines
    ("一丁\n万丈".encode(), 2, None),                                # no final newline
    ("\ufeff一丁\n万丈\n".encode(), 2, "一丁\n万丈\n".encode()),      # a byte-order mark
    (b"", 0, None),
], ids=[*(f"inner-{hex(ord(c))}" for c in INNER_BREAKS), "invalid-utf8", "crlf", "empty-lines",
        "no-final-newline", "bom", "no-input"])
@pytest.mark.slow
def test_exactly_one_output_line_per_input_line(seq2seq_checkpoint, tmp_path, capsys, monkeypatch, source, data,
                                                lines, same_as):
    out, err = titles_of(data, seq2seq_checkpoint, tmp_path, capsys, monkeypatch, source)
    assert len(out) == lines, (out, err)
    if same_as is not None:  # the odd characters are dropped like whitespace; no title moves to another line
        assert out == titles_of(same_as, seq2seq_checkpoint, tmp_path, capsys, monkeypatch, source)[0]


def test_invalid_utf8_is_replaced_and_named(seq2seq_checkpoint, tmp_path, capsys, monkeypatch):
    data = b"\xe4\xb8\x80\n\xff\xfe abc\n\xe4\xb8\n"  # line 3 ends inside a character
    out, err = titles_of(data, seq2seq_checkpoint, tmp_path, capsys, monkeypatch, "file")
    assert len(out) == 3
    notes = [line for line in err.splitlines() if "UTF-8" in line]
    assert notes == ["line 2: invalid UTF-8, replaced", "line 3: invalid UTF-8, replaced"]


def test_messages_name_the_line(seq2seq_checkpoint, tmp_path, capsys, monkeypatch):
    data = ("\n".join(AWKWARD) + "\n").encode()
    out, err = titles_of(data, seq2seq_checkpoint, tmp_path, capsys, monkeypatch, "file")
    assert len(out) == len(AWKWARD)
    assert "line 2: empty, no title" in err and "line 3: empty, no title" in err
    assert "line 6: 1,200 characters; only the first 400 are read" in err
    assert "line 5: no character of it is in the model's vocabulary" in err


def test_arguments_are_one_article_each(seq2seq_checkpoint, capsys, monkeypatch):
    argv = ["--checkpoint", str(seq2seq_checkpoint), "--greedy", "--max-len", "4"]
    code, by_args, err = call(argv + [AWKWARD[0], "一丁\n七\u2028万", ""], capsys, monkeypatch)
    assert code == 0 and len(by_args.split("\n")) == 4, err  # three lines and the final newline
    assert "argument 3: empty, no title" in err
    code, by_stdin, _ = call(argv, capsys, monkeypatch, stdin=f"{AWKWARD[0]}\n一丁七万\n\n".encode())
    assert code == 0 and by_stdin == by_args


def test_titles_never_hold_a_line_break():
    assert generate.one_line("a\rb\x0bc\x1cd\x85e\u2028f\u2029g\nh") == "a b c d e f g h"
    assert all(len(f"x{c}y".splitlines()) == 2 for c in generate.LINE_BREAKS)
    assert not any(len(f"x{chr(i)}y".splitlines()) == 2 for i in range(0x3000) if chr(i) not in generate.LINE_BREAKS)


# --------------------------------------------------------------------- bad input: one line, exit 2
@pytest.mark.parametrize("argv, text", [
    (["--checkpoint", "{tmp}/none.pt", "文本"], "--checkpoint {tmp}/none.pt not found"),
    (["--checkpoint", "{tmp}", "文本"], "--checkpoint {tmp} is a directory"),
    (["--checkpoint", str(NICE_CHECKPOINT), "文本"], "holds a 'nice' model; generate.py needs a seq2seq checkpoint"),
    (["--checkpoint", "{ckpt}", "--beam", "0", "文本"], "--beam must be >= 1"),
    (["--checkpoint", "{ckpt}", "--max-len", "0", "文本"], "--max-len must be >= 1"),
    (["--checkpoint", "{ckpt}", "--file", "{tmp}/no.txt"], "--file {tmp}/no.txt not found"),
    (["--checkpoint", "{ckpt}", "--file", "{tmp}"], "--file {tmp} is a directory"),
    (["--checkpoint", "{ckpt}", "--beam", "three", "文本"], "argument --beam: invalid int value: 'three'"),
    (["--checkpoint", "{ckpt}", "--device", "tpu", "文本"], "--device 'tpu' is not a device"),
    (["--checkpoint", "{ckpt}", "--resume", "auto"], "unrecognized arguments: --resume"),
    (["文本"], "the following arguments are required: --checkpoint"),
], ids=["missing-checkpoint", "checkpoint-directory", "not-seq2seq", "beam-0", "max-len-0", "file-missing",
        "file-directory", "beam-not-int", "bad-device", "unknown-flag", "no-checkpoint"])
def test_bad_input_is_one_line_and_exit_2(seq2seq_checkpoint, tmp_path, capsys, monkeypatch, argv, text):
    argv = [a.format(tmp=tmp_path, ckpt=seq2seq_checkpoint) for a in argv]
    code, out, err = call(argv, capsys, monkeypatch)
    assert code == 2 and out == ""
    assert len(err.splitlines()) == 1 and err.startswith("error: "), err
    assert text.format(tmp=tmp_path) in err
    assert set(re.findall(r"--[a-z][a-z-]*", err)) <= OWN_FLAGS | set(argv), err  # never e.g. --resume auto


@pytest.mark.slow
def test_a_bad_checkpoint_from_the_shell_is_one_line_without_traceback(tmp_path):
    assert_user_error(run("generate.py", "--checkpoint", str(tmp_path / "none.pt"), "文本"), "none.pt not found")


# ------------------------------------------------------------------------------------- any locale
@pytest.mark.slow
def test_c_locale_bytes_in_utf8_out(seq2seq_checkpoint):
    """Under LC_ALL=C without UTF-8 mode Python's standard streams are ASCII; the input is still read as UTF-8
    per line and the titles written as UTF-8, with no traceback."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONIOENCODING", "LANG", "LANGUAGE")}
    env.update(LC_ALL="C", PYTHONUTF8="0")
    command = [sys.executable, str(ROOT / "generate.py"), "--checkpoint", str(seq2seq_checkpoint), "--greedy",
               "--max-len", "4"]
    data = b"\xff\xfe abc\n" + "一丁七\n\n万丈\u2028三\n".encode()
    by_stdin = subprocess.run(command, input=data, cwd=ROOT, env=env, capture_output=True, timeout=300)
    err = by_stdin.stderr.decode("utf-8", errors="replace")
    assert by_stdin.returncode == 0 and "Traceback" not in err, err
    assert "line 1: invalid UTF-8, replaced" in err
    titles = by_stdin.stdout.decode("utf-8").split("\n")
    assert len(titles) == 5 and titles[-1] == ""  # four lines and the final newline
    by_args = subprocess.run(command + ["一丁七", "万丈\u2028三"], cwd=ROOT, env=env, capture_output=True, timeout=300)
    assert by_args.returncode == 0, by_args.stderr
    assert by_args.stdout.decode("utf-8").split("\n") == [titles[1], titles[3], ""]
