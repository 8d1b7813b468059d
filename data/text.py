"""Character-level text pairs (article -> title) for the seq2seq post (kexue.fm/archives/5861).

Files are UTF-8 JSON lines (plain, or gzip-compressed such as ``xwlb_cctv.jsonl.gz``) with ``split`` (train/val/test), ``src`` and ``tgt``, the layout of
``../shared/data/zh_titles/`` (see its README: LCSTS is research-use only and never enters this repository;
``csl_clge`` is reserved for evaluation). Any file of that form works: ``data.path=<file>``.

Text is normalised once (Unicode NFKC, whitespace removed: Chinese has no word spaces, and stray spaces
would be tokens) and every character is a token. Ids: 0 padding, 1 unknown, 2 start, 3 end, characters from
4 on, in order of decreasing training count (ties by code point), so the vocabulary is a deterministic function
of the training split and ``min_count``. It is carried as one string (character ``i`` has id ``i + 4``), which
the dataset hands to the model config (``model.vocab``): the checkpoint alone can then encode and decode.

Pairs are held as right-padded int32 id tensors ``src`` (N, longest source up to max_src_len) and ``tgt`` (N,
longest title up to max_tgt_len, + 2 for start and end); the in-memory loader slices batches from them and the model trims each batch to its longest
sequence (per-batch padding without a collate function).
"""
from __future__ import annotations

import collections
import gzip
import json
import unicodedata
import zlib
from pathlib import Path

import numpy as np
import torch

from data.images import data_root
from errors import ConfigError, DataError
from registry import register

PAD, UNK, START, END = 0, 1, 2, 3
SPECIAL = 4
UNK_TEXT = "□"  # how an unknown id is shown when decoding


class _NFKCOfChar(dict):
    """``ord -> NFKC(chr)``, filled on first use: a ``str.translate`` table."""

    def __missing__(self, code: int) -> str:
        self[code] = value = unicodedata.normalize("NFKC", chr(code))
        return value


_NFKC_OF_CHAR = _NFKCOfChar()


def normalize(text: str) -> str:
    """NFKC (full-width letters and digits to ASCII, compatibility forms folded), whitespace dropped.

    Fast path (2.3x on news text): map each character to its own NFKC form; when the result is already NFKC,
    it equals NFKC(text) (both have the same compatibility decomposition, and a normalised string is the
    unique NFKC form of it). Otherwise (combining marks, Hangul jamo, ...) the whole text is normalised."""
    folded = text.translate(_NFKC_OF_CHAR)
    if not unicodedata.is_normalized("NFKC", folded):
        folded = unicodedata.normalize("NFKC", text)
    return "".join(folded.split())


class CharTokenizer:
    """Characters <-> ids for one vocabulary string (character ``i`` of ``vocab`` has id ``i + 4``)."""

    def __init__(self, vocab: str):
        if len(set(vocab)) != len(vocab):
            raise ValueError("vocab holds a character twice; it must list distinct characters")
        self.vocab = vocab
        self.ids = {ch: i + SPECIAL for i, ch in enumerate(vocab)}
        self._table: np.ndarray | None = None  # code point -> id, built by the first encode_batch

    def __len__(self) -> int:
        return len(self.vocab) + SPECIAL

    @classmethod
    def build(cls, texts, min_count: int) -> "CharTokenizer":
        """The characters of ``texts`` (already normalised) seen at least ``min_count`` times."""
        if min_count < 1:
            raise ValueError(f"min_count must be >= 1, got {min_count}")
        codes = np.frombuffer("".join(texts).encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        counts = np.bincount(codes, minlength=1)  # a count per code point: one pass over 40M characters
        kept = np.flatnonzero(counts >= min_count)
        kept = kept[np.lexsort((kept, -counts[kept]))]  # decreasing count, ties by code point
        return cls("".join(map(chr, kept.tolist())))

    def encode(self, text: str, max_len: int | None = None) -> list[int]:
        """Ids of the normalised text (no start/end), truncated to ``max_len`` characters."""
        text = normalize(text)
        if max_len is not None:
            text = text[:max_len]
        return [self.ids.get(ch, UNK) for ch in text]

    def encode_batch(self, texts, max_len: int, title: bool = False, normalized: bool = False) -> torch.Tensor:
        """(N, width) int32 ids of many texts at once, right-padded with 0 (width: the longest row), each
        normalised and truncated to ``max_len`` characters; ``title`` wraps rows in start ... end. The same ids
        as ``encode``/``encode_title`` row by row, but through one code-point lookup table (numpy), which
        turns 100k news articles into a tensor in about a second instead of ten. ``normalized``: the texts
        are already ``normalize``d (skips doing it again)."""
        if self._table is None:
            self._table = np.full(0x110000, UNK, dtype=np.int32)
            self._table[[ord(ch) for ch in self.vocab]] = np.arange(SPECIAL, len(self), dtype=np.int32)
        rows = [(t if normalized else normalize(t))[:max_len] for t in texts]
        lengths = np.array([len(r) for r in rows], dtype=np.int64)
        codes = np.frombuffer("".join(rows).encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        ids = self._table[codes]
        extra = 2 if title else 0
        width = max(int(lengths.max(initial=0)) + extra, 1)
        out = np.zeros((len(rows), width), dtype=np.int32)
        start = 1 if title else 0
        columns = np.arange(width - start)
        out[:, start:][columns < lengths[:, None]] = ids  # row-major fill: row i gets its own characters
        if title:
            out[:, 0] = START
            out[np.arange(len(rows)), lengths + 1] = END
        return torch.from_numpy(out)

    def encode_title(self, text: str, max_len: int | None = None) -> list[int]:
        """start + title ids + end."""
        return [START, *self.encode(text, max_len), END]

    def decode(self, ids) -> str:
        """Characters of ``ids`` up to the first end (or padding); start skipped, unknown shown as □."""
        out = []
        for i in (int(i) for i in ids):
            if i in (END, PAD):
                break
            if i == START:
                continue
            out.append(UNK_TEXT if i == UNK or i - SPECIAL >= len(self.vocab) else self.vocab[i - SPECIAL])
        return "".join(out)


def pad_ids(rows: list[list[int]], width: int | None = None) -> torch.Tensor:
    """(N, width) int64 tensor of the rows, right-padded with 0 (width: the longest row by default)."""
    width = width if width is not None else max((len(r) for r in rows), default=0)
    out = torch.zeros(len(rows), max(width, 1), dtype=torch.int64)
    for i, row in enumerate(rows):
        out[i, :len(row)] = torch.tensor(row[:width], dtype=torch.int64)
    return out


def pairs_file(path: str | None = None, file: str = "lcsts.jsonl", root: str | None = None) -> Path:
    """The JSON-lines file a ``text_pairs`` data section names: ``path``, else ``<data root>/zh_titles/<file>``
    (the data root as for images: ``root``, else $KEXUE_DATA, else ~/.cache/kexue-torch/data)."""
    return Path(path).expanduser() if path else data_root(root) / "zh_titles" / file


def read_pairs(path: str | Path) -> dict[str, list[tuple[str, str]]]:
    """{split: [(src, tgt), ...]} from a JSON-lines file, texts as stored (not normalised)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"text-pair file {path} not found; set data.path to a JSON-lines file with "
                        f"split/src/tgt fields (e.g. ../shared/data/zh_titles/lcsts.jsonl) or data.root/KEXUE_DATA")
    pairs: dict[str, list[tuple[str, str]]] = collections.defaultdict(list)
    for split, src, tgt in jsonl_fields(path, ("split", "src", "tgt")):
        pairs[split].append((src, tgt))
    return dict(pairs)


GZIP_MAGIC = b"\x1f\x8b"


def open_text(path: Path):
    """``path`` opened for reading UTF-8 text, through gzip when the file starts with gzip's magic bytes (so a
    ``.jsonl.gz`` works whatever its name says)."""
    with path.open("rb") as f:
        compressed = f.read(2) == GZIP_MAGIC
    return gzip.open(path, "rt", encoding="utf-8") if compressed else path.open(encoding="utf-8")


def jsonl_fields(path: Path, fields: tuple[str, ...]):
    """The values of ``fields`` of each non-blank line of a JSON-lines file, plain or gzip-compressed; a
    DataError naming the file and line when one is not JSON, lacks a field, is not UTF-8, or the compressed
    stream breaks off there."""
    number = 0
    with open_text(path) as f:
        try:
            for number, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                    values = tuple(row[k] for k in fields)
                except (json.JSONDecodeError, KeyError, TypeError) as e:
                    raise DataError(f"{path}:{number} is not a JSON object with {', '.join(fields[:-1])} and "
                                    f"{fields[-1]} ({type(e).__name__}: {e}); fix or remove that line") from None
                yield values
        except (OSError, EOFError, zlib.error, UnicodeDecodeError) as e:
            what = "is not valid UTF-8" if isinstance(e, UnicodeDecodeError) else "is a damaged or truncated gzip file"
            raise DataError(f"{path}:{number + 1} {what} ({type(e).__name__}: {e}); copy the file again "
                            f"(the lines before it read fine)") from None


@register("dataset", "text_pairs")
def text_pairs(path: str | None = None, file: str = "lcsts.jsonl", root: str | None = None, min_count: int = 2,
               max_src_len: int = 400, max_tgt_len: int = 50, vocab: str | None = None) -> dict:
    """Article/title pairs of a JSON-lines file: ``path``, else ``<root>/zh_titles/<file>`` (root: data.root,
    else $KEXUE_DATA, else ~/.cache/kexue-torch/data). Splits train and, when present, val and test (the
    engine's ``data.val: split`` uses the file's own val split). The vocabulary is built from the training
    sources and titles with ``min_count``, unless ``vocab`` is given (e.g. a checkpoint's ``model.vocab``).

    Returns the splits plus ``model_args: {vocab}`` for the model config. The raw pairs, for scoring against
    the untokenised references, are ``read_pairs(pairs_file(path, file, root))``."""
    source = pairs_file(path, file, root)
    return pairs_to_splits(read_pairs(source), str(source), min_count, max_src_len, max_tgt_len, vocab)


def train_tokenizer(train_pairs: list[tuple[str, str]], min_count: int, normalized: bool = False) -> CharTokenizer:
    """The vocabulary of the training sources and titles, characters seen at least ``min_count`` times."""
    texts = (t if normalized else normalize(t) for pair in train_pairs for t in pair)
    try:
        return CharTokenizer.build(texts, min_count)
    except ValueError as e:
        raise ConfigError(f"data.min_count: {e}") from None


def pairs_to_splits(pairs: dict[str, list[tuple[str, str]]], source: str, min_count: int, max_src_len: int,
                    max_tgt_len: int, vocab: str | None) -> dict:
    """The id tensors of the train/val/test pairs (``source`` names them in errors), encoded with ``vocab``
    or the vocabulary of the training pairs, plus ``model_args: {vocab}``. Each text is normalised once, for
    the vocabulary and the ids alike."""
    if max_src_len < 1 or max_tgt_len < 1:
        raise ConfigError(f"data.max_src_len and data.max_tgt_len must be >= 1, got {max_src_len}, {max_tgt_len}")
    if not pairs.get("train"):
        raise DataError(f"{source} has no rows with split 'train' (found: {', '.join(sorted(pairs)) or 'none'}); "
                        f"training needs them")
    normal = {name: [(normalize(s), normalize(t)) for s, t in rows] for name, rows in pairs.items()
              if name in ("train", "val", "test")}
    tokenizer = CharTokenizer(vocab) if vocab is not None else train_tokenizer(normal["train"], min_count, True)
    splits: dict = {name: {"src": tokenizer.encode_batch([s for s, _ in rows], max_src_len, normalized=True),
                           "tgt": tokenizer.encode_batch([t for _, t in rows], max_tgt_len, title=True,
                                                         normalized=True)}
                    for name, rows in normal.items()}
    splits["model_args"] = {"vocab": tokenizer.vocab}
    return splits


@register("dataset", "title_lm")
def title_lm(path: str | None = None, file: str = "extra_csl_titles_only.jsonl", root: str | None = None,
             vocab_path: str | None = None, vocab_file: str = "lcsts.jsonl", min_count: int = 2,
             max_tgt_len: int = 50, max_src_len: int = 400, vocab: str | None = None) -> dict:
    """Titles without articles, for pretraining the seq2seq decoder as a language model: each row is an empty
    source (the encoder sees only padding; attention and pooling then contribute nothing) and a title from the
    ``title`` field of ``path`` (else ``<root>/zh_titles/<file>``). Only rows of split ``train`` are read: the
    val/test titles of extra_csl_titles_only.jsonl are the targets of csl_benchmark_ts, so they never enter
    training (use ``data.val: holdout`` for a validation split). The vocabulary is the one the fine-tuning run
    will build: from the training split of the text-pair file ``vocab_path`` (else ``<root>/zh_titles/
    <vocab_file>``) with ``min_count``, so the pretrained checkpoint loads with ``train.init_from``."""
    source = pairs_file(path, file, root)
    if not source.is_file():
        raise DataError(f"titles file {source} not found; set data.path to a JSON-lines file with split/title "
                        f"fields (e.g. ../shared/data/zh_titles/extra_csl_titles_only.jsonl) or data.root")
    titles = [title for split, title in jsonl_fields(source, ("split", "title")) if split == "train"]
    if vocab is None:
        vocab_source = pairs_file(vocab_path, vocab_file, root)
        vocab = train_tokenizer(read_pairs(vocab_source).get("train", []), min_count).vocab
    return pairs_to_splits({"train": [("", t) for t in titles]}, str(source), min_count, max_src_len, max_tgt_len,
                           vocab)


@register("dataset", "fake_text_pairs")
def fake_text_pairs(n_train: int = 64, n_val: int = 16, n_test: int = 16, alphabet: int = 40, src_len: int = 30,
                    tgt_len: int = 8, stride: int = 3, seed: int = 0, min_count: int = 1, max_src_len: int = 400,
                    max_tgt_len: int = 50, vocab: str | None = None) -> dict:
    """Random text pairs for smoke tests (like ``fake`` for images): ``fake_pairs`` encoded as ``text_pairs``
    encodes a file."""
    pairs = fake_pairs(n_train, n_val, n_test, alphabet, src_len, tgt_len, stride, seed)
    return pairs_to_splits(pairs, "fake_text_pairs", min_count, max_src_len, max_tgt_len, vocab)


def fake_pairs(n_train: int = 64, n_val: int = 16, n_test: int = 16, alphabet: int = 40, src_len: int = 30,
               tgt_len: int = 8, stride: int = 3, seed: int = 0) -> dict[str, list[tuple[str, str]]]:
    """{split: [(src, tgt), ...]} of random text, as ``read_pairs`` gives a file's: each source is ``src_len``
    random characters of the first ``alphabet`` CJK ideographs (lengths vary down to a third) and its title
    is every ``stride``-th character of it, up to ``tgt_len``: a task a working model learns (copying),
    deterministic in ``seed``."""
    g = torch.Generator().manual_seed(seed)
    chars = [chr(0x4E00 + i) for i in range(alphabet)]

    def rows(n: int) -> list[tuple[str, str]]:
        out = []
        for _ in range(n):
            length = int(torch.randint(max(src_len // 3, 1), src_len + 1, (), generator=g))
            src = "".join(chars[int(i)] for i in torch.randint(0, alphabet, (length,), generator=g))
            out.append((src, src[::stride][:tgt_len]))
        return out

    return {"train": rows(n_train), "val": rows(n_val), "test": rows(n_test)}


def unk_rate(ids: torch.Tensor) -> float:
    """Share of unknown ids among the non-special ids of ``ids`` (characters and unknowns)."""
    real = (ids == UNK) | (ids >= SPECIAL)
    return float((ids == UNK).sum()) / max(int(real.sum()), 1)
