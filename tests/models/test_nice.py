"""models/nice.py: exact inverse, log-det vs autograd, the blog's split/sign/reversal, losses by hand."""
import inspect
import math

import pytest
import torch
from torch.autograd.functional import jacobian

import registry
from engine.config import validate
from errors import ConfigError
from losses.flow import bits_per_dim
from models.nice import NICE

EVEN_MASK_8 = torch.tensor([1.0, 0, 1, 0, 1, 0, 1, 0], dtype=torch.float64)
ODD_MASK_8 = 1.0 - EVEN_MASK_8


def small_nice(**overrides) -> NICE:
    """D = 8 (image 1×2×4), hidden 16, float64."""
    kwargs = dict(image_shape=(1, 2, 4), hidden_units=16, hidden_layers=2)
    kwargs.update(overrides)
    return NICE(**kwargs).double()


def set_log_scale(model: NICE, values) -> None:
    with torch.no_grad():
        model.log_scale.copy_(torch.as_tensor(values, dtype=torch.float64))


def make_coupling_constant(model: NICE, k: int, constant: float) -> None:
    """m_k(x1) = constant for every input: zero last-layer weights, bias = constant (passes the ReLU if ≥ 0)."""
    last = [module for module in model.couplings[k] if isinstance(module, torch.nn.Linear)][-1]
    with torch.no_grad():
        last.weight.zero_()
        last.bias.fill_(constant)


def coupling_shapes(model: NICE) -> list[tuple[int, int]]:
    """(input width, output width) of each m_k."""
    linears = [[layer for layer in m if isinstance(layer, torch.nn.Linear)] for m in model.couplings]
    return [(ls[0].in_features, ls[-1].out_features) for ls in linears]


def uint8_batch(n: int, shape=(1, 2, 4), seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (n, *shape), generator=g).to(torch.uint8)
    return {"x": x, "y": torch.zeros(n, dtype=torch.long)}


# ----------------------------------------------------------------------------------- invertibility
@pytest.mark.parametrize("overrides", [{}, {"output_relu": False}, {"image_shape": (1, 3, 3)},
                                       {"scaling": False, "num_couplings": 3}])
def test_inverse_of_forward_is_identity_small(overrides):
    torch.manual_seed(0)
    model = small_nice(**overrides)
    if model.log_scale is not None:
        set_log_scale(model, torch.randn(model.dim, dtype=torch.float64))
    x = torch.rand(16, model.dim, dtype=torch.float64)
    z, _ = model(x)
    assert not torch.allclose(z, x)  # the flow is not trivially the identity
    assert (model.inverse(z) - x).abs().max() < 1e-5
    assert (model(model.inverse(z))[0] - z).abs().max() < 1e-5


def test_inverse_of_forward_is_identity_blog_size():
    torch.manual_seed(0)
    model = NICE().double()
    x = torch.rand(4, 784, dtype=torch.float64)
    z, _ = model(x)
    assert (model.inverse(z) - x).abs().max() < 1e-5


# --------------------------------------------------------------------------------------- log-det
def test_log_det_matches_autograd_jacobian():
    torch.manual_seed(0)
    model = small_nice(output_relu=False)  # no output ReLU: m is non-zero almost everywhere
    set_log_scale(model, 0.5 * torch.randn(8, dtype=torch.float64))
    x = torch.rand(8, dtype=torch.float64)
    jac = jacobian(lambda v: model(v.unsqueeze(0))[0].squeeze(0), x)  # (8, 8) = ∂z/∂x
    off_diagonal_mass = (jac - torch.diag(torch.diagonal(jac))).abs().sum()
    assert off_diagonal_mass > 1e-3  # the couplings really mix dimensions
    _, log_abs_det = torch.linalg.slogdet(jac)
    _, log_det = model(x.unsqueeze(0))
    assert torch.allclose(log_det, log_abs_det.reshape(1), atol=1e-8)
    assert torch.allclose(log_det, model.log_scale.sum().reshape(1), atol=1e-12)


@pytest.mark.parametrize("num_couplings", [2, 4])
def test_odd_dimension_transforms_every_coordinate(num_couplings):
    """D = 9: a reversal keeps parity, so every second block must swap the halves or the 5 even positions
    would pass through every block untouched (a Jacobian row that is a scaled unit vector)."""
    torch.manual_seed(0)
    model = small_nice(image_shape=(1, 3, 3), output_relu=False, num_couplings=num_couplings)
    assert coupling_shapes(model) == [(5, 4), (4, 5)] * (num_couplings // 2)
    set_log_scale(model, 0.5 * torch.randn(9, dtype=torch.float64))
    x = torch.rand(9, dtype=torch.float64)
    jac = jacobian(lambda v: model(v.unsqueeze(0))[0].squeeze(0), x)  # (9, 9) = ∂z/∂x
    assert ((jac.abs() > 1e-6).sum(dim=1) >= 2).all(), jac  # every output depends on more than one input
    assert ((jac.abs() > 1e-6).sum(dim=0) >= 2).all(), jac  # every input moves more than one output
    _, log_abs_det = torch.linalg.slogdet(jac)
    z, log_det = model(x.unsqueeze(0))
    assert abs(log_det.item() - log_abs_det.item()) < 1e-4
    assert (model.inverse(z).squeeze(0) - x).abs().max() < 1e-10
    unscaled = small_nice(image_shape=(1, 3, 3), output_relu=False, num_couplings=2, scaling=False)
    xs = torch.rand(16, 9, dtype=torch.float64)
    assert ((unscaled(xs)[0] - xs).abs() > 1e-9).all()  # two reversals cancel: each coordinate was shifted


def test_even_dimension_never_swaps_the_halves():
    model = small_nice(num_couplings=4)
    assert not any(model._swaps(k) for k in range(4))
    assert coupling_shapes(model) == [(4, 4)] * 4


def test_log_det_is_zero_without_scaling():
    model = small_nice(scaling=False)
    _, log_det = model(torch.rand(3, 8, dtype=torch.float64))
    assert torch.equal(log_det, torch.zeros(3, dtype=torch.float64))


# --------------------------------------------------------------------------------- size and init
def test_parameter_count_of_the_blog_model():
    model = NICE()
    assert sum(p.numel() for p in model.parameters()) == 19_158_352  # 4 × 4,789,392 + 784
    assert model.log_scale.shape == (784,)


def test_keras_init_zero_bias_and_glorot_range():
    model = NICE(image_shape=(1, 2, 4), hidden_units=16, hidden_layers=2)
    first = model.couplings[0][0]  # Linear(4, 16): Xavier-uniform bound sqrt(6/(4 + 16))
    assert torch.equal(first.bias, torch.zeros(16))
    assert first.weight.abs().max() <= math.sqrt(6 / 20)
    std = math.sqrt(2 / 9)  # glorot_normal of a (1, 8) weight, truncated at 2 std
    assert model.log_scale.abs().max() <= 2 * std


# ------------------------------------------------------------------- split, sign and reversal
def test_zero_couplings_and_zero_scale_reduce_to_reversals():
    for num_couplings, expect_flipped in [(1, True), (3, True), (4, False)]:
        model = small_nice(num_couplings=num_couplings)
        for k in range(num_couplings):
            make_coupling_constant(model, k, 0.0)
        set_log_scale(model, torch.zeros(8))
        x = torch.rand(5, 8, dtype=torch.float64)
        z, log_det = model(x)
        # each block reverses the dims; with m = 0 nothing else happens
        assert torch.equal(z, x.flip(-1) if expect_flipped else x)
        assert torch.equal(log_det, torch.zeros(5, dtype=torch.float64))


def test_constant_coupling_shifts_exactly_the_odd_positions_after_reversal():
    model = small_nice(num_couplings=1)
    make_coupling_constant(model, 0, 3.0)
    set_log_scale(model, torch.full((8,), math.log(2.0)))
    x = torch.rand(5, 8, dtype=torch.float64)
    z, _ = model(x)
    # block: reverse, h2 = x2 − c on the odd positions of the reversed vector; then z = 2·h
    assert torch.allclose(z, 2 * (x.flip(-1) - 3.0 * ODD_MASK_8), atol=1e-12)


def test_two_constant_couplings_alternate_the_halves():
    model = small_nice(num_couplings=2)
    make_coupling_constant(model, 0, 1.0)
    make_coupling_constant(model, 1, 10.0)
    set_log_scale(model, torch.zeros(8))
    x = torch.rand(5, 8, dtype=torch.float64)
    z, _ = model(x)
    # block 1 shifts odd positions of flip(x), i.e. original even positions 6, 4, 2, 0; block 2 flips back
    # and shifts the odd positions. Contiguous halves or a missing reversal would give another pattern.
    assert torch.allclose(z, x - 1.0 * EVEN_MASK_8 - 10.0 * ODD_MASK_8, atol=1e-12)
    assert torch.allclose(model.inverse(z), x, atol=1e-12)


def test_coupling_input_is_the_even_half_of_the_reversed_vector():
    torch.manual_seed(0)
    model = small_nice(num_couplings=1, output_relu=False)
    set_log_scale(model, torch.zeros(8))
    x = torch.rand(4, 8, dtype=torch.float64)
    z, _ = model(x)
    reversed_x = x.flip(-1)
    assert torch.equal(z[:, 0::2], reversed_x[:, 0::2])  # h1 = x1 passes unchanged
    expected_odd = reversed_x[:, 1::2] - model.couplings[0](reversed_x[:, 0::2])  # minus sign of the encoder
    assert torch.allclose(z[:, 1::2], expected_odd, atol=1e-12)


# ------------------------------------------------------------------------------------------ losses
def test_blog_loss_matches_hand_computation():
    torch.manual_seed(0)
    model = small_nice(train_noise="none")
    set_log_scale(model, 0.3 * torch.randn(8, dtype=torch.float64))
    batch = uint8_batch(6)
    z, _ = model(batch["x"].reshape(6, 8).double() / 255)
    a = model.log_scale
    expected = 0.5 * (z ** 2).sum(1).mean() - a.sum()  # no (D/2)·log 2π
    assert torch.allclose(model.training_losses(batch)["nll"], expected, atol=1e-12)
    model.eval()
    metrics = model.evaluation_metrics(batch)
    assert set(metrics) == {"loss", "nll_nats", "log_det", "prior_nll"}
    torch.testing.assert_close(metrics["prior_nll"] - metrics["log_det"], metrics["nll_nats"])
    assert torch.allclose(metrics["loss"], expected, atol=1e-12)
    assert torch.allclose(metrics["nll_nats"], expected + 4 * math.log(2 * math.pi), atol=1e-10)


@pytest.mark.parametrize("prior", ["gaussian", "logistic"])
def test_dequantized_nll_and_bits_per_dim_by_hand(prior):
    torch.manual_seed(0)
    model = small_nice(preprocess="dequantize", prior=prior, train_noise="none", n_bins=256).eval()
    set_log_scale(model, 0.3 * torch.randn(8, dtype=torch.float64))
    batch = uint8_batch(6)
    torch.manual_seed(123)
    x = (batch["x"].reshape(6, 8).double() + torch.rand(6, 8, dtype=torch.float64)) / 256
    z, _ = model(x)
    if prior == "gaussian":
        log_prior = (-0.5 * z ** 2 - 0.5 * math.log(2 * math.pi)).sum(1)
    else:
        log_prior = (-z - 2 * torch.log1p(torch.exp(-z))).sum(1)  # log σ(z)σ(−z)
    nll = (-(log_prior + model.log_scale.sum())).mean()
    torch.manual_seed(123)
    metrics = model.evaluation_metrics(batch)
    assert set(metrics) == {"nll_nats", "bits_per_dim", "log_det", "prior_nll"}
    assert torch.allclose(metrics["nll_nats"], nll, atol=1e-10)
    assert torch.allclose(metrics["bits_per_dim"], (nll / 8 + math.log(256)) / math.log(2), atol=1e-10)
    assert torch.allclose(metrics["bits_per_dim"], bits_per_dim(nll, 8, 256), atol=1e-12)
    torch.manual_seed(123)
    assert torch.allclose(model.training_losses(batch)["nll"], nll, atol=1e-10)


def test_train_noise_only_in_training_mode():
    model = small_nice()  # train_noise="negative_uniform", amplitude 0.01
    x_uint8 = uint8_batch(64)["x"]
    clean = x_uint8.reshape(64, 8).double() / 255
    model.eval()
    assert torch.equal(model.preprocess(x_uint8), clean)
    assert torch.equal(model.preprocess(x_uint8), model.preprocess(x_uint8))
    model.train()
    noisy = model.preprocess(x_uint8)
    assert not torch.allclose(noisy, clean)
    assert (noisy <= clean).all() and (noisy >= clean - 0.01).all()  # x − 0.01·U[0, 1)
    assert torch.equal(small_nice(train_noise="none").train().preprocess(x_uint8), clean)


def test_one_sgd_step_lowers_the_loss():
    torch.manual_seed(0)
    model = small_nice(train_noise="none")
    batch = uint8_batch(32)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
    before = model.training_losses(batch)["nll"]
    before.backward()
    optimizer.step()
    with torch.no_grad():
        after = model.training_losses(batch)["nll"]
    assert after < before - 1e-4


# ---------------------------------------------------------------------------------------- sampling
def test_sample_shape_range_and_reproducibility():
    torch.manual_seed(0)
    model = small_nice(image_shape=(1, 4, 4)).eval()
    first = model.sample(10, generator=torch.Generator().manual_seed(7))
    again = model.sample(10, generator=torch.Generator().manual_seed(7))
    other = model.sample(10, generator=torch.Generator().manual_seed(8))
    assert first.shape == (10, 1, 4, 4)
    assert first.min() >= 0.0 and first.max() <= 1.0
    assert torch.equal(first, again)
    assert not torch.equal(first, other)


@pytest.mark.parametrize("prior", ["gaussian", "logistic"])
def test_sample_is_temperature_times_prior_noise_through_the_inverse(prior):
    model = small_nice(prior=prior, num_couplings=4)
    for k in range(4):
        make_coupling_constant(model, k, 0.0)
    set_log_scale(model, torch.zeros(8))  # the flow is now the identity
    samples = model.sample(6, generator=torch.Generator().manual_seed(3), temperature=0.5)
    g = torch.Generator().manual_seed(3)
    if prior == "gaussian":
        noise = torch.randn(6, 8, generator=g, dtype=torch.float64)
    else:
        u = torch.rand(6, 8, generator=g, dtype=torch.float64)
        noise = torch.log(u) - torch.log1p(-u)
    assert torch.allclose(samples, (0.5 * noise).clamp(0, 1).reshape(6, 1, 2, 4), atol=1e-12)


# ---------------------------------------------------------------------------------- config surface
def test_registered_with_simple_config_annotations():
    assert registry.lookup("model", "nice") is NICE
    params = inspect.signature(NICE.__init__).parameters
    defaults = {name: p.default for name, p in params.items() if name != "self"}
    assert defaults["num_couplings"] == 4 and defaults["hidden_units"] == 1000
    assert defaults["coupling"] == "additive" and defaults["prior"] == "gaussian"
    assert defaults["output_relu"] is True and defaults["scaling"] is True


@pytest.mark.parametrize("field, value, options", [
    ("coupling", "affine", "additive"),
    ("prior", "laplace", "gaussian, logistic"),
    ("train_noise", "gaussian", "none, negative_uniform"),
    ("preprocess", "logit", "blog, dequantize"),
])
def test_invalid_choices_name_the_options(field, value, options):
    """The choices are Literal annotations of the constructor: the config validator names them."""
    with pytest.raises(ConfigError) as e:
        validate({"model": {"name": "nice", field: value}})
    assert str(e.value) == f"model.{field} must be one of {options}, got {value!r}"
