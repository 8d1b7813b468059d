"""One training loop for every model.

The Trainer knows devices, the loop, accumulation, clipping, AMP, schedulers, checkpoints and callbacks,
and nothing about any model: each optimizer update it asks ``model.phase(update)`` which optimizer group to
train, sums ``model.training_losses(batch, phase)`` with the config's loss weights, back-propagates and
steps that group's optimizer (see models/base.py). A GAN alternates critic and generator this way.

Resume is exact: the position (epoch, batches consumed in it, updates), every RNG state, the optimizers,
schedulers, loss weights and callback states go into the checkpoint, the data order of an epoch depends only
on (seed, epoch) (data/loader.py), and evaluation runs under a forked RNG so it never shifts the training
random stream. On CPU the final weights of a resumed run equal those of an uninterrupted one bit for bit.

Launched by torchrun with several processes, the same loop trains data-parallel (engine/distributed.py).
"""
from __future__ import annotations

import contextlib
import math
import signal
import threading
from pathlib import Path

import torch

from data.loader import InMemoryLoader
from engine import checkpoint, distributed
from engine.callbacks import Callback
from engine.evaluation import evaluate_model
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
        self.spec = config["train"]
        self.scheduler_interval = config["scheduler"].get("interval", "step")
        self.loss_weights = dict(config["loss_weights"])  # mutable by callbacks; saved with the run
        self.run_dir = Path(run_dir)
        self.callbacks = callbacks
        self.device = device
        self.dist = dist_info
        self.ddp = distributed.wrap(model, device) if dist_info.enabled else None
        self.losses_of = self.ddp if self.ddp is not None else model.training_losses  # (batch, phase) -> losses
        self.groups = model.optimizer_groups()
        # position: epoch index, batches of it consumed, optimizer updates done
        self.epoch, self.batch_in_epoch, self.step = 0, 0, 0
        self.skipped_updates = 0
        self.last_grad_norm: float | None = None
        self.stop_requested = False
        self._last_saved: tuple | None = None
        amp = self.spec["amp"] if device.type == "cuda" else "off"
        if self.spec["amp"] != "off" and amp == "off":
            print(f"note: train.amp={self.spec['amp']} ignored: AMP runs on CUDA only", flush=True)
        self.amp_dtype = {"off": None, "bf16": torch.bfloat16, "fp16": torch.float16}[amp]
        self.scaler = torch.amp.GradScaler("cuda", enabled=amp == "fp16")

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
        return {k: v.to(self.device, non_blocking=True) for k, v in batch.items()}

    @property
    def max_steps(self) -> int:
        per_epoch = math.ceil(len(self.train_loader) / self.spec["accumulate"])
        by_epochs = self.spec["epochs"] * per_epoch
        return min(by_epochs, self.spec["max_steps"]) if self.spec["max_steps"] else by_epochs

    def fit(self) -> None:
        previous = self._install_interrupt_handler()
        try:
            self._call("on_train_begin")
            while self.step < self.max_steps and not self.stop_requested:
                self._run_epoch()
            if not self.stop_requested:
                self.run_final_evaluation()
            if self._last_saved != self._position():  # the epoch-end save may already hold this state
                self.save(self.run_dir / "last.pt")
            if self.dist.enabled:
                distributed.check_in_sync(self.model, self.device)
            self._call("on_train_end")
        finally:
            if previous is not None:
                signal.signal(signal.SIGINT, previous)

    def _run_epoch(self) -> None:
        loader, k = self.train_loader, self.spec["accumulate"]
        if self.batch_in_epoch == 0:
            self._call("on_epoch_begin")
        batches = loader.batches(self.epoch, start=self.batch_in_epoch)
        n_batches = len(loader)
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
            if self.stop_requested or self.step >= self.max_steps:
                if self.batch_in_epoch < n_batches:
                    return  # stopped mid-epoch; the position is saved by fit
        if self.spec["eval_every"] and (self.epoch + 1) % self.spec["eval_every"] == 0:
            self.evaluate_and_report()
        if self.scheduler_interval == "epoch":
            for sched in self.schedulers.values():
                sched.step()
        self._call("on_epoch_end")
        self.epoch += 1
        self.batch_in_epoch = 0

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
                    losses = self.losses_of(batch, phase)
                    total = sum(self.loss_weights.get(name, 1.0) * value for name, value in losses.items())
                bad = not bool(torch.isfinite(total))
                if self.dist.enabled and distributed.any_rank(bad, self.device):
                    bad = True  # DDP expects the backward of the forward it ran: run it, then drop the grads
                    (total * 0).backward()
                if bad:
                    terms = ", ".join(f"{n}={v.item():.4g}" for n, v in losses.items())
                    if self.spec["nonfinite"] == "stop":
                        raise TrainingError(
                            f"non-finite loss at update {self.step} (epoch {self.epoch}, phase {phase}): {terms}; "
                            f"the last good checkpoint is kept in {self.run_dir}; lower optim.lr or set "
                            f"train.nonfinite=skip")
                    print(f"warning: skipping update {self.step}: non-finite loss ({terms})", flush=True)
                    self.model.zero_grad(set_to_none=True)
                    return None
                self.scaler.scale(total * share).backward()
            logged = sizes[i] / sum(sizes)  # logged undivided: the window mean of each term
            for name, value in losses.items():
                sums[name] = sums.get(name, 0.0) + value.detach().float() * logged
            total_key = "loss" if len(self.groups) == 1 else f"loss_{phase}"  # phases' totals are not comparable
            sums[total_key] = sums.get(total_key, 0.0) + total.detach().float() * logged
        return sums

    def _update(self, micro_batches: list[dict], window_samples: int) -> dict:
        phase = self.model.phase(self.step)
        optimizer = self.optimizers[phase]
        if self.dist.enabled:  # see engine/distributed.py: per-rank noise, exact on resume
            torch.manual_seed(distributed.update_seed(self.spec["seed"], self.dist.rank, self.step))
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
        if self.spec["grad_clip"] is not None:
            self.last_grad_norm = float(torch.nn.utils.clip_grad_norm_(params, self.spec["grad_clip"]))
        elif (self.step + 1) % self.spec["log_every"] == 0:
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
        return {"phase": phase, "losses": sums, "samples": window_samples}

    # ------------------------------------------------------------------------------------ evaluation
    def evaluate(self, split: str = "val", model=None) -> dict[str, float]:
        return evaluate_model(model if model is not None else self.model, self.eval_loaders[split],
                              self.device, self._autocast)

    def evaluate_and_report(self) -> dict[str, float]:
        if "val" not in self.eval_loaders or not self.dist.is_main:  # ranks > 0 train only
            return {}
        metrics = {f"val/{k}": v for k, v in self.evaluate("val").items()}
        self._call("on_validation_end", metrics)
        return metrics

    def run_final_evaluation(self) -> None:
        """Evaluate once more if the last epoch did not, and report the test split if it is held out."""
        last_epoch_evaluated = (self.spec["eval_every"] and self.batch_in_epoch == 0
                                and self.epoch % self.spec["eval_every"] == 0)
        if not last_epoch_evaluated:
            self.evaluate_and_report()
        if "test" in self.eval_loaders and self.dist.is_main:
            metrics = {f"test/{k}": v for k, v in self.evaluate("test").items()}
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
            "callbacks": {type(cb).__name__: cb.state_dict() for cb in self.callbacks},
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
        self.loss_weights = dict(state["loss_weights"])
        for cb in self.callbacks:
            cb.load_state_dict(state["callbacks"].get(type(cb).__name__, {}))
        p = state["progress"]
        self.epoch, self.batch_in_epoch, self.step = p["epoch"], p["batch_in_epoch"], p["step"]
        self.skipped_updates = p["skipped_updates"]
        if self.batch_in_epoch >= len(self.train_loader):
            self.epoch, self.batch_in_epoch = self.epoch + 1, 0
        checkpoint.set_rng_state(state["rng"])

    def _position(self) -> tuple:
        """(epoch, batch, update), with the end of an epoch written as the start of the next."""
        if self.batch_in_epoch >= len(self.train_loader):
            return self.epoch + 1, 0, self.step
        return self.epoch, self.batch_in_epoch, self.step

    def save(self, path: str | Path) -> None:
        if not self.dist.is_main:  # every rank holds the same state; rank 0 writes it
            return
        path = Path(path)
        state = self.state_dict()
        self._call("on_save_checkpoint", state)
        if path.name == "last.pt":
            checkpoint.save_rotating(state, path)
            self._last_saved = self._position()
        else:
            checkpoint.atomic_save(state, path)

    # ----------------------------------------------------------------------------------------- Ctrl-C
    def _install_interrupt_handler(self):
        """First Ctrl-C: finish the current update, save last.pt, exit cleanly. Second: abort at once."""
        if threading.current_thread() is not threading.main_thread():
            return None

        def handler(signum, frame):
            if self.stop_requested:
                raise KeyboardInterrupt
            self.stop_requested = True
            print("\ninterrupt: saving last.pt after this update (Ctrl-C again to abort)", flush=True)

        return signal.signal(signal.SIGINT, handler)
