"""Folders of images for the folder-dataset tests: mnist-5k written out as PNG files (flat, in class
folders, split as gv splits it), and colour digits (mnist-5k strokes in colour on coloured ground)."""

from __future__ import annotations

import colorsys
from pathlib import Path

import numpy as np
from PIL import Image

from gvcore.data import load_dataset


def mnist_splits() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """mnist-5k as gv splits it: {"train": (uint8 (N, 1, 28, 28), int64 labels), "test": ...}."""
    return {
        split: (load_dataset("mnist-5k", split).images.numpy(), load_dataset("mnist-5k", split).labels.numpy())
        for split in ("train", "test")
    }


def write_pngs(folder: Path, images: np.ndarray, labels: np.ndarray | None = None, start: int = 0) -> list[Path]:
    """uint8 (N, C, H, W) images as PNG files: flat, or in one sub-folder per label."""
    written = []
    for i, image in enumerate(images):
        target = folder if labels is None else folder / str(int(labels[i]))
        target.mkdir(parents=True, exist_ok=True)
        path = target / f"{start + i:05d}.png"
        pixels = image[0] if image.shape[0] == 1 else image.transpose(1, 2, 0)
        Image.fromarray(pixels).save(path)
        written.append(path)
    return written


def write_mnist_classes(root: Path, count: int | None = None) -> Path:
    """ROOT/train/<digit>/*.png and ROOT/test/<digit>/*.png: mnist-5k as gv splits it (``count``
    images of each split spread over the digits, all by default)."""
    for split, (images, labels) in mnist_splits().items():
        pick = _pick(count, len(images))
        write_pngs(root / split, images[pick], labels[pick], start=0 if split == "train" else 10_000)
    return root


def _pick(count: int | None, total: int) -> np.ndarray:
    """``count`` indices spread evenly over mnist-5k (sorted by class: every class gets its share)."""
    return np.arange(total) if count is None else np.linspace(0, total - 1, count).round().astype(int)


def write_flat(root: Path, count: int | None = None) -> Path:
    """ROOT/*.png: mnist-5k's images (train then test; ``count`` of them, every digit), no labels."""
    splits = mnist_splits()
    images = np.concatenate([splits["train"][0], splits["test"][0]])
    write_pngs(root, images[_pick(count, len(images))])
    return root


def colour_digits(images: np.ndarray, labels: np.ndarray, seed: int = 0) -> np.ndarray:
    """uint8 (N, 1, 28, 28) digits -> uint8 (N, 3, 32, 32): a muted random background, the stroke a
    bright colour whose hue follows the class (with jitter) -- colour data with structure, which the
    evaluator's ladders can check."""
    rng = np.random.default_rng(seed)
    ink = np.pad(images[:, 0].astype(np.float32) / 255.0, ((0, 0), (2, 2), (2, 2)))
    out = np.empty((len(images), 3, 32, 32), dtype=np.uint8)
    for i in range(len(images)):
        ground = np.array(colorsys.hsv_to_rgb(rng.random(), 0.35 * rng.random(), 0.15 + 0.25 * rng.random()))
        hue = (labels[i] / 10 + 0.05 * rng.standard_normal()) % 1.0
        stroke = np.array(colorsys.hsv_to_rgb(hue, 0.6 + 0.4 * rng.random(), 0.8 + 0.2 * rng.random()))
        pixels = ground[:, None, None] * (1 - ink[i]) + stroke[:, None, None] * ink[i]
        out[i] = np.clip(pixels * 255 + 0.5, 0, 255).astype(np.uint8)
    return out


def write_colour(
    root: Path, count: int | None = None, labelled: bool = True, classes: tuple[int, ...] = tuple(range(10))
) -> Path:
    """Colour digits from mnist-5k as PNG files (``count`` of them, spread over ``classes``), in
    class folders or flat; gv holds out the test split."""
    splits = mnist_splits()
    images = np.concatenate([splits["train"][0], splits["test"][0]])
    labels = np.concatenate([splits["train"][1], splits["test"][1]])
    keep = np.isin(labels, classes)
    images, labels = images[keep], labels[keep]
    pick = _pick(count, len(images))
    write_pngs(root, colour_digits(images[pick], labels[pick], seed=5), labels[pick] if labelled else None)
    return root
