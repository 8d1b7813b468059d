"""The config schema beyond types: value ranges by key, size limits, and the check of a whole section.

``engine/config.py`` validates each section against a schema (a registered constructor's signature, or the
``TrainSpec`` / ``DataSpec`` dataclasses); engine/typecheck.py checks one value against its annotation. This
module adds what depends on the key, not on the type:

* ``RANGES``: the one table of numeric ranges by dotted key (``train.seed`` in [0, 2**32 - 1],
  ``callbacks.ema.decay`` in [0, 1), ...), for the engine's keys and the engine's callbacks; a model, a dataset
  or a callback of a plugin package checks its own ranges in its constructor;
* ``check_limits``: nesting depth, string length and number of values of a whole parsed config, so a
  50,000-deep list, a 10 MB string or an alias bomb is one line, not a RecursionError or an hour of work;
* ``validate_named`` / ``validate_fields``: a ``name:`` section against its registered constructor, an
  engine section against its dataclass (unknown keys with the closest valid one, types, ranges, defaults).
"""
from __future__ import annotations

import dataclasses
import inspect
import typing
from typing import Any

import registry
from engine.typecheck import INT64, annotation, check_type, short, signature_schema, suggest
from errors import ConfigError

MAX_DEPTH = 32                 # nesting levels of a config (a real one has 4)
MAX_STRING = 1 << 20           # characters of one string value or key (a text model's vocabulary is ~30 KB)
MAX_VALUES = 100_000           # values in a whole config, aliases counted every time they are used
MAX_FILE_BYTES = 4 << 20       # bytes of a config file
MAX_LOSS_WEIGHTS = 1000        # keys of loss_weights (a model has a handful of loss terms)
SEED_MAX = 2 ** 32 - 1         # numpy's seed range



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
}


def check_value(dotted: str, value: Any, ann: Any, finite: bool = True) -> None:
    """Type, number and range checks of one config value; a ConfigError naming ``dotted``."""
    check_type(dotted, value, ann, finite)
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
            check_value(f"{where}.{key}", value, annotation(key, params, hints))


# ------------------------------------------------------------------------------------ whole sections
def require_str_keys(section: str, node: dict) -> None:
    """Refuse a mapping key that is not a string (YAML reads ``1:`` or ``true:`` as a number or a bool)."""
    for key in node:
        if not isinstance(key, str):
            raise ConfigError(f"{section}: key {short(key)} is a {type(key).__name__}; keys are names "
                              f"(write it as a string)")


def plain_default(value: Any) -> Any:
    """A constructor default as YAML would give it (a tuple default becomes a list), so that a resolved
    config dumps, loads and compares the same as the file it came from."""
    return list(value) if isinstance(value, tuple) else value


def validate_named(section: str, node: Any, kind: str, extra: dict[str, Any] | None = None,
                   fill_defaults: bool = True, default_name: str | None = None) -> dict:
    """Check a ``name:`` section against the registered constructor; return it with defaults filled in.

    ``extra`` maps engine-handled keys of the section to (annotation, default)."""
    if node is None:
        node = {}
    if not isinstance(node, dict):
        raise ConfigError(f"{section} must be a mapping with a 'name' key, got {short(node)}")
    require_str_keys(section, node)
    node = dict(node)
    name = node.get("name", default_name)
    if name is None:
        raise ConfigError(f"{section}.name is missing; registered {kind}s: {', '.join(registry.names(kind))}")
    if not isinstance(name, str):
        raise ConfigError(f"{section}.name must be str, got {short(name)}")
    try:
        fn = registry.lookup(kind, name)
    except KeyError:
        raise ConfigError(f"{section}.name {short(name)} is not a registered {kind}"
                          f"{suggest(name, registry.names(kind), 'registered')}") from None
    params, hints, var_kw = signature_schema(fn)
    extra = extra or {}
    out = {"name": name}
    for key, value in node.items():
        if key == "name":
            continue
        dotted = f"{section}.{key}"
        if key in extra:
            check_value(dotted, value, extra[key][0])
        elif key in params:
            check_value(dotted, value, annotation(key, params, hints))
        elif not var_kw:
            raise ConfigError(f"unknown key {section}.{key[:80]}"
                              f"{suggest(key, list(params) + list(extra) + ['name'])}")
        else:
            check_value(dotted, value, Any)
        out[key] = value
    for key, p in params.items():
        if key not in out and p.default is inspect.Parameter.empty:
            raise ConfigError(f"{section}.{key} is required by {kind} {name!r}; add it to the config")
        if fill_defaults and key not in out:
            out[key] = plain_default(p.default)
    if fill_defaults:
        for key, (_, default) in extra.items():
            out.setdefault(key, default)
    return out


def validate_fields(section: str, node: Any, cls) -> dict:
    """Check a section against the fields of the dataclass ``cls`` (``TrainSpec``): unknown keys, types,
    ranges; return it with the fields' defaults filled in."""
    if node is None:
        node = {}
    if not isinstance(node, dict):
        raise ConfigError(f"{section} must be a mapping, got {short(node)}")
    require_str_keys(section, node)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    for key, value in node.items():
        if key not in fields:
            raise ConfigError(f"unknown key {section}.{key[:80]}{suggest(key, fields)}")
        check_value(f"{section}.{key}", value, hints[key])
    return {**dataclasses.asdict(cls()), **node}
