"""Character ROUGE against hand computations."""
from __future__ import annotations

import pytest

from metrics.rouge import corpus_rouge, distinct_rate, lcs_length, lead, rouge_l, rouge_n


def test_identical_chinese_strings_score_one():
    # the English-tokenising rouge-score package gives 0 here (huggingface/evaluate#256)
    s = "酒店用户数据疑似发生泄露"
    assert rouge_n(s, s, 1) == rouge_n(s, s, 2) == rouge_l(s, s) == 1.0


def test_hand_computed_pair():
    cand, ref = "我爱北京", "我爱上海北京"
    # unigrams: overlap 4, P = 4/4, R = 4/6 -> F = 0.8
    assert rouge_n(cand, ref, 1) == pytest.approx(0.8)
    # bigrams: cand {我爱, 爱北, 北京}, ref {我爱, 爱上, 上海, 海北, 北京}: overlap 2, P = 2/3, R = 2/5 -> F = 0.5
    assert rouge_n(cand, ref, 2) == pytest.approx(0.5)
    # LCS 我爱北京 = 4: P = 1, R = 4/6 -> 0.8
    assert rouge_l(cand, ref) == pytest.approx(0.8)


def test_counts_are_clipped_and_empty_strings_score_zero():
    assert rouge_n("的的的", "的", 1) == pytest.approx(0.5)  # overlap 1: P = 1/3, R = 1
    assert rouge_n("", "标题", 1) == 0.0 and rouge_l("标题", "") == 0.0
    assert rouge_n("甲乙", "丙丁", 1) == 0.0


def test_lcs_classic_example_and_normalisation():
    assert lcs_length("ABCBDAB", "BDCABA") == 4
    assert rouge_l("ＡＢ C", "ABC") == 1.0  # NFKC and whitespace removal
    assert rouge_n("北京，你好", "北京你好", 1) < 1.0
    assert rouge_n("北京，你好", "北京你好", 1, strip_punct=True) == 1.0


def test_corpus_scores_are_means_times_100_and_lead():
    scores = corpus_rouge(["我爱北京", "甲"], ["我爱上海北京", "乙"])
    assert scores["rouge1"] == pytest.approx(40.0) and scores["rouge2"] == pytest.approx(25.0)
    assert scores["rougeL"] == pytest.approx(40.0)
    assert lead(["一二 三四五", "六"], 3) == ["一二三", "六"]
    assert distinct_rate(["a", "a", "b", "c"]) == 0.75
    with pytest.raises(ValueError, match="pair up"):
        corpus_rouge(["a"], [])


def test_ascii_words_count_a_number_or_latin_word_as_one_token():
    # characters: "2015年GDP" has 8 tokens; ASCII words: ("2015", "年", "gdp"), 3
    assert rouge_n("2015年GDP", "2016年GDP", 1) == pytest.approx(7 / 8)  # 7 of 8 characters shared
    assert rouge_n("2015年GDP", "2016年GDP", 1, ascii_words=True) == pytest.approx(2 / 3)
    assert rouge_l("中国gdp增长", "中国GDP增长", ascii_words=True) == 1.0  # lower-cased, as BERT's uncased vocab
    assert rouge_n("甲乙丙", "甲乙丙", 2, ascii_words=True) == 1.0  # CJK text scores as with characters
    scores = corpus_rouge(["北京2022冬奥会"], ["北京2022年冬奥会"], ascii_words=True)
    assert scores["rougeL"] == pytest.approx(100 * 12 / 13)  # 6 tokens against 7, LCS 6: P = 1, R = 6/7
