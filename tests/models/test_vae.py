"""The worked example of docs/ADDING_A_MODEL.md: one model file and one YAML, trained through train.py with no
change to engine/ (the config names the model; load_plugins finds models/vae.py)."""
from __future__ import annotations

import json
import math

import torch

import train
from models.vae import VAE
from tests.entry import call_main


def test_kl_is_the_closed_form_and_recon_is_bernoulli_nats():
    model = VAE(image_shape=[1, 2, 2], hidden=[8], latent_dim=3)
    x = torch.randint(0, 256, (5, 1, 2, 2), dtype=torch.uint8)
    torch.manual_seed(0)
    terms = model.training_losses({"x": x})
    mu, log_var = model.encode(x)
    kl = 0.5 * (mu ** 2 + log_var.exp() - 1 - log_var).sum(1).mean()
    assert torch.allclose(terms["kl"], kl)
    assert 0 < terms["recon"].item() < 4 * 20  # 4 pixels, each a finite Bernoulli cross-entropy
    metrics = model.evaluation_metrics({"x": x})
    assert math.isclose(metrics["elbo"].item(), -(metrics["recon"] + metrics["kl"]).item(), rel_tol=1e-6)
    assert model.sample(3).shape == (3, 1, 2, 2)


def test_trains_through_train_py_from_its_yaml(tmp_path, capsys):
    code, out, err = call_main(train.main, [
        "--config", "configs/vae_mnist.yaml", "data.name=mnist_sample", "train.max_steps=30", "train.batch_size=64",
        f"train.out_dir={tmp_path}", "train.run_name=vae", "train.log_every=10", "callbacks.samples.every_epochs=0"],
        capsys)
    assert code == 0, err
    rows = [json.loads(line) for line in (tmp_path / "vae" / "metrics.jsonl").read_text().splitlines()]
    losses = [r["train/loss"] for r in rows if "train/loss" in r]
    assert losses[-1] < losses[0] - 50  # the ELBO improves (nats per image)
    assert json.loads((tmp_path / "vae" / "results.json").read_text())["val/elbo"] > -400
