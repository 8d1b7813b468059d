"""The optimizers the posts write by hand, read as numerical solvers of the gradient flow (posts 5 and 7).

Post 5 (kexue.fm/archives/5879) writes plain SGD as an optimizer; post 7 (kexue.fm/archives/6234) reads
adaptive learning rates as step-size control of an ODE solver. Pages: docs/posts/5_optimizers.md and
docs/posts/7_ode_dynamics.md.

The ODE reading (part 1, kexue.fm/archives/5655; sourced): minima of L are the fixed points of the gradient
flow  dθ/dt = −∇L(θ).  Gradient descent with learning rate γ is Euler's method for it,
θ_{n+1} = θ_n − γ·g_n with g_n = ∇L(θ_n). Only where the flow ends matters, not its path or its "time", so
the step may change from step to step and from coordinate to coordinate.

From there to RMSprop (post 7). Sourced: the chain "ODE -> step size from the Euler error -> a
per-coordinate rate built from the gradient scale -> a moving average gives RMSprop". **Inferred** (the
post's text was not available; this is our reconstruction of the chain, not its wording):

* one Euler step moves θ by γ·‖g‖, so to keep the per-step (local) error under control the step should
  shrink where the gradient is large: γ ∝ 1/‖g‖ gives normalised gradient descent θ ← θ − γ·g/‖g‖
  (``normalized_gd``: every step has length γ);
* the same control per coordinate, γ_i ∝ 1/|g_i|, gives sign descent θ_i ← θ_i − γ·sign(g_i) (``sign_gd``);
* |g_i| from one mini-batch is noisy; replacing it by a running RMS, G ← αG + (1−α)·g², θ ← θ − γ·g/(√G + ε),
  is RMSprop (``rmsprop_ode``). With α = 0 it is sign descent again, up to ε;
* Adam (``adam_ode``) = that RMSprop + momentum (the heavy-ball, second-order ODE of part 1, as an
  exponential average of g) + bias correction of both averages (they start at 0).

Hyperparameters have torch's names, defaults and semantics, so ``rmsprop_ode``/``adam_ode`` can be compared
with ``torch.optim.RMSprop``/``Adam`` step for step (tests/optim/test_optimizers.py, to 1e-6): RMSprop's decay
is ``alpha`` (Keras calls it ``rho``; Keras default 0.9, torch's 0.99), ε is added OUTSIDE the square root
(as torch and Keras do; Keras' default ε is 1e-7, torch's 1e-8), Adam's ε is added to √v̂ after the bias
correction, and ``weight_decay`` is torch's coupled L2 (g ← g + wd·θ). No momentum/centered/amsgrad options.

As in the post's SGD, a parameter that carries a ``constraint`` attribute (a callable, Keras' kernel
constraint) is projected after each step: θ ← constraint(θ).
"""
from __future__ import annotations

import math

import torch

from registry import register


def apply_constraint(p: torch.Tensor) -> None:
    """Keras-style projection after the update, if the parameter carries one (post 5's SGD does this)."""
    constraint = getattr(p, "constraint", None)
    if callable(constraint):
        p.copy_(constraint(p))


class GradientFlowOptimizer(torch.optim.Optimizer):
    """Common frame: evaluate the optional closure, then one explicit step per parameter (``_update``).

    Subclasses set ``defaults`` and implement ``_update(p, d, group, state)`` with d the (weight-decayed)
    gradient; per-parameter state holds ``step`` (updates taken so far) and whatever averages they need."""

    def _check(self, lr: float, eps: float = 0.0, weight_decay: float = 0.0) -> None:
        if lr < 0 or eps < 0 or weight_decay < 0:
            raise ValueError(f"{type(self).__name__}: lr, eps and weight_decay must be >= 0, "
                             f"got lr={lr}, eps={eps}, weight_decay={weight_decay}")

    def _directions(self):
        """(param, d, group, state) for every parameter with a gradient; d = g + wd·θ (a new tensor)."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.is_sparse:
                    raise RuntimeError(f"{type(self).__name__} does not support sparse gradients")
                d = p.grad.add(p, alpha=group.get("weight_decay", 0.0))
                state = self.state[p]
                state["step"] = state.get("step", 0) + 1
                yield p, d, group, state

    def _prepare(self) -> None:
        """Hook run before the per-parameter updates (normalized_gd computes the global norm here)."""

    def _update(self, p: torch.Tensor, d: torch.Tensor, group: dict, state: dict) -> None:
        raise NotImplementedError

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        self._prepare()
        for p, d, group, state in self._directions():
            self._update(p, d, group, state)
            apply_constraint(p)
        return loss


@register("optimizer", "sgd_plain")
class PlainSGD(GradientFlowOptimizer):
    """θ ← θ − lr·g: Euler's method for the gradient flow (post 5's first optimizer; lr 0.01 is its default)."""

    def __init__(self, params, lr: float = 0.01, weight_decay: float = 0.0):
        self._check(lr, weight_decay=weight_decay)
        super().__init__(params, dict(lr=lr, weight_decay=weight_decay))

    def _update(self, p, d, group, state):
        p.add_(d, alpha=-group["lr"])


@register("optimizer", "normalized_gd")
class NormalizedGD(GradientFlowOptimizer):
    """θ ← θ − lr·g/(‖g‖ + eps), ‖g‖ the global L2 norm over EVERY parameter of the optimizer (all groups):
    each step has length lr (in a group with its own lr, that lr). eps only guards g = 0. Without a decaying
    lr it does not converge: it ends oscillating in an lr-sized neighbourhood of the minimum."""

    def __init__(self, params, lr: float = 0.01, eps: float = 1e-12, weight_decay: float = 0.0):
        self._check(lr, eps, weight_decay)
        super().__init__(params, dict(lr=lr, eps=eps, weight_decay=weight_decay))
        self._norm = 0.0

    def _prepare(self):
        squares = [p.grad.add(p, alpha=g.get("weight_decay", 0.0)).pow(2).sum()
                   for g in self.param_groups for p in g["params"] if p.grad is not None]
        self._norm = float(torch.stack(squares).sum().sqrt()) if squares else 0.0

    def _update(self, p, d, group, state):
        p.add_(d, alpha=-group["lr"] / (self._norm + group["eps"]))


@register("optimizer", "sign_gd")
class SignGD(GradientFlowOptimizer):
    """θ_i ← θ_i − lr·g_i/|g_i| = θ_i − lr·sign(g_i) per coordinate (a coordinate with g_i = 0 stays)."""

    def __init__(self, params, lr: float = 0.001, weight_decay: float = 0.0):
        self._check(lr, weight_decay=weight_decay)
        super().__init__(params, dict(lr=lr, weight_decay=weight_decay))

    def _update(self, p, d, group, state):
        p.add_(torch.sign(d), alpha=-group["lr"])


@register("optimizer", "rmsprop_ode")
class RMSpropODE(GradientFlowOptimizer):
    """Per-coordinate Euler step lr/(√G + eps), G the running mean of g² (decay ``alpha``, Keras' ``rho``):

        G ← α·G + (1 − α)·g⊙g,   θ ← θ − lr·g/(√G + eps)      (G starts at 0, no bias correction: torch's)

    Read as step control: the step on coordinate i is ≈ lr·g_i/RMS(g_i), of size ~lr wherever the gradient's
    scale is steady; flat coordinates get a large rate, steep ones a small one."""

    def __init__(self, params, lr: float = 0.01, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0.0):
        self._check(lr, eps, weight_decay)
        if not 0.0 <= alpha < 1.0:
            raise ValueError(f"rmsprop_ode: alpha must be in [0, 1), got {alpha}")
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay))

    def _update(self, p, d, group, state):
        if "square_avg" not in state:
            state["square_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        G, alpha = state["square_avg"], group["alpha"]
        G.mul_(alpha).addcmul_(d, d, value=1.0 - alpha)
        p.addcdiv_(d, G.sqrt().add_(group["eps"]), value=-group["lr"])  # eps outside the root


@register("optimizer", "adam_ode")
class AdamODE(GradientFlowOptimizer):
    """RMSprop's per-coordinate step with momentum and bias correction (step t = 1, 2, ...):

        m ← β1·m + (1 − β1)·g,   v ← β2·v + (1 − β2)·g⊙g,
        θ ← θ − lr·m̂/(√v̂ + eps),   m̂ = m/(1 − β1^t),  v̂ = v/(1 − β2^t)      (eps outside the root, as torch)

    Both averages start at 0, so without the correction the first steps would be biased towards 0
    (m by the factor 1 − β1^t, √v by √(1 − β2^t))."""

    def __init__(self, params, lr: float = 0.001, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0):
        self._check(lr, eps, weight_decay)
        if not all(0.0 <= b < 1.0 for b in betas):
            raise ValueError(f"adam_ode: betas must be in [0, 1), got {betas}")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay))

    def _update(self, p, d, group, state):
        if "exp_avg" not in state:
            state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        (beta1, beta2), t = group["betas"], state["step"]
        m, v = state["exp_avg"], state["exp_avg_sq"]
        m.mul_(beta1).add_(d, alpha=1.0 - beta1)
        v.mul_(beta2).addcmul_(d, d, value=1.0 - beta2)
        # √v̂ = √v / √(1 − β2^t); eps is added after the correction, then m̂ = m/(1 − β1^t) folds into the rate
        denom = v.sqrt().div_(math.sqrt(1.0 - beta2 ** t)).add_(group["eps"])
        p.addcdiv_(m, denom, value=-group["lr"] / (1.0 - beta1 ** t))
