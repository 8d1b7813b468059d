"""scripts/fid_data.py: FID between two splits of a dataset (the JPEG copy's calibration), with a stand-in
network so that it runs without the fid extra."""
from __future__ import annotations

import json

import torch

from metrics import fid
from scripts import fid_data
from tests.engine.test_cli import in_process


def stand_in(monkeypatch, splits):
    net = torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(2), torch.nn.Flatten())  # 12-d features
    monkeypatch.setattr(fid, "load_network", lambda *a, **k: net)
    monkeypatch.setattr(fid_data, "load_dataset", lambda cfg: splits)


def test_two_splits_are_scored_and_their_features_cached(monkeypatch, tmp_path, capsys):
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (40, 3, 8, 8), dtype=torch.uint8, generator=g)
    stand_in(monkeypatch, {"train": {"x": images[:30]}, "test": {"x": images[30:]}})
    argv = ["--dataset", "cifar10", "--n-a", "20", "--cache", str(tmp_path), "--out", str(tmp_path / "r.json")]
    result = in_process(fid_data.main, argv, capsys)
    assert result.returncode == 0, result.stderr
    line = json.loads(result.stdout.strip().splitlines()[-1])
    assert (line["n_a"], line["n_b"]) == (20, 10) and line["fid"] > 0
    assert line["protocol"]["n_reference"] == 10 and line["protocol"]["network_form"] == "script"
    assert json.loads((tmp_path / "r.json").read_text()) == line
    assert sorted(p.name.split("_")[3] for p in tmp_path.glob("inception_*.npz")) == ["test", "train"]
    same = in_process(fid_data.main, ["--a", "test", "--b", "test", "--cache", str(tmp_path)], capsys)
    assert json.loads(same.stdout.strip().splitlines()[-1])["fid"] < 1e-6  # a split against itself


def test_a_missing_split_or_too_many_images_is_one_line(monkeypatch, tmp_path, capsys):
    stand_in(monkeypatch, {"train": {"x": torch.zeros(4, 3, 8, 8, dtype=torch.uint8)}})
    result = in_process(fid_data.main, ["--b", "val", "--cache", str(tmp_path)], capsys)
    assert result.returncode == 2 and "has no split 'val'" in result.stderr
    result = in_process(fid_data.main, ["--b", "train", "--n-a", "9", "--cache", str(tmp_path)], capsys)
    assert result.returncode == 2 and "--n-a 9: the train split has 4 images" in result.stderr


def test_cache_only_computes_the_features_once_and_scores_nothing(monkeypatch, tmp_path, capsys):
    images = torch.randint(0, 256, (12, 3, 8, 8), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    stand_in(monkeypatch, {"test": {"x": images}})
    argv = ["--a", "test", "--b", "test", "--cache-only", "--cache", str(tmp_path)]
    first = in_process(fid_data.main, argv, capsys)
    assert first.returncode == 0, first.stderr
    line = json.loads(first.stdout.strip().splitlines()[-1])
    assert "fid" not in line and line["cached"]["test"]["n"] == 12
    assert [p.name for p in tmp_path.glob("inception_*.npz")] == [line["cached"]["test"]["file"].split("/")[-1]]
    assert "(computed)" in first.stderr
    again = in_process(fid_data.main, argv, capsys)
    assert "(computed)" not in again.stderr and again.stderr.count("(cached)") == 2


def test_the_device_is_recorded_and_a_missing_gpu_is_one_line(monkeypatch, tmp_path, capsys):
    images = torch.randint(0, 256, (12, 3, 8, 8), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    stand_in(monkeypatch, {"train": {"x": images[:6]}, "test": {"x": images[6:]}})
    result = in_process(fid_data.main, ["--device", "cpu", "--cache", str(tmp_path)], capsys)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1])["device"] == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    result = in_process(fid_data.main, ["--device", "cuda", "--cache", str(tmp_path)], capsys)
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "--device cuda but CUDA is not available here" in result.stderr
    result = in_process(fid_data.main, ["--device", "gpu0", "--cache", str(tmp_path)], capsys)
    assert result.returncode == 2 and "--device 'gpu0' is not a device" in result.stderr
