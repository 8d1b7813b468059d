"""From a resolved config to a ready Trainer: device, seeds, data, model, optimizers, callbacks."""
from __future__ import annotations

import inspect
import os
import random
from pathlib import Path

import numpy as np
import torch

import registry
from data.loader import InMemoryLoader
from engine import checkpoint, distributed
from engine.callbacks import DEFAULT_CALLBACKS, ORDER
from engine.config import DataSpec, diff_keys, load_plugins
from engine.trainer import Trainer
from engine.schema import plain_default
from engine.typecheck import conform_kwargs, signature_schema
from errors import CheckpointError, ConfigError, DataError
from optim.torch_optimizers import build_scheduler

def resolve_device(name: str, option: str = "train.device") -> torch.device:
    """The torch device for ``auto``, ``cpu``, ``cuda`` or ``cuda:N``; ``option`` is what the user set it
    with (the config key, or a script's ``--device``), named in the error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"{option} {name!r} is not a device; use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"{option} {name} but CUDA is not available here; use auto or cpu")
    return device


def seed_everything(seed: int, deterministic: bool) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False


def load_dataset(data_cfg: dict) -> dict[str, dict[str, torch.Tensor]]:
    """The dataset's own splits (``train``, usually ``test``) from a resolved ``data`` section, the engine's
    keys (val, limits, ...) left out: what figure scripts load to score a trained model.

    Besides its splits a dataset may return ``model_args``: values the model's config takes from the data
    (e.g. a text vocabulary), filled into the model section's null keys by ``fill_model_args``."""
    engine_keys = {f for f in DataSpec.__dataclass_fields__}
    fn = registry.lookup("dataset", data_cfg["name"])
    return fn(**conform_kwargs(fn, {k: v for k, v in data_cfg.items() if k not in engine_keys}))


def split_size(split: dict[str, torch.Tensor]) -> int:
    return len(next(iter(split.values())))


def fill_model_args(config: dict, model_args: dict) -> None:
    """Set ``config["model"][k] = v`` for each of the dataset's ``model_args`` the config leaves null (so the
    saved config, and every checkpoint, holds them); a value given in the config must agree with the data."""
    for key, value in model_args.items():
        given = config["model"].get(key)
        if given is None:
            config["model"][key] = value
        elif given != value:
            raise ConfigError(f"model.{key} is set in the config but differs from what dataset "
                              f"{config['data']['name']!r} gives; remove model.{key} (or set data.{key} to it)")
        if key in config["data"] and config["data"][key] is None:
            config["data"][key] = value  # the saved data section then re-encodes exactly as in training


def build_splits(data_cfg: dict) -> dict[str, dict[str, torch.Tensor]]:
    """Load the dataset and carve the splits the engine uses: train, val (per ``data.val``), test, plus the
    dataset's ``model_args`` when it gives any."""
    splits = load_dataset(data_cfg)
    model_args = splits.pop("model_args", {})
    train, test = splits["train"], splits.get("test")
    out = {"model_args": model_args} if model_args else {}
    if data_cfg["val"] == "split":
        if "val" not in splits:
            raise ConfigError(f"data.val=split but dataset {data_cfg['name']!r} has no val split of its own; "
                              f"use data.val=holdout or test")
        out["val"] = splits["val"]
        if test is not None:
            out["test"] = test
    elif data_cfg["val"] == "holdout":
        n = split_size(train)
        if not 0 < data_cfg["val_size"] < n:
            raise ConfigError(f"data.val_size must be between 1 and {n - 1} (train size), got {data_cfg['val_size']}")
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(data_cfg["split_seed"]))
        hold, keep = perm[:data_cfg["val_size"]], perm[data_cfg["val_size"]:]
        out["val"] = {k: v[hold] for k, v in train.items()}
        train = {k: v[keep] for k, v in train.items()}
        if test is not None:
            out["test"] = test
    elif data_cfg["val"] == "test":
        if test is None:
            raise ConfigError(f"data.val=test but dataset {data_cfg['name']!r} has no test split; use data.val=holdout")
        out["val"] = test  # the blog's habit: the test set is the validation set
    out["train"] = train
    if data_cfg["limit_train"]:
        out["train"] = {k: v[:data_cfg["limit_train"]] for k, v in out["train"].items()}
    if data_cfg["limit_eval"]:
        for split in ("val", "test"):
            if split in out:
                out[split] = {k: v[:data_cfg["limit_eval"]] for k, v in out[split].items()}
    if split_size(out["train"]) == 0:
        raise DataError(f"dataset {data_cfg['name']!r} gave an empty training split; check data.limit_train")
    return out


def available_memory(device: torch.device) -> int | None:
    """Bytes that can still be allocated on ``device``: CUDA's free memory, else the smaller of the system's
    available memory (MemAvailable, else free pages) and what this process's cgroup limit leaves; None when
    unknown."""
    if device.type == "cuda":
        try:
            return torch.cuda.mem_get_info(device)[0]
        except Exception:
            return None
    found = []
    try:
        with open("/proc/meminfo") as f:
            found += [int(line.split()[1]) * 1024 for line in f if line.startswith("MemAvailable:")]
    except (OSError, ValueError, IndexError):
        try:
            found.append(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
        except (ValueError, OSError, AttributeError):
            pass
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        used = Path("/sys/fs/cgroup/memory.current").read_text().strip()
        if limit.isdigit() and used.isdigit():
            found.append(int(limit) - int(used))
    except OSError:
        pass
    return min(found) if found else None


def _gb(n: int) -> str:
    return f"{n / 1e9:.1f} GB" if n >= 1e8 else f"{n / 1e6:.1f} MB"


def _meta_model(cls, kwargs: dict):
    """The model built on the ``meta`` device (shapes, no memory, no random draws), or None for a model whose
    constructor cannot run there (one that computes with its weights while it is built, e.g. spectral norm)."""
    try:
        with torch.device("meta"):
            return cls(**kwargs)
    except (ValueError, TypeError):
        raise
    except Exception:
        return None


def _weights_bytes(model) -> int:
    tensors = list(model.parameters()) + list(model.buffers())
    return sum(t.numel() * t.element_size() for t in tensors)


def build_model(config: dict, device: torch.device | str = "cpu", what: str = "model", shapes_of=None):
    """The model of ``config["model"]`` on ``device``. It is first built on the ``meta`` device, so that a
    model whose weights alone exceed the memory available on ``device`` is refused (one line naming its
    largest size setting) before anything is allocated, and, with ``shapes_of`` (checkpoint weights: name ->
    tensor, and the file's name: ``(weights, source)``), so that weights that do not fit the model are refused
    before it is built. ``what`` names the config's origin in messages."""
    load_plugins()
    device = torch.device(device)
    cls = registry.lookup("model", config["model"]["name"])
    kwargs = conform_kwargs(cls, {k: v for k, v in config["model"].items() if k != "name"})
    try:
        shell = _meta_model(cls, kwargs)
    except (ValueError, TypeError) as e:  # the model's own argument checks (e.g. an unknown choice)
        raise ConfigError(f"{what}: {e}") from None
    if shell is not None:
        need, free = _weights_bytes(shell), available_memory(device)
        if free is not None and need > free:
            ints = {k: v for k, v in kwargs.items() if isinstance(v, int) and not isinstance(v, bool)}
            largest = max(ints, key=ints.get) if ints else None
            setting = f" (largest size setting: model.{largest}={ints[largest]})" if largest else ""
            raise ConfigError(f"{what}: the {config['model']['name']} model{setting} needs {_gb(need)} for its "
                              f"weights alone, more than the {_gb(free)} available on {device}; use a smaller "
                              f"model")
        if shapes_of is not None:
            check_weights_fit(shell, *shapes_of)
    try:
        model = cls(**kwargs)
    except (ValueError, TypeError) as e:
        raise ConfigError(f"{what}: {e}") from None
    except (MemoryError, RuntimeError) as e:
        if "alloc" not in str(e).lower() and not isinstance(e, MemoryError):
            raise
        raise ConfigError(f"{what}: the {config['model']['name']} model does not fit in memory here; use a "
                          f"smaller model") from None
    if shell is None and shapes_of is not None:
        check_weights_fit(model, *shapes_of)
    return model.to(device)


def check_data_fits_model(config: dict, splits: dict) -> None:
    """Refuse, before the model is built, a model section whose input size disagrees with the inputs ``x``
    of the training split (the model class's ``input_mismatch``, models/base.py, says which setting and the
    fix): the first batch would otherwise end in a matrix-size traceback. Call it after ``fill_model_args``;
    data without ``x`` (text pairs) is not checked."""
    x = splits.get("train", {}).get("x")
    if x is None or x.dim() < 2:
        return
    cls = registry.lookup("model", config["model"]["name"])
    shape = [int(s) for s in x.shape[1:]]
    mismatch = getattr(cls, "input_mismatch", None)
    problem = mismatch(config["model"], shape) if mismatch is not None else None
    if problem is not None:
        setting, fix = problem
        raise ConfigError(f"{setting} but dataset {config['data']['name']!r} gives images of shape {shape}; {fix}")


def check_weights_fit(model, weights: dict, source: str) -> None:
    """Refuse checkpoint ``weights`` (name -> tensor) that are not the weights of ``model``: the first missing,
    unexpected or differently shaped tensor, in one line naming ``source``."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in weights]
    unexpected = [k for k in weights if k not in expected]
    fix = "the weights and the config in it disagree; use a checkpoint written by train.py"
    if missing:
        raise CheckpointError(f"{source}: weight {missing[0]!r} of the model its config describes is missing "
                              f"({len(missing)} missing); {fix}")
    if unexpected:
        raise CheckpointError(f"{source}: holds weight {unexpected[0][:80]!r}, which the model its config "
                              f"describes does not have ({len(unexpected)} unexpected); {fix}")
    for k, t in expected.items():
        got = weights[k]
        if not torch.is_tensor(got) or tuple(got.shape) != tuple(t.shape):
            shape = list(got.shape) if torch.is_tensor(got) else type(got).__name__
            raise CheckpointError(f"{source}: weight {k!r} has shape {shape}, but the model its config "
                                  f"describes has {list(t.shape)}; {fix}")


def build_callbacks(config: dict) -> list:
    wanted = dict.fromkeys(DEFAULT_CALLBACKS, {})
    wanted.update(config["callbacks"])
    names = [n for n in ORDER if n in wanted] + [n for n in wanted if n not in ORDER]
    callbacks = []
    for n in names:
        if wanted[n] is False:
            continue
        try:
            cls = registry.lookup("callback", n)
            cb = cls(**conform_kwargs(cls, wanted[n]))
        except ValueError as e:  # the callback's own argument checks
            raise ConfigError(f"callbacks.{n}: {e}") from None
        cb.registry_name = n  # its key in checkpoints
        callbacks.append(cb)
    return callbacks


def build_trainer(config: dict, run_dir: str | Path) -> Trainer:
    load_plugins()
    t = config["train"]
    dist_info, device = distributed.setup(resolve_device(t["device"]))  # torchrun: join the group
    if t["threads"]:
        torch.set_num_threads(t["threads"])
    if t["flush_denormal"]:
        # Weights that decay toward zero (e.g. the SN projection critic) reach float32 subnormals, which x86 CPUs
        # compute on a slow path (a measured 8x slowdown); flushing them to 0 changes values below 1.2e-38 only.
        if not torch.set_flush_denormal(True):
            print("note: train.flush_denormal=true ignored: this CPU has no flush-to-zero mode", flush=True)
    seed_everything(t["seed"], t["deterministic"])
    init_state = None
    if t["init_from"]:
        init_state = load_init_checkpoint(t["init_from"])
        inherit_model_args(config, init_state, f"train.init_from: {t['init_from']}")
    splits = build_splits(config["data"])
    fill_model_args(config, splits.pop("model_args", {}))
    check_data_fits_model(config, splits)
    model = build_model(config, device)
    if t["channels_last"]:  # NHWC convolutions: with bf16, 1.25x for InfoMax's step (bench/speed.py)
        model = model.to(memory_format=torch.channels_last)
    if t["init_from"]:
        init_weights(model, config, t["init_from"], init_state)
    groups = model.optimizer_groups()
    opt_cls = registry.lookup("optimizer", config["optim"]["name"])
    optim_kwargs = conform_kwargs(opt_cls, {k: v for k, v in config["optim"].items() if k != "name"})
    try:
        optimizers = {name: opt_cls(params, **optim_kwargs) for name, params in groups.items()}
    except ValueError as e:  # torch's and our optimizers check their hyperparameters (lr < 0, betas, ...)
        raise ConfigError(f"optim ({config['optim']['name']}): {e}") from None
    sched = config["scheduler"]
    if sched["interval"] == "epoch" and sched["warmup_steps"]:
        raise ConfigError("scheduler.warmup_steps counts optimizer updates; it needs scheduler.interval=step")
    schedulers = {name: build_scheduler(opt, sched) for name, opt in optimizers.items()}
    train_loader = InMemoryLoader(splits["train"], t["batch_size"], shuffle=True, seed=t["seed"],
                                  drop_last=t["drop_last"], rank=dist_info.rank, world=dist_info.world)
    if len(train_loader) == 0:
        raise ConfigError(f"train.batch_size={t['batch_size']} with drop_last leaves no batch of "
                          f"{train_loader.num_samples} images; lower train.batch_size")
    if dist_info.enabled:
        smallest = min(train_loader.batch_size_at(i) for i in (0, len(train_loader) - 1))
        if smallest < dist_info.world:
            raise ConfigError(f"{dist_info.world} processes but a training batch of {smallest} samples (train."
                              f"batch_size is the global batch): raise train.batch_size, or set train.drop_last="
                              f"true when the epoch's last batch is the small one")
    eval_bs = t["eval_batch_size"] or t["batch_size"]
    eval_loaders = {s: InMemoryLoader(splits[s], eval_bs) for s in ("val", "test") if s in splits}
    return Trainer(model, optimizers, schedulers, train_loader, eval_loaders, config, run_dir,
                   build_callbacks(config), device, dist_info)


def load_init_checkpoint(path: str | Path) -> dict:
    """The checkpoint of ``train.init_from``, read once (weights and config); a one-line error when missing."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise CheckpointError(f"train.init_from: {path} not found; give the path of a run's best.pt or last.pt")
    return checkpoint.load(path, expect="weights")


def inherit_model_args(config: dict, state: dict, what: str) -> None:
    """Fill the model arguments the config leaves null (the ones a dataset would otherwise supply, e.g. a
    text model's vocabulary) from the ``train.init_from`` checkpoint's model config, and a data key of the
    same name that is null too, so the data is encoded as the checkpoint's model was trained (fine-tuning a
    model on another corpus keeps its vocabulary; characters outside it become the unknown id). Keys the
    config sets are left alone: ``require_same_model`` then names any that differ."""
    saved = saved_model_config(state, what)
    fill_model_args(config, {k: v for k, v in saved.items() if config["model"].get(k, "absent") is None
                             and v is not None})


def saved_model_config(state: dict, what: str) -> dict:
    """The model section of a checkpoint's config; a one-line error when it has none."""
    saved = state.get("config", {}).get("model") if isinstance(state.get("config"), dict) else None
    if not isinstance(saved, dict):
        raise CheckpointError(f"{what} holds no model config; use a checkpoint written by train.py")
    return saved


def init_weights(model, config: dict, path: str | Path, state: dict | None = None) -> None:
    """Load the model weights of checkpoint ``path`` into ``model`` (``train.init_from``: fine-tuning, e.g. the
    seq2seq decoder pretrained on titles, or the xwlb title model on LCSTS). Only the weights: optimizer,
    schedule, epoch and callbacks start afresh. A checkpoint made with a different model config is refused,
    naming the differing keys; weights that do not fit the model, naming the first tensor. ``state``: the
    checkpoint when already read."""
    state = state if state is not None else load_init_checkpoint(path)
    require_same_model(state, config, f"train.init_from: {path}", "")
    check_weights_fit(model, state["model"], f"train.init_from: {path}")
    model.load_state_dict(state["model"])


def require_same_model(state: dict, config: dict, what: str, alternative: str) -> None:
    """Refuse a checkpoint made with a different model config, naming the differing keys."""
    saved = saved_model_config(state, what)
    differing = [k for k in diff_keys(saved, config["model"]) if not _newer_argument_at_default(k, saved, config)]
    if differing:
        raise CheckpointError(f"{what} was made with a different model config (differs in: "
                              f"{', '.join('model.' + k for k in differing)}); use the same model settings"
                              f"{alternative}")


def _newer_argument_at_default(key: str, saved: dict, config: dict) -> bool:
    """Whether model config ``key`` differs only because the checkpoint's code predates that constructor
    argument: the saved section lacks it and the config holds the constructor's default. A new argument's
    default keeps the older behaviour (the rule for adding one, docs/ADDING_A_MODEL.md), so such a checkpoint
    was made with that setting (e.g. ``gan.critic_norm: batch`` for a GAN run of older code)."""
    if "." in key or key in saved:
        return False
    try:
        params, _, _ = signature_schema(registry.lookup("model", config["model"].get("name")))
    except Exception:  # unknown model name: the config check reports it
        return False
    default = params[key].default if key in params else inspect.Parameter.empty
    return default is not inspect.Parameter.empty and config["model"].get(key) == plain_default(default)


def resume(trainer: Trainer, path_or_auto: str) -> Path | None:
    """Load a checkpoint into the trainer: ``path_or_auto`` is its path, or ``auto`` for the run folder's
    newest readable checkpoint.
    A checkpoint made with a different model config, optimizer or schedule is refused, naming the differing
    keys; changed optimizer hyperparameters (``optim.lr``, ``weight_decay``, ``betas``, ...) are applied to
    the restored optimizer, with one line saying so. ``auto`` on a folder with no checkpoint file at all (a
    run killed before its first save) starts from update 0 and returns None."""
    if path_or_auto == "auto":
        if not any((trainer.run_dir / n).exists() for n in ("last.pt", "last.prev.pt")):
            print(f"note: {trainer.run_dir} holds no checkpoint yet (stopped before its first save); "
                  f"starting from update 0", flush=True)
            return None
        path, state = checkpoint.find_resumable(trainer.run_dir)
    else:
        path, state = Path(path_or_auto), checkpoint.load(path_or_auto, expect="resume")
    require_same_model(state, trainer.config, str(path), " or start a new run with train.run_name=<new name>")
    changed = optimizer_changes(state["config"], trainer.config, str(path))
    trainer.load_state_dict(state)
    if changed:
        apply_optimizer_changes(trainer, changed)
        shown = ", ".join(f"optim.{k}={v} (was {old})" for k, (old, v) in changed.items())
        if trainer.dist.is_main:
            print(f"note: resumed with {shown}: applied to the restored optimizer", flush=True)
    return path


def optimizer_changes(saved: dict, config: dict, what: str) -> dict:
    """{key: (saved value, new value)} of the optim section's hyperparameters that differ between a
    checkpoint's config and this one. A different optimizer or scheduler section is refused: the restored
    state belongs to the saved ones."""
    old, new = saved.get("optim", {}), config["optim"]
    if old.get("name") != new["name"]:
        raise CheckpointError(f"{what} was trained with optim.name={old.get('name')}, not {new['name']}; "
                              f"resume with the same optimizer, or start a new run from its weights with "
                              f"train.init_from={what}")
    differing = diff_keys(saved.get("scheduler", {}), config["scheduler"])
    if differing:
        raise CheckpointError(f"{what} was trained with another schedule (differs in: "
                              f"{', '.join('scheduler.' + k for k in differing)}); a resumed run keeps its "
                              f"schedule: drop the change, or start a new run with train.init_from={what}")
    return {k: (old.get(k), new.get(k)) for k in sorted(set(old) | set(new), key=str)
            if k != "name" and old.get(k) != new.get(k)}


def apply_optimizer_changes(trainer: Trainer, changed: dict) -> None:
    """Set changed hyperparameters in every param group of the restored optimizers. A new ``lr`` becomes the
    schedule's base learning rate, and the current one is scaled by new/old, so the schedule goes on from
    where it was with the new base."""
    for name, opt in trainer.optimizers.items():
        for key, (old, value) in changed.items():
            if value is None:
                raise CheckpointError(f"optim.{key} was {old} in the checkpoint; a resume cannot unset it: give "
                                      f"optim.{key} a value")
            if key == "lr":
                continue
            for group in opt.param_groups:
                if key not in group:
                    raise CheckpointError(f"optim.{key} is not a setting of the restored "
                                          f"{trainer.config['optim']['name']} optimizer; drop it")
                group[key] = tuple(value) if isinstance(group[key], tuple) else value
        if "lr" in changed:
            old, value = changed["lr"]
            factor = value / old if old else None
            for group in opt.param_groups:
                group["lr"] = group["lr"] * factor if factor is not None else value
                group["initial_lr"] = value
            for sched in _schedulers_in(trainer.schedulers.get(name)):
                sched.base_lrs = [value for _ in sched.base_lrs]
                if getattr(sched, "_last_lr", None) is not None:
                    sched._last_lr = [g["lr"] for g in opt.param_groups]


def _schedulers_in(sched) -> list:
    """A scheduler and, for torch's SequentialLR (warmup in front), the ones it chains."""
    if sched is None:
        return []
    return [sched, *getattr(sched, "_schedulers", [])]


def model_from_state(state: dict, device: str | torch.device = "cpu", use_ema: bool = False,
                     source: str = "the checkpoint"):
    """The trained model (eval mode) held by a loaded checkpoint: raw weights, or the EMA ones. The weights'
    names and shapes are checked against the model the checkpoint's config describes, and its size against
    the memory available, before the model is allocated (``build_model``)."""
    weights = state["model"]
    if use_ema:
        ema = checkpoint.callback_state(state, "ema")
        if not ema:
            raise CheckpointError(f"{source} holds no EMA weights; drop --ema or train with callbacks.ema")
        weights = {k[len("module."):]: v for k, v in ema.items() if isinstance(k, str) and k.startswith("module.")}
    model = build_model(state["config"], device, what=f"{source}: its config", shapes_of=(weights, source))
    model.load_state_dict(weights)
    return model.eval()


def load_trained_model(path: str | Path, device: str | torch.device = "cpu", use_ema: bool = False):
    """(model in eval mode, config) from a checkpoint, for sampling, evaluation and figure scripts."""
    state = checkpoint.load(path, expect="weights")
    return model_from_state(state, device, use_ema, source=f"checkpoint {path}"), state["config"]
