"""Character-level text pairs (article -> title) for the seq2seq post (kexue.fm/archives/5861).

Files are UTF-8 JSON lines with ``split`` (train/val/test), ``src`` and ``tgt``, the layout of
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
import json
import unicodedata
from pathlib import Path

import torch

from data.images import data_root
from errors import ConfigError, DataError
from registry import register

PAD, UNK, START, END = 0, 1, 2, 3
SPECIAL = 4
UNK_TEXT = "□"  # how an unknown id is shown when decoding


def normalize(text: str) -> str:
    """NFKC (full-width letters and digits to ASCII, compatibility forms folded), whitespace dropped."""
    return "".join(unicodedata.normalize("NFKC", text).split())


class CharTokenizer:
    """Characters <-> ids for one vocabulary string (character ``i`` of ``vocab`` has id ``i + 4``)."""

    def __init__(self, vocab: str):
        if len(set(vocab)) != len(vocab):
            raise ValueError("vocab holds a character twice; it must list distinct characters")
        self.vocab = vocab
        self.ids = {ch: i + SPECIAL for i, ch in enumerate(vocab)}

    def __len__(self) -> int:
        return len(self.vocab) + SPECIAL

    @classmethod
    def build(cls, texts, min_count: int) -> "CharTokenizer":
        """The characters of ``texts`` (already normalised) seen at least ``min_count`` times."""
        if min_count < 1:
            raise ValueError(f"min_count must be >= 1, got {min_count}")
        counts = collections.Counter()
        for text in texts:
            counts.update(text)
        kept = sorted((ch for ch, n in counts.items() if n >= min_count), key=lambda ch: (-counts[ch], ord(ch)))
        return cls("".join(kept))

    def encode(self, text: str, max_len: int | None = None) -> list[int]:
        """Ids of the normalised text (no start/end), truncated to ``max_len`` characters."""
        text = normalize(text)
        if max_len is not None:
            text = text[:max_len]
        return [self.ids.get(ch, UNK) for ch in text]

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


def jsonl_fields(path: Path, fields: tuple[str, ...]):
    """The values of ``fields`` of each non-blank line of a JSON-lines file; a DataError naming the line when
    one is not JSON or lacks a field."""
    with path.open(encoding="utf-8") as f:
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


def encode_pairs(tokenizer: CharTokenizer, pairs: list[tuple[str, str]], max_src_len: int,
                 max_tgt_len: int) -> dict[str, torch.Tensor]:
    src = [tokenizer.encode(s, max_src_len) for s, _ in pairs]
    tgt = [tokenizer.encode_title(t, max_tgt_len) for _, t in pairs]
    return {"src": pad_ids(src).to(torch.int32), "tgt": pad_ids(tgt).to(torch.int32)}  # rows already truncated


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


def train_tokenizer(train_pairs: list[tuple[str, str]], min_count: int) -> CharTokenizer:
    """The vocabulary of the training sources and titles, characters seen at least ``min_count`` times."""
    try:
        return CharTokenizer.build((normalize(t) for s, t in train_pairs for t in (s, t)), min_count)
    except ValueError as e:
        raise ConfigError(f"data.min_count: {e}") from None


def pairs_to_splits(pairs: dict[str, list[tuple[str, str]]], source: str, min_count: int, max_src_len: int,
                    max_tgt_len: int, vocab: str | None) -> dict:
    """The id tensors of the train/val/test pairs (``source`` names them in errors), encoded with ``vocab``
    or the vocabulary of the training pairs, plus ``model_args: {vocab}``."""
    if max_src_len < 1 or max_tgt_len < 1:
        raise ConfigError(f"data.max_src_len and data.max_tgt_len must be >= 1, got {max_src_len}, {max_tgt_len}")
    if not pairs.get("train"):
        raise DataError(f"{source} has no rows with split 'train' (found: {', '.join(sorted(pairs)) or 'none'}); "
                        f"training needs them")
    tokenizer = CharTokenizer(vocab) if vocab is not None else train_tokenizer(pairs["train"], min_count)
    splits: dict = {name: encode_pairs(tokenizer, rows, max_src_len, max_tgt_len) for name, rows in pairs.items()
                    if name in ("train", "val", "test")}
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
