"""Strict configs: every error path gives one line naming the key and exits with code 2, no traceback."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Literal

import pytest
import torch

import train
from engine.config import apply_overrides, load_config, validate
from engine.typecheck import conform, conform_kwargs, matches
from errors import ConfigError
from tests.entry import call_main

ROOT = Path(__file__).resolve().parents[2]


def run_train(*args, cwd=ROOT, env_extra=None):
    import os
    env = {**os.environ, **(env_extra or {})}
    return subprocess.run([sys.executable, str(ROOT / "train.py"), *args], cwd=cwd, capture_output=True,
                          text=True, env=env, timeout=300)


def write(tmp_path, text: str) -> Path:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return path


BASE = """
model: {name: nice, hidden_units: 8, hidden_layers: 1}
data: {name: fake, n_train: 16, n_test: 8}
train: {batch_size: 8, epochs: 1}
"""


@pytest.mark.parametrize("override, expected", [
    ("train.epocs=3", "unknown key train.epocs; did you mean 'epochs'?"),
    ("model.hiden_units=3", "unknown key model.hiden_units; did you mean 'hidden_units'?"),
    ("trian.epochs=3", "unknown top-level key 'trian'; did you mean 'train'?"),
    ("train.batch_size=big", "train.batch_size must be int, got 'big' (str)"),
    ("optim.lr=fast", "optim.lr must be float, got 'fast' (str)"),
    ("model.name=nic", "model.name 'nic' is not a registered model; did you mean 'nice'?"),
    ("train.nonfinite=ignore", "train.nonfinite must be one of stop, skip, got 'ignore'"),
    ("model.prior=cauchy", "model.prior must be one of gaussian, logistic, got 'cauchy'"),
    ("optim.lr=-1", "optim (adam): Invalid learning rate: -1"),
    ("callbacks.checkpoint.mode=largest", "callbacks.checkpoint.mode must be one of min, max, got 'largest'"),
])
@pytest.mark.slow
def test_config_errors_one_line_exit_2(tmp_path, override, expected, capsys):
    """In-process (train.main as the shell calls it); test_missing_config_file and the door tests' shell cases
    check the same path through a real process."""
    code, _, err = call_main(train.main, ["--config", str(write(tmp_path, BASE)), override,
                                          f"train.out_dir={tmp_path}"], capsys)
    assert code == 2, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], err


@pytest.mark.slow
def test_missing_config_file(tmp_path):
    result = run_train("--config", str(tmp_path / "nope.yaml"))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"config file {tmp_path / 'nope.yaml'} not found" in result.stderr


@pytest.mark.slow
def test_missing_dataset_says_where_it_looked(tmp_path):
    cfg = write(tmp_path, BASE.replace("{name: fake, n_train: 16, n_test: 8}", f"{{name: mnist, root: {tmp_path}/nodata}}"))
    result = run_train("--config", str(cfg), f"train.out_dir={tmp_path}")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"{tmp_path}/nodata/mnist.npz" in result.stderr and "data.root" in result.stderr


@pytest.mark.slow
def test_existing_run_is_not_overwritten_and_bad_resume_is_refused(tmp_path, capsys):
    cfg = write(tmp_path, BASE)
    here = [f"train.threads={torch.get_num_threads()}", f"train.out_dir={tmp_path}"]  # in-process: keep threads
    code, _, err = call_main(train.main, ["--config", str(cfg), *here], capsys)
    assert code == 0, err
    code, _, err = call_main(train.main, ["--config", str(cfg), *here], capsys)
    assert code == 2 and "--resume auto" in err
    code, _, err = call_main(train.main, ["--config", str(cfg), *here, "model.hidden_units=16", "--resume", "auto"],
                             capsys)
    assert code == 2 and "Traceback" not in err
    assert "different model config (differs in: model.hidden_units)" in err


def test_overrides_parse_yaml_values():
    cfg = apply_overrides({}, ["optim.lr=1e-3", "train.grad_clip=null", "model.image_shape=[1,4,4]"])
    assert cfg == {"optim": {"lr": 1e-3}, "train": {"grad_clip": None}, "model": {"image_shape": [1, 4, 4]}}
    with pytest.raises(ConfigError, match="must look like key.sub=value"):
        apply_overrides({}, ["train.epochs"])


def test_resolved_config_fills_defaults_and_run_name(tmp_path):
    cfg = load_config(write(tmp_path, BASE))
    assert cfg["train"]["run_name"] == "c" and cfg["train"]["accumulate"] == 1
    assert cfg["model"]["num_couplings"] == 4  # the model's own default, recorded in the run
    assert validate(cfg) == cfg  # resolving is idempotent: a saved config reloads unchanged


def test_type_matching():
    assert matches(3, float) and not matches(True, int) and not matches(3.5, int)
    assert matches([1, 2], list[int]) and not matches([1, "a"], list[int])
    assert matches(None, int | None) and matches([0.5, 0.9], tuple[float, float])
    assert not matches([0.5], tuple[float, float])
    assert matches("a", Literal["a", "b"]) and not matches("c", Literal["a", "b"])
    assert matches(1, Literal[1, 2]) and not matches(True, Literal[1, 2])  # a choice is of its own type


def test_lists_become_tuples_where_the_constructor_asks_for_a_tuple():
    """YAML has no tuples: the value handed to a constructor is conformed to its annotation (torch's Adam
    ``betas``), everything else is left as YAML gave it (the resolved config stays plain lists)."""
    assert conform([0.5, 0.9], tuple[float, float]) == (0.5, 0.9)
    assert conform([[1, 2], [3]], list[tuple[int, ...]]) == [(1, 2), (3,)]
    assert conform([1, 2], tuple[int, int] | None) == (1, 2) and conform(None, tuple[int, int] | None) is None
    assert conform([1, 2], list[int]) == [1, 2]
    kwargs = conform_kwargs(torch.optim.Adam, {"lr": 0.1, "betas": [0.5, 0.9]})
    assert kwargs == {"lr": 0.1, "betas": (0.5, 0.9)} and isinstance(kwargs["betas"], tuple)
