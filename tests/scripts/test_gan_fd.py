"""scripts/gan_fd.py over a tiny GAN run with snapshots and a tiny classifier, on fake 16x16 images."""
from __future__ import annotations

import json

from tests.engine.test_cli import assert_user_error, run

FAKE = ["data.name=fake", "data.image_shape=[3,16,16]", "data.n_train=64", "data.n_test=48", "train.batch_size=16"]


def test_fd_curve_from_snapshots(tmp_path):
    gan = run("train.py", "--config", "configs/gan_cifar10_sn.yaml", *FAKE, "model.image_size=16", "model.base_filters=4",
              "model.z_dim=8", "train.max_steps=12", "callbacks.checkpoint.snapshot_every=6",
              "callbacks.samples.every_steps=6", "train.eval_every=0", f"train.out_dir={tmp_path}")
    assert gan.returncode == 0, gan.stderr
    cls = run("train.py", "--config", "configs/classifier_cifar10.yaml", *FAKE, "data.val_size=16",
              "model.image_shape=[3,16,16]", "model.widths=[4,8]", "model.hidden=16", "train.max_steps=3",
              f"train.out_dir={tmp_path}")
    assert cls.returncode == 0, cls.stderr
    out = tmp_path / "fd"
    result = run("scripts/gan_fd.py", str(tmp_path / "gan_cifar10_sn"), "--classifier",
                 str(tmp_path / "classifier_cifar10"), "--n", "40", "--out", str(out))
    assert result.returncode == 0, result.stderr
    report = json.loads(out.with_suffix(".json").read_text())
    rows = report["runs"]["gan_cifar10_sn"]
    assert [r["iteration"] for r in rows] == [1, 2, 2]  # snapshots at updates 6 and 12, then last.pt
    assert all(r["fd"] >= 0 for r in rows) and rows[1]["fd"] == rows[2]["fd"]  # last.pt = the step-12 snapshot
    assert out.with_suffix(".png").exists() and (tmp_path / "classifier_cifar10" / "real_stats_test_40_v2.pt").exists()
    assert_user_error(run("scripts/gan_fd.py", str(tmp_path / "gan_cifar10_sn")), "pass exactly one of")
