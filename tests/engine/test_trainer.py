"""The Trainer: exact resume, non-finite policy, EMA (accumulation against the large batch, for every optimizer:
tests/optim/test_accumulation.py)."""
from __future__ import annotations

import copy

import pytest
import torch

from engine import checkpoint
from engine.build import build_trainer, resume
from errors import TrainingError
from tests.engine.toy import toy_config


def weights(trainer) -> dict:
    return {k: v.clone() for k, v in trainer.model.state_dict().items()}


def test_resume_mid_epoch_is_bit_identical(tmp_path):
    cfg = toy_config(tmp_path, epochs=3)
    cfg["callbacks"]["ema"] = {"decay": 0.9, "warmup": True}
    full = build_trainer(copy.deepcopy(cfg), tmp_path / "full")
    full.fit()
    # 13 updates per epoch: stop at update 20, i.e. 7 batches into epoch 2
    first = copy.deepcopy(cfg)
    first["train"]["max_steps"] = 20
    stopped = build_trainer(first, tmp_path / "split")
    stopped.fit()
    assert (stopped.epoch, stopped.batch_in_epoch, stopped.step) == (1, 7, 20)
    resumed = build_trainer(copy.deepcopy(cfg), tmp_path / "split")
    resume(resumed, "auto")
    assert resumed.step == 20
    resumed.fit()
    assert resumed.step == full.step == 39
    for k, v in weights(full).items():
        assert torch.equal(weights(resumed)[k], v), k
    ema_full = full.callbacks[0].ema.state_dict()
    ema_resumed = resumed.callbacks[0].ema.state_dict()
    for k, v in ema_full.items():
        assert torch.equal(ema_resumed[k], v), k


def test_nonfinite_stop_keeps_last_good_checkpoint(tmp_path):
    cfg = toy_config(tmp_path, epochs=3)
    cfg["model"]["nan_after"] = 20  # the 21st loss evaluation is NaN: update 20, in epoch 2
    trainer = build_trainer(cfg, tmp_path / "run")
    with pytest.raises(TrainingError, match=r"non-finite loss at update 20 .*ce=nan"):
        trainer.fit()
    state = checkpoint.load(tmp_path / "run" / "last.pt")
    assert state["progress"]["step"] == 13  # saved at the end of epoch 1, before the NaN
    assert all(torch.isfinite(v).all() for v in state["model"].values())


def test_nonfinite_skip_policy_skips_updates(tmp_path):
    cfg = toy_config(tmp_path, epochs=1, nonfinite="skip")
    cfg["model"]["nan_after"] = 10
    trainer = build_trainer(cfg, tmp_path / "run")
    trainer.fit()
    assert trainer.skipped_updates == 3
    assert all(torch.isfinite(v).all() for v in trainer.model.state_dict().values())


def test_ema_matches_closed_form():
    from engine.callbacks import EMA
    model = torch.nn.Linear(2, 1, bias=False)
    ema = EMA(decay=0.9).attach(model)
    with torch.no_grad():
        model.weight.fill_(1.0)
    for _ in range(5):
        ema.update_parameters(model)  # first update copies; then e <- 0.9 e + 0.1 * 1
    start = ema.module.weight.clone()
    torch.testing.assert_close(start, torch.ones(1, 2))
    with torch.no_grad():
        model.weight.fill_(3.0)
    for _ in range(4):
        ema.update_parameters(model)
    expected = 3.0 + (1.0 - 3.0) * 0.9 ** 4  # closed form of 4 updates towards a constant target
    torch.testing.assert_close(ema.module.weight, torch.full((1, 2), expected))


def test_flush_denormal_key_sets_torch_flag(tmp_path):
    # train.flush_denormal turns float32 subnormals into 0 in arithmetic (the projection GAN's critic weights decay
    # into them and slow the CPU down); off by default, so a subnormal survives a multiplication by 1.
    tiny = torch.tensor([1e-40])
    if not torch.set_flush_denormal(False):
        pytest.skip("this CPU has no flush-to-zero mode (torch.set_flush_denormal returned False)")
    try:
        build_trainer(toy_config(tmp_path / "off", epochs=1), tmp_path / "off")
        assert (tiny * 1.0).item() > 0
        build_trainer(toy_config(tmp_path / "on", epochs=1, flush_denormal=True), tmp_path / "on")
        assert (tiny * 1.0).item() == 0
    finally:
        torch.set_flush_denormal(False)
