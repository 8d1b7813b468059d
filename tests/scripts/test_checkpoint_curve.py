"""scripts/checkpoint_curve.py: every snapshot of a run evaluated on a split, against epochs and wall time."""
from __future__ import annotations

import json

import pytest

from scripts import checkpoint_curve
from tests.engine.test_cli import assert_user_error, in_process, train_here


@pytest.mark.slow
def test_test_split_curve_of_a_nice_run(tmp_path, capsys):
    trained = train_here(capsys, "configs/nice_mnist.yaml", "data.name=fake", "data.n_train=40", "data.n_test=16",
                         "data.val_size=8", "model.hidden_units=8", "model.hidden_layers=1", "train.batch_size=8",
                         "train.epochs=2", "callbacks.checkpoint.snapshot_every=4", "callbacks.samples=false",
                         f"train.out_dir={tmp_path}", "train.run_name=nice")
    assert trained.returncode == 0, trained.stderr
    out = tmp_path / "curve"
    result = in_process(checkpoint_curve.main, [str(tmp_path / "nice"), "--out", str(out)], capsys)
    assert result.returncode == 0, result.stderr
    report = json.loads(out.with_suffix(".json").read_text())
    # 32 training images after the 8-image holdout, batch 8: 4 updates an epoch; snapshots at 4 and 8 = last.pt
    assert report["updates_per_epoch"] == 4
    assert [r["step"] for r in report["rows"]] == [4, 8] and [r["epoch"] for r in report["rows"]] == [1.0, 2.0]
    assert all(r["bits_per_dim"] > 0 and r["wall_s"] is not None and r["cpu_s"] > 0 for r in report["rows"])
    assert out.with_suffix(".png").exists()
    assert_user_error(in_process(checkpoint_curve.main, [str(tmp_path / "nice"), "--metric", "fid"], capsys),
                      "--metric fid: the model reports")
