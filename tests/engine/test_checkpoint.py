"""Checkpoints: atomic writes survive a failing save, weights_only refuses pickled objects, auto fallback."""
from __future__ import annotations

import pytest
import torch

from engine import checkpoint
from engine.build import build_trainer
from errors import CheckpointError
from tests.engine.toy import toy_config


class NotATensor:
    pass


def test_interrupted_save_keeps_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "last.pt"
    checkpoint.write_checkpoint({"format": checkpoint.FORMAT, "value": torch.tensor(1.0)}, path)

    def exploding_save(obj, f, *a, **k):
        f.write(b"PK\x03\x04 half a zip")  # a partial write, then the process "dies"
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", exploding_save)
    with pytest.raises(KeyboardInterrupt):
        checkpoint.write_checkpoint({"format": checkpoint.FORMAT, "value": torch.tensor(2.0)}, path)
    monkeypatch.undo()
    assert checkpoint.load(path)["value"].item() == 1.0
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]  # no temporary file left behind


def test_weights_only_refuses_pickled_objects(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"format": checkpoint.FORMAT, "obj": NotATensor()}, path)
    with pytest.raises(CheckpointError, match="unreadable"):
        checkpoint.load(path)


def test_truncated_last_falls_back_to_previous(tmp_path):
    cfg = toy_config(tmp_path, epochs=2)
    trainer = build_trainer(cfg, tmp_path / "run")
    trainer.fit()  # each epoch end rotates last.pt -> last.prev.pt
    last = tmp_path / "run" / "last.pt"
    data = last.read_bytes()
    last.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="unreadable"):
        checkpoint.load(last)
    path, state = checkpoint.find_resumable(tmp_path / "run")
    assert path.name == "last.prev.pt" and state["progress"]["step"] == 13


def test_checkpoint_holds_config_rng_and_plain_values(tmp_path):
    trainer = build_trainer(toy_config(tmp_path, epochs=1), tmp_path / "run")
    trainer.fit()
    state = torch.load(tmp_path / "run" / "last.pt", weights_only=True)
    assert state["config"] == trainer.config
    assert set(state["rng"]) == {"torch", "cuda", "numpy", "python"}
    assert state["progress"] == {"epoch": 1, "batch_in_epoch": 0, "step": 13, "skipped_updates": 0}
    best = torch.load(tmp_path / "run" / "best.pt", weights_only=True)
    assert best["callbacks"]["checkpoint"]["best"] is not None


def test_best_checkpoint_rules():
    from engine.callbacks import Checkpoint
    cb = Checkpoint(monitor="val/acc", mode="max", ties_win=True)
    assert cb.improved(0.5)
    cb.best = 0.5
    assert cb.improved(0.5) and cb.improved(0.6) and not cb.improved(0.4)
    strict = Checkpoint(monitor="val/loss", mode="min")
    strict.best = 1.0
    assert not strict.improved(1.0) and strict.improved(0.9) and not strict.improved(1.1)


def test_interrupt_saves_and_resume_continues(tmp_path):
    trainer = build_trainer(toy_config(tmp_path, epochs=2), tmp_path / "run")

    class StopAt5:
        def __getattr__(self, name):
            return lambda *a, **k: None

        def on_batch_end(self, trainer, logs):
            if trainer.step == 5:
                trainer.stop_requested = True  # what the SIGINT handler does

        def state_dict(self):
            return {}

    trainer.callbacks.append(StopAt5())
    trainer.fit()
    state = checkpoint.load(tmp_path / "run" / "last.pt")
    assert state["progress"]["step"] == 5 and state["progress"]["batch_in_epoch"] == 5


def test_init_from_loads_weights_only_and_refuses_another_model(tmp_path):
    first = build_trainer(toy_config(tmp_path, epochs=1), tmp_path / "a")
    first.fit()
    saved = checkpoint.load(tmp_path / "a" / "last.pt")
    tuned = build_trainer(toy_config(tmp_path, epochs=1, init_from=str(tmp_path / "a" / "last.pt")), tmp_path / "b")
    for name, value in tuned.model.state_dict().items():
        assert torch.equal(value, saved["model"][name]), name
    assert tuned.step == 0 and tuned.epoch == 0  # a new run, not a resume
    fresh = build_trainer(toy_config(tmp_path, epochs=1), tmp_path / "c")
    assert not all(torch.equal(v, saved["model"][k]) for k, v in fresh.model.state_dict().items())
    other = toy_config(tmp_path, epochs=1, init_from=str(tmp_path / "a" / "last.pt"))
    other["model"]["dropout"] = 0.5
    with pytest.raises(CheckpointError, match="model.dropout"):
        build_trainer(other, tmp_path / "d")
    with pytest.raises(CheckpointError, match="init_from.*not found"):
        build_trainer(toy_config(tmp_path, init_from=str(tmp_path / "none.pt")), tmp_path / "e")
