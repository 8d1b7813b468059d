"""Character tokenizer, text-pair files and the fake text set."""
from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
import torch

from data.text import (END, PAD, SPECIAL, START, UNK, UNK_TEXT, CharTokenizer, fake_pairs, fake_text_pairs,
                       normalize, read_pairs, text_pairs, title_lm, unk_rate)
from errors import ConfigError, DataError

from tests.data.test_images import shared_data_dir

SHARED = shared_data_dir() / "zh_titles"


def test_special_ids_and_round_trip():
    tok = CharTokenizer.build(["今天天气很好", "天气"], min_count=1)
    assert (PAD, UNK, START, END, SPECIAL) == (0, 1, 2, 3, 4)
    assert tok.vocab[0] == "天" and tok.vocab[1] == "气"  # most frequent first
    ids = tok.encode_title("今天天气")
    assert ids[0] == START and ids[-1] == END and min(ids[1:-1]) >= SPECIAL
    assert tok.decode(ids) == "今天天气"
    assert len(tok) == len(tok.vocab) + 4


def test_unknown_characters_and_min_count():
    tok = CharTokenizer.build(["aab", "ac"], min_count=2)
    assert tok.vocab == "a"
    assert tok.encode("abz") == [4, UNK, UNK]
    assert tok.decode([4, UNK, END, 4]) == "a" + UNK_TEXT  # stops at the end id
    with pytest.raises(ValueError):
        CharTokenizer.build(["a"], min_count=0)


def test_normalize_folds_width_and_drops_whitespace():
    assert normalize("ＡＢＣ　１２３ 你 好\n") == "ABC123你好"


def test_vocabulary_is_deterministic_in_the_data():
    a = CharTokenizer.build(["乙甲甲丙乙"], 1).vocab
    b = CharTokenizer.build(["甲乙丙甲乙"], 1).vocab
    assert a == b == "乙甲丙"  # counts then code point


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    return path


def test_text_pairs_reads_splits_and_hands_the_vocab_to_the_model(tmp_path):
    rows = [{"split": "train", "src": "今天天气很好啊", "tgt": "天气好"},
            {"split": "train", "src": "明天下雨", "tgt": "雨"},
            {"split": "val", "src": "后天晴", "tgt": "晴"}]
    splits = text_pairs(path=str(write_jsonl(tmp_path / "p.jsonl", rows)), min_count=1, max_src_len=5,
                        max_tgt_len=2)
    vocab = splits["model_args"]["vocab"]
    assert set(vocab) == set("今天气很好啊明下雨")
    src, tgt = splits["train"]["src"], splits["train"]["tgt"]
    assert src.shape == (2, 5) and tgt.shape == (2, 4)  # truncated to 5 source / 2 title characters
    assert tgt[1].tolist()[-1] == PAD and tgt[0].tolist()[-1] == END
    assert splits["val"]["src"][0, 2].item() == UNK  # 晴 is not in the training vocabulary
    assert set(splits) == {"train", "val", "model_args"}  # the splits' tensors only: no raw text
    assert read_pairs(tmp_path / "p.jsonl")["val"] == [("后天晴", "晴")]  # the raw pairs, for scoring
    again = text_pairs(path=str(tmp_path / "p.jsonl"), min_count=1, vocab=vocab)
    assert torch.equal(again["train"]["src"][:, :5], src)


def test_bad_files_give_one_line_errors(tmp_path):
    with pytest.raises(DataError, match="not found"):
        read_pairs(tmp_path / "missing.jsonl")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"split": "train", "src": "a", "tgt": "b"}\nnot json\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"bad.jsonl:2"):
        read_pairs(bad)
    only_val = write_jsonl(tmp_path / "v.jsonl", [{"split": "val", "src": "a", "tgt": "b"}])
    with pytest.raises(DataError, match="no rows with split 'train'"):
        text_pairs(path=str(only_val))
    with pytest.raises(ConfigError, match="min_count"):
        text_pairs(path=str(write_jsonl(tmp_path / "t.jsonl", [{"split": "train", "src": "a", "tgt": "b"}])),
                   min_count=0)


def test_title_lm_reads_only_training_titles_in_the_pair_files_vocabulary(tmp_path):
    pairs = write_jsonl(tmp_path / "p.jsonl", [{"split": "train", "src": "今天天气很好", "tgt": "天气好"},
                                               {"split": "val", "src": "论文", "tgt": "文"}])
    titles = write_jsonl(tmp_path / "t.jsonl", [{"split": "train", "title": "天气论"},
                                                {"split": "val", "title": "好天"},
                                                {"split": "test", "title": "很好"}])
    splits = title_lm(path=str(titles), vocab_path=str(pairs), min_count=1)
    assert splits["model_args"]["vocab"] == text_pairs(path=str(pairs), min_count=1)["model_args"]["vocab"]
    assert set(splits) == {"train", "model_args"} and len(splits["train"]["tgt"]) == 1  # the one training title
    tok = CharTokenizer(splits["model_args"]["vocab"])
    assert splits["train"]["tgt"][0].tolist() == tok.encode_title("天气论")  # 论 is unknown: not in the pairs' train
    assert UNK in splits["train"]["tgt"][0].tolist()
    assert splits["train"]["src"].tolist() == [[PAD]]  # the empty article: one padding column
    with pytest.raises(DataError, match="split and title"):
        title_lm(path=str(pairs), vocab_path=str(pairs))
    with pytest.raises(DataError, match="not found"):
        title_lm(path=str(tmp_path / "missing.jsonl"), vocab_path=str(pairs))


def test_fake_text_pairs_is_deterministic_and_copyable():
    a, b = fake_text_pairs(seed=3), fake_text_pairs(seed=3)
    assert torch.equal(a["train"]["src"], b["train"]["src"])
    assert set(a) == {"train", "val", "test", "model_args"}
    for src, tgt in fake_pairs(seed=3)["train"]:
        assert tgt == src[::3][:8]


def test_unk_rate():
    assert unk_rate(torch.tensor([[2, 4, 1, 5, 3, 0]])) == pytest.approx(1 / 3)


@pytest.mark.skipif(not (SHARED / "lcsts.jsonl").is_file(), reason=f"{SHARED}/lcsts.jsonl is absent")
def test_lcsts_split_sizes_and_vocabulary():
    splits = text_pairs(root=str(SHARED.parent), min_count=2)
    assert {k: len(v["src"]) for k, v in splits.items() if k in ("train", "val", "test")} == \
        {"train": 8489, "val": 948, "test": 989}
    assert len(splits["model_args"]["vocab"]) == 3809  # the number quoted in configs/seq2seq_lcsts.yaml


def write_pairs(path: Path, rows: list[dict], compress: bool = False) -> Path:
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    if compress:
        with gzip.open(path, "wt", encoding="utf-8") as f:
            f.write(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


PAIR_ROWS = [{"split": s, "src": f"第{i}条新闻：　ＡＢ，今天天气很好。", "tgt": f"标题{i}"}
             for i, s in enumerate(["train"] * 5 + ["val", "test"])]


def test_gzip_and_plain_files_give_the_same_pairs_and_tensors(tmp_path):
    plain = write_pairs(tmp_path / "pairs.jsonl", PAIR_ROWS)
    packed = write_pairs(tmp_path / "pairs.jsonl.gz", PAIR_ROWS, compress=True)
    odd_name = packed.rename(tmp_path / "pairs_gzip_without_suffix.jsonl")  # detected by content, not name
    assert read_pairs(plain) == read_pairs(odd_name)
    a, b = text_pairs(path=str(plain), min_count=1), text_pairs(path=str(odd_name), min_count=1)
    assert a["model_args"] == b["model_args"]
    for split in ("train", "val", "test"):
        assert torch.equal(a[split]["src"], b[split]["src"]) and torch.equal(a[split]["tgt"], b[split]["tgt"])


def test_batch_encoding_equals_the_row_by_row_encoding():
    tok = CharTokenizer.build([normalize(r["src"] + r["tgt"]) for r in PAIR_ROWS[:3]], min_count=2)
    texts = [r["src"] for r in PAIR_ROWS] + ["", "e\u0301 한글 ﬁ"]  # empty, combining mark, Hangul, ligature
    for max_len in (3, 400):
        rows = [tok.encode(t, max_len) for t in texts]
        assert tok.encode_batch(texts, max_len).tolist() == [r + [PAD] * (max(map(len, rows)) - len(r)) for r in rows]
        titles = [tok.encode_title(t, max_len) for t in texts]
        width = max(map(len, titles))
        assert tok.encode_batch(texts, max_len, title=True).tolist() == [r + [PAD] * (width - len(r)) for r in titles]
    assert normalize("e\u0301") == "\u00e9" and normalize("ﬁ") == "fi"  # the slow path still composes


def test_corrupt_gzip_and_missing_fields_name_the_file_and_line(tmp_path):
    packed = write_pairs(tmp_path / "pairs.jsonl.gz", PAIR_ROWS * 200, compress=True)
    cut = tmp_path / "cut.jsonl.gz"
    cut.write_bytes(packed.read_bytes()[: packed.stat().st_size // 2])  # truncated mid-stream
    with pytest.raises(DataError) as e:
        read_pairs(cut)
    assert str(cut) in str(e.value) and "truncated" in str(e.value) and "\n" not in str(e.value)
    assert f"{cut}:" in str(e.value)  # the line it broke off at
    flipped = bytearray(packed.read_bytes())
    flipped[len(flipped) // 2] ^= 0xFF  # a damaged deflate block (or a CRC mismatch at the end)
    bad = tmp_path / "flipped.jsonl.gz"
    bad.write_bytes(bytes(flipped))
    with pytest.raises(DataError, match=r"flipped\.jsonl\.gz:\d+ .*(damaged|truncated|not valid UTF-8)"):
        read_pairs(bad)
    rows = [*PAIR_ROWS[:2], {"split": "train", "src": "没有标题"}, *PAIR_ROWS[2:]]
    missing = write_pairs(tmp_path / "missing.jsonl.gz", rows, compress=True)
    with pytest.raises(DataError, match=r"missing\.jsonl\.gz:3 is not a JSON object with split, src and tgt"):
        read_pairs(missing)
