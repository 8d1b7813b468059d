"""scripts/nice_figures.py on two tiny NICE checkpoints trained for one epoch on fake 28×28 images."""
import json

import numpy as np
import pytest
import torch
from PIL import Image

from engine import checkpoint
from engine.build import build_trainer, load_trained_model
from engine.config import validate
from engine.checkpoint import resolve_run_checkpoint as resolve_checkpoint
from scripts.nice_figures import main

GRIDS = ("nice_blog_noise_samples_T0.75.png", "nice_blog_nonoise_samples_T0.75.png")
ADDITIONS = ("nice_blog_temperatures.png", "nice_blog_prior_std.png")


def train_tiny_nice(out_dir, run_name: str, train_noise: str, seed: int) -> None:
    cfg = validate({"model": {"name": "nice", "hidden_units": 8, "hidden_layers": 1, "train_noise": train_noise},
                    "data": {"name": "fake", "n_train": 32, "n_test": 16},
                    "train": {"batch_size": 16, "epochs": 1, "out_dir": str(out_dir), "run_name": run_name,
                              "seed": seed, "device": "cpu"},
                    "callbacks": {"checkpoint": {"monitor": "val/loss"}, "metrics": {"tensorboard": False}}})
    build_trainer(cfg, out_dir / run_name).fit()


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    train_tiny_nice(root, "noise", "negative_uniform", seed=0)
    train_tiny_nice(root, "nonoise", "none", seed=1)
    return root


def make_figures(runs, out_dir, *extra):
    # run folders for one model, a .pt file for the other: both forms are accepted
    argv = ["--noise", str(runs / "noise"), "--no-noise", str(runs / "nonoise" / "best.pt"),
            "--out", str(out_dir), "--seed", "0", "--temperature", "0.75", *extra]
    assert main(argv) == 0
    return argv


def pixels(path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("L"), dtype=np.int16)


@pytest.mark.slow
def test_grids_are_420px_reproducible_and_differ_between_models(runs, tmp_path):
    make_figures(runs, tmp_path / "a")
    make_figures(runs, tmp_path / "b")
    for name in GRIDS + ADDITIONS:
        assert (tmp_path / "a" / name).is_file(), name
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    for name in GRIDS:
        with Image.open(tmp_path / "a" / name) as image:
            assert image.size == (420, 420)
    assert not np.array_equal(pixels(tmp_path / "a" / GRIDS[0]), pixels(tmp_path / "a" / GRIDS[1]))


def test_grid_is_the_inverse_of_the_seeded_base_noise(runs, tmp_path):
    """Pixel (r·28 + i, c·28 + j) is digit 15r + c of f⁻¹(0.75·z), z ~ N(0, I) from a generator seeded with 0."""
    make_figures(runs, tmp_path, "--seed", "3")
    model, _ = load_trained_model(runs / "nonoise" / "best.pt")
    z = torch.randn(225, 784, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        digits = model.inverse(0.75 * z).clamp(0, 1).reshape(15, 15, 28, 28)
    expected = (digits.permute(0, 2, 1, 3).reshape(420, 420) * 255).numpy()
    assert np.abs(pixels(tmp_path / GRIDS[1]) - expected).max() <= 1  # save_image rounds to uint8


@pytest.mark.slow
def test_manifest_names_checkpoint_step_seed_and_command(runs, tmp_path):
    argv = make_figures(runs, tmp_path)
    manifest = json.loads((tmp_path / "nice_figures.json").read_text())["figures"]
    assert set(manifest) == set(GRIDS + ADDITIONS)
    step = checkpoint.load(runs / "noise" / "best.pt")["progress"]["step"]
    noise = manifest[GRIDS[0]]
    assert noise["checkpoint"] == str(runs / "noise" / "best.pt")
    assert (noise["run_name"], noise["step"], noise["seed"], noise["temperature"]) == ("noise", step, 0, 0.75)
    assert manifest[GRIDS[1]]["checkpoint"] == str(runs / "nonoise" / "best.pt")
    assert noise["command"].endswith(" ".join(argv))
    assert not noise["addition_not_in_post"]
    assert all(manifest[name]["addition_not_in_post"] for name in ADDITIONS)
    assert manifest[ADDITIONS[0]]["temperature"] == [0.5, 0.6, 0.75, 0.9, 1.0]


def test_run_folder_means_best_pt_else_last_pt(runs, tmp_path):
    assert resolve_checkpoint(str(runs / "noise")) == runs / "noise" / "best.pt"
    (tmp_path / "last.pt").write_bytes((runs / "noise" / "last.pt").read_bytes())
    assert resolve_checkpoint(str(tmp_path)) == tmp_path / "last.pt"


def test_missing_checkpoint_is_a_user_error(tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        main(["--noise", str(tmp_path / "nowhere"), "--out", str(tmp_path)])
    assert exit_info.value.code == 2
