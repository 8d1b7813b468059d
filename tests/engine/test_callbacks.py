"""Callbacks of post 1 (kexue.fm/archives/5765) through the real Trainer on the toy model: each changes what it
should at the update or epoch it should, and resumes. 50 fake images in batches of 4: 13 updates per epoch."""
from __future__ import annotations

import copy
import json

import pytest
import torch

from engine import checkpoint
from engine.build import build_trainer, resume
from engine.callbacks import EMA, Callback
from engine.experiment_callbacks import Evaluate, SetValue
from engine.config import validate
from errors import ConfigError
from registry import _REGISTRY, register
from tests.engine.toy import Toy, toy_config

PER_EPOCH = 13


# ------------------------------------------------------------------------------------------- helpers
class Recorder(Callback):
    """Per optimizer update: (epoch, update, lr used, weight of 'ce' used, logged loss, logged ce)."""

    def __init__(self):
        self.rows: list[dict] = []

    def on_before_optimizer_step(self, trainer, phase):
        self.rows.append({"epoch": trainer.epoch, "step": trainer.step,
                          "lr": trainer.optimizers[phase].param_groups[0]["lr"],
                          "w": trainer.loss_weights.get("ce", 1.0), "scale": getattr(trainer.model, "scale", None)})

    def on_batch_end(self, trainer, logs):
        self.rows[-1].update(loss=float(logs["losses"]["loss"]), ce=float(logs["losses"]["ce"]))


def config(tmp_path, sections: dict | None = None, **train) -> dict:
    cfg = toy_config(tmp_path, **train)
    cfg["callbacks"]["metrics"] = {"tensorboard": False, "print_epochs": False}
    for key, value in (sections or {}).items():
        cfg[key] = value if key != "callbacks" else {**cfg["callbacks"], **value}
    return validate(cfg)


def run(cfg, run_dir, resume_from: str | None = None):
    trainer = build_trainer(copy.deepcopy(cfg), run_dir)
    if resume_from:
        resume(trainer, resume_from)
    recorder = Recorder()
    trainer.callbacks.append(recorder)
    trainer.fit()
    return trainer, recorder.rows


def stopped_then_resumed(cfg, tmp_path, stop_at: int):
    """Train to update ``stop_at``, then resume the same run folder to the end; the two segments' rows."""
    first = copy.deepcopy(cfg)
    first["train"]["max_steps"] = stop_at
    _, rows_a = run(first, tmp_path / "split")
    trainer, rows_b = run(cfg, tmp_path / "split", resume_from="auto")
    return trainer, rows_a, rows_b


def same_weights(a, b) -> bool:
    return all(torch.equal(v, b.model.state_dict()[k]) for k, v in a.model.state_dict().items())


# ---------------------------------------------------------------------------------------- schedules
def test_piecewise_by_epoch_through_the_trainer_and_resume(tmp_path):
    sched = {"name": "piecewise", "boundaries": [1, 3], "values": [0.1, 0.01, 0.001], "interval": "epoch"}
    cfg = config(tmp_path, {"scheduler": sched}, epochs=4)
    full, rows = run(cfg, tmp_path / "full")
    expected = {0: 0.1, 1: 0.01, 2: 0.01, 3: 0.001}  # "epoch < 1", "epoch < 3", then the last value
    assert len(rows) == 4 * PER_EPOCH
    assert all(r["lr"] == expected[r["epoch"]] for r in rows)
    # stopped mid-epoch 2 (update 33 = 7 batches into it): the resumed segment continues the same lrs
    resumed, rows_a, rows_b = stopped_then_resumed(cfg, tmp_path, stop_at=33)
    assert [r["lr"] for r in rows_a + rows_b] == [r["lr"] for r in rows]
    assert same_weights(full, resumed)


def test_warmup_then_piecewise_counts_optimizer_updates(tmp_path):
    # accumulate 2: 13 micro-batches per epoch = 7 updates (the last window has 1 micro-batch)
    sched = {"name": "piecewise", "boundaries": [3, 6], "values": [0.1, 0.01, 0.001], "warmup_steps": 4}
    cfg = config(tmp_path, {"scheduler": sched}, epochs=2, accumulate=2)
    _, rows = run(cfg, tmp_path / "run")
    assert [r["step"] for r in rows] == list(range(14))
    warmup = [0.1 * (n + 1) / 4 for n in range(4)]  # update n uses peak * (n + 1) / warmup_steps
    piecewise = [0.1] * 3 + [0.01] * 3 + [0.001] * 4  # its position restarts at 0 after the warmup
    assert [r["lr"] for r in rows] == pytest.approx(warmup + piecewise)


# ---------------------------------------------------------------------------------------- set_value
SWITCH = {"set_value": {"target": "loss_weights.ce", "at": {2: 0.5}}}


def test_loss_weight_switches_exactly_at_the_epoch(tmp_path):
    cfg = config(tmp_path, {"callbacks": SWITCH}, epochs=4)
    trainer, rows = run(cfg, tmp_path / "run")
    for r in rows:
        w = 0.5 if r["epoch"] >= 2 else 1.0
        assert r["w"] == w, r
        assert r["loss"] == pytest.approx(w * r["ce"])  # and the Trainer really used it
    assert trainer.loss_weights["ce"] == 0.5
    logged = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [(r["step"], r["set/loss_weights.ce"]) for r in logged if "set/loss_weights.ce" in r] == [(26, 0.5)]
    assert {r["step"]: r["weight/ce"] for r in logged if "weight/ce" in r}[27] == 0.5


@pytest.mark.parametrize("stop_at", [33, 26], ids=["mid_epoch_after_switch", "end_of_epoch_before_switch"])
def test_loss_weight_stays_switched_after_resume(tmp_path, stop_at):
    cfg = config(tmp_path, {"callbacks": SWITCH}, epochs=4)
    full, rows = run(cfg, tmp_path / "full")
    resumed, rows_a, rows_b = stopped_then_resumed(cfg, tmp_path, stop_at)
    assert [r["w"] for r in rows_a + rows_b] == [r["w"] for r in rows]
    assert rows_b[0]["w"] == 0.5
    assert checkpoint.load(tmp_path / "split" / "last.pt")["loss_weights"]["ce"] == 0.5
    assert same_weights(full, resumed)


class ScaledToy(Toy):
    """The toy whose loss is multiplied by a plain attribute (not in the state dict: only set_value's own
    state can bring it back after a resume)."""

    def __init__(self, in_dim: int = 16, classes: int = 10, dropout: float = 0.0):
        super().__init__(in_dim, classes, dropout)
        self.scale = 1.0

    def training_losses(self, batch, phase="main"):
        return {"ce": self.scale * super().training_losses(batch, phase)["ce"]}


if "scaled_toy" not in _REGISTRY["model"]:
    register("model", "scaled_toy")(ScaledToy)


def test_model_attribute_by_update_and_resume(tmp_path):
    sections = {"model": {"name": "scaled_toy"},
                "callbacks": {"set_value": {"target": "model.scale", "at": {5: 0.25, 20: 2.0}, "unit": "step"}}}
    cfg = config(tmp_path, sections, epochs=2)
    full, rows = run(cfg, tmp_path / "full")
    assert [r["scale"] for r in rows] == [1.0] * 5 + [0.25] * 15 + [2.0] * 6
    resumed, rows_a, rows_b = stopped_then_resumed(cfg, tmp_path, stop_at=12)  # between the two changes
    assert [r["scale"] for r in rows_a + rows_b] == [r["scale"] for r in rows]
    assert same_weights(full, resumed)


def test_set_value_rejects_bad_targets(tmp_path):
    with pytest.raises(ConfigError, match="callbacks.set_value.target"):
        SetValue(target="optim.lr", at={1: 0.1})
    cfg = config(tmp_path, {"callbacks": {"set_value": {"target": "model.nonexistent", "at": {1: 0.1}}}})
    with pytest.raises(ConfigError, match="no such attribute"):
        build_trainer(cfg, tmp_path / "run").fit()


# -------------------------------------------------------------------- evaluate + best checkpoint
@register("metric", "toy_accuracy")
def toy_accuracy(model, batches) -> float:
    """A user metric written outside the engine: the toy has no forward, so it calls its net."""
    hits = [(model.net(b["x"].float() / 255).argmax(1) == b["y"]).float() for b in batches]
    return float(torch.cat(hits).mean())


SCRIPTED: list[float] = []


@register("metric", "scripted")
def scripted(model, batches) -> float:
    return SCRIPTED.pop(0)


def test_evaluate_adds_user_metric_in_eval_mode(tmp_path):
    # dropout 0.2 in the toy: the metric equals the model's own val/acc only if it runs in eval mode
    cfg = config(tmp_path, {"callbacks": {"evaluate": {"metrics": ["toy_accuracy"]}, "ema": {"decay": 0.9}}},
                 epochs=2)
    trainer, _ = run(cfg, tmp_path / "run")
    logged = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    vals = [r for r in logged if "val/acc" in r]
    assert len(vals) == 2
    for r in vals:
        assert r["val/toy_accuracy"] == pytest.approx(r["val/acc"], abs=1e-6)
        assert r["val_ema/toy_accuracy"] == pytest.approx(r["val_ema/acc"], abs=1e-6)
    evaluate = next(cb for cb in trainer.callbacks if isinstance(cb, Evaluate))
    assert [step for step, _ in evaluate.history["val/toy_accuracy"]] == [13, 26]
    assert checkpoint.load(tmp_path / "run" / "last.pt")["callbacks"]["evaluate"]["history"] == evaluate.history


def test_builtin_accuracy_on_a_model_with_logits_and_test_split(tmp_path):
    sections = {"model": {"name": "center_loss_mlp", "in_dim": 16},
                "data": {"name": "fake", "image_shape": [1, 4, 4], "n_train": 50, "n_test": 20, "val": "holdout",
                         "val_size": 10},
                "callbacks": {"evaluate": {"metrics": ["accuracy"]}, "checkpoint": {"monitor": "val/accuracy",
                                                                                  "mode": "max"}}}
    run(config(tmp_path, sections, epochs=1), tmp_path / "run")
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["val/accuracy"] == pytest.approx(results["val/acc"], abs=1e-6)
    assert results["test/accuracy"] == pytest.approx(results["test/acc"], abs=1e-6)
    assert (tmp_path / "run" / "best.pt").exists()


@register("metric", "toy_counts")
def toy_counts(model, batches) -> dict:
    """Two numbers from one pass: how many samples, and the toy's accuracy."""
    n = correct = 0
    for batch in batches:
        n += len(batch["y"])
        correct += int((model.net(batch["x"].float() / 255).argmax(dim=1) == batch["y"]).sum())
    return {"n": n, "acc": correct / n}


def test_dict_metric_and_training_split_every_other_validation(tmp_path):
    # 50 fake images, val = holdout 10 (toy_config): training split 40; eval on it at validations 2 and 4
    cfg = config(tmp_path, {"callbacks": {"evaluate": {"metrics": ["toy_counts"], "train_every": 2}}}, epochs=4)
    trainer, _ = run(cfg, tmp_path / "run")
    vals = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    vals = [r for r in vals if "val/toy_counts_n" in r]
    assert [r["epoch"] for r in vals if "train_eval/toy_counts_n" in r] == [vals[1]["epoch"], vals[3]["epoch"]]
    n_train = trainer.train_loader.num_samples
    assert all(r["val/toy_counts_n"] == trainer.eval_loaders["val"].num_samples for r in vals)
    assert all(r["train_eval/toy_counts_n"] == n_train for r in vals if "train_eval/toy_counts_n" in r)
    assert all(r["val/toy_counts_acc"] == pytest.approx(r["val/acc"], abs=1e-6) for r in vals)
    evaluate = next(cb for cb in trainer.callbacks if isinstance(cb, Evaluate))
    assert evaluate.validations == 4 and len(evaluate.history["train_eval/toy_counts_acc"]) == 2


def test_train_every_counter_resumes(tmp_path):
    cfg = config(tmp_path, {"callbacks": {"evaluate": {"metrics": ["toy_counts"], "train_every": 2}}}, epochs=3)
    trainer, _, _ = stopped_then_resumed(cfg, tmp_path, stop_at=PER_EPOCH)  # stops after validation 1
    evaluate = next(cb for cb in trainer.callbacks if isinstance(cb, Evaluate))
    assert evaluate.validations == 3
    assert [step for step, _ in evaluate.history["train_eval/toy_counts_n"]] == [2 * PER_EPOCH]


def test_unknown_metric_is_a_config_error():
    with pytest.raises(ConfigError, match="'acuracy' not a registered metric"):
        Evaluate(metrics=["acuracy"])


@pytest.mark.parametrize("ties_win, best_epoch", [(True, 2), (False, 1)])
def test_best_checkpoint_mode_max_with_ties(tmp_path, ties_win, best_epoch):
    # val/scripted over epochs 0..3: 0.5, 0.7, 0.7 (a tie), 0.6; the blog's ">=" keeps the later epoch
    SCRIPTED[:] = [0.5, 0.7, 0.7, 0.6]
    cfg = config(tmp_path, {"callbacks": {"evaluate": {"metrics": ["scripted"]},
                                          "checkpoint": {"monitor": "val/scripted", "mode": "max",
                                                         "ties_win": ties_win}}}, epochs=4)
    trainer = build_trainer(cfg, tmp_path / "run")
    saves = []
    save = trainer.save
    trainer.save = lambda path: (saves.append((path.name, trainer.epoch)), save(path))[1]
    trainer.fit()
    assert [e for name, e in saves if name == "best.pt"] == ([0, 1, 2] if ties_win else [0, 1])
    best = checkpoint.load(tmp_path / "run" / "best.pt")
    assert best["progress"]["step"] == (best_epoch + 1) * PER_EPOCH
    assert best["callbacks"]["checkpoint"]["best"] == 0.7
    assert not SCRIPTED


# --------------------------------------------------------------------------------------------- EMA
def test_ema_resume_restores_counter_and_weights(tmp_path):
    cfg = config(tmp_path, {"callbacks": {"ema": {"decay": 0.9, "warmup": True}}}, epochs=2)
    first = copy.deepcopy(cfg)
    first["train"]["max_steps"] = 18
    stopped, _ = run(first, tmp_path / "run")
    saved = {k: v.clone() for k, v in stopped.callbacks[0].ema.state_dict().items()}
    assert int(saved["n_averaged"]) == 18

    resumed = build_trainer(copy.deepcopy(cfg), tmp_path / "run")
    resume(resumed, "auto")
    ema_cb = resumed.callbacks[0]
    assert isinstance(ema_cb, EMA) and ema_cb.ema is None  # state pending until the EMA copy is made
    ema_cb.on_train_begin(resumed)
    state = ema_cb.ema.state_dict()
    assert int(state["n_averaged"]) == 18  # the decay warmup continues from update 18, not from 0
    for k, v in saved.items():
        assert torch.equal(state[k], v), k
    # the averages are not a fresh copy of the current weights
    assert not torch.equal(ema_cb.ema.module.net[1].weight, resumed.model.net[1].weight)
    # the next update uses the decay of update 18, d = min(0.9, (1 + 18) / (10 + 18)) = 19/28 (a counter
    # restarted at 0 would give d = 0.1)
    before = ema_cb.ema.module.net[1].weight.detach().clone()
    with torch.no_grad():
        resumed.model.net[1].weight.add_(1.0)
    ema_cb.on_batch_end(resumed, {})
    expected = before + (resumed.model.net[1].weight - before) * (1 - 19 / 28)
    torch.testing.assert_close(ema_cb.ema.module.net[1].weight, expected)
    assert int(ema_cb.ema.n_averaged) == 19


def test_metric_adders_run_before_logging_and_monitoring(tmp_path):
    """The callbacks' order is behaviour: the EMA weights exist before ``evaluate`` scores them, and its
    val_ema/ metric exists before ``metrics`` logs it and ``checkpoint`` keeps the best epoch by it."""
    cfg = config(tmp_path, {"callbacks": {"evaluate": {"metrics": ["toy_accuracy"]}, "ema": {"decay": 0.9},
                                          "checkpoint": {"monitor": "val_ema/toy_accuracy", "mode": "max"}}},
                 epochs=3)
    trainer, _ = run(cfg, tmp_path / "run")
    evaluate = next(c for c in trainer.callbacks if type(c).__name__ == "Evaluate")
    made = [value for _, value in evaluate.history["val_ema/toy_accuracy"]]
    assert len(made) == 3  # one per epoch end
    logged = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["val_ema/toy_accuracy"] for r in logged if "val_ema/toy_accuracy" in r] == pytest.approx(made)
    best = checkpoint.load(tmp_path / "run" / "best.pt")["callbacks"]["checkpoint"]["best"]
    assert best == pytest.approx(max(made))


def test_summary_csv_keeps_columns_aligned_when_validation_starts_later(tmp_path):
    import csv
    cfg = config(tmp_path, epochs=3, eval_every=2)  # no val/ columns in the first row
    run(cfg, tmp_path / "run")
    with open(tmp_path / "run" / "summary.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["epoch"] for r in rows] == ["1", "2", "3"]
    assert all(float(r["lr"]) == 0.01 for r in rows)  # not shifted by the val/ columns
    assert rows[0]["val/acc"] == "" and 0 <= float(rows[1]["val/acc"]) <= 1
