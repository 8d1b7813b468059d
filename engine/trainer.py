"""One training loop for every model.

The Trainer knows devices, the loop, accumulation, clipping, AMP, schedulers, checkpoints and callbacks,
and nothing about any model: each optimizer update it asks ``model.phase(update)`` which optimizer group to
train, sums ``model.training_losses(batch, phase)`` (unweighted terms) with the loss weights, back-propagates
and steps that group's optimizer (see models/base.py). A GAN alternates critic and generator this way. The
weights are the model's ``default_loss_weights`` overridden by the config's ``loss_weights``
(engine/loss_weights.py); the resolved dict replaces ``config["loss_weights"]``, so the run's config.yaml
and every checkpoint hold every weight in force.

The Trainer alone owns the run state: it decides when ``last.pt`` is written (every
``train.checkpoint_every`` updates, at every epoch end after the evaluation and the epoch's scheduler step,
and when training stops), through engine/checkpoint.py's ``write_checkpoint``, which keeps the previous file
as ``last.prev.pt``; callbacks only add ``best.pt`` and snapshots. Resume is exact wherever a run was killed:
the position (epoch, batches consumed in it, updates; a save at an epoch's last update records the epoch's
end as still to do, so a resumed run evaluates, steps the scheduler and runs the epoch-end callbacks then),
every RNG state, the optimizers, schedulers, loss weights and callback states (keyed by registered name) go
into the checkpoint, the data order of an epoch depends only on (seed, epoch) (data/loader.py), and
evaluation runs under a forked RNG so it never shifts the training random stream. On CPU the final weights of
a resumed run equal those of an uninterrupted one bit for bit.

Ctrl-C (or SIGTERM) finishes the current update, saves ``last.pt`` and stops; a second Ctrl-C aborts at once,
except during a save, which it lets finish first. A checkpoint is never written from non-finite weights.

Launched by torchrun with several processes, the same loop trains data-parallel (engine/distributed.py).
"""
from __future__ import annotations

import contextlib
import itertools
import math
import signal
import threading
from pathlib import Path

import torch

from data.loader import InMemoryLoader
from engine import checkpoint, distributed
from engine.callbacks import Callback
from engine.config import check_loss_weights
from engine.evaluation import evaluate_model
from engine.loss_weights import resolve, training_total, weighted_total
from errors import TrainingError


class Trainer:
    def __init__(self, model, optimizers: dict, schedulers: dict, train_loader: InMemoryLoader,
                 eval_loaders: dict[str, InMemoryLoader], config: dict, run_dir: str | Path,
                 callbacks: list[Callback], device: torch.device, dist_info: distributed.DistInfo = distributed.SINGLE):
        self.model = model
        self.optimizers = optimizers
        self.schedulers = schedulers
        self.train_loader = train_loader
        self.eval_loaders = eval_loaders
        self.config = config
        self.train_cfg = config["train"]
        self.scheduler_interval = config["scheduler"].get("interval", "step")
        # the model's defaults overridden by the config; mutable by callbacks (set_value); saved with the run,
        # and written back into the config (config.yaml, checkpoints) so that it shows every weight in force
        self.loss_weights = resolve(model.default_loss_weights(), config["loss_weights"])
        config["loss_weights"] = dict(self.loss_weights)
        self.run_dir = Path(run_dir)
        self.callbacks = callbacks
        self.device = device
        self.dist = dist_info
        self.ddp = distributed.wrap(model, device, zero_weights=0 in self.loss_weights.values()) \
            if dist_info.enabled else None
        # compute_losses(batch, phase) -> the named losses: the model's training_losses, called through the
        # DDP wrapper under torchrun (so its backward all-reduces the gradients), or compiled (train.compile)
        self.compute_losses = self.ddp if self.ddp is not None else model.training_losses
        if self.train_cfg.get("compile") and self.ddp is None:
            # inductor-compiled forward and backward of the losses: on the blog NICE's fp32 step 7% faster at
            # one thread after a 31 s compile (2-core AMD EPYC); the weights and the checkpoints are unchanged
            self.compute_losses = torch.compile(model.training_losses)
        self.groups = model.optimizer_groups()
        # the loss terms each phase returns (saved with the run); once every phase has run, loss_weights is
        # checked against them
        self.loss_terms: dict[str, list[str]] = {}
        self._weights_checked = False
        # position: epoch index, batches of it consumed, optimizer updates done
        self.epoch, self.batch_in_epoch, self.step = 0, 0, 0
        self.skipped_updates = 0
        self.last_grad_norm: float | None = None
        self.stop_requested = False
        self._last_saved: tuple | None = None      # position of the last.pt this process wrote or resumed
        self.last_saved_step: int | None = None    # update of the newest last.pt, None before the first save
        self._saving = False                       # inside a checkpoint write (a second Ctrl-C waits)
        self._abort_after_save = False
        self.amp_dtype = autocast_dtype(self.train_cfg["amp"], device, announce=dist_info.is_main)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype is torch.float16)

    # ------------------------------------------------------------------------------------------ loop
    def _call(self, hook: str, *args) -> None:
        for cb in self.callbacks:
            if self.dist.is_main or not getattr(cb, "main_process_only", False):
                getattr(cb, hook)(self, *args)

    def _autocast(self):
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.amp_dtype)

    def _to_device(self, batch: dict) -> dict:
        if self.train_cfg.get("channels_last"):
            return {k: v.to(self.device, non_blocking=True, memory_format=torch.channels_last) if v.dim() == 4
                    else v.to(self.device, non_blocking=True) for k, v in batch.items()}
        return {k: v.to(self.device, non_blocking=True) for k, v in batch.items()}

    @property
    def max_steps(self) -> int:
        per_epoch = math.ceil(len(self.train_loader) / self.train_cfg["accumulate"])
        by_epochs = self.train_cfg["epochs"] * per_epoch
        return min(by_epochs, self.train_cfg["max_steps"]) if self.train_cfg["max_steps"] else by_epochs

    @property
    def finished(self) -> bool:
        """Whether the run has done all its updates and its last epoch end."""
        return self.step >= self.max_steps and self.batch_in_epoch < len(self.train_loader)

    def fit(self) -> None:
        previous = self._install_interrupt_handler()
        try:
            self._call("on_train_begin")
            while not self.finished and not self.stop_requested:
                self._run_epoch()
            if not self.stop_requested:
                self.run_final_evaluation()
            if self._last_saved != self._position():  # the epoch-end save may already hold this state
                self.save_last()
            if self.dist.enabled:
                distributed.check_in_sync(self.model, self.device)
            self._call("on_train_end")
        finally:
            for sig, handler in (previous or {}).items():
                signal.signal(sig, handler)

    def _run_epoch(self) -> None:
        loader, k = self.train_loader, self.train_cfg["accumulate"]
        n_batches = len(loader)
        if self.batch_in_epoch == 0:
            self._call("on_epoch_begin")
        batches = loader.batches(self.epoch, start=min(self.batch_in_epoch, n_batches))
        while self.batch_in_epoch < n_batches:
            # one optimizer update = a window of up to k micro-batches; the last window of an epoch may be
            # shorter. Each micro-batch loss (a batch mean) is weighted by its share of the window's samples,
            # so the summed gradient is that of the mean over the whole window, as with one large batch.
            window = range(self.batch_in_epoch, min(self.batch_in_epoch + k, n_batches))
            window_samples = sum(loader.batch_size_at(i) for i in window)
            self._call("on_batch_begin")
            logs = self._update([next(batches) for _ in window], window_samples)
            self.batch_in_epoch = window.stop
            self.step += 1
            if self.dist.enabled:  # every rank stops at the same update (Ctrl-C reaches them at different times)
                self.stop_requested = distributed.any_rank(self.stop_requested, self.device)
            self._call("on_batch_end", logs)
            every = self.train_cfg["checkpoint_every"]
            if every and self.step % every == 0:
                self.save_last()
            if self.stop_requested or (self.step >= self.max_steps and self.batch_in_epoch < n_batches):
                return  # the position (an epoch end still to do, if at the last batch) is saved by fit
        if self.stop_requested:
            return
        if self.train_cfg["eval_every"] and (self.epoch + 1) % self.train_cfg["eval_every"] == 0:
            self.evaluate_and_report()
        if self.scheduler_interval == "epoch":
            for sched in self.schedulers.values():
                sched.step()
        self._call("on_epoch_end")
        self.epoch += 1
        self.batch_in_epoch = 0
        self.save_last()

    def _window_backward(self, micro_batches: list[dict], window_samples: int, phase: str) -> dict | None:
        """Zero the grads, then back-propagate each micro-batch's weighted loss sum. Returns the window means
        of the loss terms (this rank's part of the window under torchrun), or None when a loss was not finite
        and the policy is ``skip``."""
        self.model.zero_grad(set_to_none=True)
        sums: dict[str, torch.Tensor] = {}
        sizes = [len(next(iter(b.values()))) for b in micro_batches]
        for i, batch in enumerate(micro_batches):
            # the micro-batch's share of the window's samples; under DDP times the number of ranks, because
            # DDP averages the ranks' gradients: the result is the gradient of the global window mean
            share = sizes[i] * self.dist.world / window_samples
            with contextlib.ExitStack() as stack:
                if self.ddp is not None and i < len(micro_batches) - 1:
                    stack.enter_context(self.ddp.no_sync())  # accumulate locally, all-reduce on the last
                with self._autocast():
                    losses = self.compute_losses(batch, phase)
                if not self._weights_checked:
                    self._check_weights_once(phase, losses)
                # the weighted sum in fp32, whatever precision the model's terms came in; terms weighted 0 left out
                total = training_total(losses, self.loss_weights)
                bad = not bool(torch.isfinite(total))
                if self.dist.enabled and distributed.any_rank(bad, self.device):
                    bad = True  # DDP expects the backward of the forward it ran: run it, then drop the grads
                    (total * 0).backward()
                if bad:
                    terms = ", ".join(f"{n}={v.item():.4g}" for n, v in losses.items())
                    if self.train_cfg["nonfinite"] == "stop":
                        raise TrainingError(
                            f"non-finite loss at update {self.step} (epoch {self.epoch}, phase {phase}): {terms}; "
                            f"{self.kept_checkpoint()}; lower optim.lr (a resume applies it) or set "
                            f"train.nonfinite=skip")
                    print(f"warning: skipping update {self.step}: non-finite loss ({terms})", flush=True)
                    self.model.zero_grad(set_to_none=True)
                    return None
                self.scaler.scale(total * share).backward()
            log_share = sizes[i] / sum(sizes)  # this rank's micro-batch in its window: for the logged window means
            for name, value in losses.items():
                sums[name] = sums.get(name, 0.0) + value.detach().float() * log_share
            total_key = "loss" if len(self.groups) == 1 else f"loss_{phase}"  # phases' totals are not comparable
            sums[total_key] = sums.get(total_key, 0.0) + total.detach().float() * log_share
        return sums

    def _check_weights_once(self, phase: str, losses: dict) -> None:
        """Once every phase has returned its loss terms, refuse a ``loss_weights`` key that names none of
        them (a misspelt weight would silently weigh nothing)."""
        self.loss_terms[phase] = sorted(set(self.loss_terms.get(phase, [])) | set(losses))
        if set(self.loss_terms) >= set(self.groups):
            check_loss_weights(self.loss_weights, {t for terms in self.loss_terms.values() for t in terms})
            self._weights_checked = True

    def _update(self, micro_batches: list[dict], window_samples: int) -> dict:
        phase = self.model.phase(self.step)
        optimizer = self.optimizers[phase]
        if self.dist.enabled:  # see engine/distributed.py: per-rank noise, exact on resume
            torch.manual_seed(distributed.update_seed(self.train_cfg["seed"], self.dist.rank, self.step))
        self.model.train()
        micro_batches = [self._to_device(b) for b in micro_batches]
        sums = self._window_backward(micro_batches, window_samples, phase)
        if sums is None:
            self.skipped_updates += 1
            return {"phase": phase, "skipped": True}
        self.scaler.unscale_(optimizer)
        self._call("on_before_optimizer_step", phase)
        params = self.groups[phase]
        # the grad norm is always logged; computing it is a pass over all gradients, so do it only on
        # logging steps unless clipping needs it every step
        if self.train_cfg["grad_clip"] is not None:
            self.last_grad_norm = float(torch.nn.utils.clip_grad_norm_(params, self.train_cfg["grad_clip"]))
        elif (self.step + 1) % self.train_cfg["log_every"] == 0:
            self.last_grad_norm = float(torch.nn.utils.clip_grad_norm_(params, float("inf")))
        if getattr(optimizer, "needs_closure", False):
            # e.g. Heun: the optimizer evaluates the gradient again at a trial point, on the same window
            def closure() -> torch.Tensor:
                again = self._window_backward(micro_batches, window_samples, phase)
                if again is None:
                    raise TrainingError(f"non-finite loss in the closure of update {self.step}; lower optim.lr")
                return again["loss" if len(self.groups) == 1 else f"loss_{phase}"]
            optimizer.step(closure)
        else:
            self.scaler.step(optimizer)
            self.scaler.update()
        self.model.after_optimizer_step(phase)
        if phase in self.schedulers and self.scheduler_interval == "step":
            self.schedulers[phase].step()
        total_key = "loss" if len(self.groups) == 1 else f"loss_{phase}"
        return {"phase": phase, "loss": sums[total_key], "losses": sums, "samples": window_samples}

    # ------------------------------------------------------------------------------------ evaluation
    def evaluate(self, split: str = "val", model=None) -> dict[str, float]:
        """The model's evaluation metrics on a split, always in fp32 (no autocast), so they compare across
        runs with and without ``train.amp``."""
        return evaluate_model(model if model is not None else self.model, self.eval_loaders[split], self.device)

    def evaluate_and_report(self) -> dict[str, float]:
        if "val" not in self.eval_loaders or not self.dist.is_main:  # ranks > 0 train only
            return {}
        metrics = {f"val/{k}": v for k, v in self._with_total(self.evaluate("val")).items()}
        self._call("on_validation_end", metrics)
        return metrics

    def _with_total(self, values: dict[str, float]) -> dict[str, float]:
        """An evaluation's metrics with ``loss``, the weighted total of the loss terms as in train/loss, for
        a one-phase model whose evaluation returns its (raw) training terms."""
        terms = {t for ts in self.loss_terms.values() for t in ts}
        total = weighted_total(values, self.loss_weights, terms) if len(self.groups) == 1 else None
        return values if total is None else {**values, "loss": total}

    def run_final_evaluation(self) -> None:
        """Evaluate once more if the last epoch did not, and report the test split if it is held out."""
        last_epoch_evaluated = (self.train_cfg["eval_every"] and self.batch_in_epoch == 0
                                and self.epoch % self.train_cfg["eval_every"] == 0)
        if not last_epoch_evaluated:
            self.evaluate_and_report()
        if "test" in self.eval_loaders and self.dist.is_main:
            metrics = {f"test/{k}": v for k, v in self._with_total(self.evaluate("test")).items()}
            self._call("on_validation_end", metrics)

    # ---------------------------------------------------------------------------------- checkpoints
    def state_dict(self) -> dict:
        return {
            "format": checkpoint.FORMAT,
            "config": self.config,
            "model": self.model.state_dict(),
            "optimizers": {n: o.state_dict() for n, o in self.optimizers.items()},
            "schedulers": {n: s.state_dict() for n, s in self.schedulers.items()},
            "scaler": self.scaler.state_dict(),
            "loss_weights": dict(self.loss_weights),
            "loss_terms": {k: list(v) for k, v in self.loss_terms.items()},
            "callbacks": {callback_key(cb): cb.state_dict() for cb in self.callbacks},
            "progress": dict(zip(("epoch", "batch_in_epoch", "step"), self._position()),
                             skipped_updates=self.skipped_updates),
            "rng": checkpoint.rng_state(),
        }

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        for name, opt in self.optimizers.items():
            opt.load_state_dict(state["optimizers"][name])
        for name, sched in self.schedulers.items():
            sched.load_state_dict(state["schedulers"][name])
        self.scaler.load_state_dict(state["scaler"])
        # a checkpoint holds the resolved weights; one written before they were resolved (engine/loss_weights.py
        # upgrades its legacy entries) lacks the terms that weighed 1, which the defaults fill in
        self.loss_weights = resolve(self.model.default_loss_weights(), state["loss_weights"])
        self.loss_terms = {k: list(v) for k, v in state.get("loss_terms", {}).items()}
        for cb in self.callbacks:
            cb.load_state_dict(checkpoint.callback_state(state, callback_key(cb)))
        p = state["progress"]
        self.epoch, self.batch_in_epoch, self.step = p["epoch"], p["batch_in_epoch"], p["step"]
        self.skipped_updates = p["skipped_updates"]
        # batch_in_epoch == len(loader): saved at the epoch's last update, its end (evaluation, epoch
        # scheduler step, epoch-end callbacks) still to do; _run_epoch does it first
        self.batch_in_epoch = min(self.batch_in_epoch, len(self.train_loader))
        self.last_saved_step = self.step
        checkpoint.set_rng_state(state["rng"])

    def _position(self) -> tuple:
        """(epoch, batches of it done, updates done)."""
        return self.epoch, self.batch_in_epoch, self.step

    def kept_checkpoint(self) -> str:
        """Which last.pt a stopped run leaves, in words."""
        if self.last_saved_step is None:
            return f"no checkpoint was written yet in {self.run_dir}"
        return f"{self.run_dir / 'last.pt'} (update {self.last_saved_step}) is kept"

    def _require_finite_weights(self) -> None:
        named = itertools.chain(self.model.named_parameters(), self.model.named_buffers())
        bad = [n for n, t in named if t.is_floating_point() and not bool(torch.isfinite(t).all())]
        if bad:
            more = f" and {len(bad) - 1} more" if len(bad) > 1 else ""
            raise TrainingError(f"non-finite weights after update {self.step} ({bad[0]}{more}), so they are not "
                                f"saved; {self.kept_checkpoint()}; lower optim.lr (a resume applies it) or set "
                                f"train.grad_clip")

    def save_last(self) -> None:
        """Write the run state to ``last.pt`` (the previous one kept as ``last.prev.pt``); the only writer of
        ``last.pt``. Refuses non-finite weights, so ``last.pt`` is always a state training can go on from."""
        self._require_finite_weights()
        if self.dist.is_main:  # every rank holds the same state; rank 0 writes it
            self.write(self._state_to_save(), self.run_dir / "last.pt", keep_previous=True)
        self._last_saved, self.last_saved_step = self._position(), self.step

    def save(self, path: str | Path) -> None:
        """Write the current state to ``path`` (e.g. ``best.pt``); ``last.pt`` is ``save_last``'s."""
        path = Path(path)
        if path.name in ("last.pt", "last.prev.pt"):
            raise ValueError(f"{path.name} is written by Trainer.save_last only")
        if self.dist.is_main:
            self.write(self._state_to_save(), path)

    def _state_to_save(self) -> dict:
        state = self.state_dict()
        self._call("on_save_checkpoint", state)
        return state

    def write(self, state: dict, path: str | Path, keep_previous: bool = False) -> None:
        """engine/checkpoint.py's ``write_checkpoint``, with a second Ctrl-C held back until it is done (for
        the Trainer's saves and the checkpoint callback's snapshots)."""
        self._saving = True
        try:
            checkpoint.write_checkpoint(state, path, keep_previous=keep_previous)
        finally:
            self._saving = False
        if self._abort_after_save:
            raise KeyboardInterrupt

    # ----------------------------------------------------------------------------------------- Ctrl-C
    def _install_interrupt_handler(self) -> dict | None:
        """First Ctrl-C (or SIGTERM): finish the current update, save last.pt, stop. Second: abort at once,
        or, while last.pt is being written, right after the write."""
        if threading.current_thread() is not threading.main_thread():
            return None

        def handler(signum, frame):
            if not self.stop_requested:
                self.stop_requested = True
                print("\ninterrupt: saving last.pt after this update (Ctrl-C again to abort)", flush=True)
            elif self._saving:
                self._abort_after_save = True
                print("\ninterrupt: a checkpoint is being written; aborting once it is complete", flush=True)
            else:
                raise KeyboardInterrupt

        return {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}


def autocast_dtype(amp: str, device: torch.device, announce: bool = True) -> torch.dtype | None:
    """The autocast dtype of ``train.amp`` on ``device``: bf16 on CPU and CUDA, fp16 on CUDA only (on CPU it
    stays off, with a note). On a CPU without native bf16 (no AVX512-BF16 or AMX) bf16 runs in emulation,
    slower than fp32: it is used as asked, with a note saying so. ``auto``: bf16 where the hardware computes
    it natively (such a CPU, or a CUDA GPU with bf16), else off."""
    if amp == "off":
        return None
    if amp == "auto":
        native = torch.cuda.is_bf16_supported() if device.type == "cuda" else cpu_has_native_bf16()
        return torch.bfloat16 if native else None
    if device.type == "cpu" and amp == "fp16":
        if announce:
            print("note: train.amp=fp16 ignored: fp16 autocast runs on CUDA only; use train.amp=bf16 on CPU",
                  flush=True)
        return None
    if device.type == "cpu" and announce and not cpu_has_native_bf16():
        print("note: train.amp=bf16 on a CPU without native bf16 (no AVX512-BF16 or AMX): expect it to be "
              "slower than fp32; set train.amp=off", flush=True)
    return {"bf16": torch.bfloat16, "fp16": torch.float16}[amp]


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bf16 products in hardware (AVX512-BF16 or AMX tiles)."""
    cpu = torch.cpu
    return any(bool(getattr(cpu, f, lambda: False)()) for f in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"))


def callback_key(cb: Callback) -> str:
    """A callback's key in a checkpoint: its registered name (``ema``, ``metrics``, ...), else its class
    name (callbacks made in code, not from a config)."""
    name = getattr(cb, "registry_name", None)
    return name if isinstance(name, str) else type(cb).__name__
