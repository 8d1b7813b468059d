"""evaluate.py: the default split exists for every config (test, else val, said in a note), the output is
strict JSON (non-finite metrics as null), and a missing split or checkpoint is one line with exit code 2."""
from __future__ import annotations

import json
import math
import re

import pytest
import torch

import evaluate
from engine import checkpoint
from tests.engine.test_cli import assert_user_error, run
from tests.entry import call_main

TINY = ["model.hidden_units=16", "model.hidden_layers=1", "model.image_shape=[1,8,8]", "data.name=fake",
        "data.image_shape=[1,8,8]", "data.n_train=64", "data.n_test=16", "train.batch_size=16",
        "train.max_steps=2", "callbacks.samples.n=4"]
HOLDOUT = ["data.val=holdout", "data.val_size=8"]


@pytest.fixture(scope="module")
def nice_checkpoint(tmp_path_factory):
    """last.pt of a tiny NICE (configs/quickstart.yaml: data.val=test) trained 2 updates on 8x8 fake images."""
    out = tmp_path_factory.mktemp("evaluate")
    result = run("train.py", "--config", "configs/quickstart.yaml", *TINY, f"train.out_dir={out}")
    assert result.returncode == 0, result.stderr
    return out / "quickstart" / "last.pt"


def call(argv: list[str], capsys) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of evaluate.main in this process."""
    return call_main(evaluate.main, argv, capsys)


def strict_loads(line: str) -> dict:
    def refuse(constant):
        raise AssertionError(f"not strict JSON: {constant}")
    return json.loads(line, parse_constant=refuse)


@pytest.mark.parametrize("overrides, split, note", [
    ([], "val", "note: --split val (data.val=test: the validation split is the test set)"),
    (HOLDOUT, "test", "note: --split test (the config holds a separate test split)"),
], ids=["val-is-test", "holdout"])
@pytest.mark.slow
def test_default_split_exists_and_is_named(nice_checkpoint, capsys, overrides, split, note):
    code, out, err = call(["--checkpoint", str(nice_checkpoint), "--device", "cpu", *overrides], capsys)
    assert code == 0, err
    assert err.splitlines() == [note]
    metrics = strict_loads(out)
    assert metrics["split"] == split and metrics["images"] == 16 and math.isfinite(metrics["loss"])


def test_a_requested_split_gets_no_note(nice_checkpoint, capsys):
    code, out, err = call(["--checkpoint", str(nice_checkpoint), "--split", "train"], capsys)
    assert code == 0 and err == ""
    assert strict_loads(out)["images"] == 64


@pytest.mark.parametrize("argv, text", [
    (["--split", "test"], "split 'test' does not exist with data.val=test (the validation split is the test set: "
                          "use --split val); available: train, val"),
    (["--split", "dev"], "split 'dev' does not exist with data.val=test; available: train, val"),
    (["data.val=none"], "no test or val split with data.val=none; available: train"),
    (["--split", "val", "data.val=none"], "split 'val' does not exist with data.val=none; available: train"),
    (["--batch-size", "0"], "--batch-size must be >= 1"),
    (["--devise", "cpu"], "unrecognized arguments: --devise"),
    (["model.hidden_units=8"], "only takes data.* overrides"),
], ids=["test-is-val", "unknown", "val-none", "val-none-explicit", "batch-size", "unknown-flag", "model-override"])
def test_bad_split_or_flag_is_one_line(nice_checkpoint, capsys, argv, text):
    code, out, err = call(["--checkpoint", str(nice_checkpoint), *argv], capsys)
    assert code == 2 and out == ""
    assert len(err.splitlines()) == 1 and err.startswith("error: ") and text in err, err


@pytest.mark.parametrize("name", ["none.pt", ""], ids=["missing", "directory"])
def test_missing_checkpoint_names_only_evaluates_flags(tmp_path, capsys, name):
    code, out, err = call(["--checkpoint", str(tmp_path / name)], capsys)
    assert code == 2 and len(err.splitlines()) == 1 and "--checkpoint" in err, err
    assert "--resume" not in err
    assert re.search(r"(not found|is a directory); pass a run's best.pt or last.pt", err)


def test_non_finite_metrics_become_null_with_one_note(nice_checkpoint, tmp_path, capsys):
    state = checkpoint.load(nice_checkpoint)
    state["model"]["log_scale"][0] = math.inf  # log-det = inf, so the losses are inf or nan
    broken = tmp_path / "broken.pt"
    torch.save(state, broken)
    code, out, err = call(["--checkpoint", str(broken), "--split", "val"], capsys)
    assert code == 0, err
    metrics = strict_loads(out)
    nulls = [k for k, v in metrics.items() if v is None]
    assert "log_det" in nulls and "loss" in nulls
    assert err.splitlines() == [f"note: non-finite values written as null: {', '.join(nulls)}"]


def test_strict_json_values():
    values, bad = evaluate.strict_json_values({"a": 1.0, "b": math.nan, "c": -math.inf, "d": 3})
    assert values == {"a": 1.0, "b": None, "c": None, "d": 3} and bad == ["b", "c"]


@pytest.mark.slow
def test_from_the_shell(nice_checkpoint):
    result = run("evaluate.py", "--checkpoint", str(nice_checkpoint))
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == ["note: --split val (data.val=test: the validation split is the test set)"]
    assert strict_loads(result.stdout)["split"] == "val"
    assert_user_error(run("evaluate.py", "--checkpoint", str(nice_checkpoint), "--split", "test"), "available: train, val")


def test_a_text_checkpoint_counts_its_rows(seq2seq_checkpoint, capsys):
    """Text splits hold src/tgt, not x: the count comes from any tensor of the split."""
    code, out, err = call(["--checkpoint", str(seq2seq_checkpoint)], capsys)
    assert code == 0, err
    metrics = strict_loads(out)
    assert metrics["split"] == "test" and metrics["images"] == 16 and math.isfinite(metrics["xent"])
