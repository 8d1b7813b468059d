"""Data-parallel training through torchrun: ``torchrun --nproc_per_node=N train.py --config X`` (and, across
machines, torchrun's usual ``--nnodes --node_rank --rdzv_endpoint`` flags). Nothing changes in a config.

torchrun sets RANK, WORLD_SIZE and LOCAL_RANK; ``setup`` then joins the process group (NCCL on CUDA, gloo on
CPU) and picks the device (``cuda:LOCAL_RANK`` when the config's device is auto or cuda). The Trainer then:

* shards every global batch: ``train.batch_size`` stays the GLOBAL batch and each rank takes its slice of it
  (data/loader.py), all ranks drawing the same epoch order;
* back-propagates through torch's ``DistributedDataParallel`` wrapped around the model's
  ``training_losses(batch, phase)`` (``LossModule``), so gradients are averaged across ranks by DDP's
  bucketed all-reduce. Each rank's loss is weighted by its share of the global window, so the averaged
  gradient is that of the global batch mean: a run on N ranks gives the weights of the 1-process run with
  the same global batch, to float tolerance, for any deterministic model (with SGD; Adam divides by the root
  of tiny second moments, so coordinates whose gradient is float noise can move by up to lr per step);
  ``find_unused_parameters`` is on for models with several optimizer groups, because a phase (a GAN's critic
  or generator step) leaves the other network's parameters unused;
* draws model randomness (dropout, noise, reparameterisation) from a generator reseeded at every update from
  (seed, rank, update), so ranks draw different noise and a resumed run draws exactly what the uninterrupted
  one did without saving each rank's RNG state;
* evaluates, logs, shows progress, samples and writes checkpoints on rank 0 only (callbacks flagged
  ``main_process_only``); all ranks hold identical weights and optimizer states, and ``fit`` checks that at
  the end.

Not the same as one process: BatchNorm normalises with each rank's own batch statistics (as DDP does; the
running averages are broadcast from rank 0 at every forward), and the random draws differ from the
1-process stream.
"""
from __future__ import annotations

import dataclasses
import os

import torch
import torch.distributed as dist
from torch import nn

from errors import ConfigError


@dataclasses.dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


SINGLE = DistInfo()


def from_env() -> DistInfo:
    """The rank layout torchrun put in the environment (one process, rank 0, without torchrun)."""
    try:
        world = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    except ValueError:
        raise ConfigError("RANK, WORLD_SIZE and LOCAL_RANK must be integers; launch with torchrun") from None
    return DistInfo(rank, world, local_rank)


def setup(device: torch.device) -> tuple[DistInfo, torch.device]:
    """Join the process group when launched by torchrun with more than one process; returns the rank layout
    and this rank's device (``cuda:LOCAL_RANK`` for a CUDA device)."""
    info = from_env()
    if not info.enabled:
        return info, device
    if device.type == "cuda":
        device = torch.device("cuda", info.local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return info, device


def teardown(sync: bool = False) -> None:
    """Leave the process group. ``sync`` (the normal end of a run): wait for every rank first, so no rank
    tears down its connections while another still uses them (gloo aborts a process whose peer has gone).
    After an error there is no barrier: the other ranks may never reach it (torchrun stops them)."""
    if dist.is_initialized():
        if sync:
            dist.barrier()
        dist.destroy_process_group()


class LossModule(nn.Module):
    """What DDP wraps: forward(batch, phase) is the model's ``training_losses`` (DDP hooks ``forward``)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, batch: dict, phase: str) -> dict:
        return self.model.training_losses(batch, phase)


def wrap(model: nn.Module, device: torch.device, zero_weights: bool = False) -> nn.parallel.DistributedDataParallel:
    """DDP around the model's losses. Construction broadcasts rank 0's parameters and buffers to all ranks.
    ``find_unused_parameters`` (an extra graph traversal per update) is on for models with several optimizer
    groups, whose phases leave some parameters without gradients, and when a loss term is weighted 0
    (``zero_weights``): the Trainer leaves such a term out of the backward (engine/loss_weights.py), and with it
    the parameters only it reaches (post 3's classifier in the autoencoder floor). A weight that a callback sets
    to 0 later in a run needs the same, which DDP cannot switch on mid-run: start such a run with the weight 0."""
    return nn.parallel.DistributedDataParallel(
        LossModule(model), device_ids=[device.index] if device.type == "cuda" else None,
        find_unused_parameters=len(model.optimizer_groups()) > 1 or zero_weights)


def any_rank(flag: bool, device: torch.device) -> bool:
    """True on every rank when ``flag`` is true on at least one (a stop request, a non-finite loss)."""
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


def check_in_sync(model: nn.Module, device: torch.device) -> None:
    """Raise if the ranks' parameters differ (they must be identical after every update)."""
    with torch.no_grad():
        local = torch.stack([p.detach().double().sum() for p in model.parameters()]).to(device)
        high, low = local.clone(), local.clone()
        dist.all_reduce(high, op=dist.ReduceOp.MAX)
        dist.all_reduce(low, op=dist.ReduceOp.MIN)
    if not torch.equal(high, low):
        raise RuntimeError("the ranks' weights diverged; every rank must run the same config and code")


def update_seed(seed: int, rank: int, step: int) -> int:
    """The seed of update ``step`` on ``rank`` (distinct per rank and update, fixed by the run's seed)."""
    return ((seed * 1_000_003 + rank) * 1_000_033 + step) % (1 << 63)
