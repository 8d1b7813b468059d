#!/usr/bin/env python3
"""A markdown table of scripts/title_eval.py results: every model's beams beside the Lead baselines.

    python scripts/title_table.py "copy prior=RUN/title_eval_xwlb_cctv_test.json" "no copy=RUN2/title_eval_xwlb_cctv_test.json"

Each argument is ``LABEL=FILE`` (or a FILE, labelled by its run folder's name). The files should score the same
split of the same data file; a file that does not is refused (one line), since its Lead rows would differ.
Rows: each Lead-N the files hold (once), then every beam of every file in the order given. Columns: character
ROUGE-1/2/L F1 ×100 as title_eval.py computes them, ROUGE-L with ASCII letter/digit runs as one token
(``ascii_words``, near CLGE's scoring), the share of distinct titles, title length mean / median (characters)
and the decoding time. The first line states the split, the pair count and the ROUGE protocol of the files.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from engine.cli import user_errors_exit_2
from errors import ConfigError


def load(arg: str) -> tuple[str, Path, dict]:
    label, sep, name = arg.partition("=")
    path = Path(name if sep else label)
    if not sep:
        label = path.parent.name
    if not path.is_file():
        raise ConfigError(f"{path}: no such file (give LABEL=RUN/title_eval_<data>_<split>.json)")
    try:
        result = json.loads(path.read_text(encoding="utf-8"))
        result["models"], result["split"]
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise ConfigError(f"{path} is not a title_eval.py result ({e})") from None
    return label, path, result


def table(results: list[tuple[str, Path, dict]]) -> str:
    first = results[0][2]
    for label, path, result in results[1:]:
        if (Path(result["data_file"]).name, result["split"], result["pairs"]) != \
                (Path(first["data_file"]).name, first["split"], first["pairs"]):
            raise ConfigError(f"{path} scores {Path(result['data_file']).name} {result['split']} "
                              f"({result['pairs']} pairs), not {Path(first['data_file']).name} {first['split']} "
                              f"({first['pairs']} pairs) as {results[0][1]}: one table per split")
    lines = [f"{Path(first['data_file']).name}, {first['split']} split, {first['pairs']} pairs; ROUGE: "
             f"{first['rouge']}; reference titles {first['reference_mean_len']:.1f} characters on average", "",
             "| | ROUGE-1 | ROUGE-2 | ROUGE-L | ROUGE-L (ASCII words) | distinct | length mean / median | s |",
             "|---|---|---|---|---|---|---|---|"]
    leads = sorted({key for _, _, r in results for key in r if key.startswith("lead") and key[4:].isdigit()},
                   key=lambda k: int(k[4:]))
    for key in leads:
        s = next(r[key] for _, _, r in results if key in r)
        lines.append(f"| Lead-{key[4:]} | {s['rouge1']:.2f} | {s['rouge2']:.2f} | {s['rougeL']:.2f} | | | "
                     f"{key[4:]} | |")
    for label, _, result in results:
        for beam, s in result["models"].items():
            name = "greedy" if beam == "beam1" else f"beam {beam[4:]}"
            ascii_l = f"{s['ascii_words']['rougeL']:.2f}" if "ascii_words" in s else ""
            median = f" / {s['len']['median']:g}" if "len" in s else ""
            lines.append(f"| {label}, {name} | {s['rouge1']:.2f} | {s['rouge2']:.2f} | {s['rougeL']:.2f} | {ascii_l} | "
                         f"{s['distinct']:.3f} | {s['mean_len']:.1f}{median} | {s['seconds']:g} |")
    return "\n".join(lines)


@user_errors_exit_2
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="+", help="LABEL=FILE or FILE: title_eval_<data>_<split>.json files")
    args = parser.parse_args(argv)
    print(table([load(a) for a in args.results]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
