"""Draw samples from a trained checkpoint into an image grid.

    python sample.py --checkpoint runs/quickstart/best.pt [--n 225] [--out samples.png] [temperature=0.75]

Trailing ``key=value`` pairs go to the model's ``sample`` method (NICE: ``temperature``).
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import torch
from torchvision.utils import save_image

from engine.build import load_trained_model, resolve_device
from engine.cli import user_errors_exit_2
from engine.config import parse_value
from errors import ConfigError


@user_errors_exit_2
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--n", type=int, default=225, help="number of samples (default 225 = 15x15)")
    parser.add_argument("--nrow", type=int, help="images per row (default: square grid)")
    parser.add_argument("--seed", type=int, default=0, help="noise seed (same seed, same grid)")
    parser.add_argument("--ema", action="store_true", help="use the EMA weights")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", help="PNG to write (default: <run>/samples/sample_seed<seed>.png)")
    parser.add_argument("sample_args", nargs="*", help="key=value arguments of the model's sample()")
    args = parser.parse_args(argv)
    kwargs = {}
    for item in args.sample_args:
        if "=" not in item:
            raise ConfigError(f"sample argument {item!r} must look like key=value (e.g. temperature=0.75)")
        key, value = item.split("=", 1)
        kwargs[key] = parse_value(value)
    device = resolve_device(args.device)
    model, _ = load_trained_model(args.checkpoint, device, use_ema=args.ema)
    g = torch.Generator(device=device).manual_seed(args.seed)
    try:
        images = model.sample(args.n, generator=g, **kwargs).float().cpu()
    except TypeError as e:
        raise ConfigError(f"{type(model).__name__}.sample does not accept {sorted(kwargs)}: {e}") from None
    except ValueError as e:  # the model's own check of a sample argument (a cluster id out of range, ...)
        raise ConfigError(f"{type(model).__name__}.sample: {e}") from None
    suffix = "".join(f"_{k}{v}" for k, v in kwargs.items())
    out = Path(args.out) if args.out else Path(args.checkpoint).parent / "samples" / f"sample_seed{args.seed}{suffix}.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    save_image(images, out, nrow=args.nrow or max(1, math.isqrt(args.n)), padding=0)
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
