"""In-memory batching: every sample once per epoch, order fixed by (seed, epoch), resumable mid-epoch."""
from __future__ import annotations

import torch

from data.loader import InMemoryLoader
from engine.build import build_splits
from engine.config import validate


def make(n=10, **kw):
    return InMemoryLoader({"x": torch.arange(n), "y": -torch.arange(n)}, batch_size=4, **kw)


def test_epoch_covers_every_sample_once_and_keeps_pairs():
    loader = make(shuffle=True, seed=3)
    batches = list(loader.batches(epoch=2))
    assert [len(b["x"]) for b in batches] == [4, 4, 2] == [loader.batch_size_at(i) for i in range(3)]
    xs = torch.cat([b["x"] for b in batches])
    assert sorted(xs.tolist()) == list(range(10))
    assert torch.equal(torch.cat([b["y"] for b in batches]), -xs)


def test_order_depends_only_on_seed_and_epoch_and_resumes_mid_epoch():
    a, b = make(shuffle=True, seed=1), make(shuffle=True, seed=1)
    torch.manual_seed(0)  # the global RNG plays no part
    assert torch.equal(a.order(5), b.order(5)) and not torch.equal(a.order(5), a.order(6))
    full = list(a.batches(epoch=5))
    rest = list(b.batches(epoch=5, start=1))
    assert all(torch.equal(x["x"], y["x"]) for x, y in zip(full[1:], rest))


def test_drop_last():
    assert len(make(drop_last=True)) == 2 and len(make()) == 3


def test_holdout_split_is_disjoint_and_seeded():
    cfg = validate({"model": {"name": "nice"}, "data": {"name": "fake", "n_train": 100, "n_test": 10, "val": "holdout", "val_size": 20,
                             "image_shape": [1, 2, 2]}})["data"]
    splits = build_splits(cfg)
    assert len(splits["train"]["x"]) == 80 and len(splits["val"]["x"]) == 20 and len(splits["test"]["x"]) == 10
    flat = lambda s: {tuple(r.tolist()) for r in splits[s]["x"].flatten(1)}
    assert not flat("train") & flat("val")
    assert torch.equal(build_splits(cfg)["val"]["x"], splits["val"]["x"])
    blog = build_splits({**cfg, "val": "test", "limit_train": 7})
    assert set(blog) == {"train", "val"} and torch.equal(blog["val"]["x"], splits["test"]["x"])
    assert len(blog["train"]["x"]) == 7
