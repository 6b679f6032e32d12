"""The real MNIST test split (10,000 digits) for the benchmarks: ../shared/data/mnist-t10k, or a
folder given with --t10k. Evaluation only, never training; a user's clone may not have it."""

from __future__ import annotations

import gzip
import shutil
import tempfile
from pathlib import Path

import torch

DEFAULT_T10K = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist-t10k"


def read_t10k(folder: Path) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(uint8 images (N, 1, 28, 28), int64 labels), or None when the folder lacks the two IDX files."""
    from torchvision.datasets.mnist import read_image_file, read_label_file

    images, labels = folder / "t10k-images-idx3-ubyte.gz", folder / "t10k-labels-idx1-ubyte.gz"
    if not (images.is_file() and labels.is_file()):
        return None
    with tempfile.TemporaryDirectory() as tmp:
        out = []
        for src in (images, labels):
            dst = Path(tmp) / src.stem
            with gzip.open(src, "rb") as fin, open(dst, "wb") as fout:
                shutil.copyfileobj(fin, fout)
            out.append(dst)
        return read_image_file(str(out[0]))[:, None].contiguous(), read_label_file(str(out[1])).long()
