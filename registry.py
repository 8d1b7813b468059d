"""Name -> constructor registry shared by every package.

Models, datasets, optimizers, schedulers, callbacks and metrics register themselves next to their
definition::

    @register("model", "nice")
    class NICE(Model): ...

and configs refer to them by ``name:`` (metrics: by name, in ``callbacks.evaluate.metrics``). The
constructor's signature (parameter names, defaults and type annotations) is the schema the config validator
checks the section's other keys against.

This module imports nothing from the project, so every package can use it without reaching up into the
engine (dependencies point one way: entry points -> engine -> models/data -> losses/optim -> registry).
"""
from __future__ import annotations

from typing import Any, Callable

KINDS = ("model", "dataset", "optimizer", "scheduler", "callback", "metric")
_REGISTRY: dict[str, dict[str, Callable[..., Any]]] = {kind: {} for kind in KINDS}


def register(kind: str, name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator: make ``fn`` constructible from a config section whose ``name:`` is ``name``."""
    if kind not in _REGISTRY:
        raise ValueError(f"unknown registry kind {kind!r}; expected one of {KINDS}")

    def add(fn: Callable[..., Any]) -> Callable[..., Any]:
        table = _REGISTRY[kind]
        if name in table and table[name] is not fn:
            raise ValueError(f"{kind} {name!r} is registered twice ({table[name]!r} and {fn!r})")
        table[name] = fn
        return fn

    return add


def add(kind: str, name: str, fn: Callable[..., Any]) -> None:
    """Register an existing callable (e.g. ``torch.optim.Adam``) under ``name``."""
    register(kind, name)(fn)


def lookup(kind: str, name: str) -> Callable[..., Any]:
    """The constructor registered as ``name``; KeyError if there is none (the config layer explains)."""
    return _REGISTRY[kind][name]


def names(kind: str) -> list[str]:
    return sorted(_REGISTRY[kind])
