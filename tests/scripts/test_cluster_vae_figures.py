"""scripts/cluster_vae_figures.py on a tiny clustering VAE trained for one epoch on fake 28×28 images."""
import json

import pytest
from PIL import Image

from engine import checkpoint
from engine.build import build_trainer, load_dataset, load_trained_model
from engine.config import validate
from metrics.clustering import hungarian_accuracy, purity
from scripts.cluster_vae_figures import main
from tests.engine.toy import toy_config


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    cfg = validate({"model": {"name": "cluster_vae", "base_filters": 2, "classifier_hidden": 8, "latent_dim": 4,
                              "clusters": 3},
                    "data": {"name": "fake", "n_train": 40, "n_test": 30, "num_classes": 3, "val": "test"},
                    "train": {"batch_size": 20, "epochs": 1, "out_dir": str(root), "run_name": "cvae",
                              "device": "cpu"},
                    "callbacks": {"metrics": {"tensorboard": False}}})
    build_trainer(cfg, root / "cvae").fit()
    return root / "cvae"


def test_writes_every_grid_and_scores_that_match_the_model(run, tmp_path):
    assert main([str(run), "--out", str(tmp_path), "--tag", "t"]) == 0
    for i in range(3):
        for kind in ("members", "samples"):
            with Image.open(tmp_path / f"cluster_vae_t_{kind}_{i}.png") as image:
                assert image.size == (224, 224)
    assert (tmp_path / "cluster_vae_t_overview.png").stat().st_size > 5_000
    manifest = json.loads((tmp_path / "cluster_vae_t.json").read_text())
    assert manifest["step"] == 2 and manifest["loss"] == "december"
    # the scores are those of the model's own assignments of the fake test split
    model, config = load_trained_model(run / "last.pt")
    test = load_dataset(config["data"])["test"]
    ids = model.assign(test["x"])
    assert manifest["scores"]["test"]["acc"] == pytest.approx(hungarian_accuracy(ids, test["y"]))
    assert manifest["scores"]["test"]["purity"] == pytest.approx(purity(ids, test["y"]))
    assert sum(map(sum, manifest["test_contingency"])) == 30
    assert sum(manifest["scores"]["train"]["sizes"]) == 40


def test_refuses_a_model_of_another_kind(tmp_path, capsys):
    cfg = toy_config(tmp_path, epochs=1)
    build_trainer(cfg, tmp_path / "toy").fit()
    assert checkpoint.resolve_run_checkpoint(tmp_path / "toy", prefer=("last.pt",)).name == "last.pt"
    with pytest.raises(SystemExit) as exit_info:
        main([str(tmp_path / "toy"), "--out", str(tmp_path / "fig")])
    assert exit_info.value.code == 2
    assert "this script draws cluster_vae figures" in capsys.readouterr().err


def test_sample_per_cluster_from_the_command_line(run, tmp_path, capsys):
    import sample
    assert sample.main(["--checkpoint", str(run / "last.pt"), "--n", "16", "--out", str(tmp_path / "c1.png"),
                        "cluster=1"]) == 0
    with Image.open(tmp_path / "c1.png") as image:
        assert image.size == (4 * 28, 4 * 28)
    with pytest.raises(SystemExit) as exit_info:
        sample.main(["--checkpoint", str(run / "last.pt"), "--out", str(tmp_path / "c.png"), "cluster=7"])
    assert exit_info.value.code == 2 and "cluster must be in 0..2, got 7" in capsys.readouterr().err
