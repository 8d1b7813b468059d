"""Time per optimizer update of the Trainer against a bare PyTorch loop, on the blog NICE (19.2M parameters).

What is measured
    (A) engine.Trainer, built from a config dict by engine.config.validate + engine.build.build_trainer, with
        the default callbacks: progress (a tqdm bar only when stderr is a terminal), metrics (metrics.jsonl
        every log_every=50 updates, summary.csv per epoch, TensorBoard on unless --no-tensorboard) and
        checkpoint (last.pt saved atomically, with fsync and last.prev.pt rotation, at every epoch end);
    (B) a hand-written loop: zero_grad, model.training_losses(batch)["nll"], backward, Adam step.
    Same architecture (the blog NICE, model defaults), same init seed, same batches (dataset ``fake``,
    MNIST-shaped uint8, batch 128, the Trainer's own loader), same Adam(lr=1e-3, eps=1e-7).

How
    One Trainer.fit() runs 1 + reps epochs of ``--updates`` updates each. A callback appended after the
    default ones times each epoch and then runs the bare loop over the same epoch's batches, so the arms
    alternate A B A B ... in one process under the same machine load; the first pair is warm-up and dropped.
    Evaluation is off (data.val: none), as the bare loop does not evaluate.
    A real MNIST epoch is 469 updates with one last.pt save; an epoch of ``--updates`` updates here would
    save far more often per update, so the epoch end (everything after the last update's callbacks: the
    summary row and the checkpoint) is timed on its own and charged once per 469 updates:
        trainer_s_per_update = median(loop_s) / updates + median(epoch_end_s) / 469
        bare_s_per_update    = median(bare_s) / updates

Acceptance: ratio = trainer_s_per_update / bare_s_per_update <= 1.05.

Threads default to 1: this 2-core machine is shared with training jobs, and two OpenMP threads competing
with them make NICE steps several times slower and erratic (--threads 0 = torch's default).

    python bench/trainer_overhead.py
"""
from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import tempfile
import time

import torch

from engine.build import build_model, build_trainer
from engine.callbacks import Callback
from engine.config import validate

MNIST_UPDATES_PER_EPOCH = 469  # ceil(60000 / 128)


def bare_epoch(model, optimizer, loader, epoch: int) -> float:
    """Seconds for one epoch of the hand-written loop over the loader's batches of ``epoch``."""
    model.train()
    start = time.perf_counter()
    for batch in loader.batches(epoch):
        optimizer.zero_grad(set_to_none=True)
        model.training_losses(batch)["nll"].backward()
        optimizer.step()
    return time.perf_counter() - start


class Interleave(Callback):
    """Appended after the default callbacks: times each Trainer epoch, then runs a bare epoch."""

    def __init__(self, model, optimizer):
        self.model, self.optimizer = model, optimizer
        self.loop_s, self.epoch_end_s, self.bare_s = [], [], []

    def on_epoch_begin(self, trainer) -> None:
        self.start = time.perf_counter()

    def on_batch_end(self, trainer, logs: dict) -> None:
        self.last_update_done = time.perf_counter()

    def on_epoch_end(self, trainer) -> None:
        now = time.perf_counter()
        self.loop_s.append(self.last_update_done - self.start)
        self.epoch_end_s.append(now - self.last_update_done)
        self.bare_s.append(bare_epoch(self.model, self.optimizer, trainer.train_loader, trainer.epoch))
        n = len(self.bare_s)
        print(f"epoch {n}{' (warm-up)' if n == 1 else ''}: trainer loop {self.loop_s[-1]:.2f} s, "
              f"epoch end {self.epoch_end_s[-1]:.2f} s, bare {self.bare_s[-1]:.2f} s", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--updates", type=int, default=25, help="updates per epoch, i.e. per arm and repetition")
    parser.add_argument("--reps", type=int, default=4, help="timed repetitions of each arm (after one warm-up)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads; 0 = torch's default")
    parser.add_argument("--no-tensorboard", action="store_true", help="switch the metrics' TensorBoard off")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory(prefix="trainer_overhead_") as run_dir:
        config = validate({
            "model": {"name": "nice"},  # the defaults are the blog's NICE
            "data": {"name": "fake", "n_train": 128 * args.updates, "val": "none"},
            "optim": {"name": "adam", "lr": 1e-3, "eps": 1e-7},
            "train": {"epochs": args.reps + 1, "batch_size": 128, "log_every": 50, "seed": args.seed,
                      "device": "cpu", "threads": args.threads or None, "out_dir": run_dir},
            "callbacks": {"metrics": {"tensorboard": not args.no_tensorboard}},
        })
        with contextlib.redirect_stdout(sys.stderr):  # the Trainer's epoch lines; stdout is for the JSON
            trainer = build_trainer(config, run_dir)
            torch.manual_seed(args.seed)  # what build_trainer does before building its model
            bare_model = build_model(config)
            for (name, a), b in zip(trainer.model.state_dict().items(), bare_model.state_dict().values()):
                assert torch.equal(a, b), f"different init: {name}"
            bare_optimizer = torch.optim.Adam(bare_model.parameters(), lr=1e-3, eps=1e-7)
            timer = Interleave(bare_model, bare_optimizer)
            trainer.callbacks.append(timer)
            trainer.fit()
        metrics = next(cb for cb in trainer.callbacks if type(cb).__name__ == "MetricsLogger")
        tensorboard = metrics.tb is not None

    loop_s, epoch_end_s, bare_s = (statistics.median(x[1:]) for x in (timer.loop_s, timer.epoch_end_s, timer.bare_s))
    trainer_per_update = loop_s / args.updates + epoch_end_s / MNIST_UPDATES_PER_EPOCH
    bare_per_update = bare_s / args.updates
    print(json.dumps({
        "bench": "trainer_overhead", "updates": args.updates * args.reps,
        "trainer_s_per_update": round(trainer_per_update, 5), "bare_s_per_update": round(bare_per_update, 5),
        "ratio": round(trainer_per_update / bare_per_update, 4),
        "loop_ratio": round(loop_s / bare_s, 4),  # without the epoch end
        "epoch_end_s": round(epoch_end_s, 3), "epoch_end_charged_per": MNIST_UPDATES_PER_EPOCH,
        "tensorboard": tensorboard, "threads": torch.get_num_threads(), "torch": torch.__version__,
    }))


if __name__ == "__main__":
    main()
