"""The callback contract: the hooks the Trainer calls at fixed points of its loop, all no-ops here.

A callback subclasses ``Callback``, overrides the hooks it needs and registers itself by name
(``@register("callback", "ema")``), so that a config turns it on under ``callbacks:``. The engine's own
callbacks are in engine/callbacks.py and engine/experiment_callbacks.py; a callback that serves one model
lives next to it (models/seq2seq_callbacks.py). This module is at the bottom of the dependency graph with
registry.py and errors.py (it imports nothing of the project), so such a callback needs nothing of the
engine: it gets the Trainer as the argument of each hook.

Hooks: on_train_begin/end, on_epoch_begin/end, on_batch_begin/end (one "batch" = one optimizer update,
possibly several accumulated micro-batches), on_before_optimizer_step, on_validation_end (metrics dict,
which a callback may extend), on_save_checkpoint (the state about to be written). State that must survive
a resume goes through state_dict/load_state_dict.
"""
from __future__ import annotations


class Callback:
    # True for callbacks that only observe and write (logs, samples, checkpoints, progress): under torchrun
    # they run on rank 0 alone. Callbacks that change training (EMA, set_value) run on every rank.
    main_process_only = False

    def on_train_begin(self, trainer) -> None: ...
    def on_train_end(self, trainer) -> None: ...
    def on_epoch_begin(self, trainer) -> None: ...
    def on_epoch_end(self, trainer) -> None: ...
    def on_batch_begin(self, trainer) -> None: ...
    def on_batch_end(self, trainer, logs: dict) -> None: ...
    def on_before_optimizer_step(self, trainer, phase: str) -> None: ...
    def on_validation_end(self, trainer, metrics: dict) -> None: ...
    def on_save_checkpoint(self, trainer, state: dict) -> None: ...

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None: ...
