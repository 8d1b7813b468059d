"""scripts/gan_fd.py over a tiny GAN run with snapshots and a tiny classifier, on fake 16x16 images."""
from __future__ import annotations

import json

from tests.engine.test_cli import assert_user_error, run

FAKE = ["data.name=fake", "data.image_shape=[3,16,16]", "data.n_train=64", "data.n_test=48", "train.batch_size=16"]


def test_fd_curve_from_snapshots(tmp_path):
    gan = run("train.py", "--config", "configs/gan_cifar10_sn.yaml", *FAKE, "model.image_size=16", "model.base_filters=4",
              "model.z_dim=8", "train.max_steps=15", "callbacks.checkpoint.snapshot_every=6",
              "callbacks.samples.every_steps=6", "train.eval_every=0", f"train.out_dir={tmp_path}")
    assert gan.returncode == 0, gan.stderr
    run_dir = tmp_path / "gan_cifar10_sn"
    (run_dir / "snapshots" / "step0000015.pt").write_bytes((run_dir / "last.pt").read_bytes())  # same weights twice
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
    # snapshots at updates 6, 12 and 15; last.pt (update 15) holds the last snapshot's weights: scored once
    assert [r["step"] for r in rows] == [6, 12, 15] and [r["iteration"] for r in rows] == [1, 2, 2]
    assert [r["checkpoint"] for r in rows] == ["step0000006.pt", "step0000012.pt", "step0000015.pt"]
    assert all(r["fd"] >= 0 for r in rows) and len({r["wall_s"] for r in rows}) == 3
    assert out.with_suffix(".png").exists() and (tmp_path / "classifier_cifar10" / "real_stats_test_40_v2.pt").exists()
    assert_user_error(run("scripts/gan_fd.py", str(tmp_path / "gan_cifar10_sn")), "pass exactly one of")
