"""optim/ode.py and optim/heun.py: the hand-written optimizers against torch.optim, hand computation, the
closed-form Heun step, state_dict resume, and Heun's two gradient evaluations per Trainer update."""
from __future__ import annotations

import copy
import io

import pytest
import torch

import registry
from engine.build import build_trainer
from optim.heun import Heun
from optim.ode import AdamODE, NormalizedGD, PlainSGD, RMSpropODE, SignGD
from tests.engine.toy import toy_config

torch.set_num_threads(1)


def small_problem(dtype):
    """A 5-8-3 tanh MLP and a fixed regression batch (MSE), in ``dtype``."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3)).to(dtype)
    x, y = torch.randn(16, 5, dtype=dtype), torch.randn(16, 3, dtype=dtype)
    return net, x, y


def groups(net, lr):
    # two param groups with different rates: group handling is part of what must match
    return [{"params": net[0].parameters()}, {"params": net[2].parameters(), "lr": lr / 2}]


def train(net, opt, x, y, steps):
    for _ in range(steps):
        opt.zero_grad()
        torch.nn.functional.mse_loss(net(x), y).backward()
        opt.step()
        yield [p.detach().clone() for p in net.parameters()]


CASES = [  # (ours, torch's, hyperparameters)
    (PlainSGD, torch.optim.SGD, dict(lr=0.1, weight_decay=0.0)),
    (PlainSGD, torch.optim.SGD, dict(lr=0.1, weight_decay=0.01)),
    (RMSpropODE, torch.optim.RMSprop, dict(lr=0.01)),                                 # torch defaults
    (RMSpropODE, torch.optim.RMSprop, dict(lr=1e-3, alpha=0.9, eps=1e-7, weight_decay=0.0)),  # Keras-like
    (RMSpropODE, torch.optim.RMSprop, dict(lr=1e-2, alpha=0.9, eps=1e-7, weight_decay=0.01)),
    (AdamODE, torch.optim.Adam, dict(lr=1e-3)),                                        # torch defaults
    (AdamODE, torch.optim.Adam, dict(lr=1e-2, betas=(0.9, 0.999), eps=1e-7, weight_decay=0.0)),  # Keras-like
    (AdamODE, torch.optim.Adam, dict(lr=1e-2, betas=(0.8, 0.99), eps=1e-8, weight_decay=0.01)),
]


def max_abs_diff(a, b) -> float:
    return float((a - b).abs().max())  # (torch.testing.assert_close costs ~2 s of imports on first use)


FLOAT32 = [(*case, torch.float32, 20, 1e-6) for case in CASES]
FLOAT64 = [(*CASES[i], torch.float64, 100, 1e-12) for i in (0, 2, 3, 5, 6)]  # 100 steps in float64


@pytest.mark.parametrize("ours,theirs,kwargs,dtype,steps,atol", FLOAT32 + FLOAT64)
@pytest.mark.slow
def test_equals_torch_optim(ours, theirs, kwargs, dtype, steps, atol):
    net_a, x, y = small_problem(dtype)
    net_b = copy.deepcopy(net_a)
    opt_a = ours(groups(net_a, kwargs["lr"]), **kwargs)
    opt_b = theirs(groups(net_b, kwargs["lr"]), **kwargs)
    for step, (pa, pb) in enumerate(zip(train(net_a, opt_a, x, y, steps), train(net_b, opt_b, x, y, steps))):
        for a, b in zip(pa, pb):
            assert max_abs_diff(a, b) <= atol, f"step {step}: {max_abs_diff(a, b):.3g}"
    assert not torch.equal(pa[0], small_problem(dtype)[0][0].weight)  # it did move


def set_grads(params, grads):
    for p, g in zip(params, grads):
        p.grad = torch.tensor(g, dtype=torch.float64)


def test_normalized_gd_step_has_length_lr_over_all_groups():
    a = torch.nn.Parameter(torch.tensor([1.0, 2.0], dtype=torch.float64))
    b = torch.nn.Parameter(torch.tensor([[3.0]], dtype=torch.float64))
    opt = NormalizedGD([{"params": [a]}, {"params": [b], "lr": 0.2}], lr=0.1, eps=0.0)
    set_grads([a, b], [[3.0, 0.0], [[4.0]]])  # global norm 5 over both groups
    opt.step()
    assert torch.allclose(a, torch.tensor([1.0 - 0.1 * 3 / 5, 2.0], dtype=torch.float64), atol=1e-15)
    assert torch.allclose(b, torch.tensor([[3.0 - 0.2 * 4 / 5]], dtype=torch.float64), atol=1e-15)
    set_grads([a, b], [[0.0, 0.0], [[0.0]]])  # zero gradient: the default eps keeps the step finite (0)
    before = a.detach().clone()
    NormalizedGD([a, b], lr=0.1).step()
    assert torch.equal(a, before)


def test_sign_gd_moves_each_coordinate_by_lr():
    p = torch.nn.Parameter(torch.tensor([1.0, 1.0, 1.0, 1.0], dtype=torch.float64))
    set_grads([p], [[-2.0, 0.0, 3e-9, 50.0]])
    SignGD([p], lr=0.25).step()
    assert torch.equal(p.detach(), torch.tensor([1.25, 1.0, 0.75, 0.75], dtype=torch.float64))


def test_plain_sgd_applies_the_keras_constraint_after_the_step():
    p = torch.nn.Parameter(torch.tensor([0.0, 0.5]))
    p.constraint = lambda w: w.clamp(-0.6, 0.6)  # Keras' kernel_constraint: a projection after the update
    p.grad = torch.tensor([-1.0, -1.0])
    PlainSGD([p], lr=0.2).step()
    assert torch.equal(p.detach(), torch.tensor([0.2, 0.6]))


def quadratic_closure(theta, A, counter):
    def closure():
        counter.append(1)
        theta.grad = None
        loss = 0.5 * theta @ A @ theta
        loss.backward()
        return loss
    return closure


@pytest.mark.parametrize("trainer_style", [True, False])
def test_heun_matches_closed_form_on_a_quadratic(trainer_style):
    A = torch.tensor([[1.0, 0.3], [0.3, 100.0]], dtype=torch.float64)
    theta0 = torch.tensor([1.0, -0.5], dtype=torch.float64)
    theta = torch.nn.Parameter(theta0.clone())
    lr, calls = 0.007, []
    opt = Heun([theta], lr=lr)
    closure = quadratic_closure(theta, A, calls)
    if trainer_style:  # the Trainer computes g at θ before step(closure)
        closure()
    opt.step(closure)
    assert len(calls) == 2  # g at θ and g̃ at θ̃, whoever computed the first
    expected = theta0 - lr / 2 * (A @ theta0 + A @ (theta0 - lr * A @ theta0))
    assert max_abs_diff(theta.detach(), expected) <= 1e-14
    assert theta.grad is None  # the trial-point gradient is not left behind


def test_heun_without_closure_is_an_error():
    with pytest.raises(RuntimeError, match="closure"):
        Heun([torch.nn.Parameter(torch.zeros(1))]).step()


RESUMABLE = [(PlainSGD, dict(lr=0.1)), (NormalizedGD, dict(lr=0.05)), (SignGD, dict(lr=0.01)),
             (RMSpropODE, dict(lr=0.01, alpha=0.9)), (AdamODE, dict(lr=0.01)), (Heun, dict(lr=0.1))]


@pytest.mark.parametrize("cls,kwargs", RESUMABLE)
def test_state_dict_round_trip_resumes_identically(cls, kwargs):
    net, x, y = small_problem(torch.float32)

    def run(model, opt, steps):
        def closure():
            opt.zero_grad()
            loss = torch.nn.functional.mse_loss(model(x), y)
            loss.backward()
            return loss
        for _ in range(steps):
            opt.step(closure)  # the non-Heun optimizers evaluate the closure once, like torch's

    opt = cls(net.parameters(), **kwargs)
    run(net, opt, 5)
    buffer = io.BytesIO()
    torch.save({"model": net.state_dict(), "opt": opt.state_dict()}, buffer)
    run(net, opt, 5)
    buffer.seek(0)
    saved = torch.load(buffer, weights_only=True)  # as the checkpoints are loaded
    fresh = small_problem(torch.float32)[0]
    fresh.load_state_dict(saved["model"])
    fresh_opt = cls(fresh.parameters(), **kwargs)
    fresh_opt.load_state_dict(saved["opt"])
    run(fresh, fresh_opt, 5)
    for a, b in zip(net.parameters(), fresh.parameters()):
        assert torch.equal(a, b)


@pytest.mark.parametrize("name", ["sgd_plain", "rmsprop_ode", "adam_ode", "normalized_gd", "sign_gd", "heun"])
def test_each_registered_optimizer_descends_a_quadratic_from_its_config_name(name):
    """What a config's ``optim.name`` gets: the registered class, which minimises f(x) = |x - 1|^2 / 2."""
    x = torch.nn.Parameter(torch.full((5,), 3.0))
    opt = registry.lookup("optimizer", name)([x], lr=0.05)

    def loss():
        opt.zero_grad()
        value = 0.5 * ((x - 1) ** 2).sum()
        value.backward()
        return value

    start = float(loss())
    for _ in range(30):
        loss()
        opt.step(loss) if name == "heun" else opt.step()  # Heun evaluates the gradient again at its trial point
    assert float(loss()) < 0.5 * start


@pytest.mark.parametrize("accumulate,batch_size", [(1, 4), (3, 4)])
def test_heun_costs_two_gradient_evaluations_per_trainer_update(tmp_path, accumulate, batch_size):
    cfg = toy_config(tmp_path, batch_size=batch_size, accumulate=accumulate, epochs=1)
    cfg["model"]["dropout"] = 0.0
    cfg["optim"] = {"name": "heun", "lr": 0.1}
    cfg["callbacks"] = {"checkpoint": False, "metrics": False, "progress": False}
    trainer = build_trainer(cfg, tmp_path / "run")
    before = [p.detach().clone() for p in trainer.model.parameters()]
    trainer.fit()
    micro_batches = len(trainer.train_loader)  # 50 samples in batches of 4: 13
    assert trainer.step == -(-micro_batches // accumulate)
    # training_losses runs once per micro-batch per gradient evaluation: 2 evaluations of every window
    assert trainer.model.calls == 2 * micro_batches
    assert any(not torch.equal(a, b) for a, b in zip(before, trainer.model.parameters()))
