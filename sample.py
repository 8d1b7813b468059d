"""Draw samples from a trained checkpoint into an image grid.

    python sample.py --checkpoint runs/quickstart/best.pt [--n 225] [--out samples.png] [temperature=0.75]

Trailing ``key=value`` pairs go to the model's ``sample`` method (NICE: ``temperature``); they are checked
against its signature before the model is built. A bad command line, checkpoint or sample argument is one
``error: ...`` line naming this script's flags, and exit code 2.
"""
from __future__ import annotations

import math
import sys
from pathlib import Path

import torch
from torchvision.utils import save_image

from engine.build import resolve_device
from engine.cli import OneLineParser, user_errors_exit_2
from engine.config import parse_value
from engine.runs import load_run
from engine.schema import check_sample_args
from errors import ConfigError

MAX_SAMPLES = 100_000


def sample_kwargs(items: list[str]) -> dict:
    """``key=value`` arguments (values parsed as YAML) as a dict; one line for a malformed or repeated one."""
    kwargs = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.isidentifier():
            raise ConfigError(f"sample argument {item[:60]!r} must look like key=value (e.g. temperature=0.75)")
        if key in kwargs:
            raise ConfigError(f"sample argument {key} is given twice; keep one")
        kwargs[key] = parse_value(value, f"sample argument {key}")
    return kwargs


@user_errors_exit_2
def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(prog=Path(__file__).name, description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True, help="a run's best.pt or last.pt")
    parser.add_argument("--n", type=int, default=225, help="number of samples (default 225 = 15x15)")
    parser.add_argument("--nrow", type=int, help="images per row (default: square grid)")
    parser.add_argument("--seed", type=int, default=0, help="noise seed (same seed, same grid)")
    parser.add_argument("--ema", action="store_true", help="use the EMA weights")
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda or cuda:N")
    parser.add_argument("--out", help="PNG to write (default: <run>/samples/sample_seed<seed>.png)")
    parser.add_argument("sample_args", nargs="*", help="key=value arguments of the model's sample()")
    args = parser.parse_args(argv)
    if not 1 <= args.n <= MAX_SAMPLES:
        raise ConfigError(f"--n must be in [1, {MAX_SAMPLES:,}], got {args.n}")
    if args.nrow is not None and args.nrow < 1:
        raise ConfigError(f"--nrow must be >= 1, got {args.nrow}")
    if not 0 <= args.seed < 2 ** 63:
        raise ConfigError(f"--seed must be in [0, 2**63 - 1], got {args.seed}")
    kwargs = sample_kwargs(args.sample_args)
    device = resolve_device(args.device, "--device")
    # the model is built after the sample arguments are checked against its sample() signature
    run = load_run(args.checkpoint, prefer=(), option="--checkpoint", device=device, use_ema=args.ema, build=False)
    check_sample_args(run.model_name, kwargs, "sample arguments", n_setting="--n",
                      no_sampler_fix="sample.py needs the checkpoint of a model that samples")
    model = run.model
    g = torch.Generator(device=device).manual_seed(args.seed)
    try:
        images = model.sample(args.n, generator=g, **kwargs).float().cpu()
    except TypeError as e:
        raise ConfigError(f"{type(model).__name__}.sample does not accept {sorted(kwargs)}: {e}") from None
    except ValueError as e:  # the model's own check of a sample argument (a cluster id out of range, ...)
        raise ConfigError(f"{type(model).__name__}.sample: {e}") from None
    suffix = "".join(f"_{k}{v}" for k, v in kwargs.items())
    out = Path(args.out) if args.out else run.folder / "samples" / f"sample_seed{args.seed}{suffix}.png"
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        save_image(images, out, nrow=args.nrow or max(1, math.isqrt(args.n)), padding=0)
    except (OSError, ValueError) as e:  # unwritable folder, unknown image suffix
        raise ConfigError(f"--out {out} cannot be written ({getattr(e, 'strerror', None) or e}); pass a "
                          f"writable .png path") from None
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
