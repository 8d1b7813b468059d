"""The config door (issue 20): every malformed config is refused before any work, with exit code 2 and one
stderr line naming the key, file or line and the fix; valid edge cases still run.

Most cases run ``train.main`` in this process with ``--print-config`` (validation happens before anything is
built); the out_dir cases without it (the run folder is checked before the data is loaded). A few cases run
train.py in a subprocess to show what a real shell sees.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

import train
from engine.build import check_data_fits_model
from engine.config import check_loss_weights, load_config, validate
from engine.run_folder import check_writable
from errors import ConfigError
from tests.entry import call_main

ROOT = Path(__file__).resolve().parents[2]

BASE = """\
model: {name: nice, hidden_units: 8, hidden_layers: 1, image_shape: [1, 4, 4]}
data: {name: fake, image_shape: [1, 4, 4], n_train: 16, n_test: 8}
train: {batch_size: 8, max_steps: 1, log_every: 1}
callbacks: {samples: {n: 4}}
"""


def write(tmp_path, text: str | bytes, name: str = "c.yaml") -> Path:
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return path


def call(argv: list[str], capsys) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of train.main in this process."""
    return call_main(train.main, argv, capsys)


def assert_one_line(code: int, err: str, expected: str) -> None:
    assert code == 2, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err[:2000]
    assert lines[0].startswith("error: ") and expected in lines[0], lines[0][:2000]
    # "<what>: <problem>; <fix>", or "<key> must be <what is valid>, got <value>" (the valid values are the fix)
    assert ";" in lines[0] or " must be " in lines[0], f"no fix in: {lines[0][:500]}"


# (id, overrides on BASE, expected text of the one line)
OVERRIDES = [
    ("samples-int", ["callbacks.samples=5"], "callbacks.samples must be a mapping of its settings"),
    ("samples-list", ["callbacks.samples=[1,2]"], "callbacks.samples must be a mapping of its settings"),
    ("samples-true", ["callbacks.samples=true"], "or false to switch it off"),
    ("sample-args-unknown", ["callbacks.samples.sample_args={foo: 1}"], "NICE.sample does not accept ['foo']"),
    ("sample-args-typo", ["callbacks.samples.sample_args={temprature: 1}"], "did you mean 'temperature'?"),
    ("sample-args-type", ["callbacks.samples.sample_args={temperature: hot}"],
     "callbacks.samples.sample_args.temperature must be float"),
    ("sample-args-n", ["callbacks.samples.sample_args={n: 3}"], "sample_args.n is set by the sampler"),
    ("sample-args-not-map", ["callbacks.samples.sample_args=[1]"], "callbacks.samples.sample_args must be dict"),
    ("samples-no-sampler", ["model={name: cnn_classifier, image_shape: [1, 4, 4], widths: [2]}"],
     "model 'cnn_classifier' does not sample images"),
    ("samples-every-neg", ["callbacks.samples.every_epochs=-1"], "callbacks.samples.every_epochs must be >= 0"),
    ("samples-n-0", ["callbacks.samples.n=0"], "callbacks.samples.n must be in [1, 100000]"),
    ("ema-decay-2", ["callbacks.ema.decay=2"], "callbacks.ema.decay must be in [0, 1), got 2"),
    ("ema-decay-1", ["callbacks.ema.decay=1"], "callbacks.ema.decay must be in [0, 1), got 1"),
    ("ema-decay-nan", ["callbacks.ema.decay=.nan"], "callbacks.ema.decay: nan is not a finite number"),
    ("callback-unknown", ["callbacks.emaa={}"], "unknown callback callbacks.emaa; did you mean 'ema'?"),
    ("snapshot-neg", ["callbacks.checkpoint.snapshot_every=-1"], "callbacks.checkpoint.snapshot_every must be >= 0"),
    ("set-value-at-keys", ["callbacks.set_value={target: loss_weights.nll, at: {five: 0.1}}"],
     "callbacks.set_value.at must be dict[int, float]"),
    ("eval-batch-neg", ["train.eval_batch_size=-1"], "train.eval_batch_size must be >= 1 (null = train.batch_size)"),
    ("threads-neg", ["train.threads=-1"], "train.threads must be in [1, 4096]"),
    ("threads-0", ["train.threads=0"], "train.threads must be in [1, 4096]"),
    ("seed-neg", ["train.seed=-1"], "train.seed must be in [0, 4294967295], got -1"),
    ("seed-2**40", [f"train.seed={2 ** 40}"], "train.seed must be in [0, 4294967295], got 1099511627776"),
    ("seed-int64", [f"train.seed={2 ** 70}"], "train.seed: 1180591620717411303424 does not fit a 64-bit integer"),
    ("max-steps-neg", ["train.max_steps=-1"], "train.max_steps must be >= 1 (null = train.epochs decides)"),
    ("max-steps-0", ["train.max_steps=0"], "train.max_steps must be >= 1"),
    ("grad-clip-neg", ["train.grad_clip=-1"], "train.grad_clip must be > 0 (null = no clipping), got -1"),
    ("grad-clip-0", ["train.grad_clip=0"], "train.grad_clip must be > 0"),
    ("grad-clip-nan", ["train.grad_clip=.nan"], "train.grad_clip: nan is not a finite number"),
    ("grad-clip-inf", ["train.grad_clip=.inf"], "train.grad_clip: inf is not a finite number"),
    ("checkpoint-every-neg", ["train.checkpoint_every=-1"], "train.checkpoint_every must be >= 0"),
    ("eval-every-neg", ["train.eval_every=-1"], "train.eval_every must be >= 0 (0 = only at the end)"),
    ("epochs-0", ["train.epochs=0", "train.max_steps=null"], "train.epochs must be >= 1, got 0"),
    ("batch-0", ["train.batch_size=0"], "train.batch_size must be >= 1, got 0"),
    ("accumulate-0", ["train.accumulate=0"], "train.accumulate must be >= 1"),
    ("log-every-0", ["train.log_every=0"], "train.log_every must be >= 1"),
    ("limit-train-neg", ["data.limit_train=-1"], "data.limit_train must be >= 1 (null = all), got -1"),
    ("limit-train-0", ["data.limit_train=0"], "data.limit_train must be >= 1 (null = all), got 0"),
    ("limit-eval-0", ["data.limit_eval=0"], "data.limit_eval must be >= 1"),
    ("split-seed-neg", ["data.split_seed=-1"], "data.split_seed must be in [0, 4294967295]"),
    ("warmup-neg", ["scheduler.warmup_steps=-1"], "scheduler.warmup_steps must be >= 0"),
    ("lr-nan", ["optim.lr=.nan"], "optim.lr: nan is not a finite number"),
    ("model-nan", ["model.noise_amplitude=.nan"], "model.noise_amplitude: nan is not a finite number"),
    ("betas-nan", ["optim.betas=[0.9, .nan]"], "optim.betas: nan is not a finite number"),
    ("run-name-up", ["train.run_name=../.."], "train.run_name must be one plain folder name"),
    ("run-name-dotdot", ["train.run_name=.."], "train.run_name must be one plain folder name"),
    ("run-name-slash", ["train.run_name=a/b"], "train.run_name must be one plain folder name"),
    ("run-name-blank", ["train.run_name=''"], "train.run_name must be one plain folder name"),
    ("run-name-newline", ["train.run_name='a\\nb'"], "train.run_name must be one plain folder name"),
    ("run-name-long", ["train.run_name=" + "r" * 300], "at most 255 bytes), got 'rrrr"),
    ("run-name-100kB", ["train.run_name=" + "r" * 100_000], "(100,002 characters); e.g. train.run_name=my_run"),
    ("value-2MB", ["train.run_name=" + "r" * 2_000_000], "a string of 2,000,000 characters, more than"),
    ("override-deep", ["model.image_shape=" + "[" * 100 + "]" * 100], "nested more than 32 levels deep"),
    ("override-dup", ["callbacks.samples.sample_args={temperature: 1, temperature: 2}"],
     "duplicate key 'temperature' (first at line 1)"),
    ("override-no-eq", ["train.epochs"], "override 'train.epochs' has no '='; it must look like key.sub=value"),
    ("override-empty-part", ["train..epochs=1"], "is not a dotted key"),
    ("override-value-section", ["train.batch_size.x=1"], "train.batch_size is a value, not a section"),
    ("loss-weights-1001", ["loss_weights={" + ", ".join(f"w{i}: 1" for i in range(1001)) + "}"],
     "loss_weights has 1,001 keys, more than 1000"),
    ("loss-weights-str", ["loss_weights.nll=big"], "loss_weights.nll must be float"),
    ("unknown-train-key", ["train.epocs=3"], "unknown key train.epocs; did you mean 'epochs'?"),
    # choices: Literal annotations of the engine's dataclasses and of the registered constructors
    ("amp-choice", ["train.amp=fp8"], "train.amp must be one of off, bf16, fp16, auto, got 'fp8'"),
    ("amp-type", ["train.amp=16"], "train.amp must be one of off, bf16, fp16, auto, got 16"),
    ("nonfinite-choice", ["train.nonfinite=ignore"], "train.nonfinite must be one of stop, skip, got 'ignore'"),
    ("data-val-choice", ["data.val=train"], "data.val must be one of test, holdout, split, none, got 'train'"),
    ("interval-choice", ["scheduler.interval=hour"], "scheduler.interval must be one of step, epoch, got 'hour'"),
    ("model-constraint-choice", ["model={name: gan, image_size: 8, channels: 1, constraint: lip}"],
     "model.constraint must be one of sn, sn_projection, sn_torch, gp, none, got 'lip'"),
    ("model-prior-choice", ["model.prior=cauchy"], "model.prior must be one of gaussian, logistic, got 'cauchy'"),
    ("model-views-bool", ["model={name: infomax, views: true}"], "model.views must be one of 1, 2, got True"),
    ("checkpoint-mode-choice", ["callbacks.checkpoint.mode=largest"],
     "callbacks.checkpoint.mode must be one of min, max, got 'largest'"),
    ("set-value-unit-choice", ["callbacks.set_value={target: loss_weights.nll, at: {1: 0.1}, unit: hour}"],
     "callbacks.set_value.unit must be one of epoch, step, got 'hour'"),
]


@pytest.mark.parametrize("overrides, expected", [c[1:] for c in OVERRIDES], ids=[c[0] for c in OVERRIDES])
@pytest.mark.slow
def test_bad_override_is_one_line(tmp_path, capsys, overrides, expected):
    code, out, err = call(["--config", str(write(tmp_path, BASE)), "--print-config", *overrides], capsys)
    assert_one_line(code, err, expected)
    assert out == ""


# (id, file contents, expected text); "{path}" is replaced by the file's path
FILES = [
    ("invalid-utf8", BASE.encode() + b"# caf\xe9\n", f"c.yaml: invalid UTF-8 at byte {len(BASE) + 5} (line 5: "
                                                     f"b'\\xe9\\n'); save the file as UTF-8"),
    ("deep-50000", "model: {name: nice, image_shape: " + "[" * 50_000 + "]" * 50_000 + "}\n",
     "refused at line 1, column 64: nested more than 32 levels deep"),
    ("deep-block", "".join("  " * i + f"k{i}:\n" for i in range(40)), "nested more than 32 levels deep"),
    ("self-alias", "model: &m {name: nice, image_shape: &s [1, *s]}\n", "nested more than 32 levels deep"),
    ("alias-bomb", "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
        f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
        for i in range(8)), "more than 100,000 values (aliases expanding?)"),
    ("run-name-10MB", "train: {run_name: " + "r" * 10_000_000 + "}\n",
     "c.yaml: 10,000,020 bytes, more than the 4,194,304 a config may have; a config holds settings"),
    ("duplicate-section", BASE + "train: {epochs: 5}\n", "c.yaml refused at line 5, column 1: duplicate key "
                                                       "'train' (first at line 3); fix that line"),
    ("duplicate-key", "train:\n  epochs: 1\n  epochs: 2\n", "duplicate key 'epochs' (first at line 2)"),
    ("nul-byte", "train: {epochs: 1}\x00\n", "character '\\x00' at position 18"),
    ("tab-indent", "train:\n\tepochs: 1\n", "is not valid YAML at line 2, column 1"),
    ("not-mapping", "- 1\n- 2\n", "must hold a mapping of sections"),
    ("int-top-key", "1: x\n", "unknown top-level key 1"),
    ("int-train-key", "model: {name: nice}\ntrain: {1: 2}\n", "train: key 1 is a int; keys are names"),
    ("unhashable-key", "train: {[1]: 2}\n", "found unhashable key"),
    ("samples-in-file", BASE.replace("samples: {n: 4}", "samples: 5"), "callbacks.samples must be a mapping"),
]


@pytest.mark.parametrize("text, expected", [c[1:] for c in FILES], ids=[c[0] for c in FILES])
def test_bad_file_is_one_line(tmp_path, capsys, text, expected):
    code, out, err = call(["--config", str(write(tmp_path, text)), "--print-config"], capsys)
    assert_one_line(code, err, expected)
    if "c.yaml" in expected:
        assert str(tmp_path / "c.yaml") in err


def test_missing_and_unreadable_config_files(tmp_path, capsys):
    code, _, err = call(["--config", str(tmp_path / "none.yaml")], capsys)
    assert_one_line(code, err, "none.yaml not found")
    code, _, err = call(["--config", str(tmp_path)], capsys)  # a folder
    assert_one_line(code, err, "not found")


@pytest.mark.parametrize("out_dir, expected", [
    ("/proc/x", "train.out_dir: the run folder /proc/x/c cannot be created or written"),
    ("{file}/runs", "is a file, not a folder; set train.out_dir to a folder this user can write"),
    ("{file}", "is a file, not a folder"),
    ("{long}", "cannot be created or written (File name too long)"),
], ids=["proc", "below-a-file", "is-a-file", "name-too-long"])
@pytest.mark.slow
def test_out_dir_that_cannot_be_written_is_refused_before_training(tmp_path, capsys, out_dir, expected):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    out_dir = out_dir.format(file=blocker, long=tmp_path / ("d" * 300))
    code, out, err = call(["--config", str(write(tmp_path, BASE)), f"train.out_dir={out_dir}"], capsys)
    assert_one_line(code, err, expected)
    assert "run folder" not in out  # nothing was built or trained


def test_check_writable_creates_the_folder(tmp_path):
    check_writable(tmp_path / "a" / "b")
    assert (tmp_path / "a" / "b").is_dir() and list((tmp_path / "a" / "b").iterdir()) == []


# ------------------------------------------------------------------------------------- loss_weights
@pytest.mark.parametrize("weights, terms, expected", [
    ({"nlll": 1.0}, {"nll"}, "unknown key loss_weights.nlll: not a loss term of the model (nll); did you mean 'nll'?"),
    ({"nll": 1.0, "centre": 0.1}, {"nll", "center"}, "unknown key loss_weights.centre"),
    ({"zzz": 1.0}, {"ce", "center"}, "use one of ce, center"),
], ids=["typo", "second-key", "no-close-match"])
def test_check_loss_weights_names_the_first_unknown_key(weights, terms, expected):
    with pytest.raises(ConfigError, match=None) as e:
        check_loss_weights(weights, terms)
    assert expected in str(e.value) and "\n" not in str(e.value)


def test_check_loss_weights_accepts_known_terms():
    check_loss_weights({"nll": 2.0}, {"nll", "kl"})
    check_loss_weights({}, {"nll"})


@pytest.mark.slow
def test_550000_loss_weights_are_refused_at_once():
    cfg = {"model": {"name": "nice"}, "loss_weights": {f"w{i}": 1.0 for i in range(550_000)}}
    with pytest.raises(ConfigError, match="more than 100,000 values|loss_weights has 550,000 keys"):
        validate(cfg)


# ----------------------------------------------------------------------------------- data vs model
def test_nice_image_shape_that_disagrees_with_the_data_is_one_line():
    cfg = validate({"model": {"name": "nice", "image_shape": [3, 32, 32]}, "data": {"name": "fake"}})
    splits = {"train": {"x": torch.zeros(2, 1, 28, 28, dtype=torch.uint8)}}
    with pytest.raises(ConfigError) as e:
        check_data_fits_model(cfg, splits)
    assert str(e.value) == ("model.image_shape=[3, 32, 32] but dataset 'fake' gives images of shape [1, 28, 28]; "
                            "set model.image_shape=[1,28,28] (or change the data)")
    cfg = validate({"model": {"name": "center_loss_mlp", "in_dim": 100}, "data": {"name": "fake"}})
    with pytest.raises(ConfigError, match="model.in_dim=100 but dataset 'fake' gives images of shape"):
        check_data_fits_model(cfg, splits)
    cfg = validate({"model": {"name": "gan", "image_size": 32, "channels": 3}, "data": {"name": "fake"}})
    with pytest.raises(ConfigError, match="set model.channels=1 and model.image_size=28"):
        check_data_fits_model(cfg, splits)
    check_data_fits_model(validate({"model": {"name": "nice"}}), splits)  # [1, 28, 28]: fits


# --------------------------------------------------------------------------------- valid edge cases
def test_valid_edge_cases_still_load(tmp_path):
    comment = "# " + "x" * 998 + "\n"
    text = comment * 1000 + """\
defaults: &net {hidden_units: 8, hidden_layers: 1}
""".replace("defaults", "model") + """\
data: &d {name: fake, image_shape: [1, 4, 4], n_train: 16, n_test: 8}
train: {batch_size: 8, seed: 4294967295, run_name: 运行_1, grad_clip: null, max_steps: null, threads: null}
callbacks:
  ema:
  samples: {sample_args: {temperature: 0.5}}
  checkpoint: {monitor: val/loss}
loss_weights: {nll: .inf}
"""
    # a model section built with a merge key, overriding a merged key: not a duplicate
    text = text.replace("model: &net {hidden_units: 8, hidden_layers: 1}",
                        "model: {<<: {name: nice, hidden_units: 8, hidden_layers: 1}, hidden_units: 4, "
                        "image_shape: [1, 4, 4]}")
    cfg = load_config(write(tmp_path, "\ufeff" + text), [f"train.out_dir={tmp_path}", "callbacks.ema.decay=0"])
    assert cfg["model"]["hidden_units"] == 4 and cfg["train"]["seed"] == 2 ** 32 - 1
    assert cfg["callbacks"]["ema"]["decay"] == 0 and cfg["train"]["run_name"] == "运行_1"
    assert cfg["loss_weights"] == {"nll": float("inf")}  # a non-finite weight is the trainer's to stop


def test_aliases_and_a_batch_larger_than_the_dataset_train(tmp_path, capsys):
    text = """\
model: &m {name: nice, hidden_units: 8, hidden_layers: 1, image_shape: &shape [1, 4, 4]}
data: {name: fake, image_shape: *shape, n_train: 16, n_test: 8}
train: {batch_size: 1000, max_steps: 2, log_every: 1, eval_every: 0, checkpoint_every: 0}
callbacks: {samples: {n: 4, every_epochs: 0}, checkpoint: {monitor: val/loss}}
"""
    code, out, err = call(["--config", str(write(tmp_path, text)), f"train.out_dir={tmp_path}"], capsys)
    assert code == 0, err
    assert (tmp_path / "c" / "last.pt").is_file() and (tmp_path / "c" / "samples" / "last.png").is_file()


# ------------------------------------------------------------------------------ from a real shell
@pytest.mark.parametrize("text, args, expected", [
    (BASE.encode() + b"# \xff\n", [], f"invalid UTF-8 at byte {len(BASE) + 2} (line 5"),
    (BASE + "train: {epochs: 5}\n", [], "duplicate key 'train' (first at line 3)"),
    (BASE, ["train.out_dir=/proc/x"], "train.out_dir: the run folder /proc/x/c cannot be created"),
    (BASE, ["train.seed=-1"], "train.seed must be in [0, 4294967295]"),
], ids=["utf8", "duplicate", "proc", "seed"])
@pytest.mark.slow
def test_a_shell_sees_one_line(tmp_path, text, args, expected):
    result = subprocess.run([sys.executable, str(ROOT / "train.py"), "--config", str(write(tmp_path, text)), *args],
                            cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], result.stderr
