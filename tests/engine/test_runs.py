"""engine/runs.py load_run: a run folder or a checkpoint file gives the checkpoint, config, model and (on first
use) the dataset; a wrong model name, a missing path or a folder without checkpoints is one line."""
from __future__ import annotations

import pytest
import torch

from engine.build import build_trainer
from engine.runs import load_run
from errors import CheckpointError, ConfigError
from tests.engine.toy import toy_config


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A toy run of 2 epochs with best.pt (monitor val/ce) and last.pt."""
    root = tmp_path_factory.mktemp("runs")
    cfg = toy_config(root, epochs=2)
    cfg["callbacks"]["metrics"] = {"tensorboard": False}
    build_trainer(cfg, root / "toy").fit()
    return root / "toy"


def test_a_folder_gives_its_best_checkpoint_built_and_in_eval_mode(run_dir):
    run = load_run(run_dir)
    assert run.path == run_dir / "best.pt" and run.folder == run_dir
    assert run.model_name == "toy" and run.run_name == "toy" and run.config["data"]["name"] == "fake"
    assert 0 < run.step <= 26 and not run.model.training
    saved = torch.load(run.path, weights_only=True)["model"]
    assert all(torch.equal(saved[k], v) for k, v in run.model.state_dict().items())
    assert "best" in run.callback_state("checkpoint")


def test_prefer_picks_last_and_a_file_is_taken_as_given(run_dir):
    assert load_run(run_dir, prefer=("last.pt",)).path == run_dir / "last.pt"
    run = load_run(run_dir / "last.pt", "toy")
    assert run.path == run_dir / "last.pt" and run.step == 26  # 2 epochs of 13 batches
    assert run.source == f"checkpoint {run_dir / 'last.pt'}"


def test_the_dataset_is_loaded_on_first_use_only(run_dir, monkeypatch):
    import engine.runs
    calls = []
    real = engine.runs.load_dataset
    monkeypatch.setattr(engine.runs, "load_dataset", lambda cfg: calls.append(cfg) or real(cfg))
    run = load_run(run_dir)
    assert calls == []
    assert len(run.dataset["train"]["y"]) == 50 and len(run.dataset["test"]["y"]) == 20
    assert len(calls) == 1  # cached
    assert set(run.splits) >= {"train", "val"}


def test_build_false_builds_on_first_use(run_dir):
    run = load_run(run_dir, build=False)
    assert "model" not in vars(run)
    assert not run.model.training and "model" in vars(run)


def one_line(e: pytest.ExceptionInfo) -> str:
    text = str(e.value)
    assert "\n" not in text
    return text


def test_a_wrong_model_name_is_one_line_naming_path_found_and_expected(run_dir):
    with pytest.raises(ConfigError) as e:
        load_run(run_dir, "nice")
    assert one_line(e) == (f"checkpoint {run_dir / 'best.pt'} holds a 'toy' model; expected a nice model; pass a "
                           f"run or checkpoint of one")
    with pytest.raises(ConfigError) as e:
        load_run(run_dir / "last.pt", ("nice", "seq2seq"), option="--checkpoint", purpose="this needs a flow")
    assert one_line(e) == f"--checkpoint {run_dir / 'last.pt'} holds a 'toy' model; this needs a flow"


def test_a_missing_path_is_one_line(tmp_path):
    with pytest.raises(CheckpointError) as e:
        load_run(tmp_path / "no_such_run")
    assert one_line(e) == f"{tmp_path / 'no_such_run'} not found; pass a run's best.pt or last.pt (or its run folder)"
    with pytest.raises(CheckpointError) as e:
        load_run(tmp_path / "none.pt", "seq2seq", prefer=(), option="--checkpoint")
    assert one_line(e) == f"--checkpoint {tmp_path / 'none.pt'} not found; pass a seq2seq run's best.pt or last.pt"


def test_a_folder_is_refused_where_files_are_wanted_and_an_empty_one_named(run_dir, tmp_path):
    with pytest.raises(CheckpointError) as e:
        load_run(run_dir, prefer=(), option="--checkpoint")
    assert one_line(e) == f"--checkpoint {run_dir} is a directory; pass a run's best.pt or last.pt"
    with pytest.raises(CheckpointError) as e:
        load_run(tmp_path)
    assert one_line(e) == f"run folder {tmp_path} holds none of best.pt, last.pt; is the run finished?"


def test_a_bad_file_gets_the_checkpoint_checks(tmp_path):
    bad = tmp_path / "bad.pt"
    torch.save({"format": "something else"}, bad)
    with pytest.raises(CheckpointError) as e:
        load_run(bad)
    assert "is not a kexue-torch checkpoint" in one_line(e)
