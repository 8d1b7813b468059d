"""Clustering metrics: a predicted cluster id per sample scored against the true labels (post 3, and any model
that clusters). All take integer arrays or tensors of equal length and return plain floats.

* ``purity``: the blog's accuracy (kexue.fm/archives/5887; the author confirms the computation in
  github.com/bojone/vae/issues/4): each cluster is mapped to the most frequent true label among its members,
  several clusters may map to the same label; accuracy = correctly mapped / total.
* ``hungarian_accuracy``: the standard clustering accuracy: the best ONE-TO-ONE mapping of clusters to labels,
  found with scipy's ``linear_sum_assignment`` on the contingency table. Always <= purity.
* ``nmi`` (arithmetic-mean normalisation, scikit-learn's default) and ``ari`` (adjusted Rand index). Written
  here from the contingency table (a few lines each) rather than pulling scikit-learn in for two formulas.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

from registry import register


def _as_array(a) -> np.ndarray:
    if hasattr(a, "detach"):
        a = a.detach().cpu().numpy()
    a = np.asarray(a)
    if a.ndim != 1 or not np.issubdtype(a.dtype, np.integer):
        raise ValueError(f"cluster ids and labels must be 1-d integer arrays, got shape {a.shape} dtype {a.dtype}")
    if a.size and a.min() < 0:
        raise ValueError("cluster ids and labels must be >= 0")
    return a


def contingency(clusters, labels, n_clusters: int | None = None, n_labels: int | None = None) -> np.ndarray:
    """(n_clusters, n_labels) table of counts: row = predicted cluster, column = true label."""
    c, y = _as_array(clusters), _as_array(labels)
    if len(c) != len(y):
        raise ValueError(f"{len(c)} cluster ids for {len(y)} labels")
    n_clusters = max(n_clusters or 0, int(c.max()) + 1 if c.size else 0)
    n_labels = max(n_labels or 0, int(y.max()) + 1 if y.size else 0)
    table = np.zeros((n_clusters, n_labels), dtype=np.int64)
    np.add.at(table, (c, y), 1)
    return table


def purity(clusters, labels) -> float:
    """Majority-mapping accuracy (the blog's): sum over clusters of the largest label count, over the total."""
    return _purity(contingency(clusters, labels))


def hungarian_mapping(clusters, labels) -> dict[int, int]:
    """The one-to-one cluster -> label mapping that maximises the number of correctly labelled samples."""
    rows, cols = linear_sum_assignment(contingency(clusters, labels), maximize=True)
    return {int(r): int(c) for r, c in zip(rows, cols)}


def hungarian_accuracy(clusters, labels) -> float:
    return _hungarian_accuracy(contingency(clusters, labels))


def nmi(clusters, labels) -> float:
    """I(C; Y) / ((H(C) + H(Y)) / 2), natural logs; 1.0 when both labellings are a single class."""
    return _nmi(contingency(clusters, labels))


def ari(clusters, labels) -> float:
    """Adjusted Rand index (Hubert and Arabie): 1 for identical partitions, ~0 for random ones."""
    return _ari(contingency(clusters, labels))


def clustering_report(clusters, labels, n_clusters: int) -> dict[str, float]:
    """Every score above (from one contingency table) plus the collapse detector: clusters holding no sample
    and the largest cluster's share of the samples."""
    table = contingency(clusters, labels, n_clusters=n_clusters)
    sizes = table.sum(axis=1)
    return {"acc": _hungarian_accuracy(table), "purity": _purity(table), "nmi": _nmi(table), "ari": _ari(table),
            "empty": float((sizes == 0).sum()), "largest": float(sizes.max() / max(sizes.sum(), 1))}


# ------------------------------------------------------------------ the scores, from a contingency table
def _purity(table: np.ndarray) -> float:
    return float(table.max(axis=1).sum() / max(table.sum(), 1))


def _hungarian_accuracy(table: np.ndarray) -> float:
    rows, cols = linear_sum_assignment(table, maximize=True)
    return float(table[rows, cols].sum() / max(table.sum(), 1))


def _entropy(counts: np.ndarray) -> float:
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log(p)).sum())


def _nmi(table: np.ndarray) -> float:
    table = table.astype(np.float64)
    n = table.sum()
    if n == 0:
        return 0.0
    hc, hy = _entropy(table.sum(axis=1)), _entropy(table.sum(axis=0))
    if hc == 0.0 and hy == 0.0:
        return 1.0
    nz = table > 0
    outer = np.outer(table.sum(axis=1), table.sum(axis=0))
    mi = float((table[nz] / n * np.log(table[nz] * n / outer[nz])).sum())
    return max(0.0, mi / ((hc + hy) / 2))


def _ari(table: np.ndarray) -> float:
    table = table.astype(np.float64)
    n = table.sum()

    def pairs(x):
        return (x * (x - 1) / 2).sum()

    index, a, b = pairs(table), pairs(table.sum(axis=1)), pairs(table.sum(axis=0))
    total = n * (n - 1) / 2
    expected = a * b / total if total else 0.0
    maximum = (a + b) / 2
    if math.isclose(maximum, expected):
        return 1.0
    return float((index - expected) / (maximum - expected))


def assignments(model, batches) -> tuple[torch.Tensor, torch.Tensor]:
    """(cluster ids, labels) over all batches, from ``model.assign(x)``."""
    ids, labels = [], []
    for batch in batches:
        ids.append(model.assign(batch["x"]).cpu())
        labels.append(batch["y"].cpu())
    return torch.cat(ids), torch.cat(labels)


@register("metric", "clustering")
def cluster_metric(model, batches) -> dict[str, float]:
    """For the ``evaluate`` callback (``metrics: [clustering]``): ``<split>/clustering_acc`` (Hungarian),
    ``_purity`` (the blog's), ``_nmi``, ``_ari``, ``_empty`` and ``_largest`` of a model with ``assign(x)``
    (cluster ids) and ``clusters`` (their number)."""
    ids, labels = assignments(model, batches)
    return clustering_report(ids, labels, model.clusters)
