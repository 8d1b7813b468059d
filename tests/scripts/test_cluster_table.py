"""scripts/cluster_table.py: mean ± std over seeds of finished clustering runs; unfinished ones not counted."""
from __future__ import annotations

import json
import statistics

from scripts import cluster_table
from tests.engine.test_cli import in_process


def write(folder, name, content):
    folder.mkdir(parents=True)
    (folder / name).write_text(json.dumps(content))


def test_table_of_finished_seeds(tmp_path, capsys):
    accs = {0: 0.94, 1: 0.85, 3: 0.80}
    for seed, acc in accs.items():
        write(tmp_path / f"cluster_vae_mnist_seed{seed}", "results.json",
              {"finished": True, "val/clustering_acc": acc, "val/clustering_purity": acc + 0.01,
               "val/clustering_nmi": 0.8, "val/clustering_ari": 0.7})
    write(tmp_path / "cluster_vae_mnist_seed2", "results.json", {"finished": False, "val/clustering_acc": 0.1})
    (tmp_path / "cluster_vae_mnist_seed4").mkdir()  # running: no results.json yet
    write(tmp_path / "cluster_ae_mnist_seed0", "kmeans_baseline.json",
          {"test/acc": 0.79, "test/purity": 0.8, "test/nmi": 0.7, "test/ari": 0.6})
    result = in_process(cluster_table.main, ["--runs-dir", str(tmp_path), "--datasets", "mnist",
                                             "--out", str(tmp_path / "t")], capsys)
    assert result.returncode == 0, result.stderr
    assert "not counted: cluster_vae_mnist_seed2, cluster_vae_mnist_seed4" in result.stderr
    vae, ae = json.loads((tmp_path / "t.json").read_text())["rows"]
    assert vae["seeds"] == [0, 1, 3] and ae["seeds"] == [0]
    assert vae["acc"]["mean"] == statistics.fmean(accs.values())
    assert vae["acc"]["std"] == statistics.stdev(accs.values()) and ae["acc"]["std"] is None  # one seed: no std
    assert f"| mnist | clustering VAE | 0, 1, 3 | {statistics.fmean(accs.values()):.4f} ±" in result.stdout
    assert "| mnist | autoencoder + k-means | 0 | 0.7900 (one seed) |" in result.stdout


def test_a_result_file_of_another_kind_is_one_line(tmp_path, capsys):
    write(tmp_path / "cluster_vae_fashion_seed0", "results.json", {"finished": True, "val/loss": 1.0})
    result = in_process(cluster_table.main, ["--runs-dir", str(tmp_path), "--datasets", "fashion"], capsys)
    assert result.returncode == 2 and "has no 'val/clustering_acc'" in result.stderr
