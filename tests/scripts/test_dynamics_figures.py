"""Smoke test: scripts/dynamics_figures.py with tiny settings writes every figure and the manifest."""
import json

import pytest

from scripts.dynamics_figures import main

FIGURES = ("dynamics_quadratic_trajectories.png", "dynamics_rosenbrock_trajectories.png", "heun_vs_euler_error.png",
           "heun_vs_sgd_budget.png", "optimizers_mnist_loss.png")


@pytest.mark.slow  # ~4 s: two 18-panel figures are drawn whatever the settings
def test_dynamics_figures_smoke(tmp_path):
    argv = ["--out", str(tmp_path), "--quadratic-steps", "5", "--rosenbrock-steps", "5", "--error-time", "0.02",
            "--error-steps", "20", "40", "80", "--regression-epochs", "1", "--regression-samples", "64",
            "--mnist-epochs", "1", "--mnist-train", "128", "--mnist-test", "64"]
    assert main(argv) == 0
    for name in FIGURES:
        assert (tmp_path / name).stat().st_size > 10_000, name
    manifest = json.loads((tmp_path / "dynamics_figures.json").read_text())
    assert manifest["command"].startswith("python scripts/dynamics_figures.py --out")
    # the step sizes here are small enough for the asymptotic regime: Euler's error ~ h, Heun's ~ h²
    assert abs(manifest["heun_vs_euler_error.png"]["slope"]["sgd_plain"] - 1) < 0.1
    assert abs(manifest["heun_vs_euler_error.png"]["slope"]["heun"] - 2) < 0.1
    assert set(manifest["optimizers_mnist_loss.png"]["final"]) == {"sgd_plain", "heun", "normalized_gd", "sign_gd",
                                                                    "rmsprop_ode", "adam_ode"}
