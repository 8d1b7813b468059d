"""The config type checker: what a YAML value may be for an annotation, the value ranges, and size limits.

``engine/config.py`` validates each section against a schema (a registered constructor's signature, or the
``TrainSpec`` / ``DataSpec`` dataclasses); this module holds the checks that schema is made of:

* ``matches(value, annotation)``: the type (``int`` is not ``bool``, ``float`` accepts ints, lists, tuples,
  unions, literals, ``dict[K, V]`` keys and values);
* ``RANGES``: the one table of numeric ranges by dotted key (``train.seed`` in [0, 2**32 - 1],
  ``callbacks.ema.decay`` in [0, 1), ...), for the engine's keys and the engine's callbacks; a model checks
  its own arguments in its constructor;
* every number must be finite (NaN passes ``< 0`` checks, so it is refused here once for all keys), and an int
  must fit torch's int64;
* ``check_limits``: nesting depth, string length and number of values of a whole parsed config, so a
  50,000-deep list, a 10 MB string or an alias bomb is one line, not a RecursionError or an hour of work.
"""
from __future__ import annotations

import collections.abc
import dataclasses
import difflib
import inspect
import math
import types
import typing
from typing import Any

import registry
from errors import ConfigError

MAX_DEPTH = 32                 # nesting levels of a config (a real one has 4)
MAX_STRING = 1 << 20           # characters of one string value or key (a seq2seq vocabulary is ~30 KB)
MAX_VALUES = 100_000           # values in a whole config, aliases counted every time they are used
MAX_FILE_BYTES = 4 << 20       # bytes of a config file
MAX_LOSS_WEIGHTS = 1000        # keys of loss_weights (a model has a handful of loss terms)
INT64 = 2 ** 63 - 1
SEED_MAX = 2 ** 32 - 1         # numpy's seed range


def short(value: Any, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters, so that a message stays one readable line."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters)"


@dataclasses.dataclass(frozen=True)
class Range:
    """lo <= value <= hi (``lo_open`` / ``hi_open``: strict); None = unbounded; ``meaning`` is said in the
    message (what 0 means, ...)."""
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False
    meaning: str = ""

    def holds(self, v: float) -> bool:
        if self.lo is not None and (v <= self.lo if self.lo_open else v < self.lo):
            return False
        return self.hi is None or (v < self.hi if self.hi_open else v <= self.hi)

    def text(self) -> str:
        lo, hi = _number(self.lo), _number(self.hi)
        if self.lo is not None and self.hi is not None:
            return f"in {'(' if self.lo_open else '['}{lo}, {hi}{')' if self.hi_open else ']'}"
        if self.lo is not None:
            return f"{'>' if self.lo_open else '>='} {lo}"
        return f"{'<' if self.hi_open else '<='} {hi}"


def _number(x: float | None) -> str:
    if x is None:
        return ""
    return str(int(x)) if isinstance(x, int) or (isinstance(x, float) and x.is_integer()) else f"{x:g}"


POSITIVE = Range(1)
NON_NEGATIVE = Range(0)
SEED = Range(0, SEED_MAX)

# Ranges by dotted key; None passes wherever the type allows it (max_steps: null = by epochs, ...).
RANGES: dict[str, Range] = {
    "train.epochs": POSITIVE,
    "train.max_steps": Range(1, meaning="null = train.epochs decides"),
    "train.batch_size": POSITIVE,
    "train.eval_batch_size": Range(1, meaning="null = train.batch_size"),
    "train.accumulate": POSITIVE,
    "train.grad_clip": Range(0, lo_open=True, meaning="null = no clipping"),
    "train.seed": SEED,
    "train.threads": Range(1, 4096, meaning="null = torch's default"),
    "train.eval_every": Range(0, meaning="0 = only at the end"),
    "train.log_every": POSITIVE,
    "train.checkpoint_every": Range(0, meaning="0 = at epoch ends only"),
    "data.val_size": POSITIVE,
    "data.split_seed": SEED,
    "data.limit_train": Range(1, meaning="null = all"),
    "data.limit_eval": Range(1, meaning="null = all"),
    "scheduler.warmup_steps": Range(0, meaning="0 = no warmup"),
    "callbacks.samples.every_epochs": Range(0, meaning="0 = off"),
    "callbacks.samples.every_steps": Range(0, meaning="0 = off"),
    "callbacks.samples.n": Range(1, 100_000),
    "callbacks.samples.nrow": Range(1, meaning="null = a square grid"),
    "callbacks.samples.seed": Range(0, INT64),
    "callbacks.ema.decay": Range(0, 1, hi_open=True),
    "callbacks.checkpoint.snapshot_every": Range(0, meaning="0 = off"),
    "callbacks.evaluate.train_every": Range(0, meaning="0 = never"),
    "callbacks.title_probe.n": POSITIVE,
    "callbacks.title_probe.beam": POSITIVE,
    "callbacks.title_probe.max_len": POSITIVE,
    "callbacks.title_probe.excerpt": NON_NEGATIVE,
}

# Free-form strings with a fixed set of values.
CHOICES = {
    "train.amp": ("off", "bf16", "fp16", "auto"),
    "train.nonfinite": ("stop", "skip"),
    "data.val": ("test", "holdout", "split", "none"),
    "scheduler.interval": ("step", "epoch"),
}


def type_name(ann: Any) -> str:
    """A readable name of what YAML may hold for ``ann`` (tensor arms of a union are left out)."""
    if ann is type(None):
        return "null"
    if typing.get_origin(ann) in (typing.Union, types.UnionType):
        arms = [a for a in typing.get_args(ann) if not (isinstance(a, type) and a.__module__.startswith("torch"))]
        return " or ".join(type_name(a) for a in arms)
    if isinstance(ann, type):
        return ann.__name__
    return str(ann).replace("typing.", "").replace("NoneType", "null")


def matches(value: Any, ann: Any) -> bool:
    """Whether a YAML value fits a type annotation. Unknown annotations accept anything."""
    if ann is inspect.Parameter.empty or ann is Any:
        return True
    origin, args = typing.get_origin(ann), typing.get_args(ann)
    if origin in (typing.Union, types.UnionType):
        return any(matches(value, a) for a in args)
    if origin is typing.Literal:
        return value in args
    if ann is type(None) or ann is None:
        return value is None
    if ann is bool:
        return isinstance(value, bool)
    if ann is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if ann is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if ann is str:
        return isinstance(value, str)
    if origin in (list, tuple, typing.Sequence, collections.abc.Sequence) or ann in (list, tuple):
        if not isinstance(value, (list, tuple)):
            return False
        if origin is tuple and args and args[-1] is not Ellipsis:
            return len(value) == len(args) and all(matches(v, a) for v, a in zip(value, args))
        return not args or all(matches(v, args[0]) for v in value)
    if origin is dict or ann is dict:
        return isinstance(value, dict) and (not args or all(matches(k, args[0]) and matches(v, args[1])
                                                             for k, v in value.items()))
    if isinstance(ann, type) and ann.__module__.startswith("torch"):
        return False  # tensors and modules cannot come from YAML
    return True


def signature_schema(fn) -> tuple[dict[str, inspect.Parameter], dict[str, Any], bool]:
    """(parameters, type hints, accepts **kwargs) of a registered constructor or function."""
    target = fn.__init__ if inspect.isclass(fn) else fn
    params = dict(inspect.signature(target).parameters)
    try:
        hints = typing.get_type_hints(target)
    except Exception:  # unresolvable annotations: check names only
        hints = {}
    var_kw = any(p.kind is p.VAR_KEYWORD for p in params.values())
    params = {n: p for n, p in params.items()
              if n not in ("self", "params", "optimizer") and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
    return params, hints, var_kw


def _bad_number(value: Any) -> str | None:
    """Why a number somewhere in ``value`` is unusable (NaN, infinite, beyond int64), or None."""
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, bool):
            continue
        if isinstance(v, float) and not math.isfinite(v):
            return f"{v} is not a finite number"
        if isinstance(v, int) and abs(v) > INT64:
            return f"{short(v)} does not fit a 64-bit integer"
        if isinstance(v, (list, tuple)):
            stack.extend(v)
        elif isinstance(v, dict):
            stack.extend(v.values())
    return None


def check_value(dotted: str, value: Any, ann: Any, finite: bool = True) -> None:
    """Type, choice, number and range checks of one config value; a ConfigError naming ``dotted``."""
    if not matches(value, ann):
        raise ConfigError(f"{dotted} must be {type_name(ann)}, got {short(value)} ({type(value).__name__})")
    choices = CHOICES.get(dotted)
    if choices and value not in choices:
        raise ConfigError(f"{dotted} must be one of {', '.join(choices)}, got {short(value)}")
    bad = _bad_number(value) if finite else None
    if bad:
        raise ConfigError(f"{dotted}: {bad}; give a finite value")
    rule = RANGES.get(dotted)
    if rule is not None and isinstance(value, (int, float)) and not isinstance(value, bool) \
            and not rule.holds(value):
        meaning = f" ({rule.meaning})" if rule.meaning else ""
        raise ConfigError(f"{dotted} must be {rule.text()}{meaning}, got {short(value)}")


def check_limits(obj: Any, where: str) -> None:
    """Refuse a parsed config (or value) nested deeper than MAX_DEPTH, with a string or key longer than
    MAX_STRING, or with more than MAX_VALUES values (aliases count each time they are used). Iterative, so
    a self-referencing alias (``&a [*a]``) ends at the depth limit instead of recursing. ``where`` names the
    file or key in the message."""
    stack = [(obj, 0, "")]
    count = 0
    while stack:
        value, depth, path = stack.pop()
        count += 1
        at = f" at {path.lstrip('.')}" if path else ""
        if count > MAX_VALUES:
            raise ConfigError(f"{where}: more than {MAX_VALUES:,} values (aliases expanding?); a config holds "
                              f"settings, not data")
        if depth > MAX_DEPTH:
            raise ConfigError(f"{where}: nested more than {MAX_DEPTH} levels deep{at}; a config's sections are "
                              f"mappings of plain values")
        if isinstance(value, str) and len(value) > MAX_STRING:
            raise ConfigError(f"{where}: a string of {len(value):,} characters{at}, more than the "
                              f"{MAX_STRING:,} allowed; put large data in a file the dataset reads")
        if isinstance(value, dict):
            for key, child in value.items():
                if isinstance(key, str) and len(key) > MAX_STRING:
                    raise ConfigError(f"{where}: a key of {len(key):,} characters{at}; keys are setting names")
                stack.append((child, depth + 1, f"{path}.{key[:40] if isinstance(key, str) else short(key, 40)}"))
        elif isinstance(value, (list, tuple)):
            stack.extend((child, depth + 1, f"{path}[{i}]") for i, child in enumerate(value))


def suggest(key: Any, valid, what: str = "valid keys") -> str:
    """"; did you mean ...?" with the closest valid key, else the list of valid ones."""
    valid = [str(v) for v in valid]
    close = difflib.get_close_matches(str(key), valid, n=1, cutoff=0.5)
    return f"; did you mean {close[0]!r}?" if close else f"; {what}: {', '.join(sorted(valid))}"


def check_run_name(name: Any) -> None:
    """A run name is one plain folder name: not empty, not ``.`` or ``..``, no path separator, NUL or control
    character, at most 255 bytes (the longest file name most file systems take)."""
    plain = (isinstance(name, str) and name not in ("", ".", "..") and not any(c in name for c in "/\\")
             and all(ord(c) >= 32 and c != "\x7f" for c in name) and len(name.encode("utf-8", "replace")) <= 255)
    if not plain:
        raise ConfigError(f"train.run_name must be one plain folder name (no '/', not '.' or '..', no control "
                          f"characters, at most 255 bytes), got {short(name)}; e.g. train.run_name=my_run")


def check_sample_args(model_name: str, args: dict, where: str, n_setting: str = "callbacks.samples.n",
                      no_sampler_fix: str = "drop the sampling (callbacks.samples: false)") -> None:
    """Refuse, before any work, ``sample`` arguments the model's ``sample`` method does not take or with the
    wrong type (``callbacks.samples.sample_args``, sample.py's ``key=value``), and a model that does not
    sample at all; the callback would otherwise fail only after training. ``n_setting`` and
    ``no_sampler_fix`` word the fixes in the caller's own terms (a config key, or a flag)."""
    from models.base import Model

    cls = registry.lookup("model", model_name)
    if getattr(cls, "sample", None) is Model.sample:
        raise ConfigError(f"{where}: model {model_name!r} does not sample images; {no_sampler_fix}")
    params, hints, var_kw = signature_schema(cls.sample)
    params.pop("n", None)
    params.pop("generator", None)
    for key, value in args.items():
        if not isinstance(key, str):
            raise ConfigError(f"{where}: key {short(key)} is not a name; {cls.__name__}.sample takes "
                              f"{', '.join(params) or 'no arguments'}")
        if key in ("n", "generator"):
            raise ConfigError(f"{where}.{key} is set by the sampler itself; drop it"
                              + (f" (the number of images is {n_setting})" if key == "n" else ""))
        if key not in params and not var_kw:
            hint = suggest(key, params, "its arguments") if params else "; it takes no arguments"
            raise ConfigError(f"{where}: {cls.__name__}.sample does not accept {[key]}{hint}")
        if key in params:
            check_value(f"{where}.{key}", value, hints.get(key, params[key].annotation))
