"""Every YAML in configs/ loads, validates, and trains two steps on tiny fake data of the same image shape
(text configs: fake text pairs) (smoke test: it proves the config and the code agree, not that the model
learns)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.build import build_trainer
from engine.config import diff_keys, load_yaml, validate

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.yaml"))
IMAGE_SHAPES = {"mnist": [1, 28, 28], "mnist_sample": [1, 28, 28], "fashion_mnist": [1, 28, 28],
                "cifar10": [3, 32, 32], "celeba": [3, 64, 64]}


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
@pytest.mark.slow
def test_config_runs_two_steps(path, tmp_path):
    raw = load_yaml(path)
    resolved = validate(raw)  # the config as written is valid
    data = resolved["data"]
    if data["name"] in ("text_pairs", "title_lm"):
        raw["data"] = {"name": "fake_text_pairs", "n_train": 48, "val": data["val"], "val_size": 16}
    else:
        raw["data"] = {"name": "fake", "image_shape": IMAGE_SHAPES[data["name"]], "n_train": 48, "n_test": 16,
                       "val": data["val"], "val_size": 16}
    raw.setdefault("train", {}).update(max_steps=2, batch_size=16, out_dir=str(tmp_path), run_name="smoke",
                                       log_every=1)
    if raw["train"].get("init_from"):  # a fine-tuning config: start from a 2-step run of the same model
        parent = json.loads(json.dumps(raw))
        parent["train"].update(init_from=None, run_name="parent")
        build_trainer(validate(parent), tmp_path / "parent").fit()
        raw["train"]["init_from"] = str(tmp_path / "parent" / "last.pt")
    trainer = build_trainer(validate(raw), tmp_path / "smoke")
    trainer.fit()
    assert trainer.step == 2
    assert (tmp_path / "smoke" / "last.pt").exists() and (tmp_path / "smoke" / "metrics.jsonl").exists()


def test_the_no_copy_twins_differ_only_in_the_copy_prior():
    """An equal-updates comparison of the copy prior needs configs that change nothing else."""
    twins = [p for p in CONFIGS if p.stem.endswith("_nocopy")]
    assert twins, "configs/seq2seq_xwlb_nocopy.yaml is missing"
    for twin in twins:
        base = twin.with_name(twin.name.replace("_nocopy", ""))
        assert diff_keys(validate(load_yaml(base)), validate(load_yaml(twin))) == ["model.copy_prior"]
        assert load_yaml(base)["model"]["copy_prior"] is True and load_yaml(twin)["model"]["copy_prior"] is False
