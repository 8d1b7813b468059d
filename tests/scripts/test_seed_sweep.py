"""scripts/seed_sweep.py: one process per seed, mean ± std from each run's results.json, restartable."""
import json
import statistics

import pytest

from scripts.seed_sweep import main

CONFIG = """
model: {name: nice, hidden_units: 8, hidden_layers: 1}
data: {name: fake, n_train: 32, n_test: 16}
train: {batch_size: 16, epochs: 1, device: cpu, threads: 1}
callbacks: {metrics: {tensorboard: false}}
"""


@pytest.mark.slow  # three short training processes
def test_sweep_reports_mean_and_std_and_skips_finished_seeds(tmp_path, capsys):
    config = tmp_path / "tiny.yaml"
    config.write_text(CONFIG)
    out = tmp_path / "sweep"
    argv = ["--config", str(config), "--seeds", "0", "1", "--out-dir", str(out), "--metrics", "val/loss"]
    assert main(argv) == 0
    per_seed = [json.loads((out / f"tiny_seed{s}" / "results.json").read_text())["val/loss"] for s in (0, 1)]
    assert per_seed[0] != per_seed[1]  # the seed reached the run
    summary = json.loads((out / "tiny_sweep.json").read_text())["summary"]["val/loss"]
    assert summary["mean"] == pytest.approx(statistics.fmean(per_seed))
    assert summary["std"] == pytest.approx(statistics.stdev(per_seed))
    # a second call reruns nothing, and a third seed is added by one new run
    capsys.readouterr()
    assert main(argv[:5] + ["2"] + argv[5:]) == 0
    printed = capsys.readouterr().out
    assert "seed 0:" in printed and "not rerun" in printed and "train.seed=2" in printed
    assert len(json.loads((out / "tiny_sweep.json").read_text())["summary"]["val/loss"]["values"]) == 3


def test_bad_arguments_exit_2(tmp_path, capsys):
    assert main(["--config", str(tmp_path / "nope.yaml")]) == 2
    assert "config file" in capsys.readouterr().err
