"""The checkpoint door (issue 20): a checkpoint file is checked before anything is built from it (format tag,
required keys and their types, the model section of its config, weight names and shapes against the model
that config describes, the model's size against the memory available), and every bad file is exit code 2
with one stderr line naming the file and the problem. Crafted dicts are written with torch.save; the doors
are sample.py and evaluate.py (in this process), generate.py, train.init_from and the loader itself.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

import evaluate
import generate
import sample
import train
from engine import checkpoint
from engine.build import build_model, load_trained_model
from engine.config import validate
from errors import CheckpointError
from tests.entry import call_main

ROOT = Path(__file__).resolve().parents[2]
MODEL = {"name": "nice", "hidden_units": 8, "hidden_layers": 1, "image_shape": [1, 4, 4]}
DATA = {"name": "fake", "image_shape": [1, 4, 4], "n_train": 16, "n_test": 8}


class NotATensor:
    pass


def good_state() -> dict:
    """A checkpoint as train.py writes one for sampling and evaluation (a tiny NICE), without training."""
    config = validate({"model": dict(MODEL), "data": dict(DATA), "train": {"run_name": "r"}})
    torch.manual_seed(0)
    model = build_model(config)
    return {"format": checkpoint.FORMAT, "config": config, "model": model.state_dict(),
            "progress": {"epoch": 1, "batch_in_epoch": 0, "step": 2, "skipped_updates": 0}, "callbacks": {}}


def first_weight(state: dict) -> str:
    return next(iter(state["model"]))


def _drop(key):
    def change(s):
        del s[key]
    return change


def _set(key, value):
    def change(s):
        s[key] = value
    return change


def _model_cfg(**changes):
    def change(s):
        s["config"]["model"].update(changes)
    return change


def _drop_weight(s):
    del s["model"][first_weight(s)]


def _extra_weight(s):
    s["model"]["extra.weight"] = torch.zeros(2)


def _reshape_weight(s):
    k = first_weight(s)
    s["model"][k] = torch.zeros(3, 3)


def _list_weight(s):
    s["model"][first_weight(s)] = [1.0, 2.0]


def _no_model_section(s):
    del s["config"]["model"]


# (id, change to a good state, text of the one line)
CASES = [
    ("no-format", _drop("format"), "is not a kexue-torch checkpoint (no format tag 'kexue-torch/1')"),
    ("other-format", _set("format", "kexue-torch/99"), "is not a kexue-torch checkpoint"),
    ("not-a-dict", None, "is not a kexue-torch checkpoint"),
    ("no-model-key", _drop("model"), "has no 'model' entry; use a checkpoint written by train.py"),
    ("no-config-key", _drop("config"), "has no 'config' entry"),
    ("config-a-string", _set("config", "nice"), "'config' is a str, not a dict"),
    ("model-a-list", _set("model", [1, 2]), "'model' is a list, not a dict"),
    ("no-model-section", _no_model_section, "its config has no model section"),
    ("unknown-model-key", _model_cfg(hiden_units=3), "its config's unknown key model.hiden_units; did you mean "
                                                     "'hidden_units'?"),
    ("unknown-model-name", _model_cfg(name="nicer"), "its config's model.name 'nicer' is not a registered model"),
    ("model-key-type", _model_cfg(hidden_units="8"), "its config's model.hidden_units must be int, got '8'"),
    ("missing-tensor", _drop_weight, "is missing (1 missing); the weights and the config in it disagree"),
    ("unexpected-tensor", _extra_weight, "holds weight 'extra.weight', which the model its config describes does "
                                         "not have (1 unexpected)"),
    ("config-disagrees", _model_cfg(hidden_units=16), "has shape [8, 8], but the model its config describes has "
                                                      "[16, 8]"),
    ("wrong-shape", _reshape_weight, "weight 'log_scale' has shape [3, 3], but the model its config describes "
                                     "has [16]"),
    ("weight-not-tensor", _list_weight, "is a list, not a tensor"),
    ("huge-model", _model_cfg(hidden_units=200_000, hidden_layers=5),
     "the nice model (largest size setting: model.hidden_units=200000) needs"),
    ("bad-model-value", _model_cfg(prior="cauchy"), "its config's model.prior must be one of gaussian, logistic, "
                                                    "got 'cauchy'"),
]


def craft(tmp_path, change) -> Path:
    path = tmp_path / "crafted.pt"
    if change is None:
        torch.save([1, 2, 3], path)
    else:
        state = good_state()
        change(state)
        torch.save(state, path)
    return path


def call(module, argv: list[str], capsys) -> tuple[int, str, str]:
    return call_main(module.main, argv, capsys)


def assert_one_line(code: int, err: str, expected: str, path: Path | None = None) -> str:
    assert code == 2, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], err
    if path is not None:
        assert str(path) in lines[0]
    assert "--resume" not in lines[0]  # sample.py and evaluate.py have no such flag
    return lines[0]


@pytest.mark.parametrize("change, expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_sample_refuses_a_bad_checkpoint_in_one_line(tmp_path, capsys, change, expected):
    path = craft(tmp_path, change)
    code, out, err = call(sample, ["--checkpoint", str(path), "--n", "4", "--device", "cpu"], capsys)
    line = assert_one_line(code, err, expected, path)
    if "needs" in expected:
        assert "available on cpu; use a smaller model" in line


@pytest.mark.parametrize("change, expected", [c[1:] for c in CASES if c[0] in (
    "no-model-key", "unknown-model-key", "missing-tensor", "config-disagrees", "huge-model")],
    ids=["no-model-key", "unknown-model-key", "missing-tensor", "config-disagrees", "huge-model"])
def test_evaluate_refuses_a_bad_checkpoint_in_one_line(tmp_path, capsys, change, expected):
    path = craft(tmp_path, change)
    code, out, err = call(evaluate, ["--checkpoint", str(path), "--device", "cpu"], capsys)
    assert_one_line(code, err, expected, path)
    assert out == ""


def test_a_good_crafted_checkpoint_samples_and_evaluates(tmp_path, capsys):
    path = craft(tmp_path, lambda s: None)
    code, out, err = call(sample, ["--checkpoint", str(path), "--n", "4", "--out", str(tmp_path / "g.png")], capsys)
    assert code == 0 and (tmp_path / "g.png").is_file(), err
    code, out, err = call(evaluate, ["--checkpoint", str(path), "--device", "cpu"], capsys)
    assert code == 0 and '"loss"' in out, err


def test_pickled_code_is_refused_without_inviting_the_unsafe_fix(tmp_path, capsys):
    path = tmp_path / "evil.pt"
    torch.save({"format": checkpoint.FORMAT, "obj": NotATensor(), "fn": print}, path)
    code, _, err = call(sample, ["--checkpoint", str(path)], capsys)
    line = assert_one_line(code, err, "refused because it holds pickled Python objects or code", path)
    assert "weights_only loading does not run" in line
    assert "weights_only=False" not in line and "Re-running" not in line and "trust" not in line
    with pytest.raises(CheckpointError, match="unreadable: refused because"):
        checkpoint.load(path)


@pytest.mark.parametrize("data, expected", [
    (b"", "is unreadable (EOFError)"),
    (b"not a zip at all", "is unreadable (UnpicklingError: Unsupported operand 110); use another checkpoint"),
    ("truncated", "is unreadable (RuntimeError: PytorchStreamReader failed reading zip archive: failed finding "
                  "central directory); use another checkpoint"),
], ids=["empty", "text", "truncated"])
def test_unreadable_files_are_one_line(tmp_path, capsys, data, expected):
    path = tmp_path / "bad.pt"
    if data == "truncated":
        torch.save(good_state(), path)
        data = path.read_bytes()[:200]
    path.write_bytes(data)
    code, _, err = call(sample, ["--checkpoint", str(path)], capsys)
    assert_one_line(code, err, expected, path)


def test_ema_requested_from_a_checkpoint_without_it(tmp_path, capsys):
    path = craft(tmp_path, lambda s: None)
    code, _, err = call(sample, ["--checkpoint", str(path), "--ema"], capsys)
    assert_one_line(code, err, "holds no EMA weights; drop --ema or train with callbacks.ema", path)


@pytest.mark.slow
def test_generate_names_the_file_of_a_bad_checkpoint(tmp_path, capsys, seq2seq_checkpoint):
    # a model generate.py cannot use is refused by name, before anything is built from it
    path = craft(tmp_path, _drop_weight)
    code, _, err = call(generate, ["--checkpoint", str(path), "text"], capsys)
    assert_one_line(code, err, "holds a 'nice' model; generate.py needs a seq2seq checkpoint", path)
    # a seq2seq checkpoint whose weights disagree with its config: the weight, and the file
    state = torch.load(seq2seq_checkpoint, weights_only=True)
    _drop_weight(state)
    path = tmp_path / "seq2seq_bad.pt"
    torch.save(state, path)
    code, _, err = call(generate, ["--checkpoint", str(path), "text"], capsys)
    assert_one_line(code, err, "is missing (1 missing)", path)


def test_init_from_a_checkpoint_whose_weights_disagree(tmp_path, capsys):
    path = craft(tmp_path, _reshape_weight)
    config = tmp_path / "c.yaml"
    config.write_text("model: {name: nice, hidden_units: 8, hidden_layers: 1, image_shape: [1, 4, 4]}\n"
                      "data: {name: fake, image_shape: [1, 4, 4], n_train: 16, n_test: 8}\n"
                      "train: {batch_size: 8, max_steps: 1}\ncallbacks: {samples: false}\n")
    code, _, err = call(train, ["--config", str(config), f"train.out_dir={tmp_path}", f"train.init_from={path}"],
                        capsys)
    assert_one_line(code, err, f"train.init_from: {path}: weight")


@pytest.mark.parametrize("change, expected", [
    (_drop("optimizers"), "has no 'optimizers' entry"),
    (_drop("rng"), "has no 'rng' entry"),
    (_set("progress", {"epoch": 0, "batch_in_epoch": 0, "step": -1, "skipped_updates": 0}),
     "progress.step is -1, not a count"),
    (_set("progress", {"epoch": 0}), "progress.batch_in_epoch is None, not a count"),
    (_set("scaler", [1]), "'scaler' is a list, not a dict"),
], ids=["no-optimizers", "no-rng", "negative-step", "missing-counter", "scaler-list"])
def test_a_resume_needs_the_whole_state(tmp_path, change, expected):
    state = {**good_state(), "optimizers": {}, "schedulers": {}, "scaler": {}, "loss_weights": {}, "rng": {}}
    checkpoint.check_structure(state, "x.pt", "resume")  # whole: accepted
    change(state)
    with pytest.raises(CheckpointError) as e:
        checkpoint.check_structure(state, "x.pt", "resume")
    assert expected in str(e.value) and "\n" not in str(e.value)


def test_a_real_run_checkpoint_still_loads(tmp_path):
    fixture = ROOT / "tests" / "fixtures" / "ckpt_cf763f0" / "nice_last.pt"
    state = checkpoint.load(fixture, expect="resume")
    model, config = load_trained_model(fixture)
    assert config["model"]["name"] == "nice" and not model.training
    assert state["progress"]["step"] == 7


@pytest.mark.slow
def test_a_shell_sees_one_line(tmp_path):
    path = craft(tmp_path, _model_cfg(hidden_units=16))
    result = subprocess.run([sys.executable, str(ROOT / "sample.py"), "--checkpoint", str(path)], cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "but the model its config describes" in result.stderr
