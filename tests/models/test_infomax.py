"""The InfoMax model: shapes, the loss at initialisation, the variants, and eval-mode features."""
from __future__ import annotations

import math

import pytest
import torch

from engine.config import validate
from errors import ConfigError
from models.infomax import InfoMax

SMALL = dict(image_shape=[3, 16, 16], latent_dim=8, filters=[4, 8], disc_hidden=16)


def images(n: int = 6, shape=(3, 16, 16)) -> torch.Tensor:
    return torch.randint(0, 256, (n, *shape), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("estimator", ["js", "infonce"])
@pytest.mark.parametrize("global_pair", ["z", "feature_map"])
def test_every_variant_trains_and_its_terms_start_near_chance(estimator, global_pair):
    torch.manual_seed(0)
    model = InfoMax(**SMALL, estimator=estimator, global_pair=global_pair)
    x = images()
    terms = model.training_losses({"x": x})
    assert set(terms) == {"global", "local", "prior"}
    # an untrained critic is near chance: JS near 2 log 2 per term, InfoNCE near log B
    chance = 2 * math.log(2) if estimator == "js" else math.log(len(x))
    assert float(terms["global"]) == pytest.approx(chance, rel=0.25)  # unweighted: the Trainer applies alpha, beta
    assert float(terms["local"]) == pytest.approx(chance, rel=0.25)
    assert model.default_loss_weights() == {"global": 0.5, "local": 1.5, "prior": 0.01}
    sum(terms.values()).backward()
    grads = {n: p.grad for n, p in model.named_parameters()}
    assert all(g is not None and torch.isfinite(g).all() for g in grads.values())


def test_features_are_deterministic_in_eval_mode_and_have_the_documented_shapes():
    model = InfoMax(**SMALL)
    model.training_losses({"x": images()})  # one training pass moves the BN running statistics
    model.eval()
    feats = model.features(images())
    assert {k: tuple(v.shape) for k, v in feats.items()} == {"z_mean": (6, 8), "pooled": (6, 8), "fmap": (6, 8 * 4 * 4)}
    torch.testing.assert_close(model.features(images())["z_mean"], feats["z_mean"])
    # one image's features do not depend on the rest of the batch (running statistics, not batch ones)
    torch.testing.assert_close(model.features(images()[:1])["z_mean"], feats["z_mean"][:1])


def test_pixels_are_the_blogs_scaling():
    x = torch.tensor([0, 255], dtype=torch.uint8)
    assert InfoMax.pixels(x).tolist() == [-0.5, 0.5]


def test_bad_arguments():
    with pytest.raises(ConfigError, match="model.estimator must be one of js, infonce, got 'nce'"):
        validate({"model": {"name": "infomax", **SMALL, "estimator": "nce"}})
    with pytest.raises(ValueError, match="multiples of 4"):
        InfoMax(image_shape=[3, 18, 18], filters=[4, 8])


@pytest.mark.parametrize("estimator", ["js", "infonce"])
def test_two_augmented_views_train_and_bad_view_counts_are_refused(estimator):
    torch.manual_seed(0)
    model = InfoMax(**SMALL, estimator=estimator, views=2)
    terms = model.training_losses({"x": images()})
    chance = 2 * math.log(2) if estimator == "js" else math.log(6)
    assert float(terms["local"]) == pytest.approx(chance, rel=0.25)
    sum(terms.values()).backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    with pytest.raises(ConfigError, match="model.views must be one of 1, 2, got 3"):
        validate({"model": {"name": "infomax", **SMALL, "views": 3}})
