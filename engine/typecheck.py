"""The type checker of config values: what a YAML value may be for a Python annotation.

A config section's schema is a registered constructor's signature (or one of the engine's dataclasses), so its
annotations are the types. This module answers, for one value and one annotation:

* ``matches``: whether the value fits (``int`` is not ``bool``, ``float`` accepts ints; lists, tuples of a
  fixed length, unions, ``dict[K, V]`` keys and values; ``Literal[...]`` is a choice among its values, of the
  same type: ``True`` is not the choice ``1``);
* ``type_name``: how to say what fits, in the one-line error (``int or null``, ``one of stop, skip``);
* ``check_type``: both, plus finite numbers (NaN passes ``< 0`` checks, so it is refused here once for all
  keys) and ints that fit torch's int64, as one ``ConfigError`` naming the dotted key;
* ``conform``: the value as the constructor expects it (YAML has lists only; a ``tuple`` annotation gets a
  tuple, e.g. torch's Adam ``betas``).

Value ranges and size limits, which depend on the key rather than on the type, are engine/schema.py's.
Imports nothing of the project but errors.py.
"""
from __future__ import annotations

import collections.abc
import difflib
import inspect
import math
import types
import typing
from typing import Any

from errors import ConfigError

INT64 = 2 ** 63 - 1
_SEQUENCES = (list, tuple, typing.Sequence, collections.abc.Sequence)


def short(value: Any, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters, so that a message stays one readable line."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters)"


def suggest(key: Any, valid, what: str = "valid keys") -> str:
    """"; did you mean ...?" with the closest valid key, else the list of valid ones."""
    valid = [str(v) for v in valid]
    close = difflib.get_close_matches(str(key), valid, n=1, cutoff=0.5)
    return f"; did you mean {close[0]!r}?" if close else f"; {what}: {', '.join(sorted(valid))}"


def _is_union(ann: Any) -> bool:
    return typing.get_origin(ann) in (typing.Union, types.UnionType)


def _is_torch(ann: Any) -> bool:
    """A torch class (Tensor, Module): such a value cannot come from YAML."""
    return isinstance(ann, type) and ann.__module__.startswith("torch")


def _is_literal(ann: Any) -> bool:
    return typing.get_origin(ann) is typing.Literal


def type_name(ann: Any) -> str:
    """A readable name of what YAML may hold for ``ann`` (tensor arms of a union are left out)."""
    if ann is type(None):
        return "null"
    if _is_literal(ann):
        return "one of " + ", ".join(str(a) for a in typing.get_args(ann))
    if _is_union(ann):
        return " or ".join(type_name(a) for a in typing.get_args(ann) if not _is_torch(a))
    if isinstance(ann, type):
        return ann.__name__
    return str(ann).replace("typing.", "").replace("NoneType", "null")


def matches(value: Any, ann: Any) -> bool:
    """Whether a YAML value fits a type annotation. Unknown annotations accept anything."""
    if ann is inspect.Parameter.empty or ann is Any:
        return True
    origin, args = typing.get_origin(ann), typing.get_args(ann)
    if _is_union(ann):
        return any(matches(value, a) for a in args)
    if origin is typing.Literal:
        return any(type(value) is type(a) and value == a for a in args)
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
    if origin in _SEQUENCES or ann in (list, tuple):
        if not isinstance(value, (list, tuple)):
            return False
        if origin is tuple and args and args[-1] is not Ellipsis:
            return len(value) == len(args) and all(matches(v, a) for v, a in zip(value, args))
        return not args or all(matches(v, args[0]) for v in value)
    if origin is dict or ann is dict:
        return isinstance(value, dict) and (not args or all(matches(k, args[0]) and matches(v, args[1])
                                                             for k, v in value.items()))
    return not _is_torch(ann)  # tensors and modules cannot come from YAML; other classes are not checked


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


def check_type(dotted: str, value: Any, ann: Any, finite: bool = True) -> None:
    """Refuse a value that does not fit ``ann`` or (with ``finite``) holds a NaN, an infinity or an int beyond
    int64: one ConfigError line naming ``dotted``, what fits and the value given."""
    if not matches(value, ann):
        kind = "" if _is_literal(ann) else f" ({type(value).__name__})"  # a choice: the values say it all
        raise ConfigError(f"{dotted} must be {type_name(ann)}, got {short(value)}{kind}")
    bad = _bad_number(value) if finite else None
    if bad:
        raise ConfigError(f"{dotted}: {bad}; give a finite value")


def conform(value: Any, ann: Any) -> Any:
    """``value`` (already checked against ``ann``) with its lists made tuples where ``ann`` asks for a tuple,
    at any depth: YAML has no tuples, and some constructors need one (torch's Adam keeps ``betas`` as given,
    and a resume compares it with the tuple in the optimizer's state)."""
    origin, args = typing.get_origin(ann), typing.get_args(ann)
    if _is_union(ann):
        arm = next((a for a in args if matches(value, a)), None)
        return value if arm is None else conform(value, arm)
    if isinstance(value, (list, tuple)) and (origin in _SEQUENCES or ann in (list, tuple)):
        if origin is tuple and args and args[-1] is not Ellipsis:
            items = [conform(v, a) for v, a in zip(value, args)]
        else:
            items = [conform(v, args[0]) for v in value] if args else list(value)
        return tuple(items) if origin is tuple or ann is tuple else items
    if isinstance(value, dict) and origin is dict and args:
        return {k: conform(v, args[1]) for k, v in value.items()}
    return value


def signature_schema(fn) -> tuple[dict[str, inspect.Parameter], dict[str, Any], bool]:
    """(parameters, type hints, accepts **kwargs) of a registered constructor or function; the first
    argument of optimizers and schedulers (``params``, ``optimizer``) is the engine's, not the config's."""
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


def annotation(name: str, params: dict[str, inspect.Parameter], hints: dict[str, Any]) -> Any:
    """The annotation of parameter ``name`` as ``signature_schema`` found it (resolved hint, else raw)."""
    return hints.get(name, params[name].annotation)


def conform_kwargs(fn, kwargs: dict) -> dict:
    """``kwargs`` for calling ``fn``, each value conformed to its parameter's annotation (``conform``)."""
    params, hints, _ = signature_schema(fn)
    return {k: conform(v, annotation(k, params, hints)) if k in params else v for k, v in kwargs.items()}
