"""What gv knows of a dataset before reading it: :class:`DatasetSpec`.

The registry (``gvcore.data``) holds one spec per dataset; each format module in this package
receives its spec and returns ``(images, labels)``. Kept apart from the registry so the format
modules import it without importing the registry that imports them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    channels: int
    image_size: int  # default side length
    num_classes: int
    class_names: tuple[str, ...]
    description: str
    loader: Callable[[DatasetSpec, Path, str, int], tuple[np.ndarray, np.ndarray]]
    # Whether the dataset's images come at one size (so image_size can't be changed).
    fixed_size: bool = True

    def image_shape(self, image_size: int = 0) -> tuple[int, int, int]:
        size = image_size or self.image_size
        return (self.channels, size, size)
