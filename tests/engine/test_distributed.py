"""Data-parallel training (engine/distributed.py) on CPU with gloo: 2 ranks give the 1-process weights for the
same global batch, resume bit for bit on every rank, and only rank 0 writes files."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from data.loader import InMemoryLoader
from engine import checkpoint
from engine.build import build_trainer, resume
from tests.engine.toy import toy_config

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def config(tmp_path, **train):
    cfg = toy_config(tmp_path, **{"epochs": 2, "batch_size": 8, "accumulate": 2, "threads": 1, **train})
    cfg["optim"] = {"name": "sgd", "lr": 0.5}
    cfg["model"]["dropout"] = 0.0  # deterministic: the ranks' random draws differ from one process's
    return cfg


def worker(rank: int, world: int, port: int, cfg: dict, run_dir: str, out: str, resume_spec) -> None:
    """One rank: what torchrun's environment gives train.py. Rank r > 0 gets the run folder ``run_dir`` + ``_rank<r>``
    so the test can see whether it wrote anything there; the weights it ends with go to ``out``."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank))
    import tests.engine.toy  # noqa: F401  (registers the toy model in this process)
    from engine import distributed
    try:
        own_dir = Path(run_dir if rank == 0 else f"{run_dir}_rank{rank}")
        trainer = build_trainer(cfg, own_dir)
        if resume_spec:
            resume(trainer, resume_spec)
        trainer.fit()
        # parameters only: buffers such as BatchNorm's running averages are per rank (DDP broadcasts rank 0's
        # at the start of every forward)
        torch.save({k: v.detach().clone() for k, v in trainer.model.named_parameters()}, f"{out}_rank{rank}.pt")
    except BaseException:
        distributed.teardown()
        raise
    distributed.teardown(sync=True)


def run_ranks(cfg: dict, run_dir: Path, out: Path, resume_spec=None, world: int = 2) -> list[dict]:
    """Spawn the ranks. Gloo on this machine now and then aborts a process (SIGABRT) as the ranks tear down
    (seen twice in about ten CI runs, in different tests; not yet understood): such a launch is retried once
    from scratch. A real failure (an exception, wrong weights) fails at once."""
    for attempt in range(2):
        try:
            mp.spawn(worker, args=(world, free_port(), cfg, str(run_dir), str(out), resume_spec), nprocs=world,
                     join=True)
            break
        except mp.ProcessExitedException as e:
            if attempt or "SIGABRT" not in str(e):
                raise
            if resume_spec is None:  # a resumed launch continues from whatever last.pt the first attempt left
                shutil.rmtree(run_dir, ignore_errors=True)
    return [torch.load(f"{out}_rank{r}.pt", weights_only=True) for r in range(world)]


def test_loader_shards_each_global_batch():
    data = {"x": torch.arange(11)}
    whole = [b["x"].tolist() for b in InMemoryLoader(data, 4, shuffle=True, seed=3).batches(1)]
    parts = [[b["x"].tolist() for b in InMemoryLoader(data, 4, shuffle=True, seed=3, rank=r, world=2).batches(1)]
             for r in range(2)]
    assert [a + b for a, b in zip(*parts)] == whole  # rank 0 the first half of each batch, rank 1 the rest
    assert [len(b) for b in parts[1]] == [2, 2, 1]


@pytest.mark.slow
def test_two_ranks_equal_one_rank_and_only_rank0_writes(tmp_path):
    cfg = config(tmp_path)  # 50 samples, global batch 8, 2 micro-batches per update: the last window is short
    single = build_trainer(cfg, tmp_path / "single")
    single.fit()
    ranks = run_ranks(cfg, tmp_path / "ddp", tmp_path / "w")
    for name, value in single.model.named_parameters():
        assert torch.allclose(ranks[0][name], value, atol=1e-6), name
        assert torch.equal(ranks[0][name], ranks[1][name]), name
    saved = checkpoint.load(tmp_path / "ddp" / "last.pt")
    assert saved["progress"]["step"] == single.step
    assert all(torch.equal(saved["model"][k], v) for k, v in ranks[0].items())
    assert not (tmp_path / "ddp_rank1").exists()  # rank 1 wrote nothing
    lines = (tmp_path / "ddp" / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == len((tmp_path / "single" / "metrics.jsonl").read_text().splitlines())


@pytest.mark.slow
def test_two_ranks_resume_bit_identically(tmp_path):
    cfg = config(tmp_path, epochs=3)
    cfg["model"]["dropout"] = 0.3  # random per rank: the resumed run must draw the same masks
    straight = run_ranks(cfg, tmp_path / "straight", tmp_path / "a")
    first = dict(cfg, train=dict(cfg["train"], max_steps=5))  # stops mid-epoch 2 (4 updates per epoch)
    run_ranks(first, tmp_path / "cut", tmp_path / "b")
    resumed = run_ranks(cfg, tmp_path / "cut", tmp_path / "c", resume_spec=str(tmp_path / "cut" / "last.pt"))
    for rank in range(2):
        for name, value in straight[rank].items():
            assert torch.equal(resumed[rank][name], value), (rank, name)
    assert checkpoint.load(tmp_path / "cut" / "last.pt")["progress"]["step"] == 12


@pytest.mark.slow
def test_torchrun_runs_train_py(tmp_path):
    """The command users type: two processes, one run folder, one log line per epoch."""
    cfg = tmp_path / "c.yaml"
    cfg.write_text("model: {name: cnn_classifier, image_shape: [1, 16, 16], classes: 10}\n"
                   "data: {name: fake, image_shape: [1, 16, 16], n_train: 64, n_test: 16}\n"
                   "optim: {name: sgd, lr: 0.01}\n"
                   f"train: {{epochs: 2, batch_size: 16, threads: 1, out_dir: '{tmp_path}', run_name: r}}\n")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           str(REPO / "train.py"), "--config", str(cfg)]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    if proc.returncode != 0 and "exitcode: -6" in proc.stderr:  # the gloo teardown abort (see run_ranks): retry once
        shutil.rmtree(tmp_path / "r", ignore_errors=True)
        proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.count("run folder") == 1 and "x 2 processes" in proc.stdout
    assert proc.stdout.count("epoch 2/2") == 1
    assert checkpoint.load(tmp_path / "r" / "last.pt")["progress"]["step"] == 8


@pytest.mark.slow
def test_batch_smaller_than_the_ranks_is_refused(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("model: {name: cnn_classifier, image_shape: [1, 16, 16], classes: 10}\n"
                   "data: {name: fake, image_shape: [1, 16, 16], n_train: 8, n_test: 8}\n"
                   f"train: {{batch_size: 1, out_dir: '{tmp_path}', run_name: r}}\n")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           str(REPO / "train.py"), "--config", str(cfg)]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    assert "raise train.batch_size" in proc.stdout + proc.stderr


@pytest.mark.slow
def test_gan_alternation_with_gradient_penalty_on_two_ranks(tmp_path):
    """Two optimizer groups (unused parameters in each phase), a double backward (GP) and spectral-norm
    buffers under DDP: both ranks end with the same weights (fit checks it) and rank 0's checkpoint holds them."""
    from engine.config import validate
    for constraint in ("gp", "sn"):
        cfg = validate({
            "model": {"name": "gan", "image_size": 32, "channels": 3, "constraint": constraint, "n_critic": 2},
            "data": {"name": "fake", "image_shape": [3, 32, 32], "n_train": 32, "n_test": 8},
            "optim": {"name": "adam", "lr": 2.0e-4, "betas": [0.5, 0.999]},
            "train": {"max_steps": 6, "epochs": 10, "batch_size": 8, "eval_every": 0, "threads": 1,
                      "out_dir": str(tmp_path), "run_name": constraint}})
        ranks = run_ranks(cfg, tmp_path / constraint, tmp_path / f"w_{constraint}")
        saved = checkpoint.load(tmp_path / constraint / "last.pt")["model"]
        assert all(torch.equal(ranks[1][k], v) and torch.equal(saved[k], v) for k, v in ranks[0].items())


def test_a_loss_term_weighted_0_on_two_ranks(tmp_path):
    """Post 3's autoencoder floor (configs/cluster_ae_*.yaml) under DDP: the terms weighted 0 are left out of the
    backward, so the classifier gets no gradient; DDP must be told (find_unused_parameters) or it stops at the
    second update."""
    from engine.config import validate
    cfg = validate({"model": {"name": "cluster_vae", "latent_dim": 4, "clusters": 3, "base_filters": 2,
                              "classifier_hidden": 8, "sample_z": False},
                    "loss_weights": {"cluster": 0, "category": 0},
                    "data": {"name": "fake", "image_shape": [1, 28, 28], "n_train": 32, "n_test": 8},
                    "optim": {"name": "sgd", "lr": 0.01},
                    "train": {"epochs": 1, "batch_size": 8, "threads": 1, "log_every": 1,
                              "out_dir": str(tmp_path), "run_name": "ae"},
                    "callbacks": {"metrics": {"tensorboard": False}}})
    ranks = run_ranks(cfg, tmp_path / "ae", tmp_path / "w")
    assert all(torch.equal(ranks[0][k], v) for k, v in ranks[1].items())
    assert checkpoint.load(tmp_path / "ae" / "last.pt")["progress"]["step"] == 4
