"""scripts/kmeans_baseline.py: k-means on encoder means, the autoencoder + k-means floor of post 3."""
from __future__ import annotations

import json

import numpy as np
import pytest

from metrics.clustering import hungarian_accuracy
from scripts import kmeans_baseline
from tests.engine.test_cli import assert_user_error, in_process, train_here


def test_best_of_restarts_separates_well_separated_blobs():
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 10, size=(4, 3))
    labels = np.repeat(np.arange(4), 50)
    codes = centres[labels] + rng.normal(0, 0.3, size=(200, 3))
    fitted, inertia = kmeans_baseline.best_kmeans(codes, 4, restarts=5, seed=0)
    assert hungarian_accuracy(kmeans_baseline.assign(codes, fitted), labels) == 1.0
    assert inertia == pytest.approx(((codes - fitted[kmeans_baseline.assign(codes, fitted)]) ** 2).sum())


@pytest.mark.slow
def test_autoencoder_run_to_test_scores(tmp_path, capsys):
    trained = train_here(capsys, "configs/cluster_vae_mnist.yaml", "data.name=fake", "data.image_shape=[1,28,28]",
                         "data.n_train=64", "data.n_test=32", "loss_weights.cluster=0", "loss_weights.category=0",
                         "model.base_filters=4", "train.max_steps=3", "train.batch_size=16",
                         "callbacks.samples=false", "callbacks.evaluate=false", f"train.out_dir={tmp_path}",
                         "train.run_name=ae")
    assert trained.returncode == 0, trained.stderr
    result = in_process(kmeans_baseline.main, [str(tmp_path / "ae"), "--restarts", "2"], capsys)
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "ae" / "kmeans_baseline.json").read_text())
    assert report["step"] == 3 and 0 <= report["test/acc"] <= 1 and report["test/empty"] >= 0
    assert json.loads(result.stdout) == report
    nice = train_here(capsys, "configs/quickstart.yaml", "data.name=fake", "data.n_train=16", "data.n_test=8",
                      "model.hidden_units=8", "model.hidden_layers=1", "train.max_steps=1",
                      f"train.out_dir={tmp_path}", "train.run_name=nice", "callbacks.samples=false")
    assert nice.returncode == 0, nice.stderr
    assert_user_error(in_process(kmeans_baseline.main, [str(tmp_path / "nice")], capsys), "has no encode/pixels")
