"""Loss weights: one mechanism for every model, and the one place that reads the older spellings.

A model returns its loss terms unweighted (``training_losses``) and declares the weight of each
(``default_loss_weights``: the post's values; models/base.py). The Trainer trains on

    Σ_term weight[term] · term,    weight = the model's defaults, each overridden by ``loss_weights.<term>``

(``resolve``). The resolved dict goes into the run's config, so config.yaml and every checkpoint hold every
weight in force; ``callbacks.set_value`` (target ``loss_weights.<term>``) changes entries during training; a
key that names no loss term of the model is refused at the first update of every phase
(engine/config.py's ``check_loss_weights``). Logs: ``train/<term>`` and ``val/<term>`` are the raw terms,
``train/loss`` and ``val/loss`` the weighted total (``weighted_total``), ``weight/<term>`` the weights.

Older code (up to commit e591783) weighted some terms inside the models, through constructor arguments:
``gan.gp_weight`` (gp), ``cnn_classifier.reg_weight`` (l2 or spectral), ``cluster_vae.recon_weight``
(recon) and ``infomax.alpha``/``beta``/``gamma`` (global, local, prior); each model names its own in
``Model.legacy_loss_weights``. They are translated here, and only here:

* when a config is read (``translate_config``, from engine/config.py's ``validate``): a legacy argument with
  a value becomes ``loss_weights.<term>`` (the same weight, so an old config.yaml trains on the same total);
  a null one (an old config's filled-in "the default") is dropped; one given together with
  ``loss_weights.<term>`` is refused;
* when a checkpoint is read (``upgrade_checkpoint``, from engine/checkpoint.py's ``load``): the arguments
  leave its config's model section, and the weight each applied inside the model multiplies the saved
  ``loss_weights`` entry of its term (the old Trainer weighted the already weighted term), in the saved
  config and in the saved run state. A resumed old run thus trains on the same total, bit for bit (the
  product with the old Trainer's default 1 is exact).
"""
from __future__ import annotations

import inspect
import typing
from typing import Iterable

import registry
from engine.schema import check_value
from errors import CheckpointError, ConfigError


def resolve(defaults: dict[str, float], given: dict[str, float]) -> dict[str, float]:
    """The weights in force: the model's ``defaults``, each overridden by the config's ``given`` entry."""
    return {**defaults, **given}


def training_total(losses: dict, weights: dict[str, float]):
    """The tensor the Trainer back-propagates: Σ weight · term in fp32, over the terms whose weight is not 0.

    A term weighted 0 (``loss_weights.cluster=0`` to train post 3's model as a plain autoencoder; a weight a
    ``set_value`` callback raises later) is left out of the sum, not multiplied by 0: where its gradient is
    infinite (a softmax that underflowed to exactly 0 gives ∂(p log p)/∂p = −inf) 0 · inf would put NaN into
    every weight it reaches. Where everything is finite the result and its gradients are the same, to the bit,
    as the sum over all terms (x + 0 is exact). The terms are still computed and logged. When every weight is
    0, the sum runs over all terms as before, so that a backward (which DDP needs on every rank) exists."""
    weighted = [(weights.get(name, 1.0), value) for name, value in losses.items()]
    kept = [(w, v) for w, v in weighted if w != 0] or weighted
    return sum(w * v.float() for w, v in kept)


def weighted_total(values: dict[str, float], weights: dict[str, float], terms: Iterable[str]) -> float | None:
    """Σ weight · value over the loss ``terms`` (an evaluation's metrics ``values``): the ``loss`` of a model
    whose evaluation returns its training terms; a term weighted 0 is left out, as in ``training_total``.
    None when ``values`` hold a ``loss`` of the model's own (e.g. the blog NICE's constant-free NLL) or lack
    one of the terms (e.g. a GAN's evaluation)."""
    terms = sorted(terms)
    if "loss" in values or not terms or not set(terms) <= set(values):
        return None
    return sum(w * values[t] for t in terms if (w := weights.get(t, 1.0)) != 0)


def legacy_args(model_section: dict) -> dict[str, tuple[str | None, float | None]]:
    """The older weight arguments the registered model of ``model_section`` names among the section's keys
    (``Model.legacy_loss_weights``): {argument: (its loss term or None, the weight it applied)}; {} for an
    unknown model name (the config check names that)."""
    try:
        cls = registry.lookup("model", model_section.get("name"))
    except (KeyError, TypeError):
        return {}
    hook = getattr(cls, "legacy_loss_weights", None)
    if hook is None:
        return {}
    defaults = {k: p.default for k, p in inspect.signature(cls).parameters.items()
                if p.default is not inspect.Parameter.empty}
    return {arg: spec for arg, spec in hook({**defaults, **model_section}).items() if arg in model_section}


def translate_config(cfg: dict) -> dict:
    """``cfg`` (a raw config: before its sections are checked) with the model's older weight arguments moved
    to ``loss_weights``; ``cfg`` itself is left as it is. A legacy argument set together with the
    ``loss_weights`` entry of its term is one ConfigError line."""
    model = cfg.get("model")
    if not isinstance(model, dict):
        return cfg
    legacy = legacy_args(model)
    weights = cfg.get("loss_weights") or {}
    if not legacy or not isinstance(weights, dict):
        return cfg  # nothing to move, or a malformed section that validate() names
    model, weights = dict(model), dict(weights)
    for arg, (term, _) in legacy.items():
        value = model.pop(arg)
        check_value(f"model.{arg}", value, typing.Optional[float])
        if value is None or term is None:  # the default, or a weight of a term these arguments do not have
            continue
        if term in weights:
            raise ConfigError(f"model.{arg} and loss_weights.{term} both set the weight of the {term!r} loss; "
                              f"drop model.{arg} (the older spelling of loss_weights.{term})")
        weights[term] = value
    return {**cfg, "model": model, "loss_weights": weights}


def upgrade_checkpoint(state: dict, path) -> None:
    """Rewrite, in place, a loaded checkpoint written while models weighted terms themselves: the legacy
    arguments leave ``state["config"]["model"]``, and the weight each applied multiplies its term's entry
    of ``state["config"]["loss_weights"]`` and ``state["loss_weights"]`` (1 where absent). A checkpoint of
    today's code (no legacy argument in its config), or one too malformed to tell, is left as it is: the
    structure check that follows names what is wrong."""
    config = state.get("config") if isinstance(state, dict) else None
    model = config.get("model") if isinstance(config, dict) else None
    if not isinstance(model, dict):
        return
    legacy = legacy_args(model)
    if not legacy:
        return
    config["model"] = model = dict(model)
    tables = []
    for owner in (config, state):
        if isinstance(owner.get("loss_weights"), dict):
            owner["loss_weights"] = dict(owner["loss_weights"])  # a copy each: never multiplied twice
            tables.append(owner["loss_weights"])
    for arg, (term, weight) in legacy.items():
        value = model.pop(arg)
        try:
            check_value(f"model.{arg}", value, typing.Optional[float])
        except ConfigError as e:
            raise CheckpointError(f"checkpoint {path}: its config's {e}; use a checkpoint written by train.py") \
                from None
        if term is None or weight is None:
            continue
        for table in tables:
            table[term] = table.get(term, 1.0) * weight
