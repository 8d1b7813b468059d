"""scripts/nice_gap.py: its clean loss is the run's own val/loss, and the noisy one differs by the noise."""
import json

import pytest

from engine.build import build_trainer
from engine.config import validate
from scripts.nice_gap import main


def test_clean_loss_equals_val_loss_and_scale_bound(tmp_path, capsys):
    cfg = validate({"model": {"name": "nice", "hidden_units": 8, "hidden_layers": 1},
                    "data": {"name": "fake", "n_train": 32, "n_test": 16, "val": "test"},
                    "optim": {"name": "adam", "lr": 0.01},
                    "train": {"batch_size": 16, "epochs": 2, "out_dir": str(tmp_path), "run_name": "r", "device": "cpu"},
                    "callbacks": {"metrics": {"tensorboard": False}}})
    trainer = build_trainer(cfg, tmp_path / "r")
    trainer.fit()
    val_loss = json.loads((tmp_path / "r" / "results.json").read_text())["val/loss"]
    assert main([str(tmp_path / "r")]) == 0
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["step"] == 4 and line["loss_clean"] == pytest.approx(val_loss, rel=1e-5)
    assert line["loss_noisy"] != line["loss_clean"]
    assert sum(g["dims"] for g in line["per_dim"].values()) == 784
    spread = line["per_image_clean"]
    assert spread["median"] <= spread["p90"] <= spread["p99"] <= spread["max"]
    assert spread["mean_without_worst_1pct"] <= line["loss_clean"] and 0 <= spread["argmax"] < 16
    # 4 Adam updates at lr 0.01 move no log-scale by more than ~0.04 from its initial value (|a0| < 0.1)
    assert line["scale"]["max"] < 0.1 + 1.01 * line["scale"]["lr_times_updates"]
