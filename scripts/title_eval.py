#!/usr/bin/env python3
"""Score a seq2seq checkpoint's titles on a held-out split: character ROUGE-1/2/L F1, beside the Lead baseline.

    python scripts/title_eval.py --checkpoint RUN/best.pt [--split test] [--beams 3 1] [--examples 10]
    python scripts/title_eval.py --checkpoint RUN/best.pt --data-file ../shared/data/zh_titles/csl_benchmark_ts.jsonl

Titles are generated from the raw articles (normalised and truncated as in training) and scored against the
raw references (not the tokenised ones, so an unknown reference character is a real miss): character ROUGE
of metrics/rouge.py (NFKC, whitespace removed, punctuation kept), mean per-pair F1 ×100. Also reported: the
share of distinct titles (a collapse detector), mean title lengths, and Lead-N, the first N characters of
each article, with N the mean title length of the training split of the model's own data file (rounded;
the test titles are never looked at to choose it). ``--data-file`` scores another file of the same form
(transfer, e.g. the xwlb model on LCSTS; never tune on ``csl_clge``, ../shared/data/README.md); when that file
has a training split with another mean title length, its Lead-N is reported too. Length statistics (mean,
median, std, min, max, share cut at ``--max-len``) of the references and of every beam's titles. Each beam's
ROUGE is also given with every run of ASCII letters and digits as one token (``ascii_words``), which is close to
how CLUE's CLGE benchmark scores (ROUGE over BERT token ids: Chinese characters one each, numbers and Latin
words one or a few word pieces).

Writes ``<run>/title_eval_<file name up to its first dot>_<split>.json`` (scores, settings, wall time) and
``..._examples.md`` with ``--examples`` articles drawn at random (seeded) from the split: article excerpt,
reference, Lead-N, titles.
"""
from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

import torch

from data.text import normalize, pairs_file, read_pairs
from engine.build import resolve_device
from engine.cli import user_errors_exit_2
from engine.runs import load_run
from errors import ConfigError, DataError
from metrics.rouge import corpus_rouge, distinct_rate, lead


def data_file(config: dict) -> Path:
    data = config["data"]
    if data["name"] != "text_pairs":
        raise ConfigError(f"the checkpoint was trained on data.name={data['name']!r}, not a text file; "
                          f"pass --data-file")
    return pairs_file(data.get("path"), data["file"], data.get("root"))


def mean_title_len(pairs) -> int | None:
    """The mean normalised title length of ``pairs``, rounded: the N of Lead-N (None for no pairs)."""
    return round(statistics.fmean(len(normalize(t)) for _, t in pairs)) if pairs else None


def length_stats(titles: list[str], max_len: int) -> dict:
    """Length statistics of normalised titles (characters), and the share reaching ``max_len`` (cut off)."""
    lengths = [len(normalize(t)) for t in titles]
    return {"mean": statistics.fmean(lengths), "median": statistics.median(lengths),
            "std": statistics.pstdev(lengths), "min": min(lengths), "max": max(lengths),
            "at_max_len": sum(n >= max_len for n in lengths) / len(lengths)}


@user_errors_exit_2
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--split", default="test")
    parser.add_argument("--data-file", help="another JSON-lines file to score on (default: the training file)")
    parser.add_argument("--beams", type=int, nargs="+", default=[3, 1], help="beam sizes (1 = greedy)")
    parser.add_argument("--max-len", type=int, default=50)
    parser.add_argument("--blog-quirk", action="store_true", help="the blog's first-finished beam rule")
    parser.add_argument("--examples", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0, help="seed of the example draw")
    parser.add_argument("--excerpt", type=int, default=40, help="article characters shown per example")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=0,
                        help="torch threads (0 = torch's default; use 1 beside other jobs on a small machine)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    run = load_run(args.checkpoint, "seq2seq", prefer=(), option="--checkpoint", device=resolve_device(args.device),
                   purpose="title_eval.py scores seq2seq checkpoints (e.g. from configs/seq2seq_lcsts.yaml)")
    model, config = run.model, run.config
    own = data_file(config)
    source = Path(args.data_file) if args.data_file else own
    pairs = read_pairs(source)
    if args.split not in pairs:
        raise DataError(f"{source} has no split {args.split!r} (it has: {', '.join(sorted(pairs))}); pass --split")
    rows = pairs[args.split]
    articles, references = [s for s, _ in rows], [t for _, t in rows]
    lead_len = mean_title_len(read_pairs(own).get("train", [])) or 18
    own_lead_len = mean_title_len(pairs.get("train", [])) if source != own else None  # the scored file's own N
    max_src_len = config["data"].get("max_src_len", 400)
    result = {"checkpoint": str(args.checkpoint), "data_file": str(source), "split": args.split, "pairs": len(rows),
              "rouge": "character F1 x100, NFKC, whitespace removed, punctuation kept; 'ascii_words': the same with "
                       "each run of ASCII letters/digits one token (near a BERT tokenizer's split, as CLGE scores)",
              "reference_mean_len": statistics.fmean(len(normalize(t)) for t in references),
              "reference_len": length_stats(references, args.max_len),
              f"lead{lead_len}": corpus_rouge(lead(articles, lead_len), references), "lead_len": lead_len,
              "models": {}}
    if own_lead_len and own_lead_len != lead_len:
        result[f"lead{own_lead_len}"] = corpus_rouge(lead(articles, own_lead_len), references)
        result["lead_len_of_scored_file"] = own_lead_len
    titles_by_beam = {}
    for beam in args.beams:
        start = time.perf_counter()
        titles = model.titles(articles, beam, args.max_len, max_src_len, args.blog_quirk)
        seconds = time.perf_counter() - start
        titles_by_beam[beam] = titles
        result["models"][f"beam{beam}"] = {**corpus_rouge(titles, references),
                                           "ascii_words": corpus_rouge(titles, references, ascii_words=True),
                                           "distinct": distinct_rate(titles),
                                           "mean_len": statistics.fmean(len(t) for t in titles),
                                           "len": length_stats(titles, args.max_len),
                                           "empty": sum(not t for t in titles), "seconds": round(seconds, 1)}
        scores = result["models"][f"beam{beam}"]
        print(f"beam {beam}: ROUGE-1/2/L {scores['rouge1']:.2f} / {scores['rouge2']:.2f} / {scores['rougeL']:.2f}, "
              f"distinct {scores['distinct']:.3f} ({seconds:.0f} s)", flush=True)
    for n in dict.fromkeys([lead_len, own_lead_len or lead_len]):
        base = result[f"lead{n}"]
        print(f"Lead-{n}: ROUGE-1/2/L {base['rouge1']:.2f} / {base['rouge2']:.2f} / {base['rougeL']:.2f}")
    stem = run.folder / f"title_eval_{source.name.split('.')[0]}_{args.split}"
    stem.with_suffix(".json").write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    picks = sorted(random.Random(args.seed).sample(range(len(rows)), min(args.examples, len(rows))))
    lines = [f"{len(picks)} random {args.split} articles of {source.name} (seed {args.seed}); article: first "
             f"{args.excerpt} characters; Lead-{lead_len}: its first {lead_len}\n",
             "| # | article | reference | " + f"Lead-{lead_len} | " +
             " | ".join(f"beam {b}" for b in args.beams) + " |", "|---" * (4 + len(args.beams)) + "|"]
    leads = lead([articles[i] for i in picks], lead_len)
    for i, lead_title in zip(picks, leads):
        cells = [str(i), normalize(articles[i])[:args.excerpt] + "…", normalize(references[i]), lead_title,
                 *(titles_by_beam[b][i] for b in args.beams)]
        lines.append("| " + " | ".join(c.replace("|", "/") for c in cells) + " |")
    (stem.parent / (stem.name + "_examples.md")).write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(stem.with_suffix(".json"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
