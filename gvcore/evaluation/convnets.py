"""The convolutional bodies and the augmentation shared by the evaluator's networks: the domain
classifiers (classifier.py) and the label-free networks (label_free.py)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def conv_body(arch: str, c: int, h: int, w: int, width: int, feature_dim: int) -> nn.Sequential:
    if arch == "pooled":
        side_h, side_w = h // 4, w // 4
        return nn.Sequential(
            nn.Conv2d(c, width // 2, 5, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(width // 2, width, 5, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(width * side_h * side_w, feature_dim),
            nn.ReLU(),
        )
    side_h, side_w = math.ceil(math.ceil(h / 2) / 2), math.ceil(math.ceil(w / 2) / 2)
    return nn.Sequential(
        nn.Conv2d(c, width, 3, stride=2, padding=1),
        nn.BatchNorm2d(width),
        nn.ReLU(),
        nn.Conv2d(width, 2 * width, 3, stride=2, padding=1),
        nn.BatchNorm2d(2 * width),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(2 * width * side_h * side_w, feature_dim),
        nn.ReLU(),
    )


def random_affine(
    images: torch.Tensor, generator: torch.Generator, rotate_deg: float = 10.0, scale: float = 0.1, shift: float = 0.1
) -> torch.Tensor:
    """Small random rotations, zooms and shifts: 4,500 digits are few, and this is the cheapest
    way to make the classifier robust to how generators misplace strokes."""
    n = images.shape[0]

    def uniform(*shape: int) -> torch.Tensor:
        return torch.rand(*shape, generator=generator) * 2 - 1

    angle = uniform(n) * math.radians(rotate_deg)
    zoom = 1 + uniform(n) * scale
    offset = uniform(n, 2) * shift * 2  # grid coordinates span [-1, 1]
    cos, sin = zoom * torch.cos(angle), zoom * torch.sin(angle)
    theta = torch.stack([torch.stack([cos, -sin, offset[:, 0]], 1), torch.stack([sin, cos, offset[:, 1]], 1)], 1)
    grid = F.affine_grid(theta.to(images.device), list(images.shape), align_corners=False)
    # grid_sample pads with 0; shift so the padding is -1, the background of [-1, 1] images.
    return F.grid_sample(images + 1, grid, align_corners=False) - 1
