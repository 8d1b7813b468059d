"""Strict YAML configs: load, apply ``key.sub=value`` overrides, validate, fill defaults.

A config has these top-level sections::

    model:     {name: <registered model>, <its constructor arguments>}
    data:      {name: <registered dataset>, <its arguments>, + the generic DataSpec keys below}
    optim:     {name: <registered optimizer>, <its arguments>}
    scheduler: {name: <registered scheduler> | none, warmup_steps: int, interval: step|epoch, <its args>}
    loss_weights: {<loss name>: float}       # weight of a loss term the model returns (default: the
                                             # model's default_loss_weights, else 1; engine/loss_weights.py)
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
import pkgutil
import typing
from pathlib import Path
from typing import Any, Literal

import yaml

import registry
from data import DEFAULT_DATASET
from engine.schema import (MAX_DEPTH, MAX_FILE_BYTES, MAX_LOSS_WEIGHTS, check_limits, check_run_name,
                           check_sample_args, check_value, require_str_keys, validate_fields, validate_named)
from engine.loss_weights import translate_config
from engine.strict_yaml import Loader, Refused, yaml_problem
from engine.typecheck import short, suggest
from errors import ConfigError

PLUGIN_PACKAGES = ("models", "data", "optim", "losses", "metrics")
# the engine's own registered callbacks (a config names them under callbacks:); a model's own callbacks live
# in its package (models/seq2seq_callbacks.py) and come with PLUGIN_PACKAGES
ENGINE_PLUGINS = ("engine.callbacks", "engine.experiment_callbacks")


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
    """Keys of the train section: the schema of the Trainer's options (a ``Literal`` is a choice)."""
    epochs: int = 1
    max_steps: int | None = None          # stop after this many optimizer updates (overrides epochs)
    batch_size: int = 128
    eval_batch_size: int | None = None    # default: batch_size
    drop_last: bool = False               # Keras keeps the last partial batch; so do we by default
    accumulate: int = 1                   # micro-batches per optimizer update ("soft batch")
    grad_clip: float | None = None        # max global grad norm; None = no clipping (norm still logged)
    device: str = "auto"                  # auto | cpu | cuda | cuda:N
    amp: Literal["off", "bf16", "fp16", "auto"] = "off"  # fp16: CUDA only; auto: bf16 where native; bare off = false
    seed: int = 0
    deterministic: bool = False
    threads: int | None = None            # torch.set_num_threads; None = torch's default
    flush_denormal: bool = False          # torch.set_flush_denormal: subnormal floats become 0 (CPU speed)
    channels_last: bool = False           # conv weights and image batches in NHWC (faster convs under bf16)
    compile: bool = False                 # torch.compile the model's training_losses (one process only)
    eval_every: int = 1                   # evaluate every N epochs (0 = only at the end)
    log_every: int = 50                   # optimizer updates between train-metric log lines
    checkpoint_every: int = 0             # also save last.pt every N updates (0 = epoch ends only)
    nonfinite: Literal["stop", "skip"] = "stop"  # what a non-finite loss does
    out_dir: str = "runs"
    run_name: str | None = None           # default: the config file's stem
    init_from: str | None = None          # start from this checkpoint's weights (same model config); not a resume


@dataclasses.dataclass
class DataSpec:
    """Keys of the data section handled by the engine rather than by the dataset function."""
    name: str = DEFAULT_DATASET  # the embedded sample (data/__init__.py)
    # test (the blog's: validate on the test split) | holdout (carved from train) | split (the dataset's own)
    val: Literal["test", "holdout", "split", "none"] = "test"
    val_size: int = 5000       # samples held out of train when val = holdout
    split_seed: int = 0        # seed of the holdout split (independent of train.seed)
    limit_train: int | None = None   # use only the first N training samples (quick runs, tests)
    limit_eval: int | None = None    # use only the first N validation/test samples


# ----------------------------------------------------------------------------------------------- YAML
def parse_value(text: str, where: str = "value") -> Any:
    """A command-line value parsed as YAML (``3e-4``, ``null``, ``[1,28,28]``); text that is not YAML stays a
    string. A duplicate key or too deep a nesting in it is a ConfigError naming ``where``."""
    try:
        return yaml.load(text, Loader=Loader)
    except Refused as e:
        raise ConfigError(f"{where}: {yaml_problem(e)}; fix the value") from None
    except yaml.YAMLError:
        return text


def load_yaml(path: str | Path) -> dict:
    """The mapping in a YAML file, read as bytes: a file over MAX_FILE_BYTES, invalid UTF-8 (named by byte
    offset and line), a YAML error, a duplicate key or too deep a nesting is one ConfigError line."""
    path = Path(path)
    if not path.is_file():
        near = sorted(p.name for p in path.parent.glob("*.yaml")) if path.parent.is_dir() else []
        hint = f" (found there: {', '.join(near)})" if near else ""
        raise ConfigError(f"config file {path} not found{hint}; pass --config configs/<name>.yaml")
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise ConfigError(f"{path}: {size:,} bytes, more than the {MAX_FILE_BYTES:,} a config may have; "
                              f"a config holds settings, not data")
        raw = path.read_bytes()
    except OSError as e:
        raise ConfigError(f"{path}: cannot be read ({e.strerror or type(e).__name__}); "
                          f"pass a readable config file") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        raise ConfigError(f"{path}: invalid UTF-8 at byte {e.start} (line {line}: {raw[e.start:e.start + 4]!r}); "
                          f"save the file as UTF-8") from None
    try:
        data = yaml.load(text.removeprefix("\ufeff"), Loader=Loader)
    except yaml.YAMLError as e:
        kind = "refused" if isinstance(e, Refused) else "is not valid YAML"
        raise ConfigError(f"{path} {kind} at {yaml_problem(e)}; fix that line") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping of sections, got a {type(data).__name__}; write "
                          f"'<section>:' lines ({', '.join(SECTIONS)})")
    check_limits(data, str(path))
    return data


def apply_overrides(cfg: dict, overrides: list[str]) -> dict:
    """Set ``a.b.c=value`` entries (value parsed as YAML) in a nested dict, creating sections as needed."""
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {short(item)} has no '='; it must look like key.sub=value "
                              f"(e.g. train.epochs=3)")
        key, text = item.split("=", 1)
        parts = key.strip().split(".")
        if not all(parts):
            raise ConfigError(f"override {short(item)}: {short(key)} is not a dotted key; write e.g. "
                              f"train.epochs=3")
        if len(parts) > MAX_DEPTH:
            raise ConfigError(f"override {short(key)}: more than {MAX_DEPTH} levels; write e.g. train.epochs=3")
        node = cfg
        for i, part in enumerate(parts[:-1]):
            child = node.setdefault(part, {})
            if child is None:  # "ema:" with no settings: a section with its defaults
                child = node[part] = {}
            if not isinstance(child, dict):
                raise ConfigError(f"override {short(key)}: {'.'.join(parts[:i + 1])} is a value, not a section; "
                                  f"set {'.'.join(parts[:i + 1])}=<value> itself")
            node = child
        value = parse_value(text, f"override {short(key)}")
        check_limits(value, f"override {short(key)}")
        node[parts[-1]] = value
    return cfg


# ------------------------------------------------------------------------------------------ validation
def _bare_off(train: Any) -> Any:
    """The train section with ``amp: false`` read as ``off``: YAML 1.1 reads a bare ``off`` as false, and
    configs written by older code hold it so."""
    if isinstance(train, dict) and train.get("amp") is False:
        return {**train, "amp": "off"}
    return train


def check_loss_weights(weights: dict, terms: set[str]) -> None:
    """Refuse a ``loss_weights`` key that names none of the model's loss terms (``terms``: the keys its
    ``training_losses`` returns), naming the first unknown key and the closest term: a misspelt weight would
    otherwise silently leave its loss at its default weight."""
    known = sorted(terms)
    for key in weights:
        if key not in terms:
            close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.5)
            fix = f"did you mean {close[0]!r}?" if close else f"use one of {', '.join(known) or '(none)'}"
            raise ConfigError(f"unknown key loss_weights.{str(key)[:80]}: not a loss term of the model "
                              f"({', '.join(known)}); {fix}")


def _validate_callbacks(callbacks: Any, model_name: str) -> dict:
    if callbacks is None:
        callbacks = {}
    if not isinstance(callbacks, dict):
        raise ConfigError(f"callbacks must map callback names to their settings, got {short(callbacks)}")
    require_str_keys("callbacks", callbacks)
    out = {}
    for name, settings in callbacks.items():
        if settings is False:  # "callbacks.samples: false" switches a default callback off
            out[name] = False
            continue
        if name not in registry.names("callback"):
            raise ConfigError(f"unknown callback callbacks.{name[:80]}"
                              f"{suggest(name, registry.names('callback'), 'registered callbacks')}")
        if settings is not None and not isinstance(settings, dict):
            raise ConfigError(f"callbacks.{name} must be a mapping of its settings ({{}} for the defaults) or "
                              f"false to switch it off, got {short(settings)}")
        node = validate_named(f"callbacks.{name}", {**(settings or {}), "name": name}, "callback")
        node.pop("name")
        if name == "samples":
            check_sample_args(model_name, node["sample_args"] or {}, "callbacks.samples.sample_args")
        out[name] = node
    return out


def validate(cfg: dict) -> dict:
    """Return the resolved config: every section checked (types, ranges, sizes), defaults filled in."""
    load_plugins()
    if not isinstance(cfg, dict):
        raise ConfigError(f"a config is a mapping of sections ({', '.join(SECTIONS)}), got {short(cfg)}")
    check_limits(cfg, "config")
    for key in cfg:
        if key not in SECTIONS:
            raise ConfigError(f"unknown top-level key {short(key)}{suggest(key, SECTIONS)}")
    cfg = translate_config(cfg)  # older spellings of loss weights (model.gp_weight, ...) -> loss_weights
    data_extra = {f.name: (typing.get_type_hints(DataSpec)[f.name], f.default)
                  for f in dataclasses.fields(DataSpec) if f.name != "name"}
    sched_extra = {"warmup_steps": (int, 0), "interval": (Literal["step", "epoch"], "step")}
    resolved = {
        "model": validate_named("model", cfg.get("model"), "model"),
        "data": validate_named("data", cfg.get("data"), "dataset", extra=data_extra,
                               default_name=DataSpec.name),
        # torch's optimizers and schedulers have many rarely used arguments: keep only what was written
        "optim": validate_named("optim", cfg.get("optim"), "optimizer", fill_defaults=False,
                                default_name="adam"),
        "scheduler": validate_named("scheduler", cfg.get("scheduler"), "scheduler", extra=sched_extra,
                                    fill_defaults=False, default_name="none"),
        "train": validate_fields("train", _bare_off(cfg.get("train")), TrainSpec),
    }
    resolved["scheduler"].setdefault("warmup_steps", 0)
    resolved["scheduler"].setdefault("interval", "step")
    weights = cfg.get("loss_weights") or {}
    if not isinstance(weights, dict):
        raise ConfigError(f"loss_weights must map loss names to numbers, got {short(weights)}")
    require_str_keys("loss_weights", weights)
    if len(weights) > MAX_LOSS_WEIGHTS:
        raise ConfigError(f"loss_weights has {len(weights):,} keys, more than {MAX_LOSS_WEIGHTS}; give one "
                          f"per loss term of the model")
    for key, value in weights.items():
        # a non-finite weight is allowed here: the Trainer's train.nonfinite guard names it at update 0
        check_value(f"loss_weights.{key[:80]}", value, float, finite=False)
    resolved["loss_weights"] = dict(weights)
    resolved["callbacks"] = _validate_callbacks(cfg.get("callbacks"), resolved["model"]["name"])
    if resolved["train"]["run_name"] is not None:
        check_run_name(resolved["train"]["run_name"])
    return resolved


def load_config(path: str | Path, overrides: list[str] | None = None) -> dict:
    """Load a YAML file, apply overrides, validate; the run name defaults to the file's stem."""
    cfg = apply_overrides(load_yaml(path), overrides or [])
    resolved = validate(cfg)
    if resolved["train"]["run_name"] is None:
        resolved["train"]["run_name"] = Path(path).stem
        check_run_name(resolved["train"]["run_name"])
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
