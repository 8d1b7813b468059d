"""scripts/title_table.py: title_eval.py results as one markdown table, and its refusals."""
from __future__ import annotations

import json

from scripts import title_table
from tests.engine.test_cli import assert_user_error, in_process


def result(split="test", pairs=5, lead_len=4, beams=(3, 1)):
    scores = {"rouge1": 30.0, "rouge2": 20.0, "rougeL": 25.0}
    return {"checkpoint": "r/best.pt", "data_file": "/d/pairs.jsonl.gz", "split": split, "pairs": pairs,
            "rouge": "character F1 x100", "reference_mean_len": 4.4, f"lead{lead_len}": scores, "lead_len": lead_len,
            "models": {f"beam{b}": {"rouge1": 10.0 + b, "rouge2": 5.0, "rougeL": 8.0 + b, "distinct": 0.5,
                                    "mean_len": 3.25, "len": {"median": 3}, "ascii_words": {**scores, "rougeL": 7.5},
                                    "empty": 0, "seconds": 1.5} for b in beams}}


def write(path, content):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(content))
    return path


def test_rows_for_each_lead_and_beam_in_the_given_order(tmp_path, capsys):
    a = write(tmp_path / "run_a" / "title_eval_pairs_test.json", result())
    b = write(tmp_path / "run_b" / "title_eval_pairs_test.json", result(lead_len=5, beams=(1,)))
    out = in_process(title_table.main, ["copy=" + str(a), str(b)], capsys)
    assert out.returncode == 0, out.stderr
    rows = [line for line in out.stdout.splitlines() if line.startswith("| ") and "ROUGE" not in line]
    assert [r.split(" | ")[0] for r in rows] == ["| Lead-4", "| Lead-5", "| copy, beam 3", "| copy, greedy",
                                                 "| run_b, greedy"]
    assert rows[2].split(" | ")[1:] == ["13.00", "5.00", "11.00", "7.50", "0.500", "3.2 / 3", "1.5 |"]
    assert "pairs.jsonl.gz, test split, 5 pairs" in out.stdout


def test_files_of_different_splits_are_refused(tmp_path, capsys):
    a = write(tmp_path / "a.json", result())
    b = write(tmp_path / "b.json", result(split="val", pairs=6))
    assert_user_error(in_process(title_table.main, [str(a), str(b)], capsys), "one table per split")
    assert_user_error(in_process(title_table.main, [str(tmp_path / "none.json")], capsys), "no such file")
    write(tmp_path / "c.json", {"x": 1})
    assert_user_error(in_process(title_table.main, [str(tmp_path / "c.json")], capsys), "not a title_eval.py result")
