"""Train any model from a YAML config.

    python train.py --config configs/nice_mnist_blog.yaml [train.epochs=5 model.train_noise=none ...]
    python train.py --config configs/nice_mnist_blog.yaml --resume auto     # continue the run's last.pt
    python train.py --config configs/quickstart.yaml --print-config         # show the resolved config
    torchrun --nproc_per_node=2 train.py --config configs/quickstart.yaml   # data-parallel (engine/distributed.py)

The run folder is ``<train.out_dir>/<train.run_name>`` (run name: the config's file name by default). It gets
the resolved config (config.yaml), metrics.jsonl, summary.csv, results.json (once the run has finished),
last.pt and last.prev.pt, best.pt (when ``callbacks.checkpoint.monitor`` is set) and samples/. One process at
a time owns the folder (engine/run_folder.py). A config, data or checkpoint problem, or a folder in use or
already holding a run, prints one line and exits with code 2; Ctrl-C saves last.pt and exits with code 130.
"""
from __future__ import annotations

import shlex
import signal
import sys
from pathlib import Path

from engine import threads

threads.configure_openmp()  # before torch is imported (engine/threads.py)

from engine import config as cfg  # noqa: E402
from engine import distributed, machine, run_folder  # noqa: E402
from engine.build import build_trainer, load_plugins, resume  # noqa: E402
from engine.cli import OneLineParser, user_errors_exit_2  # noqa: E402


_active = None  # the trainer of the running command, for the script's SIGINT handler below


def sigint_outside_the_loop(signum, frame) -> None:
    """The script's SIGINT handler outside the Trainer's loop (the Trainer installs its own inside, and restores
    this one after): Python's KeyboardInterrupt, except once a stop was requested. The run has then saved and is
    on its way out with code 130, so a further Ctrl-C (a double press landing after the save, or during the
    interpreter's teardown) is ignored instead of killing the process by signal. Installed only when train.py
    runs as a script, so an in-process caller keeps its own handler."""
    if _active is not None and _active.stop_requested:
        return
    raise KeyboardInterrupt


@user_errors_exit_2
def main(argv: list[str] | None = None) -> int:
    try:
        return _main(argv)
    except KeyboardInterrupt:  # Ctrl-C before or after the training loop (inside it: see _main)
        print("\naborted", file=sys.stderr, flush=True)
        return 130


def _main(argv: list[str] | None) -> int:
    parser = OneLineParser(prog="train.py", description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="YAML file, e.g. configs/quickstart.yaml")
    parser.add_argument("--resume", help="a checkpoint path, or 'auto' for the run folder's newest one")
    parser.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    parser.add_argument("overrides", nargs="*", help="key.sub=value overrides, e.g. train.epochs=3")
    args = parser.parse_args(argv)
    load_plugins()
    config = cfg.load_config(args.config, args.overrides)
    if args.print_config:
        print(cfg.dump(config), end="")
        return 0
    if config["train"]["threads"] is None:  # neither the config nor OMP_NUM_THREADS chose: engine/threads.py
        threads.use_default_threads()
    run_dir = Path(config["train"]["out_dir"]) / config["train"]["run_name"]
    # only rank 0 writes the run folder (engine/distributed.py), so only rank 0 owns it
    lock = run_folder.claim(run_dir, resume=bool(args.resume)) if distributed.from_env().is_main else None
    trainer = None
    try:
        trainer = trainer_for(config, run_dir, args.resume)
        code = run(trainer, config, run_dir, shlex.join(["--config", args.config, *args.overrides]))
    except KeyboardInterrupt:  # a second Ctrl-C: stop at once (after a save in progress has finished)
        distributed.teardown()
        kept = trainer.kept_checkpoint() if trainer is not None else "nothing was saved"
        print(f"\naborted; {kept}", file=sys.stderr, flush=True)
        return 130
    except BaseException:
        distributed.teardown()
        raise
    finally:
        if lock is not None:
            lock.release()
    distributed.teardown(sync=True)
    return code


def trainer_for(config: dict, run_dir: Path, resume_from: str | None):
    global _active
    trainer = _active = build_trainer(config, run_dir)
    if resume_from:
        path = resume(trainer, resume_from)
        if trainer.dist.is_main and path is not None:
            print(f"resumed from {path} at epoch {trainer.epoch}, update {trainer.step}", flush=True)
    return trainer


def run(trainer, config: dict, run_dir: Path, arguments: str) -> int:
    """Train; ``arguments`` (the config and its overrides, shell-quoted) go into the line that says how to continue."""
    main_rank = trainer.dist.is_main
    if main_rank:
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "config.yaml").write_text(cfg.dump(config), encoding="utf-8")
        ranks = f" x {trainer.dist.world} processes" if trainer.dist.enabled else ""
        print(f"run folder {run_dir}; {sum(p.numel() for p in trainer.model.parameters()):,} parameters on "
              f"{trainer.device}{ranks}; {trainer.max_steps} updates", flush=True)
        machine.record_segment(run_dir, trainer.step, trainer.epoch, trainer.device)  # where this part ran
    trainer.fit()
    if trainer.stop_requested:
        if main_rank:
            print(f"stopped at update {trainer.step}; continue with: python train.py {arguments} --resume auto",
                  flush=True)
        return 130
    return 0


if __name__ == "__main__":
    signal.signal(signal.SIGINT, sigint_outside_the_loop)
    exit_code = main()
    if exit_code == 130:  # leaving after a Ctrl-C: ignored by the OS from here on, so that the interpreter's
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # teardown (which resets Python handlers) is not cut short
    sys.exit(exit_code)
