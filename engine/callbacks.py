"""The engine's callbacks: code the Trainer runs at fixed points of the loop (the Keras hooks plus a few;
the hooks and the ``Callback`` base class are in callback_base.py).

Registered here, by the name used under ``callbacks:`` in a config: ``ema``, ``samples``, ``metrics``,
``checkpoint``, ``progress`` (``evaluate`` and ``set_value`` live in engine/experiment_callbacks.py). The
last three are on by default (``callbacks.progress: false`` turns one off). Callbacks run in the order of
``ORDER`` at every hook, so those that add metrics (ema, evaluate) come before those that log or monitor them
(metrics, checkpoint).

The "fancy callbacks" of kexue.fm/archives/5765 (docs/posts/1_callbacks_layers.md) map to:
ModelCheckpoint on val_acc -> ``checkpoint`` (monitor, mode, ties_win); the custom Evaluate -> ``evaluate``
with functions registered as kind ``metric`` (below), consumed by ``checkpoint``; LearningRateScheduler ->
scheduler ``piecewise`` (optim/schedules.py); changing a loss weight at an epoch -> ``set_value``; linear
warmup -> ``scheduler.warmup_steps`` (optim/torch_optimizers.py).
"""
from __future__ import annotations

import csv
import json
import math
import sys
import time
from pathlib import Path
from typing import Literal

import torch
from torch.optim.swa_utils import AveragedModel

import registry
from callback_base import Callback
from errors import ConfigError


@registry.register("callback", "ema")
class EMA(Callback):
    """Exponential moving average of the weights, updated after every optimizer update:
    theta_ema <- d * theta_ema + (1 - d) * theta. With ``warmup``, d_t = min(decay, (1 + t) / (10 + t)) so the
    first averages are not dominated by the initial weights. torch's ``AveragedModel`` holds the copy and the
    update counter (a tensor buffer, so it is saved and resumed with the weights). With ``evaluate``, every
    validation also runs on the EMA weights, logged as ``val_ema/...``."""

    def __init__(self, decay: float = 0.999, warmup: bool = False, update_buffers: bool = True,
                 evaluate: bool = True):
        self.decay, self.warmup, self.update_buffers, self.evaluate = decay, warmup, update_buffers, evaluate
        self.ema: AveragedModel | None = None
        self._pending: dict | None = None

    def _average(self, averaged, current, num_averaged):
        d = self.decay
        if self.warmup:
            d = min(d, (1.0 + float(num_averaged)) / (10.0 + float(num_averaged)))
        return averaged + (current - averaged) * (1.0 - d)

    def attach(self, model) -> AveragedModel:
        if self.ema is None:
            self.ema = AveragedModel(model, avg_fn=self._average, use_buffers=self.update_buffers)
            if self._pending is not None:
                self.ema.load_state_dict(self._pending)
                self._pending = None
        return self.ema

    def on_train_begin(self, trainer) -> None:
        self.attach(trainer.model)

    def on_batch_end(self, trainer, logs: dict) -> None:
        if not logs.get("skipped"):
            self.attach(trainer.model).update_parameters(trainer.model)

    def on_validation_end(self, trainer, metrics: dict) -> None:
        if self.evaluate and self.ema is not None and any(k.startswith("val/") for k in metrics):
            metrics.update({f"val_ema/{k}": v for k, v in trainer.evaluate("val", self.ema.module).items()})

    def state_dict(self) -> dict:
        return self.ema.state_dict() if self.ema is not None else {}

    def load_state_dict(self, state: dict) -> None:
        if not state:
            return
        if self.ema is not None:
            self.ema.load_state_dict(state)
        else:
            self._pending = state


@registry.register("callback", "samples")
class SampleImages(Callback):
    """Every ``every_epochs`` epochs, every ``every_steps`` optimizer updates (0 = off) and at the end, save a
    grid of ``model.sample(n, **sample_args)`` to ``<run>/samples/``, from a fixed noise seed so that grids are
    comparable across epochs (and across runs of models with the same sampler)."""
    main_process_only = True

    def __init__(self, every_epochs: int = 1, n: int = 64, nrow: int | None = None, seed: int = 0,
                 use_ema: bool = False, sample_args: dict | None = None, every_steps: int = 0):
        self.every_epochs, self.n, self.seed, self.use_ema = every_epochs, n, seed, use_ema
        self.every_steps = every_steps
        self.nrow = nrow or max(1, int(math.isqrt(n)))
        self.sample_args = sample_args or {}

    def write(self, trainer, tag: str) -> Path:
        from torchvision.utils import save_image

        model = trainer.model
        if self.use_ema:
            ema = next((cb for cb in trainer.callbacks if isinstance(cb, EMA) and cb.ema is not None), None)
            model = ema.ema.module if ema is not None else model
        was_training = model.training
        model.eval()
        g = torch.Generator(device=trainer.device).manual_seed(self.seed)
        images = model.sample(self.n, generator=g, **self.sample_args).float().cpu()
        model.train(was_training)
        path = trainer.run_dir / "samples" / f"{tag}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        save_image(images, path, nrow=self.nrow, padding=0)
        return path

    def on_epoch_end(self, trainer) -> None:
        if self.every_epochs and (trainer.epoch + 1) % self.every_epochs == 0:
            self.write(trainer, f"epoch{trainer.epoch + 1:03d}")

    def on_batch_end(self, trainer, logs: dict) -> None:
        if self.every_steps and trainer.step % self.every_steps == 0:
            self.write(trainer, f"step{trainer.step:07d}")

    def on_train_end(self, trainer) -> None:
        self.write(trainer, "last")


@registry.register("callback", "metrics")
class MetricsLogger(Callback):
    """Train metrics every ``train.log_every`` updates and every evaluation to ``<run>/metrics.jsonl``
    (one JSON object per line), one row per epoch to ``<run>/summary.csv``, and the same scalars to
    TensorBoard when it is installed. ``<run>/results.json`` (final metrics, ``"finished": true``) is written
    only when the run has done all its updates: a stopped or killed run has none (a stale one is removed
    when a run is continued).

    Time, summed over the segments of a resumed run: ``wall_s`` (seconds of wall time) and ``cpu_s`` (CPU seconds
    of the training process, ``time.process_time``: with ``train.threads=1`` the core-seconds the run used,
    which other jobs on the machine do not inflate the way they inflate wall time; None when the run was
    continued from a checkpoint that did not record it).

    A checkpoint records how much of metrics.jsonl and summary.csv belongs to its state (bytes, rows) and the
    running averages of the log interval and the epoch; a resumed run cuts both files back to that point, so
    the records a killed process wrote after its last save are not there twice."""
    main_process_only = True

    def __init__(self, tensorboard: bool = True, print_epochs: bool = True):
        self.use_tensorboard, self.print_epochs = tensorboard, print_epochs
        self.tb = None
        self.jsonl = None
        self._interval: dict = {}
        self._epoch: dict = {}
        self._last_val: dict = {}
        self._t0 = time.time()
        self._t_interval = time.time()
        self._elapsed_before = 0.0  # wall time of the run's earlier segments (before a resume)
        self._cpu_before: float | None = 0.0  # their CPU time (None: a checkpoint of older code, not recorded)
        self._cpu0 = time.process_time()
        # how much of each file this run's state accounts for: none of them for a new run; None for a
        # checkpoint written before these were recorded (the files are then left as they are)
        self._jsonl_bytes: int | None = 0
        self._summary_rows: int | None = 0

    def on_train_begin(self, trainer) -> None:
        trainer.run_dir.mkdir(parents=True, exist_ok=True)
        self._cut_back(trainer.run_dir)
        if not trainer.finished:
            (trainer.run_dir / "results.json").unlink(missing_ok=True)
        self.jsonl = open(trainer.run_dir / "metrics.jsonl", "a")
        if self.use_tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
                self.tb = SummaryWriter(str(trainer.run_dir / "tb"))
            except (ImportError, ModuleNotFoundError):
                self.tb = None
        self._t0 = self._t_interval = time.time()
        self._cpu0 = time.process_time()

    def log(self, trainer, record: dict) -> None:
        """Write one record (this callback's metrics, or an event of another callback such as set_value) to
        metrics.jsonl and TensorBoard, stamped with the update and epoch."""
        record = {"step": trainer.step, "epoch": trainer.epoch, **record}
        self.jsonl.write(json.dumps(record) + "\n")
        self.jsonl.flush()
        if self.tb is not None:
            for k, v in record.items():
                if isinstance(v, (int, float)) and k not in ("step", "epoch"):
                    self.tb.add_scalar(k, v, trainer.step)

    def _cut_back(self, run_dir: Path) -> None:
        """Truncate metrics.jsonl and summary.csv to what the resumed state accounts for."""
        jsonl, summary = run_dir / "metrics.jsonl", run_dir / "summary.csv"
        if self._jsonl_bytes is not None and jsonl.is_file() and jsonl.stat().st_size > self._jsonl_bytes:
            with open(jsonl, "r+b") as f:
                f.truncate(self._jsonl_bytes)
        if self._summary_rows is not None and summary.is_file():
            lines = summary.read_text().splitlines(keepends=True)
            keep = lines[:1 + self._summary_rows] if self._summary_rows else []
            if len(keep) < len(lines):
                summary.write_text("".join(keep))

    @staticmethod
    def _count_rows(path: Path) -> int:
        if not path.is_file():
            return 0
        with open(path, newline="") as f:
            return max(sum(1 for _ in f) - 1, 0)

    def on_batch_end(self, trainer, logs: dict) -> None:
        if logs.get("skipped"):
            return
        for bucket in (self._interval, self._epoch):
            counts = bucket.setdefault("_counts", {})  # per key: a multi-phase model (GAN) logs some keys
            for k, v in logs["losses"].items():         # only in its own phase's updates
                bucket[k] = bucket.get(k, 0.0) + v
                counts[k] = counts.get(k, 0) + 1
            bucket["_samples"] = bucket.get("_samples", 0) + logs["samples"]
        if trainer.step % trainer.train_cfg["log_every"] == 0:
            counts, elapsed = self._interval.pop("_counts"), time.time() - self._t_interval
            samples = self._interval.pop("_samples")
            record = {f"train/{k}": float(v) / counts[k] for k, v in self._interval.items()}
            for name, opt in trainer.optimizers.items():
                record[f"lr/{name}"] = opt.param_groups[0]["lr"]
            if trainer.last_grad_norm is not None:
                record["train/grad_norm"] = trainer.last_grad_norm
            # loss weights are mutable during training (set_value): log the ones in force
            record.update({f"weight/{k}": float(v) for k, v in trainer.loss_weights.items()})
            record["train/samples_per_s"] = samples / max(elapsed, 1e-9)
            self.log(trainer, record)
            self._interval, self._t_interval = {}, time.time()

    def on_validation_end(self, trainer, metrics: dict) -> None:
        self._last_val.update(metrics)
        self.log(trainer, dict(metrics))

    def on_epoch_end(self, trainer) -> None:
        counts = self._epoch.pop("_counts", {})
        self._epoch.pop("_samples", None)
        row = {"epoch": trainer.epoch + 1, "step": trainer.step,
               **{f"train/{k}": float(v) / max(counts.get(k, 0), 1) for k, v in self._epoch.items()},
               **{k: v for k, v in self._last_val.items() if k.startswith("val")},
               "lr": next(iter(trainer.optimizers.values())).param_groups[0]["lr"],
               "wall_s": round(self.wall_time(), 1), "cpu_s": self._rounded_cpu()}
        self._append_row(trainer.run_dir / "summary.csv", row)
        if self.print_epochs:
            shown = " ".join(f"{k} {v:.5g}" for k, v in row.items()
                             if k.startswith(("train/", "val")) and isinstance(v, float))
            print(f"epoch {row['epoch']}/{trainer.train_cfg['epochs']} step {trainer.step} {shown} "
                  f"({row['wall_s']} s)", flush=True)
        self._epoch = {}

    @staticmethod
    def _append_row(path: Path, row: dict) -> None:
        """Append ``row`` under the file's header; when it brings new columns (e.g. the first validation with
        train.eval_every > 1), rewrite the file (a row per epoch: small) with the union of the columns."""
        rows, header, known = [], list(row), None
        if path.exists():
            with open(path, newline="") as f:
                reader = csv.DictReader(f)
                rows, header = list(reader), list(reader.fieldnames or [])
            known = len(header)
            header += [k for k in row if k not in header]
        if known is not None and len(header) > known:
            with open(path, "w", newline="") as f:
                writer = csv.DictWriter(f, fieldnames=header)
                writer.writeheader()
                writer.writerows(rows)
        new = not path.exists()
        with open(path, "a", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=header)
            if new:
                writer.writeheader()
            writer.writerow(row)

    def wall_time(self) -> float:
        """Seconds of training so far, over all segments of a resumed run (up to each one's last save)."""
        return self._elapsed_before + time.time() - self._t0

    def cpu_time(self) -> float | None:
        """CPU seconds of the training process so far, over all segments (None: not known for an earlier one)."""
        return None if self._cpu_before is None else self._cpu_before + time.process_time() - self._cpu0

    def _rounded_cpu(self) -> float | None:
        cpu = self.cpu_time()
        return None if cpu is None else round(cpu, 1)

    @staticmethod
    def _plain(bucket: dict) -> dict:
        return {k: (v if isinstance(v, dict) else float(v)) for k, v in bucket.items()}

    def state_dict(self) -> dict:
        state = {"wall_s": self.wall_time(), "cpu_s": self.cpu_time(), "interval": self._plain(self._interval),
                 "epoch": self._plain(self._epoch), "last_val": dict(self._last_val)}
        if self.jsonl is not None and not self.jsonl.closed:
            self.jsonl.flush()
            state["jsonl_bytes"] = self.jsonl.tell()
            state["summary_rows"] = self._count_rows(Path(self.jsonl.name).with_name("summary.csv"))
        return state

    def load_state_dict(self, state: dict) -> None:
        self._elapsed_before = state.get("wall_s", 0.0)
        self._cpu_before = state.get("cpu_s") if "wall_s" in state else 0.0  # no wall_s: no earlier segment
        self._interval, self._epoch = dict(state.get("interval", {})), dict(state.get("epoch", {}))
        self._last_val = dict(state.get("last_val", {}))
        self._jsonl_bytes, self._summary_rows = state.get("jsonl_bytes"), state.get("summary_rows")

    def on_train_end(self, trainer) -> None:
        if trainer.finished:
            with open(trainer.run_dir / "results.json", "w") as f:
                json.dump({"finished": True, "step": trainer.step, "epoch": trainer.epoch, **self._last_val,
                           "wall_s": round(self.wall_time(), 1), "cpu_s": self._rounded_cpu()}, f, indent=1)
        self.jsonl.close()
        if self.tb is not None:
            self.tb.close()


@registry.register("callback", "checkpoint")
class Checkpoint(Callback):
    """Save ``best.pt`` whenever the monitored metric improves (``last.pt`` is the Trainer's own, written at
    every epoch end and every ``train.checkpoint_every`` updates). ``monitor`` is any key of the evaluation
    metrics (e.g. ``val/loss``, ``val_ema/bits_per_dim``); an evaluation of its split that does not produce
    it stops the run with the keys it did produce (a misspelt monitor would otherwise never save). With
    ``ties_win`` a value equal to the best also saves (the blog's ">=" rule: the later epoch wins).

    ``snapshot_every: N`` also keeps the weights every N updates as ``snapshots/step<N>.pt`` (config, model
    weights, progress and callback states such as the wall time; no optimizer state): what scripts score after
    training, e.g. a GAN's Fréchet distance against iterations (cheaper than computing it inside the run)."""
    main_process_only = True

    def __init__(self, monitor: str | None = None, mode: Literal["min", "max"] = "min", ties_win: bool = False,
                 snapshot_every: int = 0):
        if snapshot_every < 0:
            raise ValueError(f"snapshot_every must be >= 0 (0 = off), got {snapshot_every}")
        self.monitor, self.mode, self.ties_win, self.snapshot_every = monitor, mode, ties_win, snapshot_every
        self.best: float | None = None

    def improved(self, value: float) -> bool:
        if self.best is None:
            return True
        if value == self.best:
            return self.ties_win
        return value < self.best if self.mode == "min" else value > self.best

    def on_validation_end(self, trainer, metrics: dict) -> None:
        if self.monitor is None:
            return
        if self.monitor not in metrics:
            split = self.monitor.split("/", 1)[0] + "/"
            produced = sorted(k for k in metrics if k.startswith(split))
            if produced:
                raise ConfigError(f"callbacks.checkpoint.monitor={self.monitor} is not among the metrics the "
                                  f"evaluation produced ({', '.join(produced)}); set it to one of them")
            return
        value = metrics[self.monitor]
        if math.isfinite(value) and self.improved(value):
            self.best = value
            trainer.save(trainer.run_dir / "best.pt")

    def on_batch_end(self, trainer, logs: dict) -> None:
        if self.snapshot_every and trainer.step % self.snapshot_every == 0:
            state = trainer.state_dict()
            snapshot = {k: state[k] for k in ("format", "config", "model", "progress", "callbacks")}
            trainer.write(snapshot, trainer.run_dir / "snapshots" / f"step{trainer.step:07d}.pt")

    def state_dict(self) -> dict:
        return {"best": self.best}

    def load_state_dict(self, state: dict) -> None:
        self.best = state.get("best")


@registry.register("callback", "progress")
class Progress(Callback):
    """A tqdm bar per epoch, only when standard error is a terminal (logs stay clean otherwise)."""
    main_process_only = True

    def __init__(self, enabled: bool = True):
        self.enabled = enabled and sys.stderr.isatty()
        self.bar = None

    def on_epoch_begin(self, trainer) -> None:
        if self.enabled:
            from tqdm import tqdm
            per_epoch = math.ceil(len(trainer.train_loader) / trainer.train_cfg["accumulate"])
            self.bar = tqdm(total=per_epoch, desc=f"epoch {trainer.epoch + 1}", leave=False, dynamic_ncols=True)

    def on_batch_end(self, trainer, logs: dict) -> None:
        if self.bar is not None:
            self.bar.update(1)
            if trainer.step % trainer.train_cfg["log_every"] == 0 and "loss" in logs:
                self.bar.set_postfix(loss=f"{float(logs['loss']):.4g}", phase=logs["phase"])

    def on_epoch_end(self, trainer) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


DEFAULT_CALLBACKS = ("progress", "metrics", "checkpoint")
# ema and evaluate add metrics (val_ema/..., val/<metric>) that metrics logs and checkpoint monitors
ORDER = ("ema", "evaluate", "set_value", "samples", "metrics", "checkpoint", "progress")
