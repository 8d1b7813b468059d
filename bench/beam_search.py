"""Titles per second of the batched, incremental beam search against the blog's decoding, same model and inputs.

What is measured
    batched: ``Seq2Seq.generate`` on all articles at once (``--batch`` per call), every beam of every article
        in one decoder step per title position, LSTM state carried.
    blog: ``Seq2Seq.generate_rerun``, the blog's approach: one article at a time, and at every step the whole
        model (encoder included) rerun on the current prefixes (quadratic in the title length).
    ratio = batched titles/s ÷ blog titles/s, both at ``--beam`` (default 3, the blog's).

How
    Both decoders run ``--rounds`` times, alternating, on the same articles; each rate is the median over
    rounds. Before timing, both run at beam 1 (greedy) on every article and must give the same titles: the
    script stops with an error if they do not.

Model and inputs: a checkpoint (``--checkpoint RUN/best.pt``) and the first ``--n`` validation sources of its
data (``--data-file`` to point elsewhere); without a checkpoint, a randomly initialised model of the blog's
size with a 3,809-character vocabulary (LCSTS at min_count 2) and random 108-character articles (the LCSTS
mean). An untrained model rarely emits the end id, so its titles run to ``--max-len``: the worst case for the
rerun, so prefer a trained checkpoint for a realistic ratio.

    python bench/beam_search.py [--checkpoint runs/seq2seq_lcsts/best.pt]
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

from data.text import SPECIAL, pad_ids, pairs_file, read_pairs
from engine.runs import load_run
from models.seq2seq import Seq2Seq


def inputs(args) -> tuple[Seq2Seq, torch.Tensor, str]:
    if args.checkpoint:
        run = load_run(args.checkpoint, "seq2seq")
        model, config = run.model, run.config
        data = config["data"]
        path = Path(args.data_file) if args.data_file else pairs_file(data.get("path"), data["file"], data.get("root"))
        pairs = read_pairs(path)
        split = "val" if "val" in pairs else "test"
        texts = [s for s, _ in pairs[split][:args.n]]
        src = pad_ids([model.tokenizer.encode(t, config["data"].get("max_src_len", 400)) for t in texts])
        return model, src, f"{args.checkpoint} on {path.name} {split}[:{args.n}]"
    torch.manual_seed(0)
    vocab = "".join(chr(0x4E00 + i) for i in range(3809))
    model = Seq2Seq(vocab).eval()
    src = torch.randint(SPECIAL, SPECIAL + 3809, (args.n, 108))
    return model, src, "random model (blog size, 3,809 characters), random 108-character articles"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint")
    parser.add_argument("--data-file")
    parser.add_argument("--n", type=int, default=32, help="articles (default 32)")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--beam", type=int, default=3)
    parser.add_argument("--max-len", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (0 = torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    model, src, what = inputs(args)
    model.eval()

    def batched(beam: int) -> list[list[int]]:
        out = []
        for i in range(0, len(src), args.batch):
            out += model.generate(src[i:i + args.batch], beam, args.max_len)
        return out

    def blog(beam: int) -> list[list[int]]:
        rows = [src[i:i + 1, :int((src[i] != 0).sum())] for i in range(len(src))]
        return [model.generate_rerun(r, beam, args.max_len, blog_quirk=True) for r in rows]

    print(f"checking beam 1 on {len(src)} articles ({what})", file=sys.stderr)
    greedy_batched, greedy_blog = batched(1), blog(1)
    if greedy_batched != greedy_blog:
        bad = sum(a != b for a, b in zip(greedy_batched, greedy_blog))
        raise SystemExit(f"error: beam 1 titles differ on {bad} of {len(src)} articles")
    times = {"batched": [], "blog": []}
    for r in range(args.rounds):
        for name, fn in (("batched", batched), ("blog", blog)):
            start = time.perf_counter()
            fn(args.beam)
            times[name].append(time.perf_counter() - start)
        print(f"round {r + 1}: batched {times['batched'][-1]:.2f} s, blog {times['blog'][-1]:.2f} s", file=sys.stderr)
    rate = {k: len(src) / statistics.median(v) for k, v in times.items()}
    print(json.dumps({"bench": "beam_search", "inputs": what, "articles": len(src), "beam": args.beam,
                      "max_len": args.max_len, "beam1_identical": True,
                      "mean_title_len": round(statistics.fmean(len(t) for t in greedy_batched), 2),
                      "batched_titles_per_s": round(rate["batched"], 2), "blog_titles_per_s": round(rate["blog"], 3),
                      "ratio": round(rate["batched"] / rate["blog"], 2), "threads": torch.get_num_threads(),
                      "torch": torch.__version__}))


if __name__ == "__main__":
    main()
