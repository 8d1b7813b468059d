"""The evaluation logs the weighted total ``val/loss`` of a model that returns only its loss terms, and a
``monitor`` the evaluation never produces stops the run with the keys it did produce; a misspelt
``loss_weights`` key is refused at the first update."""
from __future__ import annotations

import json

import pytest

from engine.build import build_trainer
from errors import ConfigError
from tests.engine.toy import toy_config


def test_val_loss_is_the_weighted_sum_of_the_terms(tmp_path):
    cfg = toy_config(tmp_path, epochs=1)
    cfg["loss_weights"] = {"ce": 0.5}
    trainer = build_trainer(cfg, tmp_path / "run")
    trainer.fit()
    vals = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    val = next(r for r in vals if "val/ce" in r)
    assert val["val/loss"] == pytest.approx(0.5 * val["val/ce"])


def test_monitor_never_produced_stops_with_the_produced_keys(tmp_path):
    cfg = toy_config(tmp_path, epochs=2)
    cfg["callbacks"]["checkpoint"] = {"monitor": "val/accuracy", "mode": "max"}
    trainer = build_trainer(cfg, tmp_path / "run")
    with pytest.raises(ConfigError, match=r"monitor=val/accuracy is not among .*val/acc, val/ce"):
        trainer.fit()
    assert trainer.epoch == 0  # stopped at the first evaluation


def test_misspelt_loss_weight_refused_before_the_first_step(tmp_path):
    cfg = toy_config(tmp_path, epochs=1)
    cfg["loss_weights"] = {"cee": 2.0}
    trainer = build_trainer(cfg, tmp_path / "run")
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    with pytest.raises(ConfigError, match="loss_weights.cee.*did you mean 'ce'"):
        trainer.fit()
    assert all((before[k] == v).all() for k, v in trainer.model.state_dict().items())
