"""train.amp: bf16 on CPU: for every model family, 200 updates on tiny data under bf16 autocast follow the fp32
loss curve, training runs under autocast and evaluation never does.

Tolerance: the mean training loss of the last 50 updates under bf16 is within 5% of the fp32 one (relative to
the spread of the fp32 curve over those 200 updates for the GAN, whose losses cross zero), and every logged
loss is finite. Measured when this test was written (AMD EPYC with AVX512-BF16): 0.65% NICE, 0.0% clustering
VAE, 0.36% seq2seq, 2.7% InfoMax, 2.7% SN GAN, 0.06% GP GAN. bf16 keeps 8 bits of mantissa (about 2-3 significant digits) in the products, while the
weights, the optimizer state and the loss sums stay in fp32.
"""
from __future__ import annotations

import json

import pytest
import torch

from engine.build import build_trainer
from engine.config import validate

FAMILIES = {
    "nice": ({"name": "nice", "image_shape": [1, 8, 8], "hidden_units": 32, "hidden_layers": 2},
             {"name": "fake", "image_shape": [1, 8, 8], "n_train": 400, "n_test": 32}, 8),
    "cluster_vae": ({"name": "cluster_vae", "image_shape": [1, 8, 8], "base_filters": 4, "latent_dim": 4,
                     "classifier_hidden": 16, "clusters": 3},
                    {"name": "fake", "image_shape": [1, 8, 8], "n_train": 400, "n_test": 32}, 8),
    "seq2seq": ({"name": "seq2seq", "embed_dim": 16, "enc_hidden": 8, "dec_hidden": 16, "head_hidden": 32},
                {"name": "fake_text_pairs", "n_train": 400, "n_val": 16, "n_test": 16, "alphabet": 20,
                 "src_len": 12, "tgt_len": 4}, 8),
    "infomax": ({"name": "infomax", "image_shape": [3, 8, 8], "latent_dim": 8, "filters": [4, 8, 8],
                 "top_blocks": 1, "disc_hidden": 16},
                {"name": "fake", "image_shape": [3, 8, 8], "n_train": 400, "n_test": 32}, 8),
    "gan_sn": ({"name": "gan", "image_size": 16, "z_dim": 8, "base_filters": 4, "constraint": "sn", "n_critic": 2},
               {"name": "fake", "image_shape": [3, 16, 16], "n_train": 400, "n_test": 32}, 8),
    "gan_gp": ({"name": "gan", "image_size": 16, "z_dim": 8, "base_filters": 4, "constraint": "gp", "n_critic": 2},
               {"name": "fake", "image_shape": [3, 16, 16], "n_train": 400, "n_test": 32}, 8),
}


def train_curve(tmp_path, family: str, amp: str) -> tuple[list[dict], dict]:
    model, data, batch = FAMILIES[family]
    data_val = "split" if family == "seq2seq" else "test"
    cfg = validate({"model": dict(model), "data": {**data, "val": data_val},
                    "optim": {"name": "adam", "lr": 1e-3}, "train": {
                        "max_steps": 200, "epochs": 10, "batch_size": batch, "log_every": 1, "amp": amp,
                        "threads": 1, "out_dir": str(tmp_path), "run_name": f"{family}_{amp}"},
                    "callbacks": {"metrics": {"tensorboard": False, "print_epochs": False}}})
    trainer = build_trainer(cfg, tmp_path / f"{family}_{amp}")
    seen = {"train": set(), "eval": set()}
    real_losses, real_metrics = trainer.model.training_losses, trainer.model.evaluation_metrics

    def training_losses(*a, **k):
        seen["train"].add(torch.is_autocast_enabled("cpu"))
        return real_losses(*a, **k)

    def evaluation_metrics(*a, **k):
        seen["eval"].add(torch.is_autocast_enabled("cpu"))
        return real_metrics(*a, **k)

    trainer.compute_losses, trainer.model.evaluation_metrics = training_losses, evaluation_metrics
    trainer.fit()
    records = [json.loads(line) for line in (tmp_path / f"{family}_{amp}" / "metrics.jsonl").read_text().splitlines()]
    return [r for r in records if any(k.startswith("train/") for k in r)], seen


@pytest.mark.slow
@pytest.mark.parametrize("family", list(FAMILIES))
def test_bf16_tracks_fp32(tmp_path, family):
    fp32, seen32 = train_curve(tmp_path, family, "off")
    bf16, seen16 = train_curve(tmp_path, family, "bf16")
    assert seen32 == {"train": {False}, "eval": {False}}
    assert seen16 == {"train": {True}, "eval": {False}}  # evaluation always in fp32
    keys = [k for k in fp32[0] if k.startswith("train/loss")]
    assert keys
    for key in keys:
        a = [r[key] for r in fp32 if key in r]
        b = [r[key] for r in bf16 if key in r]
        assert len(a) == len(b) and all(map(lambda v: v == v and abs(v) != float("inf"), b))
        tail_a, tail_b = sum(a[-50:]) / len(a[-50:]), sum(b[-50:]) / len(b[-50:])
        scale = max(abs(tail_a), max(a) - min(a)) if family.startswith("gan") else abs(tail_a)
        assert abs(tail_b - tail_a) <= 0.05 * scale, (key, tail_a, tail_b)


def test_channels_last_trains_and_resumes_like_nchw(tmp_path):
    """train.channels_last: the conv weights and image batches in NHWC; in fp32 the loss curve equals NCHW's
    to float tolerance, and the checkpoint loads into a plain NCHW model."""
    from engine import checkpoint
    from engine.build import model_from_state

    def run(flag: bool):
        model, data, batch = FAMILIES["infomax"]
        cfg = validate({"model": dict(model), "data": dict(data), "optim": {"name": "adam", "lr": 1e-3},
                        "train": {"max_steps": 20, "batch_size": batch, "log_every": 1, "threads": 1,
                                  "channels_last": flag, "out_dir": str(tmp_path), "run_name": f"cl{flag}"},
                        "callbacks": {"metrics": {"tensorboard": False, "print_epochs": False}}})
        trainer = build_trainer(cfg, tmp_path / f"cl{flag}")
        trainer.fit()
        lines = (tmp_path / f"cl{flag}" / "metrics.jsonl").read_text().splitlines()
        return [json.loads(r)["train/loss"] for r in lines if "train/loss" in json.loads(r)], trainer

    nchw, _ = run(False)
    nhwc, trainer = run(True)
    conv = next(m for m in trainer.model.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert nhwc == pytest.approx(nchw, rel=1e-3)
    model = model_from_state(checkpoint.load(tmp_path / "clTrue" / "last.pt"))
    assert next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d)).weight.is_contiguous()


def test_amp_auto_is_bf16_only_where_native(monkeypatch):
    from engine import trainer as trainer_module
    cpu = torch.device("cpu")
    monkeypatch.setattr(trainer_module, "cpu_has_native_bf16", lambda: True)
    assert trainer_module.autocast_dtype("auto", cpu) is torch.bfloat16
    monkeypatch.setattr(trainer_module, "cpu_has_native_bf16", lambda: False)
    assert trainer_module.autocast_dtype("auto", cpu) is None
    assert trainer_module.autocast_dtype("fp16", cpu) is None  # CUDA only: off on CPU, with a note
    assert validate({"model": {"name": "nice"}, "train": {"amp": False}})["train"]["amp"] == "off"  # bare off


@pytest.mark.slow
def test_compile_option_trains_like_eager(tmp_path):
    """train.compile: torch.compile'd training_losses follow the eager loss curve (inductor may reorder float
    sums, so to 1e-4, not bit for bit)."""
    from tests.engine.toy import toy_config

    curves = {}
    for flag in (False, True):
        cfg = toy_config(tmp_path, epochs=1, compile=flag, run_name=f"c{flag}")
        cfg["model"]["dropout"] = 0.0
        trainer = build_trainer(cfg, tmp_path / f"c{flag}")
        trainer.fit()
        lines = (tmp_path / f"c{flag}" / "metrics.jsonl").read_text().splitlines()
        curves[flag] = [json.loads(r)["train/loss"] for r in lines if "train/loss" in json.loads(r)]
    assert curves[True] == pytest.approx(curves[False], rel=1e-4)
