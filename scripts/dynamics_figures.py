#!/usr/bin/env python3
"""Figures for post 7 (kexue.fm/archives/6234) and post 5's Heun: optimizers read as ODE solvers.

    python scripts/dynamics_figures.py --out docs/figures

Neither post has result figures: all of these are codebase additions (docs/posts/5_optimizers.md and
docs/posts/7_ode_dynamics.md), made with the optimizer classes of optim/ode.py and optim/heun.py.
Written to --out:

* ``dynamics_quadratic_trajectories.png``, ``dynamics_rosenbrock_trajectories.png``: paths from one start
  point on L = ½θᵀAθ, A = diag(1, 100), and on Rosenbrock (1−x)² + 100(y−x²)², for GD (Euler), Heun,
  normalised GD, sign GD, RMSprop and Adam at three step sizes each (columns: small, medium, large); black:
  the gradient flow, exact (exp(−At)θ0) on the quadratic, scipy's LSODA with rtol 1e-10 on Rosenbrock;
* ``heun_vs_euler_error.png``: |θ_n − θ(T)| on the quadratic (float64) against the step h = T/n and against
  gradient evaluations, with fitted log-log slopes (theory: 1 for Euler, 2 for Heun);
* ``heun_vs_sgd_budget.png``: a 8-64-1 tanh MLP regressing a seeded teacher MLP (MSE, batch 32, lr 0.1 as in
  post 5's demo): full-train MSE against epochs and against gradient evaluations (Heun costs two per step);
* ``optimizers_mnist_loss.png``: a 784-64-10 ReLU classifier on the embedded MNIST sample (5000/1000), same
  initialisation and batch order for each optimizer: mini-batch loss against updates, test loss per epoch;
* ``dynamics_figures.json``: settings, command, and the numbers measured (slopes, final losses).
"""
from __future__ import annotations

import argparse
import json
import math
import shlex
import sys
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import NullFormatter  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from scipy.integrate import solve_ivp  # noqa: E402

import optim.heun  # noqa: E402,F401  (registers heun)
import optim.ode  # noqa: E402,F401  (registers the hand-written optimizers)
import registry  # noqa: E402
from data.images import mnist_sample  # noqa: E402

KAPPA = 100.0  # condition number of the quadratic
# label: (registered name, fixed hyperparameters, step sizes on the quadratic, on Rosenbrock). GD's 2/κ = 0.02
# is the stability limit on the quadratic: its three rates are smooth, oscillating and divergent.
METHODS = {
    "GD (Euler)": ("sgd_plain", {}, (0.005, 0.015, 0.021), (2e-4, 1e-3, 2e-3)),
    "Heun": ("heun", {}, (0.005, 0.015, 0.021), (2e-4, 1e-3, 2e-3)),
    "normalized GD": ("normalized_gd", {}, (0.01, 0.03, 0.1), (0.002, 0.01, 0.05)),
    "sign GD": ("sign_gd", {}, (0.003, 0.01, 0.03), (0.001, 0.003, 0.01)),
    "RMSprop": ("rmsprop_ode", {"alpha": 0.9, "eps": 1e-7}, (0.003, 0.01, 0.03), (0.001, 0.003, 0.01)),
    "Adam": ("adam_ode", {"eps": 1e-7}, (0.01, 0.03, 0.1), (0.003, 0.01, 0.03)),
}
COLORS = dict(zip(METHODS, plt.rcParams["axes.prop_cycle"].by_key()["color"]))
SURFACES = {  # name: (start, plot window (x0, x1, y0, y1), minimum)
    "quadratic": ((-1.0, 0.6), (-1.15, 0.25, -0.8, 0.8), (0.0, 0.0)),
    "rosenbrock": ((-1.2, 1.0), (-1.6, 1.5, -0.6, 2.1), (1.0, 1.0)),
}


# L and ∇L in closed form (autograd would only add overhead in 2-D); theta may also be a (2, ...) grid
def quadratic(theta):
    x, y = theta
    return 0.5 * (x * x + KAPPA * y * y), torch.stack([x, KAPPA * y])


def rosenbrock(theta):
    x, y = theta
    valley = y - x * x
    return (1 - x) ** 2 + 100 * valley ** 2, torch.stack([-2 * (1 - x) - 400 * x * valley, 200 * valley])


LOSSES = {"quadratic": quadratic, "rosenbrock": rosenbrock}


def descend(surface: str, start, name: str, steps: int, **hyper) -> np.ndarray:
    """(steps + 1, 2) iterates of optimizer ``name`` on a 2-parameter float64 tensor; stops if it diverges."""
    loss_and_grad = LOSSES[surface]
    theta = torch.nn.Parameter(torch.tensor(start, dtype=torch.float64))
    opt = registry.lookup("optimizer", name)([theta], **hyper)

    def closure():  # every optimizer here takes step(closure); heun calls it twice
        loss, theta.grad = loss_and_grad(theta.detach())
        return loss

    path = [theta.detach().clone()]
    for _ in range(steps):
        opt.step(closure)
        path.append(theta.detach().clone())
        if not torch.isfinite(theta).all() or theta.abs().max() > 1e3:
            break
    return torch.stack(path).numpy()


def gradient_flow(surface: str, start, t_end: float) -> np.ndarray:
    """The exact (quadratic) or finely integrated (Rosenbrock) path of dθ/dt = −∇L(θ), shape (n, 2)."""
    t = np.concatenate([[0.0], np.geomspace(1e-5, t_end, 600)])
    if surface == "quadratic":
        return np.exp(-np.outer(t, [1.0, KAPPA])) * np.asarray(start)

    def minus_grad(_, z):
        x, y = z
        return [2 * (1 - x) + 400 * x * (y - x * x), -200 * (y - x * x)]

    def jacobian(_, z):  # of −∇L: the flow is stiff (Hessian eigenvalues from ~0.4 to ~1000)
        x, y = z
        return [[-2 + 400 * y - 1200 * x * x, 400 * x], [400 * x, -200.0]]

    # LSODA switches to a stiff (BDF) method where needed; at rtol 1e-10 it agrees with Radau to ~1e-8
    sol = solve_ivp(minus_grad, (0.0, t_end), list(start), method="LSODA", jac=jacobian, t_eval=t,
                    rtol=1e-10, atol=1e-12)
    return sol.y.T


def save(fig, path: Path, dpi: int, legend_axes=(), fontsize=None) -> None:
    for ax in legend_axes:
        ax.legend(fontsize=fontsize)
        ax.grid(True, which="both", alpha=0.3)
    if legend_axes:
        fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)


def trajectory_figure(surface: str, steps: int, out: Path, dpi: int) -> dict:
    start, (x0, x1, y0, y1), minimum = SURFACES[surface]
    loss_fn = lambda theta: LOSSES[surface](theta)[0]  # noqa: E731
    flow = gradient_flow(surface, start, 10.0 if surface == "quadratic" else 40.0)
    gx, gy = np.meshgrid(np.linspace(x0, x1, 150), np.linspace(y0, y1, 150))
    surface_values = loss_fn(torch.tensor(np.stack([gx, gy]))).numpy()
    levels = np.geomspace(max(surface_values.min(), 1e-3), surface_values.max(), 14)
    fig, axes = plt.subplots(3, len(METHODS), figsize=(3.3 * len(METHODS), 9.6), sharex=True, sharey=True)
    finals = {}
    for col, (label, (name, hyper, lrs_q, lrs_r)) in enumerate(METHODS.items()):
        for row, lr in enumerate(lrs_q if surface == "quadratic" else lrs_r):
            path = descend(surface, start, name, steps, lr=lr, **hyper)
            end_loss = float(loss_fn(torch.tensor(path[-1])))
            diverged = len(path) < steps + 1 or not math.isfinite(end_loss)
            finals[f"{name} lr={lr:g}"] = "diverged" if diverged else end_loss
            ax = axes[row, col]
            ax.contour(gx, gy, surface_values, levels=levels, colors="0.8", linewidths=0.6)
            ax.plot(flow[:, 0], flow[:, 1], "k-", lw=1.2)
            ax.plot(path[:, 0], path[:, 1], ".-", color=COLORS[label], ms=2.5, lw=0.8)
            ax.plot(*start, "ko", ms=4)
            ax.plot(*minimum, "k*", ms=8)
            ax.set_xlim(x0, x1)
            ax.set_ylim(y0, y1)
            status = "diverged" if diverged else f"L after {steps}: {end_loss:.2g}"
            ax.set_title(f"{label}, lr={lr:g}\n{status}", fontsize=9)
    title = "L = ½(x² + 100y²)" if surface == "quadratic" else "Rosenbrock (1−x)² + 100(y−x²)²"
    fig.suptitle(f"{title}: {steps} steps from {start} (black: gradient flow; ★ minimum). "
                 "Codebase figure, not in the post.", fontsize=11)
    fig.subplots_adjust(left=0.035, right=0.99, bottom=0.035, top=0.89, wspace=0.08, hspace=0.32)
    save(fig, out / f"dynamics_{surface}_trajectories.png", dpi)
    return {"steps": steps, "start": list(start), "final_loss": finals}


def error_figure(t_end: float, ns: list[int], out: Path, dpi: int) -> dict:
    start = (-1.0, 0.6)
    exact = np.exp(-t_end * np.array([1.0, KAPPA])) * np.array(start)
    h = np.array([t_end / n for n in ns])
    errors, slopes = {}, {}
    for name in ("sgd_plain", "heun"):
        errors[name] = np.array([np.linalg.norm(descend("quadratic", start, name, n, lr=t_end / n)[-1] - exact)
                                 for n in ns])
        slopes[name] = float(np.polyfit(np.log(h), np.log(errors[name]), 1)[0])
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4.3))
    for name, label in (("sgd_plain", "Euler = GD"), ("heun", "Heun")):
        cost = 1 if name == "sgd_plain" else 2
        a.loglog(h, errors[name], "o-", label=f"{label}: slope {slopes[name]:.2f}")
        b.loglog(cost * np.array(ns), errors[name], "o-", label=f"{label} ({cost} gradient/step)")
    a.set(xlabel="step h (= lr)", ylabel=f"|θ_n − θ(T)|, T = {t_end:g}", title="error vs step size")
    b.set(xlabel="gradient evaluations", ylabel="error", title="error vs cost")
    # label the measured points (log-axis minor labels would overlap)
    a.set_xticks(h, [f"{t:.2g}" for t in h], rotation=35)
    evals = sorted(set(ns) | {2 * n for n in ns})
    b.set_xticks(evals, [str(e) for e in evals], rotation=35)
    for ax in (a, b):
        ax.xaxis.set_minor_formatter(NullFormatter())
    fig.suptitle("L = ½(x² + 100y²), float64, exact flow exp(−At)θ0 (codebase figure)")
    save(fig, out / "heun_vs_euler_error.png", dpi, (a, b))
    return {"T": t_end, "steps": ns, "slope": slopes, "error": {k: v.tolist() for k, v in errors.items()}}


def train_minibatch(model, name: str, hyper: dict, x, y, loss_fn, epochs: int, batch: int, seed: int,
                    x_test, y_test, accuracy: bool = False) -> dict:
    """Mini-batch training with a fixed batch order per (seed, epoch). Returns per-update mini-batch losses
    (at the iterate, before the step) and, at each epoch end, the full train/test losses (+ test accuracy)
    and the number of gradient evaluations so far."""
    opt = registry.lookup("optimizer", name)(model.parameters(), **hyper)
    evaluations, batch_losses = [], []
    hist = {"epoch": [], "evals": [], "train": [], "test": [], "test_acc": []}

    @torch.no_grad()
    def measure(epoch):
        hist["epoch"].append(epoch)
        hist["evals"].append(len(evaluations))
        hist["train"].append(float(loss_fn(model(x), y)))
        out = model(x_test)
        hist["test"].append(float(loss_fn(out, y_test)))
        if accuracy:
            hist["test_acc"].append(float((out.argmax(1) == y_test).float().mean()))

    measure(0)
    for epoch in range(epochs):
        order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed * 1000 + epoch))
        for i in range(0, len(x), batch):
            xb, yb = x[order[i:i + batch]], y[order[i:i + batch]]
            first = len(evaluations)

            def closure():
                opt.zero_grad()
                loss = loss_fn(model(xb), yb)
                loss.backward()
                evaluations.append(float(loss.detach()))
                return loss

            opt.step(closure)
            batch_losses.append(evaluations[first])
        measure(epoch + 1)
    return {**hist, "batch_losses": batch_losses}


def mlp(sizes, activation, seed: int) -> torch.nn.Sequential:
    torch.manual_seed(seed)  # the same initial weights for every optimizer
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers += [torch.nn.Linear(a, b)] + ([activation()] if i < len(sizes) - 2 else [])
    return torch.nn.Sequential(*layers)


def regression_figure(epochs: int, samples: int, seed: int, out: Path, dpi: int) -> dict:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(samples + samples // 4, 8, generator=g)
    teacher_in, teacher_out = torch.randn(8, 16, generator=g), torch.randn(16, 1, generator=g) / 4
    y = torch.tanh(x @ teacher_in) @ teacher_out + 0.1 * torch.randn(len(x), 1, generator=g)
    data = (x[:samples], y[:samples], torch.nn.functional.mse_loss)
    runs = {f"{name} lr={lr:g}": train_minibatch(mlp((8, 64, 1), torch.nn.Tanh, seed), name, {"lr": lr}, *data,
                                                  epochs, 32, seed, x[samples:], y[samples:])
            for name, lr in (("sgd_plain", 0.1), ("heun", 0.1), ("heun", 0.2))}
    budget = runs["sgd_plain lr=0.1"]["evals"][-1]
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4.3), sharey=True)
    for label, r in runs.items():
        a.semilogy(r["epoch"], r["train"], label=label)
        keep = [i for i, e in enumerate(r["evals"]) if e <= budget]
        b.semilogy([r["evals"][i] for i in keep], [r["train"][i] for i in keep], label=label)
    a.set(xlabel="epoch", ylabel="full-train MSE", title="per epoch (Heun: 2 gradients per step)")
    b.set(xlabel="mini-batch gradient evaluations", title="per gradient evaluation (SGD's budget)")
    fig.suptitle(f"8-64-1 tanh MLP on a seeded teacher, {samples} samples, batch 32 (codebase figure)")
    save(fig, out / "heun_vs_sgd_budget.png", dpi, (a, b))
    at_budget = {k: r["train"][max(i for i, e in enumerate(r["evals"]) if e <= budget)] for k, r in runs.items()}
    return {"epochs": epochs, "samples": samples, "batch": 32, "budget_evals": budget,
            "final": {k: {"train_mse": r["train"][-1], "test_mse": r["test"][-1], "evals": r["evals"][-1]}
                      for k, r in runs.items()},
            "train_mse_at_sgd_budget": at_budget}


# Keras defaults for RMSprop/Adam (lr 1e-3, rho 0.9, eps 1e-7); the others set by hand, not tuned: SGD/Heun at
# the post's 0.1, normalised GD at a step length 0.1 (= SGD's when ‖g‖ = 1), sign GD at Adam's per-coordinate 1e-3
MNIST_OPTIMIZERS = {
    "sgd_plain": {"lr": 0.1}, "heun": {"lr": 0.1}, "normalized_gd": {"lr": 0.1}, "sign_gd": {"lr": 1e-3},
    "rmsprop_ode": {"lr": 1e-3, "alpha": 0.9, "eps": 1e-7}, "adam_ode": {"lr": 1e-3, "eps": 1e-7},
}


def mnist_figure(epochs: int, n_train: int, n_test: int, seed: int, out: Path, dpi: int) -> dict:
    splits = mnist_sample()
    x, y = splits["train"]["x"][:n_train].flatten(1).float() / 255, splits["train"]["y"][:n_train]
    xt, yt = splits["test"]["x"][:n_test].flatten(1).float() / 255, splits["test"]["y"][:n_test]
    # SGD runs on to Heun's gradient budget (2x the epochs); its first `epochs` epochs are exactly the run of
    # the other optimizers' length (same init, same batch order per epoch), so both are read off one run
    runs = {name: train_minibatch(mlp((784, 64, 10), torch.nn.ReLU, seed), name, hyper, x, y,
                                  torch.nn.functional.cross_entropy, epochs * (2 if name == "sgd_plain" else 1),
                                  64, seed, xt, yt, accuracy=True)
            for name, hyper in MNIST_OPTIMIZERS.items()}
    per_epoch = math.ceil(len(x) / 64)
    fig, (a, b, c) = plt.subplots(1, 3, figsize=(16, 4.6))
    window = 20
    for name, r in runs.items():
        losses = np.asarray(r["batch_losses"])
        smooth = np.convolve(losses, np.ones(window) / window, mode="valid") if len(losses) > window else losses
        update = np.arange(len(smooth)) + (len(losses) - len(smooth)) + 1
        label = f"{name} {MNIST_OPTIMIZERS[name]['lr']:g}" + (" (2 grads/update)" if name == "heun" else "")
        first = update <= epochs * per_epoch
        a.semilogy(update[first], smooth[first], label=label)
        b.semilogy(update * r["evals"][-1] / len(losses), smooth, label=label)
        c.plot(r["evals"], r["test"], "o-", ms=3, label=label)
    a.set(xlabel="update", ylabel=f"mini-batch cross-entropy (mean of {window})", title=f"{epochs} epoch{'s' * (epochs > 1)}")
    b.set(xlabel="gradient evaluations (mini-batches)", title="same, per gradient evaluation")
    c.set(xlabel="gradient evaluations (points: epoch ends)", ylabel="test cross-entropy",
          title=f"test ({len(xt)} digits)")
    fig.suptitle(f"784-64-10 ReLU MLP, MNIST sample ({len(x)} train), batch 64, same init and batch order; "
                 f"SGD also run to Heun's budget ({2 * epochs} epochs). Codebase figure")
    save(fig, out / "optimizers_mnist_loss.png", dpi, (a, b, c), fontsize=8)

    def summary(r, epoch):
        return {"epochs": epoch, "train_ce": r["train"][epoch], "test_ce": r["test"][epoch],
                "test_accuracy": r["test_acc"][epoch], "evals": r["evals"][epoch]}

    return {"epochs": epochs, "train": len(x), "test": len(xt), "batch": 64, "hyper": MNIST_OPTIMIZERS,
            "final": {k: summary(r, epochs) for k, r in runs.items()},
            "sgd_plain_at_heun_budget": summary(runs["sgd_plain"], 2 * epochs)}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="docs/figures")
    p.add_argument("--quadratic-steps", type=int, default=200, help="steps per quadratic trajectory")
    p.add_argument("--rosenbrock-steps", type=int, default=2000, help="steps per Rosenbrock trajectory")
    p.add_argument("--error-time", type=float, default=1.0, help="T of the Heun/Euler error figure")
    p.add_argument("--error-steps", type=int, nargs="+", default=[200, 320, 500, 800, 1250, 2000, 3200])
    p.add_argument("--regression-epochs", type=int, default=100, help="post 5's demo: 100 epochs")
    p.add_argument("--regression-samples", type=int, default=2048)
    p.add_argument("--mnist-epochs", type=int, default=5)
    p.add_argument("--mnist-train", type=int, default=5000)
    p.add_argument("--mnist-test", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--dpi", type=int, default=90)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    to = (out, args.dpi)
    manifest = {"command": "python scripts/dynamics_figures.py " + shlex.join(argv), "settings": vars(args),
                "methods": {k: {"optimizer": v[0], **v[1], "lr_quadratic": v[2], "lr_rosenbrock": v[3]}
                            for k, v in METHODS.items()}, "seconds": {}}
    jobs = {
        "dynamics_quadratic_trajectories.png": lambda: trajectory_figure("quadratic", args.quadratic_steps, *to),
        "dynamics_rosenbrock_trajectories.png": lambda: trajectory_figure("rosenbrock", args.rosenbrock_steps,
                                                                          *to),
        "heun_vs_euler_error.png": lambda: error_figure(args.error_time, args.error_steps, *to),
        "heun_vs_sgd_budget.png": lambda: regression_figure(args.regression_epochs, args.regression_samples,
                                                            args.seed, *to),
        "optimizers_mnist_loss.png": lambda: mnist_figure(args.mnist_epochs, args.mnist_train, args.mnist_test,
                                                          args.seed, *to),
    }
    for figure, job in jobs.items():
        began = time.perf_counter()
        manifest[figure] = job()
        manifest["seconds"][figure] = round(time.perf_counter() - began, 2)
        print(f"{figure}: {manifest['seconds'][figure]} s", flush=True)
    (out / "dynamics_figures.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
