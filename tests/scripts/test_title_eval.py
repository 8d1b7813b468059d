"""scripts/title_eval.py over a small trained checkpoint: scores, Lead, examples, and errors."""
from __future__ import annotations

import gzip
import json

import pytest

from data.text import read_pairs
from metrics.rouge import corpus_rouge, lead
from scripts import title_eval
from tests.engine.test_cli import assert_user_error, in_process, run


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
        assert set(scores["ascii_words"]) == {"rouge1", "rouge2", "rougeL"}
        assert scores["len"]["min"] <= scores["len"]["mean"] <= scores["len"]["max"] <= 6
    assert out["reference_len"]["mean"] == pytest.approx(out["reference_mean_len"])
    examples = (seq2seq_checkpoint.parent / "title_eval_pairs_test_examples.md").read_text(encoding="utf-8")
    assert examples.count("\n| ") == 3 + 1 and f"| Lead-{n} |" in examples  # header + 3 rows, Lead beside
    first_row = examples.splitlines()[4].split(" | ")
    assert first_row[3] == lead([articles[int(first_row[0].lstrip("| "))]], n)[0]


@pytest.mark.slow
def test_another_file_gets_the_lead_of_its_own_training_titles_too(seq2seq_checkpoint, tmp_path, capsys):
    """Transfer (the xwlb model on LCSTS): Lead-N of the model's training titles and of the scored file's."""
    pairs = read_pairs(seq2seq_checkpoint.parent.parent / "pairs.jsonl")
    rows = [{"split": split, "src": s, "tgt": t * 2} for split, rows in pairs.items() for s, t in rows]
    other = tmp_path / "other.jsonl.gz"
    with gzip.open(other, "wt", encoding="utf-8") as f:
        f.write("\n".join(json.dumps(r, ensure_ascii=False) for r in rows))
    result = in_process(title_eval.main, ["--checkpoint", str(seq2seq_checkpoint), "--data-file", str(other),
                                          "--beams", "1", "--max-len", "4", "--examples", "2"], capsys)
    assert result.returncode == 0, result.stderr
    out = json.loads((seq2seq_checkpoint.parent / "title_eval_other_test.json").read_text(encoding="utf-8"))
    n = out["lead_len_of_scored_file"]
    assert n == round(sum(len(t) * 2 for _, t in pairs["train"]) / len(pairs["train"])) != out["lead_len"]
    assert f"lead{n}" in out and f"lead{out['lead_len']}" in out
    assert out["models"]["beam1"]["len"]["at_max_len"] <= 1


@pytest.mark.slow
def test_missing_split_is_a_one_line_error(seq2seq_checkpoint):
    assert_user_error(run("scripts/title_eval.py", "--checkpoint", str(seq2seq_checkpoint), "--split", "dev"),
                      "has no split 'dev'")
