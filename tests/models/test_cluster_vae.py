"""Clustering VAE (post 3): the loss against the formula by hand, the architecture, padding, sampling."""
from __future__ import annotations

import math

import pytest
import torch

from engine.config import validate
from errors import ConfigError
from losses.cluster_vae import category_term, cluster_k, cluster_term, reconstruction
from models.cluster_vae import ClusterVAE, SameConvStride2, SameConvTransposeStride2

torch.set_num_threads(1)


def test_loss_terms_on_a_tiny_case_by_hand():
    # one example, D = 1, K = 2, two pixels
    x, x_hat = torch.tensor([[0.0, 1.0]]), torch.tensor([[0.5, 0.5]])
    mean, logvar, z = torch.tensor([[0.3]]), torch.tensor([[math.log(0.25)]]), torch.tensor([[0.8]])
    mu_y = torch.tensor([[0.0], [1.0]])
    p = torch.tensor([[0.25, 0.75]])
    assert float(reconstruction(x, x_hat)) == pytest.approx(0.5 * (0.25 + 0.25))
    dec = [-0.5 * (math.log(0.25) - (0.8 - m) ** 2) for m in (0.0, 1.0)]
    k = cluster_k("december", z, mean, logvar, mu_y)
    assert k.shape == (1, 2, 1)
    assert float(cluster_term(p, k)) == pytest.approx(0.25 * dec[0] + 0.75 * dec[1])
    sep = [-0.5 * (1 + math.log(0.25) - (0.3 - m) ** 2 - 0.25) for m in (0.0, 1.0)]
    assert float(cluster_term(p, cluster_k("september", z, mean, logvar, mu_y))) == \
        pytest.approx(0.25 * sep[0] + 0.75 * sep[1])
    assert float(category_term(p)) == pytest.approx(0.25 * math.log(0.25) + 0.75 * math.log(0.75))
    assert float(category_term(torch.tensor([[1.0, 0.0]]))) == 0.0  # 0 log 0 = 0


def test_september_term_is_the_analytic_kl():
    torch.manual_seed(0)
    mean, logvar, mu_y = torch.randn(3, 4), torch.randn(3, 4) * 0.3, torch.randn(5, 4)
    k = cluster_k("september", mean, mean, logvar, mu_y).sum(dim=2)  # (3, 5)
    q = torch.distributions.Normal(mean.unsqueeze(1), torch.exp(0.5 * logvar).unsqueeze(1))
    kl = torch.distributions.kl_divergence(q, torch.distributions.Normal(mu_y, 1.0)).sum(dim=2)
    assert torch.allclose(k, kl, atol=1e-5)


def test_model_loss_equals_the_formula_with_the_same_noise():
    torch.manual_seed(0)
    model = ClusterVAE(latent_dim=3, clusters=4, base_filters=2, classifier_hidden=8)
    with torch.no_grad():
        model.cluster_means.normal_()
    x = torch.randint(0, 256, (5, 1, 28, 28), dtype=torch.uint8)
    torch.manual_seed(1)
    losses = {k: v.detach() for k, v in model.training_losses({"x": x}).items()}
    torch.manual_seed(1)
    xs = x.float() / 255
    with torch.no_grad():
        mean, logvar = model.encode(xs)
        z = mean + torch.exp(0.5 * logvar) * torch.randn_like(mean)
        p = torch.softmax(model.classifier(z), dim=1)
        recon = (0.5 * (xs - model.decode(z)) ** 2).sum(dim=(1, 2, 3)).mean()
        d2 = ((z[:, None, :] - model.cluster_means[None]) ** 2).sum(dim=2)             # (N, K)
        cluster = (p * (-0.5 * logvar.sum(dim=1, keepdim=True) + 0.5 * d2)).sum(dim=1).mean()
        category = (p * p.log()).sum(dim=1).mean()
    assert float(losses["recon"]) == pytest.approx(float(recon), rel=1e-5)  # unweighted: lambda is the Trainer's
    assert float(losses["cluster"]) == pytest.approx(float(cluster), rel=1e-5)
    assert float(losses["category"]) == pytest.approx(float(category), rel=1e-5)


def test_blog_architecture_and_defaults():
    model = ClusterVAE()
    assert model.default_loss_weights() == {"recon": 2.5, "cluster": 1.0, "category": 1.0}
    assert ClusterVAE(loss="september").default_loss_weights()["recon"] == 5.0
    assert torch.count_nonzero(model.cluster_means) == 0 and model.cluster_means.shape == (10, 20)
    h = model.encoder(torch.zeros(2, 1, 28, 28))
    assert h.shape == (2, 64 * 7 * 7)
    x_hat = model.decode(torch.zeros(2, 20)).detach()
    assert x_hat.shape == (2, 1, 28, 28) and 0 <= float(x_hat.min()) and float(x_hat.max()) <= 1
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [m.out_channels for m in convs] == [32, 32, 64, 64]
    assert all(torch.count_nonzero(m.bias) == 0 for m in convs)  # Keras: zero biases


@torch.no_grad()
def test_tensorflow_same_padding_stride2_and_its_adjoint():
    torch.manual_seed(0)
    conv, up = SameConvStride2(2, 3), SameConvTransposeStride2(3, 2)
    with torch.no_grad():
        up.weight.copy_(conv[1].weight)
        up.bias.zero_()
        conv[1].bias.zero_()
    x, y = torch.randn(1, 2, 8, 8), torch.randn(1, 3, 4, 4)
    # TF 'same', stride 2, even size: output pixel (0, 0) sees input rows/cols 0..2 (no padding before)
    assert torch.allclose(conv(x)[0, :, 0, 0], (conv[1].weight * x[0, :, :3, :3]).sum(dim=(1, 2, 3)), atol=1e-6)
    # the transposed convolution is the exact adjoint: <conv(x), y> = <x, up(y)>
    assert up(y).shape == x.shape
    assert float((conv(x) * y).sum()) == pytest.approx(float((x * up(y)).sum()), rel=1e-5)


def test_assignment_uses_the_encoder_mean():
    torch.manual_seed(0)
    model = ClusterVAE(latent_dim=4, clusters=3, base_filters=2, classifier_hidden=8).eval()
    x = torch.randint(0, 256, (6, 1, 28, 28), dtype=torch.uint8)
    ids = model.assign(x)
    mean, _ = model.encode(x.float() / 255)
    assert torch.equal(ids, model.classifier(mean).argmax(dim=1))
    assert torch.equal(ids, model.assign(x))  # deterministic


def test_sample_z_false_decodes_the_encoder_mean():
    """The autoencoder floor's model (configs/cluster_ae_*.yaml): no noise, z = μ(x) decoded and classified."""
    torch.manual_seed(0)
    model = ClusterVAE(latent_dim=4, clusters=3, base_filters=2, classifier_hidden=8, sample_z=False)
    x = torch.randint(0, 256, (6, 1, 28, 28), dtype=torch.uint8)
    first = model.training_losses({"x": x})
    assert all(torch.equal(v, first[k]) for k, v in model.training_losses({"x": x}).items())  # deterministic
    pixels = x.float() / 255
    mean, _ = model.encode(pixels)
    assert torch.equal(first["recon"], reconstruction(pixels, model.decode(mean)))
    assert torch.equal(first["category"], category_term(model.cluster_probs(mean)))
    assert validate({"model": {"name": "cluster_vae", "sample_z": False}})["model"]["sample_z"] is False


def test_samples_per_cluster():
    torch.manual_seed(0)
    model = ClusterVAE(latent_dim=4, clusters=5, base_filters=2, classifier_hidden=8).eval()
    with torch.no_grad():
        model.cluster_means.copy_(torch.arange(5.0)[:, None].expand(5, 4))
    g = torch.Generator().manual_seed(0)
    a = model.sample(10, generator=g, cluster=3)
    eps = torch.randn(10, 4, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(a, model.decode(3.0 + eps))
    grid = model.sample(10, generator=torch.Generator().manual_seed(0))  # two per cluster, in order
    assert torch.allclose(grid[6:8], model.decode(3.0 + eps[6:8]))
    with pytest.raises(ValueError, match="cluster must be in 0..4"):
        model.sample(2, cluster=5)


def test_invalid_choices_are_refused():
    with pytest.raises(ConfigError, match="model.loss must be one of december, september, got 'october'"):
        validate({"model": {"name": "cluster_vae", "loss": "october"}})
    with pytest.raises(ValueError, match="multiples of 4"):
        ClusterVAE(image_shape=[1, 30, 30])
