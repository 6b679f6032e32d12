"""Classification Accuracy Score (Ravuri & Vinyals 2019) for conditional models.

A fresh copy of the ``classifier`` network's architecture is trained on labelled samples (the
class each was drawn for is its label), then tested on the real test split. Beside it, the same
recipe trained on as many real training images: the ceiling a perfect generator would reach. Both
see ``min(samples, training images)`` images, with the same seed and steps; the recipe is the
evaluator's, shortened (:data:`EPOCHS`) so a full evaluation stays cheap. The real ceiling is
computed once per process.
"""

from __future__ import annotations

import torch

from ..data import to_unit_range
from .classifier import DomainClassifier, _fit, accuracy_on

EPOCHS = 5
BATCH_SIZE = 128
SEED = 0

_REAL: dict[tuple[str, int, int], float] = {}


def _train_and_test(
    images: torch.Tensor,
    labels: torch.Tensor,
    test_images: torch.Tensor,
    test_labels: torch.Tensor,
    num_classes: int,
    seed: int,
) -> float:
    threads = torch.get_num_threads()
    # One thread, as for the evaluator's own networks: batches this small don't scale past it, and
    # on cores shared with other processes two spinning threads ran 2.5x slower here.
    torch.set_num_threads(1)
    try:
        with torch.random.fork_rng(), torch.enable_grad():
            torch.manual_seed(seed)
            channels, height, width = images.shape[1:]
            net = DomainClassifier((channels, height, width), num_classes)
            _fit(
                net,
                to_unit_range(images),
                labels,
                torch.Generator().manual_seed(seed),
                epochs=EPOCHS,
                batch_size=BATCH_SIZE,
            )
    finally:
        torch.set_num_threads(threads)
    return accuracy_on(net, test_images, test_labels)


def classification_accuracy_score(
    images: torch.Tensor, labels: torch.Tensor, train_set, test_set, dataset: str, seed: int = SEED
) -> dict[str, float]:
    """{"cas", "cas_real", "cas_images"} for uint8 samples and the labels they were drawn for."""
    m = min(len(images), len(train_set))
    pick = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))[:m]
    k = test_set.num_classes
    cas = _train_and_test(images[pick], labels[pick].long(), test_set.images, test_set.labels, k, seed)
    key = (dataset, m, seed)
    if key not in _REAL:
        real = torch.randperm(len(train_set), generator=torch.Generator().manual_seed(seed))[:m]
        _REAL[key] = _train_and_test(
            train_set.images[real], train_set.labels[real], test_set.images, test_set.labels, k, seed
        )
    return {"cas": cas, "cas_real": _REAL[key], "cas_images": float(m)}
