"""Memorisation: which samples are near-copies of a training image.

The rule: a sample is a near-copy when its nearest training image, in the ``classifier``
network's features, is closer than the :data:`PERCENTILE`-th percentile of the same distance for
the dataset's held-out real images (its test split). By construction unseen real images are
near-copies at about that rate (~0.01); exact or lightly perturbed copies of training images, at
distance ~0, score ~1. The features, not the pixels: a copy shifted by a pixel or re-rounded is
still a copy there, and 128 numbers an image keep 10,000 x 60,000 comparisons cheap.

The training split's features and the threshold are computed once per process and network.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .classifier import EvaluatorNet

PERCENTILE = 1.0  # % of held-out real images that count as "near-copies" of the training set
CHUNK = 2048


@dataclass
class Neighbours:
    """The training split in the classifier's features, and the near-copy threshold."""

    train_features: torch.Tensor
    threshold: float
    held_out_distances: torch.Tensor

    def nearest(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(distance to, index of) the nearest training image of each row of ``features``."""
        dists, idx = [], []
        train = self.train_features
        for chunk in features.split(CHUNK):
            d = torch.cdist(chunk.float(), train)
            best = d.min(1)
            dists.append(best.values)
            idx.append(best.indices)
        return torch.cat(dists), torch.cat(idx)

    def near_copies(self, features: torch.Tensor) -> torch.Tensor:
        """1.0 for each sample closer to its nearest training image than the threshold, else 0.0."""
        return (self.nearest(features)[0] < self.threshold).float()


_CACHE: dict[tuple[str, int, int], Neighbours] = {}


def neighbours(classifier: EvaluatorNet, train_images: torch.Tensor, held_out_images: torch.Tensor) -> Neighbours:
    key = (classifier.meta.get("id", str(id(classifier))), len(train_images), len(held_out_images))
    if key not in _CACHE:
        train = classifier.embed(train_images)[0].float()
        probe = Neighbours(train, 0.0, torch.empty(0))
        held_out = probe.nearest(classifier.embed(held_out_images)[0])[0]
        threshold = float(torch.quantile(held_out, PERCENTILE / 100))
        _CACHE[key] = Neighbours(train, threshold, held_out)
    return _CACHE[key]
