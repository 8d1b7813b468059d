"""scripts/probe_features.py and scripts/infomax_retrieval.py over a tiny InfoMax run on fake images."""
from __future__ import annotations

import json

from PIL import Image
import pytest

from scripts import infomax_retrieval, probe_curve, probe_features
from tests.engine.test_cli import assert_user_error, in_process, run, train_here

TINY = ["data.name=fake", "data.image_shape=[3,32,32]", "data.n_train=64", "data.n_test=32", "model.latent_dim=8",
        "model.filters=[4,8,8]", "model.disc_hidden=16", "train.max_steps=2", "train.batch_size=16"]


@pytest.mark.slow
def test_probes_and_retrieval_grids(tmp_path, capsys):
    """In-process calls of the scripts' main (the shell path: the last probe call and test_as_installed)."""
    trained = train_here(capsys, "configs/infomax_cifar10.yaml", *TINY, f"train.out_dir={tmp_path}",
                         "callbacks.checkpoint.snapshot_every=1")
    assert trained.returncode == 0, trained.stderr
    run_dir = tmp_path / "infomax_cifar10"
    result = in_process(probe_features.main, [str(run_dir), "--k", "1", "5", "--temperature", "0.1"], capsys)
    assert result.returncode == 0, result.stderr
    report = json.loads((run_dir / "probe_last.json").read_text())
    assert set(report["features"]) == {"z_mean", "pooled", "fmap"} and report["step"] == 2
    assert report["knn_temperature"] == 0.1
    for feature in report["features"].values():
        assert set(feature["knn"]) == {"cosine_k1", "cosine_k5", "cosine_k5_weighted", "euclidean_k5"}
        assert 0 <= feature["linear"]["test_acc"] <= 1
    assert in_process(probe_features.main, [str(run_dir), "--random-init", "--features", "z_mean"], capsys).returncode == 0
    assert json.loads((run_dir / "probe_random.json").read_text())["random_init"] is True
    assert_user_error(run("scripts/probe_features.py", str(run_dir), "--features", "logits"), "the model gives")
    assert in_process(probe_features.main, [str(run_dir), "--pixels"], capsys).returncode == 0
    pixels = json.loads((run_dir / "probe_pixels.json").read_text())
    assert pixels["pixels"] is True and pixels["features"]["pixels"]["dim"] == 3 * 32 * 32

    snapshot = run_dir / "snapshots" / "step0000001.pt"  # the curve: a snapshot's probe beside last.pt's
    assert in_process(probe_features.main, [str(snapshot), "--k", "1", "5"], capsys).returncode == 0
    curve = tmp_path / "curve"
    result = in_process(probe_curve.main, [str(run_dir), "--out", str(curve)], capsys)
    assert result.returncode == 0, result.stderr
    rows = json.loads(curve.with_suffix(".json").read_text())
    assert [r["step"] for r in rows["rows"]] == [1, 2] and rows["rows"][0]["wall_s"] > 0
    assert 0 < rows["rows"][0]["cpu_s"] <= rows["rows"][1]["cpu_s"]
    assert set(rows["floors"]) == {"random encoder", "raw pixels"} and curve.with_suffix(".png").is_file()

    out = tmp_path / "figs"
    result = in_process(infomax_retrieval.main, [str(run_dir), "--tag", "t", "--out", str(out)], capsys)
    assert result.returncode == 0, result.stderr
    for name in ("cosine", "euclidean", "test_cosine"):
        assert Image.open(out / f"infomax_t_knn_{name}.png").size == (320, 320)
    report = json.loads((out / "infomax_t_knn.json").read_text())
    assert len(report["train_queries"]) == 10 and all(0 <= n <= 9 for n in report["same_label_of_9"]["cosine"])


def test_probe_curve_x_is_epochs_done(tmp_path):
    """A snapshot written at the last update of epoch index 9 (step 7,820 at 782 an epoch) is at 10 epochs done."""
    (tmp_path / "summary.csv").write_text("epoch,step,wall_s\n1,782,10.0\n2,1564,20.0\n")
    assert 7820 / probe_curve.updates_per_epoch(tmp_path) == 10
    (tmp_path / "summary.csv").write_text("epoch,step,wall_s\n")  # no finished epoch yet: the checkpoint's own epoch
    assert probe_curve.updates_per_epoch(tmp_path) is None and probe_curve.updates_per_epoch(tmp_path / "no") is None
