"""Frozen-feature probes, for any encoder with ``features(x) -> {name: (N, D) tensor}``: k-nearest-neighbour
classification and a linear probe (multinomial logistic regression).

Protocol (fixed here so numbers are comparable: some ports of Deep INFOMAX, kexue.fm/archives/6024, report
probe accuracies without saying how the frozen features were probed; docs/posts/6_infomax.md):

* features are computed in eval mode (BatchNorm running statistics), no augmentation, on the images as the
  model's own ``pixels`` scales them;
* k-NN: the training features are the bank, the test features the queries; ``cosine`` (features L2-normalised,
  similarity = dot product) or ``euclidean``; a plain majority vote among the k nearest (ties: the smallest
  class id) or, ``weighted``, DINO's vote: each neighbour adds exp(similarity / 0.07) to its class;
* linear probe: features standardised with the training mean and std, then softmax regression trained to
  convergence with full-batch L-BFGS (deterministic; no learning-rate schedule to tune) and a small L2 penalty;
  accuracy on the test features. scikit-learn's LogisticRegression would do the same on CPU, but it is not a
  dependency of this project and L-BFGS on (N, D) tensors is a few lines of torch.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


@torch.no_grad()
def extract_features(model, loader, device: torch.device | str = "cpu") -> tuple[dict[str, Tensor], Tensor]:
    """({name: (N, D) float tensor on CPU}, labels (N,)) of every batch of ``loader``, model in eval mode."""
    was_training = model.training
    model.eval()
    feats: dict[str, list[Tensor]] = {}
    labels = []
    try:
        for batch in loader.batches():
            for name, value in model.features(batch["x"].to(device)).items():
                feats.setdefault(name, []).append(value.float().cpu())
            labels.append(batch["y"])
    finally:
        model.train(was_training)
    return {k: torch.cat(v) for k, v in feats.items()}, torch.cat(labels)


@torch.no_grad()
def nearest_neighbours(bank: Tensor, queries: Tensor, k: int, metric: str = "cosine",
                       chunk: int = 1024) -> tuple[Tensor, Tensor]:
    """(similarities, indices), each (Q, k), of the k nearest bank rows per query, nearest first. Similarity
    is the cosine, or minus the Euclidean distance for ``euclidean``."""
    if metric not in ("cosine", "euclidean"):
        raise ValueError(f"metric must be cosine or euclidean, got {metric!r}")
    if metric == "cosine":
        bank, queries = F.normalize(bank, dim=1), F.normalize(queries, dim=1)
    k = min(k, len(bank))
    sims, idx = [], []
    bank_sq = bank.pow(2).sum(1)
    for start in range(0, len(queries), chunk):
        q = queries[start:start + chunk]
        if metric == "cosine":
            s = q @ bank.T
        else:  # −‖q − b‖, from ‖q‖² − 2 q·b + ‖b‖² (clamped: rounding can make it slightly negative)
            s = -(q.pow(2).sum(1, keepdim=True) - 2 * q @ bank.T + bank_sq).clamp(min=0).sqrt()
        top = s.topk(k, dim=1)
        sims.append(top.values)
        idx.append(top.indices)
    return torch.cat(sims), torch.cat(idx)


def knn_accuracy(train_f: Tensor, train_y: Tensor, test_f: Tensor, test_y: Tensor, k: int = 20,
                 metric: str = "cosine", weighted: bool = False, temperature: float = 0.07) -> float:
    """Test accuracy of k-NN classification with the training features as the bank."""
    classes = int(max(train_y.max(), test_y.max())) + 1
    sims, idx = nearest_neighbours(train_f, test_f, k, metric)
    votes = torch.zeros(len(test_f), classes)
    weights = (sims / temperature).exp() if weighted else torch.ones_like(sims)
    votes.scatter_add_(1, train_y[idx], weights)
    return float((votes.argmax(1) == test_y).float().mean())


def linear_probe(train_f: Tensor, train_y: Tensor, test_f: Tensor, test_y: Tensor, weight_decay: float = 1e-4,
                 max_iter: int = 200) -> dict[str, float]:
    """Softmax regression on standardised features, full-batch L-BFGS: train and test accuracy."""
    mean, std = train_f.mean(0), train_f.std(0).clamp(min=1e-6)
    xtr, xte = (train_f - mean) / std, (test_f - mean) / std
    classes = int(max(train_y.max(), test_y.max())) + 1
    linear = torch.nn.Linear(xtr.shape[1], classes)
    torch.nn.init.zeros_(linear.weight)
    torch.nn.init.zeros_(linear.bias)
    opt = torch.optim.LBFGS(linear.parameters(), lr=1.0, max_iter=max_iter, history_size=20,
                            line_search_fn="strong_wolfe", tolerance_grad=1e-6, tolerance_change=1e-9)

    def closure() -> Tensor:
        opt.zero_grad()
        loss = F.cross_entropy(linear(xtr), train_y) + weight_decay * linear.weight.pow(2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        return {"train_acc": float((linear(xtr).argmax(1) == train_y).float().mean()),
                "test_acc": float((linear(xte).argmax(1) == test_y).float().mean())}
