"""Strict YAML configs: load, apply ``key.sub=value`` overrides, validate, fill defaults.

A config has these top-level sections::

    model:     {name: <registered model>, <its constructor arguments>}
    data:      {name: <registered dataset>, <its arguments>, + the generic DataSpec keys below}
    optim:     {name: <registered optimizer>, <its arguments>}
    scheduler: {name: <registered scheduler> | none, warmup_steps: int, interval: step|epoch, <its args>}
    loss_weights: {<loss name>: float}       # weight of each named loss the model returns (default 1)
    train:     TrainSpec below
    callbacks: {<registered callback>: {<its arguments>}, ...}

The schema of a ``name:`` section is the registered constructor's signature: its parameter names are the
valid keys, its annotations the types, its defaults the values filled in. Errors are ``ConfigError`` with one
line naming the dotted key, what was expected and, for typos, the closest valid key.
"""
from __future__ import annotations

import dataclasses
import difflib
import importlib
import inspect
import pkgutil
import re
import types
import typing
from pathlib import Path
from typing import Any

import yaml

import registry
from errors import ConfigError

PLUGIN_PACKAGES = ("models", "data", "optim", "losses", "metrics")
# the engine's own registered callbacks (a config names them under callbacks:)
ENGINE_PLUGINS = ("engine.callbacks", "engine.experiment_callbacks", "engine.text_callbacks")


def load_plugins() -> None:
    """Import every module that registers something a config can name (the plugin packages' modules and
    the engine's callbacks) once, so that their ``@register`` decorators run: adding a model is one new file
    in ``models/`` plus one YAML."""
    for package in PLUGIN_PACKAGES:
        pkg = importlib.import_module(package)
        for info in pkgutil.iter_modules(pkg.__path__):
            importlib.import_module(f"{package}.{info.name}")
    for module in ENGINE_PLUGINS:
        importlib.import_module(module)


SECTIONS = ("model", "data", "optim", "scheduler", "loss_weights", "train", "callbacks")


@dataclasses.dataclass
class TrainSpec:
    epochs: int = 1
    max_steps: int | None = None          # stop after this many optimizer updates (overrides epochs)
    batch_size: int = 128
    eval_batch_size: int | None = None    # default: batch_size
    drop_last: bool = False               # Keras keeps the last partial batch; so do we by default
    accumulate: int = 1                   # micro-batches per optimizer update ("soft batch")
    grad_clip: float | None = None        # max global grad norm; None = no clipping (norm still logged)
    device: str = "auto"                  # auto | cpu | cuda | cuda:N
    amp: str = "off"                      # off | bf16 | fp16; CUDA only, ignored with a note on CPU
    seed: int = 0
    deterministic: bool = False
    threads: int | None = None            # torch.set_num_threads; None = torch's default
    flush_denormal: bool = False          # torch.set_flush_denormal: subnormal floats become 0 (CPU speed)
    eval_every: int = 1                   # evaluate every N epochs (0 = only at the end)
    log_every: int = 50                   # optimizer updates between train-metric log lines
    checkpoint_every: int = 0             # also save last.pt every N updates (0 = epoch ends only)
    nonfinite: str = "stop"               # stop | skip: what a non-finite loss does
    out_dir: str = "runs"
    run_name: str | None = None           # default: the config file's stem
    init_from: str | None = None          # start from this checkpoint's weights (same model config); not a resume


@dataclasses.dataclass
class DataSpec:
    """Keys of the data section handled by the engine rather than by the dataset function."""
    name: str = "mnist_sample"
    val: str = "test"          # test (blog: validate on the test split) | holdout | split (the dataset's own) | none
    val_size: int = 5000       # images held out of train when val = holdout
    split_seed: int = 0        # seed of the holdout split (independent of train.seed)
    limit_train: int | None = None   # use only the first N training images (quick runs, tests)
    limit_eval: int | None = None    # use only the first N validation/test images


CHOICES = {
    "train.device": None,  # free-form, checked when the device is built
    "train.amp": ("off", "bf16", "fp16"),
    "train.nonfinite": ("stop", "skip"),
    "data.val": ("test", "holdout", "split", "none"),
    "scheduler.interval": ("step", "epoch"),
}


# ----------------------------------------------------------------------------------------------- YAML
class _Loader(yaml.SafeLoader):
    pass


# PyYAML follows YAML 1.1, where "1e-3" is a string; accept it as a float like every other tool does.
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:\d+\.?\d*|\.\d+)[eE][-+]?\d+$"),
    list("-+0123456789."),
)


def parse_value(text: str) -> Any:
    try:
        return yaml.load(text, Loader=_Loader)
    except yaml.YAMLError:
        return text


def load_yaml(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        near = sorted(p.name for p in path.parent.glob("*.yaml")) if path.parent.is_dir() else []
        hint = f" (found there: {', '.join(near)})" if near else ""
        raise ConfigError(f"config file {path} not found{hint}; pass --config configs/<name>.yaml")
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{path} is not valid YAML{where}: {getattr(e, 'problem', e)}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping of sections ({', '.join(SECTIONS)})")
    return data


def apply_overrides(cfg: dict, overrides: list[str]) -> dict:
    """Set ``a.b.c=value`` entries (value parsed as YAML) in a nested dict, creating sections as needed."""
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r} must look like key.sub=value (e.g. train.epochs=3)")
        key, text = item.split("=", 1)
        parts = key.strip().split(".")
        node = cfg
        for i, part in enumerate(parts[:-1]):
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"override {key}: {'.'.join(parts[:i + 1])} is a value, not a section")
            node = child
        node[parts[-1]] = parse_value(text)
    return cfg


# ------------------------------------------------------------------------------------------ validation
def _suggest(key: str, valid, what: str = "valid keys") -> str:
    close = difflib.get_close_matches(key, list(valid), n=1, cutoff=0.5)
    return f"; did you mean {close[0]!r}?" if close else f" ({what}: {', '.join(sorted(valid))})"


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
    if origin in (list, tuple, typing.Sequence, __import__("collections.abc").abc.Sequence) or ann in (list, tuple):
        if not isinstance(value, (list, tuple)):
            return False
        if origin is tuple and args and args[-1] is not Ellipsis:
            return len(value) == len(args) and all(matches(v, a) for v, a in zip(value, args))
        return not args or all(matches(v, args[0]) for v in value)
    if origin is dict or ann is dict:
        return isinstance(value, dict) and (not args or all(matches(v, args[1]) for v in value.values()))
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


def _check_value(dotted: str, value: Any, ann: Any) -> None:
    if not matches(value, ann):
        raise ConfigError(f"{dotted} must be {type_name(ann)}, got {value!r} ({type(value).__name__})")
    choices = CHOICES.get(dotted)
    if choices and value not in choices:
        raise ConfigError(f"{dotted} must be one of {', '.join(choices)}, got {value!r}")


def _plain_default(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def validate_named(section: str, node: Any, kind: str, extra: dict[str, Any] | None = None,
                   fill_defaults: bool = True, default_name: str | None = None) -> dict:
    """Check a ``name:`` section against the registered constructor; return it with defaults filled in.

    ``extra`` maps engine-handled keys of the section to (annotation, default)."""
    if node is None:
        node = {}
    if not isinstance(node, dict):
        raise ConfigError(f"{section} must be a mapping with a 'name' key, got {node!r}")
    node = dict(node)
    name = node.get("name", default_name)
    if name is None:
        raise ConfigError(f"{section}.name is missing; registered {kind}s: {', '.join(registry.names(kind))}")
    if not isinstance(name, str):
        raise ConfigError(f"{section}.name must be str, got {name!r}")
    try:
        fn = registry.lookup(kind, name)
    except KeyError:
        raise ConfigError(f"{section}.name {name!r} is not a registered {kind}"
                          f"{_suggest(name, registry.names(kind), 'registered')}") from None
    params, hints, var_kw = signature_schema(fn)
    extra = extra or {}
    out = {"name": name}
    for key, value in node.items():
        if key == "name":
            continue
        dotted = f"{section}.{key}"
        if key in extra:
            _check_value(dotted, value, extra[key][0])
        elif key in params:
            _check_value(dotted, value, hints.get(key, params[key].annotation))
        elif not var_kw:
            raise ConfigError(f"unknown key {dotted}{_suggest(key, list(params) + list(extra) + ['name'])}")
        out[key] = value
    for key, p in params.items():
        if key not in out and p.default is inspect.Parameter.empty:
            raise ConfigError(f"{section}.{key} is required by {kind} {name!r}; add it to the config")
        if fill_defaults and key not in out:
            out[key] = _plain_default(p.default)
    if fill_defaults:
        for key, (_, default) in extra.items():
            out.setdefault(key, default)
    return out


def _validate_dataclass(section: str, node: Any, cls) -> dict:
    if node is None:
        node = {}
    if not isinstance(node, dict):
        raise ConfigError(f"{section} must be a mapping, got {node!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    for key, value in node.items():
        if key not in fields:
            raise ConfigError(f"unknown key {section}.{key}{_suggest(key, fields)}")
        _check_value(f"{section}.{key}", value, hints[key])
    return {**dataclasses.asdict(cls()), **node}


def validate(cfg: dict) -> dict:
    """Return the resolved config: every section checked, defaults filled in."""
    load_plugins()
    for key in cfg:
        if key not in SECTIONS:
            raise ConfigError(f"unknown top-level key {key!r}{_suggest(key, SECTIONS)}")
    data_extra = {f.name: (typing.get_type_hints(DataSpec)[f.name], f.default)
                  for f in dataclasses.fields(DataSpec) if f.name != "name"}
    sched_extra = {"warmup_steps": (int, 0), "interval": (str, "step")}
    resolved = {
        "model": validate_named("model", cfg.get("model"), "model"),
        "data": validate_named("data", cfg.get("data"), "dataset", extra=data_extra,
                               default_name=DataSpec.name),
        # torch's optimizers and schedulers have many rarely used arguments: keep only what was written
        "optim": validate_named("optim", cfg.get("optim"), "optimizer", fill_defaults=False,
                                default_name="adam"),
        "scheduler": validate_named("scheduler", cfg.get("scheduler"), "scheduler", extra=sched_extra,
                                    fill_defaults=False, default_name="none"),
        "train": _validate_dataclass("train", cfg.get("train"), TrainSpec),
    }
    resolved["scheduler"].setdefault("warmup_steps", 0)
    resolved["scheduler"].setdefault("interval", "step")
    weights = cfg.get("loss_weights") or {}
    if not isinstance(weights, dict):
        raise ConfigError(f"loss_weights must map loss names to numbers, got {weights!r}")
    for key, value in weights.items():
        _check_value(f"loss_weights.{key}", value, float)
    resolved["loss_weights"] = dict(weights)
    callbacks = cfg.get("callbacks") or {}
    if not isinstance(callbacks, dict):
        raise ConfigError(f"callbacks must map callback names to their settings, got {callbacks!r}")
    resolved["callbacks"] = {}
    for name, settings in callbacks.items():
        if settings is False:  # "callbacks.samples: false" switches a default callback off
            resolved["callbacks"][name] = False
            continue
        node = validate_named(f"callbacks.{name}", {"name": name, **(settings or {})}, "callback")
        node.pop("name")
        resolved["callbacks"][name] = node
    train = resolved["train"]
    for key in ("epochs", "batch_size", "accumulate", "log_every"):
        if train[key] < 1:
            raise ConfigError(f"train.{key} must be at least 1, got {train[key]}")
    return resolved


def load_config(path: str | Path, overrides: list[str] | None = None) -> dict:
    """Load a YAML file, apply overrides, validate; the run name defaults to the file's stem."""
    cfg = apply_overrides(load_yaml(path), overrides or [])
    resolved = validate(cfg)
    if resolved["train"]["run_name"] is None:
        resolved["train"]["run_name"] = Path(path).stem
    return resolved


def dump(cfg: dict) -> str:
    return yaml.safe_dump(cfg, sort_keys=False, default_flow_style=None, allow_unicode=True)


def diff_keys(a: Any, b: Any, prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two nested dicts."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for key in sorted(set(a) | set(b), key=str):
            out += diff_keys(a.get(key), b.get(key), f"{prefix}.{key}" if prefix else str(key))
        return out
    return [] if a == b else [prefix or "<root>"]
