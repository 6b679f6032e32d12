"""Image helpers: sample grids (torchvision's make_grid) and uint8 conversion."""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torchvision.utils import make_grid

from .data import to_uint8
from .rundir import atomic_path


def grid_tensor(images: torch.Tensor, nrow: int, padding: int = 2) -> torch.Tensor:
    """Images in [-1, 1] (N, C, H, W) -> one uint8 grid image (H', W', C) with C in {1, 3}."""
    grid = make_grid(images.detach().float().cpu(), nrow=nrow, padding=padding, pad_value=1.0)
    # make_grid turns 1-channel images into 3 identical channels; keep grayscale grayscale.
    if images.shape[1] == 1:
        grid = grid[:1]
    return to_uint8(grid).permute(1, 2, 0).contiguous()


def save_png(array_hwc: torch.Tensor, path: str | os.PathLike) -> Path:
    """Write a uint8 (H, W, C) tensor as a PNG, atomically."""
    from PIL import Image

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = array_hwc.numpy()
    img = Image.fromarray(arr[:, :, 0] if arr.shape[2] == 1 else arr, mode="L" if arr.shape[2] == 1 else "RGB")
    with atomic_path(path) as tmp:
        img.save(tmp, format="PNG")
    return path


def save_grid(images: torch.Tensor, path: str | os.PathLike, nrow: int = 8) -> Path:
    return save_png(grid_tensor(images, nrow), path)


def grid_labels(num_classes: int, per_class: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """Labels for a conditional grid with one row per class: 0,0,..,0,1,1,..,1,..."""
    return torch.arange(num_classes * per_class, device=device) // per_class
