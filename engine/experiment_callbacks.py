"""The blog's experiment callbacks (kexue.fm/archives/5765): ``evaluate`` (any registered metric function,
for keeping the best checkpoint) and ``set_value`` (change a loss weight or a model attribute at a
given epoch or update). The core callbacks are in engine/callbacks.py.
"""
from __future__ import annotations

from typing import Literal

import torch

import registry
from callback_base import Callback
from data.loader import InMemoryLoader
from engine.callbacks import EMA, MetricsLogger
from engine.evaluation import batches_on, evaluation_mode
from errors import ConfigError


# ------------------------------------------------------------------------------ user-defined metrics
# A metric is any function ``fn(model, batches) -> float`` registered with ``@registry.register("metric",
# name)`` in a module of metrics/ (shared ones: metrics/classification.py's ``accuracy``), or of models/, data/,
# optim/ or losses/ next to the model it evaluates (all imported by engine.config.load_plugins). ``batches``
# iterates once over the split's batches (dicts of tensors already on the model's device); the model is in eval
# mode, gradients are off and the RNG is forked and seeded as in engine/evaluation.py.
# ``callbacks.evaluate.metrics: [name, ...]`` adds ``val/<name>`` to every validation.


def compute_metric(fn, model, loader, device: torch.device) -> float | dict[str, float]:
    """``fn(model, batches)`` over all batches of ``loader``, in eval mode under a forked, seeded RNG: a
    float, or a dict of floats for a function that computes several numbers in one pass."""
    with evaluation_mode(model, device):
        value = fn(model, batches_on(loader, device))
    return {k: float(v) for k, v in value.items()} if isinstance(value, dict) else float(value)


@registry.register("callback", "evaluate")
class Evaluate(Callback):
    """The blog's custom Evaluate callback: at every validation, compute each registered metric function
    in ``metrics`` on the validation split and add it as ``val/<name>`` (at the final test evaluation also
    ``test/<name>``; with ``ema`` and an ``ema`` callback, ``val_ema/<name>`` on the EMA weights). The
    ``checkpoint`` callback then keeps the best, e.g. ``checkpoint: {monitor: val/accuracy, mode: max,
    ties_win: true}`` for the blog's ">=" rule. The values are logged by ``metrics`` and kept as a history
    ([update, value] pairs per key) in this callback's state.

    A metric function may return a dict of floats instead of one float: each entry ``k`` becomes
    ``val/<name>_<k>`` (e.g. ``clustering`` gives ``val/clustering_acc``, ``val/clustering_nmi``, ...). With
    ``train_every: N`` the metrics are also computed on the whole training split (in order, at the eval
    batch size) at every N-th validation, as ``train_eval/<name>``: a full pass, so it costs time."""
    main_process_only = True

    def __init__(self, metrics: list[str], ema: bool = True, train_every: int = 0):
        known = registry.names("metric")
        unknown = [m for m in metrics if m not in known]
        if unknown:
            raise ConfigError(f"callbacks.evaluate.metrics: {', '.join(map(repr, unknown))} not a registered "
                              f"metric (registered: {', '.join(known)}); register a function with "
                              f"@register('metric', name) in a module of metrics/ or models/")
        self.fns = {name: registry.lookup("metric", name) for name in metrics}
        if train_every < 0:
            raise ConfigError(f"callbacks.evaluate.train_every must be >= 0 (0 = never), got {train_every}")
        self.use_ema, self.train_every = ema, train_every
        self.validations = 0  # validations seen, for train_every
        self.history: dict[str, list[list[float]]] = {}

    def _add(self, trainer, metrics: dict, prefix: str, model, loader) -> None:
        for name, fn in self.fns.items():
            key = f"{prefix}/{name}"
            if key in metrics:
                raise ConfigError(f"metric {name!r} would overwrite {key} computed by the model; register the "
                                  f"function under another name")
            value = compute_metric(fn, model, loader, trainer.device)
            values = {f"{key}_{k}": v for k, v in value.items()} if isinstance(value, dict) else {key: value}
            for k, v in values.items():
                metrics[k] = v
                self.history.setdefault(k, []).append([trainer.step, v])

    def on_validation_end(self, trainer, metrics: dict) -> None:
        for split in ("val", "test"):
            if split in trainer.eval_loaders and any(k.startswith(f"{split}/") for k in metrics):
                self._add(trainer, metrics, split, trainer.model, trainer.eval_loaders[split])
        ema = next((cb.ema for cb in trainer.callbacks if isinstance(cb, EMA) and cb.ema is not None), None)
        if self.use_ema and ema is not None and any(k.startswith("val/") for k in metrics):
            self._add(trainer, metrics, "val_ema", ema.module, trainer.eval_loaders["val"])
        if self.train_every and any(k.startswith("val/") for k in metrics):
            self.validations += 1
            if self.validations % self.train_every == 0:
                ordered = InMemoryLoader(trainer.train_loader.tensors, trainer.eval_loaders["val"].batch_size)
                self._add(trainer, metrics, "train_eval", trainer.model, ordered)

    def state_dict(self) -> dict:
        return {"history": self.history, "validations": self.validations}

    def load_state_dict(self, state: dict) -> None:
        self.history = {k: [list(p) for p in v] for k, v in state.get("history", {}).items()}
        self.validations = int(state.get("validations", 0))


# ------------------------------------------------------------------------------------ set a value
@registry.register("callback", "set_value")
class SetValue(Callback):
    """Set a training hyperparameter at given epochs (or updates): the blog's loss weight e = 0.1 that
    becomes 0.01 from epoch 100 on is ``set_value: {target: loss_weights.smoothing, at: {100: 0.01}}``.

    ``target``: ``loss_weights.<loss name>`` (the weight the Trainer gives that loss term; saved with the
    run) or ``model.<attribute path>`` (a number or tensor attribute of the model). ``at`` maps a 0-based
    epoch (``unit: epoch``, Keras counting: applied at the start of that epoch) or optimizer update
    (``unit: step``, applied before that update) to the value. Each change is printed and logged to
    metrics.jsonl as ``set/<target>``. The value in force is saved with the callback's state and put back
    when a run resumes, so a resumed run never reverts to the config's value."""

    TARGETS = ("loss_weights.", "model.")

    def __init__(self, target: str, at: dict[int, float], unit: Literal["epoch", "step"] = "epoch"):
        if not target.startswith(self.TARGETS) or target.endswith("."):
            raise ConfigError(f"callbacks.set_value.target must be loss_weights.<loss name> or "
                              f"model.<attribute>, got {target!r}")
        try:
            self.at = {int(k): float(v) for k, v in at.items()}
        except (TypeError, ValueError):
            raise ConfigError(f"callbacks.set_value.at must map {unit} numbers to values, got {at!r}") from None
        self.target, self.unit = target, unit
        self.current: float | None = None  # the value this callback last set (None: the config's is in force)

    def _model_owner(self, trainer):
        """(object, attribute name) of a ``model.a.b`` target."""
        *path, attr = self.target.split(".")[1:]
        owner = trainer.model
        for part in path:
            owner = getattr(owner, part, None)
        if owner is None or not hasattr(owner, attr):
            raise ConfigError(f"callbacks.set_value.target {self.target}: the model has no such attribute")
        return owner, attr

    def _set(self, trainer, value: float) -> None:
        if self.target.startswith("loss_weights."):
            trainer.loss_weights[self.target.split(".", 1)[1]] = value
        else:
            owner, attr = self._model_owner(trainer)
            old = getattr(owner, attr)
            if isinstance(old, torch.Tensor):
                with torch.no_grad():
                    old.fill_(value)
            else:
                setattr(owner, attr, value)
        self.current = value

    def _apply(self, trainer, key: int) -> None:
        if key in self.at:
            self._set(trainer, self.at[key])
            if getattr(getattr(trainer, "dist", None), "is_main", True):
                print(f"set_value: {self.target} = {self.at[key]:g} from {self.unit} {key} (update {trainer.step})",
                      flush=True)
            for cb in trainer.callbacks:
                if isinstance(cb, MetricsLogger) and getattr(cb, "jsonl", None) and not cb.jsonl.closed:
                    cb.log(trainer, {f"set/{self.target}": self.at[key]})

    def on_train_begin(self, trainer) -> None:
        if self.target.startswith("model."):
            self._model_owner(trainer)  # a wrong path fails now, not at the boundary
        if self.current is not None:  # resumed: put back the value in force when the run was saved
            self._set(trainer, self.current)

    def on_epoch_begin(self, trainer) -> None:
        if self.unit == "epoch":
            self._apply(trainer, trainer.epoch)

    def on_batch_begin(self, trainer) -> None:
        if self.unit == "step":
            self._apply(trainer, trainer.step)

    def state_dict(self) -> dict:
        return {"current": self.current}

    def load_state_dict(self, state: dict) -> None:
        self.current = state.get("current")
