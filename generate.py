"""Generate titles with a trained seq2seq checkpoint, one per input line.

    python generate.py --checkpoint runs/seq2seq_lcsts/best.pt "第一篇文章……" "第二篇……"
    python generate.py --checkpoint runs/seq2seq_lcsts/best.pt --file articles.txt [--beam 3] [--greedy]
    cat articles.txt | python generate.py --checkpoint runs/seq2seq_lcsts/best.pt

Texts come from the arguments (one article each), else ``--file``, else standard input (one article per line).
Lines end at "\\n" only, whatever else a line holds (\\r, form feeds, U+2028, ... are characters of the article,
not line ends; a CRLF file's "\\r" and a UTF-8 byte-order mark are dropped), and the input is read as UTF-8
bytes whatever the locale: invalid bytes on a line are replaced (U+FFFD) and reported. Standard output (UTF-8)
gets exactly one line per input line: the title, or an empty line when there is none; whatever is worth knowing
about a line (invalid UTF-8, empty, truncated, no known character, empty title) goes to standard error as
``line N: ...`` (``argument N: ...`` for arguments). The checkpoint alone is enough: it holds the vocabulary
(``model.vocab``). A bad command line, checkpoint or file is one ``error: ...`` line and exit code 2.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

from data.text import UNK, normalize
from engine.build import resolve_device
from engine.cli import OneLineParser, user_errors_exit_2
from engine.runs import load_run
from errors import ConfigError, DataError

# every character at which str.splitlines breaks a line; none may reach a title, or a title becomes two lines
LINE_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
FILE_HINT = "pass a UTF-8 text file with one article per line"


def split_lines(data: bytes) -> list[bytes]:
    """Lines of ``data`` split at b"\\n" only, with a CRLF line's "\\r" dropped; a final "\\n" ends the last
    line (it does not start an empty one)."""
    lines = data.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    return [line[:-1] if line.endswith(b"\r") else line for line in lines]


def decode_lines(raw: list[bytes], label: str) -> list[str]:
    """UTF-8 text of each line; invalid bytes become U+FFFD, with one ``<label> N: invalid UTF-8`` note each."""
    lines = []
    for number, line in enumerate(raw, 1):
        if number == 1 and line.startswith(b"\xef\xbb\xbf"):
            line = line[3:]
        try:
            lines.append(line.decode("utf-8"))
        except UnicodeDecodeError:
            print(f"{label} {number}: invalid UTF-8, replaced", file=sys.stderr)
            lines.append(line.decode("utf-8", errors="replace"))
    return lines


def argument_bytes(text: str) -> bytes:
    """The bytes the shell passed: Python decoded them with the locale's encoding (undecodable bytes as
    surrogates), so encoding them back the same way gives the original."""
    try:
        return os.fsencode(text)
    except UnicodeEncodeError:
        return text.encode("utf-8", errors="replace")


def read_lines(args) -> tuple[list[str], str]:
    """(articles, the word that messages number them with)."""
    if args.texts:
        return decode_lines([argument_bytes(t) for t in args.texts], "argument"), "argument"
    if args.file:
        path = Path(args.file)
        if path.is_dir():
            raise DataError(f"--file {path} is a directory; {FILE_HINT}")
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise DataError(f"--file {path} not found; {FILE_HINT}") from None
        except OSError as e:
            raise DataError(f"--file {path} cannot be read ({e.strerror or type(e).__name__}); {FILE_HINT}") from None
        return decode_lines(split_lines(data), "line"), "line"
    if sys.stdin is None:
        raise DataError("no articles: pass them as arguments, with --file, or on standard input")
    if sys.stdin.isatty():
        print("reading articles from standard input, one per line (Ctrl-D to end)", file=sys.stderr)
    return decode_lines(split_lines(sys.stdin.buffer.read()), "line"), "line"


def one_line(title: str) -> str:
    """The title with any line-break character turned into a space."""
    return title.translate({ord(c): " " for c in LINE_BREAKS})


def load_seq2seq(path: str, device):
    """(model, config) of a seq2seq checkpoint file; messages name --checkpoint."""
    run = load_run(path, "seq2seq", prefer=(), option="--checkpoint", device=device,
                   purpose="generate.py needs a seq2seq checkpoint (e.g. from configs/seq2seq_lcsts.yaml)")
    return run.model, run.config


@user_errors_exit_2
def main(argv: list[str] | None = None) -> int:
    if hasattr(sys.stdout, "reconfigure"):  # titles are UTF-8 whatever the locale; never an encoding error
        sys.stdout.reconfigure(encoding="utf-8", errors="replace")
    parser = OneLineParser(prog=Path(__file__).name, description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True, help="a seq2seq run's best.pt or last.pt")
    parser.add_argument("--file", help="UTF-8 text file, one article per line")
    parser.add_argument("--beam", type=int, default=3, help="beam size (default 3, the blog's; 1 = greedy)")
    parser.add_argument("--greedy", action="store_true", help="same as --beam 1")
    parser.add_argument("--max-len", type=int, default=50, help="longest title in characters (default 50)")
    parser.add_argument("--blog-quirk", action="store_true",
                        help="return the first finished hypothesis as the blog's code did, not the best")
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda or cuda:N")
    parser.add_argument("texts", nargs="*", help="articles (if none: --file, else standard input)")
    args = parser.parse_args(argv)
    beam = 1 if args.greedy else args.beam
    if beam < 1:
        raise ConfigError(f"--beam must be >= 1 (1 = greedy), got {beam}")
    if args.max_len < 1:
        raise ConfigError(f"--max-len must be >= 1, got {args.max_len}")
    device = resolve_device(args.device, "--device")
    model, config = load_seq2seq(args.checkpoint, device)
    max_src_len = config["data"].get("max_src_len", 400)
    lines, label = read_lines(args)
    todo = []
    for number, line in enumerate(lines, 1):
        text = normalize(line)
        if not text:
            continue
        if len(text) > max_src_len:
            print(f"{label} {number}: {len(text):,} characters; only the first {max_src_len} are read (the "
                  f"model's data.max_src_len)", file=sys.stderr)
        if all(i == UNK for i in model.tokenizer.encode(text, max_src_len)):
            print(f"{label} {number}: no character of it is in the model's vocabulary; the title is a guess",
                  file=sys.stderr)
        todo.append(number)
    titles = dict(zip(todo, model.titles([lines[n - 1] for n in todo], beam, args.max_len, max_src_len,
                                         args.blog_quirk)))
    for number in range(1, len(lines) + 1):
        if number not in titles:
            print(f"{label} {number}: empty, no title", file=sys.stderr)
        elif not titles[number]:
            print(f"{label} {number}: the model ended the title at once (empty title)", file=sys.stderr)
        print(one_line(titles.get(number, "")), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
