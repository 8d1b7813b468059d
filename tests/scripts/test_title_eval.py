"""scripts/title_eval.py over a small trained checkpoint: scores, Lead, examples, and errors."""
from __future__ import annotations

import json

import pytest

from data.text import read_pairs
from metrics.rouge import corpus_rouge, lead
from tests.engine.test_cli import assert_user_error, run


@pytest.mark.slow
def test_scores_lead_and_examples(seq2seq_checkpoint):
    result = run("scripts/title_eval.py", "--checkpoint", str(seq2seq_checkpoint), "--beams", "2", "1", "--max-len", "6",
                 "--examples", "3")
    assert result.returncode == 0, result.stderr
    out = json.loads((seq2seq_checkpoint.parent / "title_eval_pairs_test.json").read_text(encoding="utf-8"))
    pairs = read_pairs(seq2seq_checkpoint.parent.parent / "pairs.jsonl")
    assert out["pairs"] == len(pairs["test"]) and set(out["models"]) == {"beam2", "beam1"}
    n = round(sum(len(t) for _, t in pairs["train"]) / len(pairs["train"]))  # training titles' mean length
    assert out["lead_len"] == n and 3 <= n <= 8
    articles, refs = zip(*pairs["test"])
    assert out[f"lead{n}"] == corpus_rouge(lead(list(articles), n), list(refs))
    for scores in out["models"].values():
        assert 0 <= scores["rougeL"] <= 100 and 0 < scores["distinct"] <= 1
    examples = (seq2seq_checkpoint.parent / "title_eval_pairs_test_examples.md").read_text(encoding="utf-8")
    assert examples.count("\n| ") == 3 + 1  # header + 3 rows


@pytest.mark.slow
def test_missing_split_is_a_one_line_error(seq2seq_checkpoint):
    assert_user_error(run("scripts/title_eval.py", "--checkpoint", str(seq2seq_checkpoint), "--split", "dev"),
                      "has no split 'dev'")
