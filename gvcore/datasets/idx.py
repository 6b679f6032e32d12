"""MNIST and Fashion-MNIST: IDX files in torchvision's layout, ``ROOT/<MNIST|FashionMNIST>/raw/``.

A download through torchvision leaves each file twice in ``raw/``: ``train-images-idx3-ubyte.gz``
and its extracted ``train-images-idx3-ubyte``; torchvision reads only the extracted one. gv reads
the extracted file, else the ``.gz``. gv parses the IDX format itself because torchvision's reader
(``read_sn3_pascalvincent_tensor`` in torchvision/datasets/mnist.py) checks the header with
``assert`` and reshapes without checking the length, so a damaged file would surface as an
AssertionError or a torch RuntimeError; here each damage is one line naming the file.

IDX format: a big-endian uint32 magic number -- 0x0000 0x08 (unsigned bytes) then the number of
dimensions: 2051 for images (N, 28, 28), 2049 for labels (N,) -- one big-endian uint32 per
dimension, then the items as raw bytes, nothing after them.
"""

from __future__ import annotations

import gzip
import math
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..errors import GVError
from .fetch import describe, ensure_local
from .spec import DatasetSpec

IMAGES_MAGIC = 2051
LABELS_MAGIC = 2049
SIDE = 28
# The most items a header may declare before gv calls it foreign (MNIST has 60,000); bounds memory.
MAX_ITEMS = 1_000_000
CHUNK_BYTES = 1 << 20

FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

Loader = Callable[["DatasetSpec", Path, str, int], "tuple[np.ndarray, np.ndarray]"]


def mnist_like_loader(folder: str) -> Loader:
    """The loader for torchvision's class ``folder`` ("MNIST", "FashionMNIST"), also its folder name."""

    def load(spec: DatasetSpec, root: Path, split: str, image_size: int) -> tuple[np.ndarray, np.ndarray]:
        raw = root / folder / "raw"

        def download() -> None:
            import torchvision.datasets as tvd

            getattr(tvd, folder)(str(root), train=(split == "train"), download=True)

        ensure_local(spec.name, root, root / folder, download)
        image_file, label_file = FILES[split]
        images, images_path = read_idx(spec.name, raw / image_file, IMAGES_MAGIC, (SIDE, SIDE))
        labels, labels_path = read_idx(spec.name, raw / label_file, LABELS_MAGIC, ())
        if len(labels) != len(images):
            raise GVError(
                f"dataset '{spec.name}': {labels_path} holds {len(labels):,} labels but {images_path} holds "
                f"{len(images):,} images: the two files are from different copies; re-download both"
            )
        if len(labels) and int(labels.max()) >= spec.num_classes:
            raise GVError(
                f"dataset '{spec.name}': {labels_path} has label {int(labels.max())}, but the classes are "
                f"0..{spec.num_classes - 1}: it is not a {spec.name} label file; re-download it"
            )
        return images[:, None, :, :], labels.astype(np.int64)

    return load


def read_idx(name: str, path: Path, magic: int, item_shape: tuple[int, ...]) -> tuple[np.ndarray, Path]:
    """The uint8 array in the IDX file ``path`` (or ``path``.gz), and the file it came from."""
    gz = path.with_name(path.name + ".gz")
    source = path if path.is_file() else gz if gz.is_file() else None
    if source is None:
        raise GVError(
            f"dataset '{name}': {path} is missing: copy it (or its .gz) there, or delete "
            f"{path.parent.parent} and run again online to re-download"
        )
    fix = f"re-download it (delete {path.parent.parent} and run again online)"
    try:
        with gzip.open(source, "rb") if source.suffix == ".gz" else open(source, "rb") as fh:
            header = fh.read(4)
            if len(header) == 4 and int.from_bytes(header, "big") != magic:
                kind = "image" if magic == IMAGES_MAGIC else "label"
                raise GVError(
                    f"dataset '{name}': {source} is not an IDX {kind} file (magic number "
                    f"{int.from_bytes(header, 'big')}, expected {magic}): {fix}"
                )
            ndim = magic & 0xFF
            dims_bytes = fh.read(4 * ndim)
            if len(header) < 4 or len(dims_bytes) < 4 * ndim:
                raise GVError(f"dataset '{name}': {source} is truncated (it ends inside its header): {fix}")
            dims = struct.unpack(f">{ndim}I", dims_bytes)
            if dims[1:] != item_shape:
                raise GVError(
                    f"dataset '{name}': {source} holds items of shape {dims[1:]}, expected {item_shape}: "
                    f"it is not a {name} file; {fix}"
                )
            if dims[0] > MAX_ITEMS:
                raise GVError(
                    f"dataset '{name}': {source} declares {dims[0]:,} items, more than any {name} file: {fix}"
                )
            size = math.prod(dims)
            # Read at most one byte more than declared: enough to tell a file with trailing data,
            # never more memory than the (bounded) declared size.
            chunks, total = [], 0
            while total <= size:
                chunk = fh.read(min(CHUNK_BYTES, size + 1 - total))
                if not chunk:
                    break
                chunks.append(chunk)
                total += len(chunk)
    except GVError:
        raise
    except (OSError, EOFError, zlib.error) as exc:  # unreadable, or a torn / foreign .gz
        raise GVError(f"dataset '{name}': {source} cannot be read ({describe(exc)}): {fix}") from None
    if total < size:
        raise GVError(
            f"dataset '{name}': {source} is truncated: its header declares {dims[0]:,} items "
            f"({size:,} bytes) but it holds {total:,} bytes of them: {fix}"
        )
    if total > size:
        raise GVError(f"dataset '{name}': {source} has data past the {dims[0]:,} items its header declares: {fix}")
    # A copy: frombuffer's view of immutable bytes is read-only, and torch wants writable arrays.
    return np.frombuffer(b"".join(chunks), dtype=np.uint8).reshape(dims).copy(), source
