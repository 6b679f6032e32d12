"""Imagenette (160 px copy): ``ROOT/imagenette2-160/{train,val}/<wnid>/*.JPEG``, decoded once and cached.

torchvision's ``Imagenette`` (torchvision/datasets/imagenette.py) takes every sub-folder as a class
and looks it up in its wnid table, so a stray folder is a bare KeyError; gv scans the folders
itself against the ten wnids and names whatever is foreign, missing or unreadable. Labels are the
wnids' sorted order, as in torchvision. torchvision still does the download.

The decoded, resized images are cached as ``ROOT/gv-cache/imagenette-<size>-<split>.npz`` (plain
arrays, loaded with ``allow_pickle=False``). A torn or foreign cache file is rebuilt from the
images; a cache is written only after every image decoded, through a temporary file and an atomic
rename, so a failed or concurrent load never leaves a half-written one.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np

from ..errors import GVError
from ..rundir import atomic_path
from .fetch import describe, ensure_local
from .spec import DatasetSpec

FOLDER = "imagenette2-160"
# The ten ImageNet wnids, sorted: a class's label is its index here (tench .. parachute).
WNIDS = (
    "n01440764",
    "n02102040",
    "n02979186",
    "n03000684",
    "n03028079",
    "n03394916",
    "n03417042",
    "n03425413",
    "n03445777",
    "n03888257",
)
# Formats PIL may decode a .JPEG as. A closed list: some PIL plugins (EPS) hand the file to an
# external program, and a file named .JPEG may be anything.
IMAGE_FORMATS = ("JPEG", "MPO", "PNG")
MAX_CACHED_IMAGES = 100_000  # Imagenette has 13,394; a cache file declaring more is foreign


def cache_path(root: Path, split: str, image_size: int) -> Path:
    return root / "gv-cache" / f"imagenette-{image_size}-{split}.npz"


def load_imagenette(spec: DatasetSpec, root: Path, split: str, image_size: int) -> tuple[np.ndarray, np.ndarray]:
    cache = cache_path(root, split, image_size)
    cached = read_cache(cache, image_size)
    if cached is not None:
        return cached

    def download() -> None:
        import torchvision.datasets as tvd

        tvd.Imagenette(str(root), split="train", size="160px", download=True)

    ensure_local(spec.name, root, root / FOLDER, download)
    files, labels = scan(spec, root / FOLDER / ("train" if split == "train" else "val"))
    images = decode(spec.name, files, image_size)
    write_cache(cache, images, labels)
    return images, labels


def scan(spec: DatasetSpec, split_dir: Path) -> tuple[list[Path], np.ndarray]:
    """The image files of one split and their labels; any foreign, missing or empty class is a GVError."""
    redownload = f"or delete {split_dir.parent} and run again online to re-download Imagenette"
    if not split_dir.is_dir():
        raise GVError(f"dataset '{spec.name}': {split_dir} is missing: copy that folder there, {redownload}")
    try:
        folders = sorted(entry.name for entry in os.scandir(split_dir) if entry.is_dir())
    except OSError as exc:
        raise GVError(f"dataset '{spec.name}': {split_dir} cannot be read ({describe(exc)})") from None
    for folder in folders:
        if folder not in WNIDS:
            raise GVError(
                f"dataset '{spec.name}': {split_dir} has a folder '{folder}' that is not one of the 10 Imagenette "
                f"classes ({', '.join(WNIDS)}): remove it, {redownload}"
            )
    files: list[Path] = []
    labels: list[int] = []
    for label, wnid in enumerate(WNIDS):
        class_dir = split_dir / wnid
        if wnid not in folders:
            raise GVError(
                f"dataset '{spec.name}': {split_dir} has no folder '{wnid}' (class '{spec.class_names[label]}'): "
                f"copy it there, {redownload}"
            )
        # Like torchvision: files ending .jpeg in any case; anything else (e.g. .DS_Store) is ignored.
        try:
            found = sorted(p for p in class_dir.iterdir() if p.suffix.lower() == ".jpeg" and p.is_file())
        except OSError as exc:
            raise GVError(f"dataset '{spec.name}': {class_dir} cannot be read ({describe(exc)})") from None
        if not found:
            raise GVError(f"dataset '{spec.name}': {class_dir} holds no .JPEG images: copy them there, {redownload}")
        files += found
        labels += [label] * len(found)
    return files, np.asarray(labels, dtype=np.int64)


def decode(name: str, files: list[Path], image_size: int) -> np.ndarray:
    """Every file resized (shorter side) and centre-cropped to ``image_size``, as uint8 (N, 3, S, S)."""
    import torchvision.transforms.v2 as T
    from PIL import Image

    transform = T.Compose([T.Resize(image_size), T.CenterCrop(image_size)])
    images = np.empty((len(files), 3, image_size, image_size), dtype=np.uint8)
    for i, path in enumerate(files):
        try:
            with Image.open(path, formats=IMAGE_FORMATS) as img:
                rgb = img.convert("RGB")  # decodes the whole file: a truncated one fails here
        except Exception as exc:  # PIL reports damage as OSError, SyntaxError, ValueError, DecompressionBombError
            raise GVError(
                f"dataset '{name}': {path} is not a readable image ({describe(exc)}): delete or replace it, "
                f"or re-download Imagenette"
            ) from None
        images[i] = np.asarray(transform(rgb)).transpose(2, 0, 1)
    return images


def read_cache(cache: Path, image_size: int) -> tuple[np.ndarray, np.ndarray] | None:
    """The cached split, or None when there is none or it is torn / foreign (then it is rebuilt)."""
    if not cache.is_file():
        return None
    limit = MAX_CACHED_IMAGES * 3 * image_size * image_size + (1 << 20)
    try:
        # Check the declared sizes before np.load inflates anything: a foreign zip may be a bomb.
        with zipfile.ZipFile(cache) as archive:
            if sum(info.file_size for info in archive.infolist()) > limit:
                return None
        with np.load(cache, allow_pickle=False) as npz:
            images, labels = npz["images"], npz["labels"]
    except Exception:  # not a zip, torn, missing keys, object arrays: all mean "rebuild"
        return None
    good = (
        images.dtype == np.uint8
        and images.ndim == 4
        and images.shape[1:] == (3, image_size, image_size)
        and labels.dtype == np.int64
        and labels.shape == (len(images),)
        and len(images) > 0
        and labels.min() >= 0
        and labels.max() < len(WNIDS)
    )
    return (images, labels) if good else None


def write_cache(cache: Path, images: np.ndarray, labels: np.ndarray) -> None:
    """The resized arrays, through gv's atomic writer (parallel trials may build the same cache at
    once). A read-only data dir or a full disk only costs the cache: go on without it."""
    try:
        with atomic_path(cache) as tmp, tmp.open("wb") as fh:  # a file object: numpy adds no ".npz"
            np.savez(fh, images=images, labels=labels)
    except OSError:
        return
