"""Heun's method (improved Euler) as an optimizer: post 5, kexue.fm/archives/5879 ("intrusive" optimizer).

For the gradient flow dθ/dt = −∇L(θ) with step lr (this repository's page: docs/posts/5_optimizers.md):

    predictor   θ̃ = θ − lr·g,          g  = ∇L(θ)
    corrector   θ ← θ − lr/2·(g + g̃),   g̃ = ∇L(θ̃)        (= θ̃ − lr/2·(g̃ − g), the post's form)

i.e. the trapezoidal rule with the end point predicted by Euler: local error O(lr³), global O(lr²) against
O(lr) for Euler/plain SGD, for two gradient evaluations per step instead of one. The post writes it by
rewriting Keras' train function to run twice per batch, and reports that "this kind of optimizer does not
work well"; here it is an optimizer whose ``step(closure)`` evaluates g̃ through the closure, like L-BFGS.

Calling conventions (``needs_closure = True``):

* driven by the Trainer (engine/trainer.py): the Trainer has already back-propagated the window, so the
  ``.grad`` fields hold g at θ; ``step(closure)`` moves to θ̃ and calls the closure once (it zeroes the grads
  and re-runs forward + backward on the SAME window): exactly two gradient evaluations per update.
* standalone: if no parameter has a ``.grad``, ``step`` first calls the closure at θ to get g (so
  ``opt.zero_grad(); opt.step(closure)`` works as with L-BFGS), then once more at θ̃.

Both evaluations must see the same batch, dropout mask and BatchNorm mode, otherwise the corrector mixes two
different losses (and BatchNorm running statistics are updated twice per step). After a step the ``.grad``
fields are cleared: they held g̃ at the trial point θ̃, which is no iterate, and a stale gradient must not be
mistaken for g at the new θ by the next standalone call. ``step`` returns the closure's loss at θ̃.
"""
from __future__ import annotations

import torch

from optim.ode import apply_constraint
from registry import register


@register("optimizer", "heun")
class Heun(torch.optim.Optimizer):
    """Heun's predictor-corrector step on the gradient flow; needs a closure (see the module docstring)."""

    needs_closure = True

    def __init__(self, params, lr: float = 0.01):
        if lr < 0:
            raise ValueError(f"heun: lr must be >= 0, got {lr}")
        super().__init__(params, dict(lr=lr))

    def _params(self):
        return [p for group in self.param_groups for p in group["params"]]

    @torch.no_grad()
    def step(self, closure=None):
        if closure is None:
            raise RuntimeError("heun needs step(closure): the closure zeroes the grads, re-runs forward and "
                               "backward on the same batch and returns the loss")
        if all(p.grad is None for p in self._params()):
            with torch.enable_grad():
                closure()  # standalone call: g at θ first
        # g at θ, and θ itself: the closure overwrites (or frees) .grad, and the corrector starts from θ
        start = {p: (p.detach().clone(), p.grad.detach().clone())
                 for p in self._params() if p.grad is not None}
        for group in self.param_groups:
            for p in group["params"]:
                if p in start:
                    p.add_(start[p][1], alpha=-group["lr"])  # predictor θ̃ = θ − lr·g
        with torch.enable_grad():
            loss = closure()  # g̃ = ∇L(θ̃), same batch
        for group in self.param_groups:
            for p in group["params"]:
                if p not in start:
                    continue
                theta, g = start[p]
                g_trial = p.grad if p.grad is not None else torch.zeros_like(p)  # unused at θ̃: zero
                # corrector from θ (not θ̃): θ − lr/2·(g + g̃)
                p.copy_(theta).add_(g + g_trial, alpha=-group["lr"] / 2)
                apply_constraint(p)
                self.state[p]["step"] = self.state[p].get("step", 0) + 1
        for p in self._params():
            p.grad = None
        return loss
