"""One loss-weight mechanism (engine/loss_weights.py): models return unweighted terms and declare their
default weights, the Trainer applies weights = defaults overridden by ``loss_weights``, and configs and
checkpoints written while four models weighted terms themselves (commit e591783 and before) still read, train
and resume the same.

* every config in configs/ trains on the total loss e591783 gives (tests/fixtures/loss_totals.json);
* ``loss_weights.gp: 5`` is exactly 5 times the raw penalty in the total; unknown terms are refused;
* the older arguments (model.gp_weight, ...) read as the same weights; set together with the loss_weights
  entry of their term they are refused;
* the resolved weights are in config.yaml and in every checkpoint; set_value still changes them;
* e591783's checkpoints (tests/fixtures/ckpt_e591783) resume bit-identical to an uninterrupted run.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from engine import checkpoint
from engine.build import build_trainer, resume
from engine.config import load_config, validate
from engine.loss_weights import training_total, upgrade_checkpoint
from errors import CheckpointError, ConfigError
from tests.fixtures import assert_same_state
from tests.fixtures.make_loss_totals import loss_totals

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))
TOTALS = json.loads((ROOT / "tests" / "fixtures" / "loss_totals.json").read_text())["totals"]
OLD = ROOT / "tests" / "fixtures" / "ckpt_e591783"

# a tiny WGAN-GP: two phases (critic with terms critic and gp, generator with generator)
GAN = {"model": {"name": "gan", "image_size": 16, "channels": 3, "z_dim": 8, "base_filters": 4,
                 "constraint": "gp", "n_critic": 2},
       "data": {"name": "fake", "image_shape": [3, 16, 16], "n_train": 16, "n_test": 8},
       "optim": {"name": "adam", "lr": 2.0e-4, "betas": [0.5, 0.999]},
       "train": {"epochs": 1, "batch_size": 8, "log_every": 1, "threads": 1},
       "callbacks": {"metrics": {"tensorboard": False}}}


def gan_config(tmp_path, weights=None, **model) -> dict:
    cfg = json.loads(json.dumps(GAN))
    cfg["model"].update(model)
    cfg["train"].update(out_dir=str(tmp_path), run_name="gan")
    if weights is not None:
        cfg["loss_weights"] = weights
    return validate(cfg)


def critic_window(trainer) -> dict:
    """The Trainer's logged sums of one critic window on the first batch: raw terms and their total."""
    batch = trainer._to_device(next(iter(trainer.train_loader.batches(0))))
    torch.manual_seed(0)
    return trainer._window_backward([batch], len(batch["x"]), "critic")


# ------------------------------------------------------------------------------ totals of every config
@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
@pytest.mark.slow
def test_every_config_trains_on_the_total_loss_of_e591783(path, tmp_path):
    """Each config's weighted total (each phase's, and val/loss) on a fixed fake batch equals what the code of
    e591783 gave with its own version of the config. The training totals are bit-identical on the machine
    that recorded them; val/loss of the clustering VAE and InfoMax within 1e-7 (those models summed their
    weighted terms per batch in fp32 then, the Trainer weights the per-term means now). The tolerance also
    covers other CPUs' kernels; a changed weight moves a total by far more."""
    if path.stem not in TOTALS:
        pytest.fail(f"{path.name} is not in tests/fixtures/loss_totals.json: record its total with "
                    f"tests/fixtures/make_loss_totals.py")
    got = loss_totals(path, tmp_path)
    expected = TOTALS[path.stem]
    assert set(got) == set(expected)
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, rel=1e-5), key


# ----------------------------------------------------------------------------------- the mechanism
def test_gp_weight_5_puts_exactly_5_times_the_raw_penalty_in_the_total(tmp_path):
    trainer = build_trainer(gan_config(tmp_path, {"gp": 5}), tmp_path / "gan")
    sums = critic_window(trainer)
    assert torch.equal(sums["loss_critic"], sums["critic"] + 5 * sums["gp"])  # train/gp is the raw penalty
    assert trainer.loss_weights == {"critic": 1.0, "generator": 1.0, "gp": 5}
    # the default is the blog's 10
    default = build_trainer(gan_config(tmp_path / "d"), tmp_path / "d" / "gan")
    sums = critic_window(default)
    assert torch.equal(sums["loss_critic"], sums["critic"] + 10 * sums["gp"])


def test_a_term_weighted_0_is_left_out_of_the_backward_even_where_its_gradient_is_infinite():
    """0 · (an infinite gradient) is NaN: post 3's autoencoder floor (cluster and category weighted 0) would
    put it into every weight. Left out of the sum, the other terms' gradients are untouched."""
    w = torch.tensor([0.5, 1.5], requires_grad=True)
    p = torch.tensor([1.0, 0.0]) * w  # a probability of exactly 0 that depends on w
    losses = {"recon": (w ** 2).sum(), "category": torch.special.xlogy(p, p).sum() + torch.log(w[1] * 0)}
    total = training_total(losses, {"recon": 2.5, "category": 0.0})
    total.backward()
    assert torch.equal(w.grad, 2.5 * 2 * w.detach())
    # everything finite: the same total and gradients, to the bit, as the sum over every term
    a = torch.tensor([0.3, -1.2], requires_grad=True)
    terms = {"recon": (a ** 2).sum(), "cluster": a.exp().sum(), "category": a.sin().sum()}
    weights = {"recon": 2.5, "cluster": 0.0, "category": 1.0}
    kept = training_total(terms, weights)
    (g_kept,) = torch.autograd.grad(kept, a, retain_graph=True)
    full = sum(weights[k] * v for k, v in terms.items())
    (g_full,) = torch.autograd.grad(full, a)
    assert torch.equal(kept, full) and torch.equal(g_kept, g_full)
    # every weight 0: the sum over every term, so that a backward exists
    assert torch.equal(training_total(terms, dict.fromkeys(terms, 0.0)), 0 * sum(terms.values()))


def test_resolved_weights_are_in_config_yaml_and_every_checkpoint(tmp_path):
    cfg = gan_config(tmp_path, {"gp": 2.5})
    trainer = build_trainer(cfg, tmp_path / "gan")
    trainer.fit()
    resolved = {"critic": 1.0, "generator": 1.0, "gp": 2.5}
    assert cfg["loss_weights"] == resolved  # the config train.py writes to config.yaml
    state = checkpoint.load(tmp_path / "gan" / "last.pt")
    assert state["loss_weights"] == resolved and state["config"]["loss_weights"] == resolved
    logged = [json.loads(line) for line in (tmp_path / "gan" / "metrics.jsonl").read_text().splitlines()]
    assert any(r.get("weight/gp") == 2.5 and r.get("weight/critic") == 1.0 for r in logged)


def test_unknown_loss_weight_is_refused_naming_the_terms_of_every_phase(tmp_path):
    cfg = gan_config(tmp_path, {"foo": 1.0})
    cfg["train"]["epochs"] = 2  # 4 updates: critic, critic, generator (checked once every phase has run), ...
    trainer = build_trainer(cfg, tmp_path / "gan")
    with pytest.raises(ConfigError, match=r"^unknown key loss_weights\.foo: not a loss term of the model "
                                          r"\(critic, generator, gp\)"):
        trainer.fit()
    # a term of the second phase only is known once that phase has run
    cfg = gan_config(tmp_path / "ok", {"generator": 2.0})
    cfg["train"]["epochs"] = 2
    fine = build_trainer(cfg, tmp_path / "ok" / "gan")
    fine.fit()
    assert fine.loss_weights["generator"] == 2.0


def test_set_value_changes_a_resolved_weight(tmp_path):
    cfg = json.loads(json.dumps(GAN))
    cfg["train"].update(out_dir=str(tmp_path), run_name="gan", epochs=2)
    cfg["callbacks"]["set_value"] = {"target": "loss_weights.gp", "at": {1: 3.0}}
    trainer = build_trainer(validate(cfg), tmp_path / "gan")
    trainer.fit()
    assert trainer.loss_weights["gp"] == 3.0
    assert checkpoint.load(tmp_path / "gan" / "last.pt")["loss_weights"]["gp"] == 3.0


# ----------------------------------------------------------------------------------- older spellings
@pytest.mark.parametrize("model, weights", [
    ({"name": "gan", "constraint": "gp", "gp_weight": 7.0}, {"gp": 7.0}),
    ({"name": "gan", "constraint": "sn", "gp_weight": 10.0}, {}),            # no penalty: ignored, as then
    ({"name": "cnn_classifier", "regularizer": "l2", "reg_weight": 5e-4}, {"l2": 5e-4}),
    ({"name": "cnn_classifier", "regularizer": "none", "reg_weight": 0.0}, {}),
    ({"name": "cluster_vae", "loss": "september", "recon_weight": None}, {}),  # null: the default (5)
    ({"name": "cluster_vae", "recon_weight": 3.0}, {"recon": 3.0}),
    ({"name": "infomax", "alpha": 0.5, "beta": 1.5, "gamma": 0.02}, {"global": 0.5, "local": 1.5, "prior": 0.02}),
])
def test_an_older_config_reads_as_the_same_weights(model, weights):
    cfg = validate({"model": model})
    assert cfg["loss_weights"] == weights
    assert not {"gp_weight", "reg_weight", "recon_weight", "alpha", "beta", "gamma"} & set(cfg["model"])


def test_older_config_yaml_trains_with_the_weights_it_had(tmp_path):
    """A config.yaml as e591783 wrote it (every argument filled in, the weight inside the model) gives the
    Trainer the weights that model applied."""
    old = {"name": "cluster_vae", "image_shape": [1, 8, 8], "latent_dim": 4, "clusters": 3, "base_filters": 2,
           "classifier_hidden": 8, "loss": "september", "recon_weight": None}
    cfg = validate({"model": old, "data": {"name": "fake", "image_shape": [1, 8, 8], "n_train": 8, "n_test": 8},
                    "loss_weights": {}, "train": {"out_dir": str(tmp_path), "run_name": "vae"}})
    assert build_trainer(cfg, tmp_path / "vae").loss_weights == {"recon": 5.0, "cluster": 1.0, "category": 1.0}


@pytest.mark.parametrize("model, weights, message", [
    ({"name": "gan", "constraint": "gp", "gp_weight": 5.0}, {"gp": 5.0},
     "model.gp_weight and loss_weights.gp both set the weight of the 'gp' loss; drop model.gp_weight"),
    ({"name": "infomax", "gamma": 0.1}, {"prior": 0.1}, "model.gamma and loss_weights.prior both set"),
    ({"name": "cnn_classifier", "regularizer": "spectral", "reg_weight": 0.01}, {"spectral": 0.01},
     "model.reg_weight and loss_weights.spectral both set"),
])
def test_an_older_argument_and_its_loss_weight_together_are_refused(model, weights, message):
    with pytest.raises(ConfigError, match=f"^{message}"):
        validate({"model": model, "loss_weights": weights})


def test_an_older_argument_of_the_wrong_type_is_named():
    with pytest.raises(ConfigError, match="^model.gp_weight must be float or null, got 'big'"):
        validate({"model": {"name": "gan", "constraint": "gp", "gp_weight": "big"}})


def test_older_checkpoint_weights_multiply_into_its_saved_loss_weights():
    """Then the Trainer weighted the model's already weighted term: gp_weight 10 with loss_weights.gp 0.5
    trained on 5·GP; read today, the checkpoint says loss_weights.gp 5 (in its config and its run state)."""
    state = {"config": {"model": {"name": "gan", "constraint": "gp", "gp_weight": 10.0}, "loss_weights": {"gp": 0.5}},
             "loss_weights": {"gp": 0.5}}
    upgrade_checkpoint(state, "x.pt")
    assert state["config"] == {"model": {"name": "gan", "constraint": "gp"}, "loss_weights": {"gp": 5.0}}
    assert state["loss_weights"] == {"gp": 5.0}
    vae = {"config": {"model": {"name": "cluster_vae", "loss": "december", "recon_weight": None}, "loss_weights": {}},
           "loss_weights": {}}
    upgrade_checkpoint(vae, "y.pt")
    assert vae["loss_weights"] == vae["config"]["loss_weights"] == {"recon": 2.5}
    upgrade_checkpoint(vae, "y.pt")  # today's form: left as it is
    assert vae["loss_weights"] == {"recon": 2.5}


def test_checkpoint_of_cf763f0_reads_without_its_older_argument():
    state = checkpoint.load(ROOT / "tests" / "fixtures" / "ckpt_cf763f0" / "gan_last.pt")
    assert "gp_weight" not in state["config"]["model"] and state["loss_weights"] == {}  # an SN critic: no gp


def _run(config: Path, tmp_path: Path, name: str, resume_from: Path | None = None) -> dict:
    cfg = load_config(config, [f"train.out_dir={tmp_path}", f"train.run_name={name}"])
    trainer = build_trainer(cfg, tmp_path / name)
    if resume_from is not None:
        resume(trainer, str(resume_from))
    trainer.fit()
    return checkpoint.load(tmp_path / name / "last.pt")


@pytest.mark.parametrize("name", ["gan_gp", "cluster_vae", "infomax", "classifier_l2"])
@pytest.mark.slow
def test_checkpoint_of_e591783_resumes_bit_identical(name, tmp_path):
    """A last.pt of e591783, whose model weighted its terms itself, resumed by today's code from its config
    (older spellings and all) ends where an uninterrupted run of today's code on that config ends (bit for bit on
    a CPU like the fixture's: tests/fixtures)."""
    config = OLD / f"{name}.yaml"
    full = _run(config, tmp_path, "full")
    resumed = _run(config, tmp_path, "old", resume_from=OLD / f"{name}_last.pt")
    assert resumed["progress"] == full["progress"]
    assert resumed["loss_weights"] == full["loss_weights"]
    parts = [(resumed["model"], full["model"]), (resumed["optimizers"], full["optimizers"])]
    assert_same_state(parts)


def test_a_newer_model_argument_at_its_default_does_not_refuse_an_older_checkpoint():
    """A checkpoint of code before model.critic_norm existed was made with BatchNorm: resuming it with the
    default (batch) is the same model, with another value it is not."""
    from engine.build import require_same_model

    config = validate({"model": {"name": "gan", "constraint": "gp"}, "data": {"name": "fake"}})
    older = {"config": {"model": {k: v for k, v in config["model"].items() if k != "critic_norm"}}}
    require_same_model(older, config, "older.pt", "")
    config["model"]["critic_norm"] = "layer"
    with pytest.raises(CheckpointError, match="differs in: model.critic_norm"):
        require_same_model(older, config, "older.pt", "")
