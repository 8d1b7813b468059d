"""Classification metrics, registered for ``callbacks.evaluate.metrics`` (engine/experiment_callbacks.py).

``accuracy``: the blog's Evaluate callback (kexue.fm/archives/5765) keeps the checkpoint with the best
validation accuracy; any model whose ``forward(x)`` returns class logits can use it.
"""
from __future__ import annotations

from registry import register


@register("metric", "accuracy")
def accuracy(model, batches) -> float:
    """Fraction of samples with argmax(model(x)) == y over all ``batches`` (dicts with ``x`` and ``y``).
    Needs ``forward(x)`` to return logits (N, classes)."""
    correct, total = 0, 0
    for batch in batches:
        correct += int((model(batch["x"]).argmax(dim=1) == batch["y"]).sum())
        total += len(batch["y"])
    return correct / max(total, 1)
