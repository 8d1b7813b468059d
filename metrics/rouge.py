"""Character-level ROUGE-1/2/L F1 and the Lead baseline, for Chinese titles.

Why not the ``rouge-score`` package: its tokenizer keeps only ASCII letters and digits, so a Chinese string
scores 0 even against itself (github.com/huggingface/evaluate/issues/256). Here every character is a token,
after ``normalize`` (Unicode NFKC, whitespace removed; punctuation kept unless ``strip_punct``).

Definitions (Lin 2004, F with beta = 1): ROUGE-N counts the clipped overlap of n-gram multisets,
P = overlap / #candidate n-grams, R = overlap / #reference n-grams, F1 = 2PR / (P + R) (0 when the overlap is
0); ROUGE-L uses the longest common subsequence: P = LCS / len(candidate), R = LCS / len(reference). A corpus
score is the mean of the per-pair F1 values, times 100.
"""
from __future__ import annotations

import collections
import re
import statistics
import unicodedata

from data.text import normalize


_ASCII_WORD = re.compile(r"[A-Za-z0-9]+|.", re.DOTALL)


def _prepare(text: str, strip_punct: bool, ascii_words: bool = False):
    """The token sequence of ``text``: its characters (a string), or with ``ascii_words`` a tuple in which every
    run of ASCII letters and digits is one token (lower-cased), every other character one token."""
    text = normalize(text)
    if strip_punct:
        text = "".join(ch for ch in text if not unicodedata.category(ch).startswith(("P", "S")))
    if ascii_words:
        return tuple(t.lower() for t in _ASCII_WORD.findall(text))
    return text


def _f1(overlap: int, n_candidate: int, n_reference: int) -> float:
    if overlap == 0 or n_candidate == 0 or n_reference == 0:
        return 0.0
    p, r = overlap / n_candidate, overlap / n_reference
    return 2 * p * r / (p + r)


def _ngrams(text: str, n: int) -> collections.Counter:
    return collections.Counter(text[i:i + n] for i in range(len(text) - n + 1))


def rouge_n(candidate: str, reference: str, n: int, strip_punct: bool = False, ascii_words: bool = False) -> float:
    """Character ROUGE-N F1 of one pair, in [0, 1] (``ascii_words``: ASCII letter/digit runs as one token)."""
    c = _ngrams(_prepare(candidate, strip_punct, ascii_words), n)
    r = _ngrams(_prepare(reference, strip_punct, ascii_words), n)
    return _f1(sum((c & r).values()), sum(c.values()), sum(r.values()))


def lcs_length(a: str, b: str) -> int:
    """Length of the longest common subsequence (dynamic programming, one row at a time)."""
    if len(a) < len(b):
        a, b = b, a
    previous = [0] * (len(b) + 1)
    for ch in a:
        current = [0]
        for j, other in enumerate(b):
            current.append(previous[j] + 1 if ch == other else max(previous[j + 1], current[j]))
        previous = current
    return previous[-1]


def rouge_l(candidate: str, reference: str, strip_punct: bool = False, ascii_words: bool = False) -> float:
    """Character ROUGE-L F1 of one pair, in [0, 1] (``ascii_words``: ASCII letter/digit runs as one token)."""
    c, r = _prepare(candidate, strip_punct, ascii_words), _prepare(reference, strip_punct, ascii_words)
    return _f1(lcs_length(c, r), len(c), len(r))


def corpus_rouge(candidates: list[str], references: list[str], strip_punct: bool = False,
                 ascii_words: bool = False) -> dict[str, float]:
    """Mean per-pair F1 ×100: ``{"rouge1", "rouge2", "rougeL"}``. ``ascii_words``: each run of ASCII letters and
    digits is one token (close to how a BERT tokenizer splits Chinese text, e.g. CLUE's CLGE scoring: CJK
    characters one token each, a number or a Latin word one or a few word pieces)."""
    if len(candidates) != len(references):
        raise ValueError(f"{len(candidates)} candidates for {len(references)} references; they must pair up")
    if not candidates:
        raise ValueError("no pairs to score")
    return {
        "rouge1": 100 * statistics.fmean(rouge_n(c, r, 1, strip_punct, ascii_words)
                                         for c, r in zip(candidates, references)),
        "rouge2": 100 * statistics.fmean(rouge_n(c, r, 2, strip_punct, ascii_words)
                                         for c, r in zip(candidates, references)),
        "rougeL": 100 * statistics.fmean(rouge_l(c, r, strip_punct, ascii_words)
                                         for c, r in zip(candidates, references)),
    }


def lead(sources: list[str], length: int) -> list[str]:
    """The Lead baseline: the first ``length`` characters of each (normalised) source."""
    return [normalize(s)[:length] for s in sources]


def distinct_rate(titles: list[str]) -> float:
    """Share of distinct titles: 1/N when every input gets the same title (a collapsed model)."""
    return len(set(titles)) / max(len(titles), 1)
