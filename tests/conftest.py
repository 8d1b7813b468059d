"""Fixtures shared by several test modules."""
from __future__ import annotations

import json

import pytest

from data.text import fake_pairs
from tests.engine.test_cli import run

SMALL_TEXT = ["data.min_count=1", "model.embed_dim=16", "model.enc_hidden=8",
              "model.dec_hidden=16", "model.head_hidden=32", "train.max_steps=2", "train.batch_size=16"]


@pytest.fixture(scope="session")
def seq2seq_checkpoint(tmp_path_factory):
    """A seq2seq run trained 2 updates on fake text pairs written as a JSON-lines file (once per test session)."""
    out = tmp_path_factory.mktemp("gen")
    pairs = fake_pairs(n_train=64)
    rows = [{"split": split, "src": s, "tgt": t} for split, rows in pairs.items() for s, t in rows]
    (out / "pairs.jsonl").write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    result = run("train.py", "--config", "configs/seq2seq_lcsts.yaml", *SMALL_TEXT, f"data.path={out}/pairs.jsonl",
                 f"train.out_dir={out}")
    assert result.returncode == 0, result.stderr
    return out / "seq2seq_lcsts" / "last.pt"


