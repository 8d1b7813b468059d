"""Generate titles with a trained seq2seq checkpoint, one per input line.

    python generate.py --checkpoint runs/seq2seq_lcsts/best.pt "第一篇文章……" "第二篇……"
    python generate.py --checkpoint runs/seq2seq_lcsts/best.pt --file articles.txt [--beam 3] [--greedy]
    cat articles.txt | python generate.py --checkpoint runs/seq2seq_lcsts/best.pt

Texts come from the arguments, else ``--file``, else standard input, one article per line. Standard output
gets exactly one line per input line: the title, or an empty line when there is none; whatever is worth
knowing about a line (empty, truncated, no known character, empty title) goes to standard error as
``line N: ...``. The checkpoint alone is enough: it holds the vocabulary (``model.vocab``).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from data.text import UNK, normalize
from engine.build import load_trained_model, resolve_device
from engine.cli import user_errors_exit_2
from errors import ConfigError, DataError


def read_lines(args) -> list[str]:
    if args.texts:
        return list(args.texts)
    if args.file:
        path = Path(args.file)
        if not path.is_file():
            raise DataError(f"--file {path} not found; pass a UTF-8 text file with one article per line")
        return path.read_text(encoding="utf-8", errors="replace").splitlines()
    if sys.stdin.isatty():
        print("reading articles from standard input, one per line (Ctrl-D to end)", file=sys.stderr)
    return sys.stdin.read().splitlines()


@user_errors_exit_2
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True, help="a seq2seq run's best.pt or last.pt")
    parser.add_argument("--file", help="UTF-8 text file, one article per line")
    parser.add_argument("--beam", type=int, default=3, help="beam size (default 3, the blog's; 1 = greedy)")
    parser.add_argument("--greedy", action="store_true", help="same as --beam 1")
    parser.add_argument("--max-len", type=int, default=50, help="longest title in characters (default 50)")
    parser.add_argument("--blog-quirk", action="store_true",
                        help="return the first finished hypothesis as the blog's code did, not the best")
    parser.add_argument("--device", default="auto")
    parser.add_argument("texts", nargs="*", help="articles (if none: --file, else standard input)")
    args = parser.parse_args(argv)
    beam = 1 if args.greedy else args.beam
    if beam < 1 or args.max_len < 1:
        raise ConfigError(f"--beam and --max-len must be >= 1, got {beam} and {args.max_len}")
    model, config = load_trained_model(args.checkpoint, resolve_device(args.device))
    if config["model"]["name"] != "seq2seq":
        raise ConfigError(f"{args.checkpoint} holds a {config['model']['name']!r} model; generate.py needs a "
                          f"seq2seq checkpoint (e.g. from configs/seq2seq_lcsts.yaml)")
    max_src_len = config["data"].get("max_src_len", 400)
    lines = read_lines(args)
    todo = []
    for number, line in enumerate(lines, 1):
        text = normalize(line)
        if not text:
            continue
        if len(text) > max_src_len:
            print(f"line {number}: {len(text):,} characters; only the first {max_src_len} are read (the "
                  f"model's data.max_src_len)", file=sys.stderr)
        if all(i == UNK for i in model.tokenizer.encode(text, max_src_len)):
            print(f"line {number}: no character of it is in the model's vocabulary; the title is a guess",
                  file=sys.stderr)
        todo.append(number)
    titles = dict(zip(todo, model.titles([lines[n - 1] for n in todo], beam, args.max_len, max_src_len,
                                         args.blog_quirk)))
    for number in range(1, len(lines) + 1):
        if number not in titles:
            print(f"line {number}: empty, no title", file=sys.stderr)
        elif not titles[number]:
            print(f"line {number}: the model ended the title at once (empty title)", file=sys.stderr)
        print(titles.get(number, ""), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
