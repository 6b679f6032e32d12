"""CIFAR-10: the python batches in ``ROOT/cifar-10-batches-py/``, unpickled by gv with a closed list.

The batches (``data_batch_1`` .. ``data_batch_5``, ``test_batch``) are Python 2 pickles of a dict:
``data`` a numpy uint8 array (N, 3072) -- 1024 red, 1024 green, 1024 blue values per image, rows of
32 -- and ``labels`` a list of ints 0..9 (plus ``batch_label`` and ``filenames``).

torchvision (torchvision/datasets/cifar.py, ``CIFAR10.__init__``) opens them with plain
``pickle.load(f, encoding="latin1")``, which runs whatever callables a file names; what makes that
safe there is ``_check_integrity``, which first compares each file's md5 with the official one and
so also refuses any copy that is not byte-identical (a copy re-pickled by Python 3, a test copy).
gv reads the batches itself instead: its unpickler's ``find_class`` resolves exactly the three
globals a genuine batch names -- numpy's array reconstructor, ``numpy.ndarray`` and
``numpy.dtype`` -- and refuses every other name before anything is called, so a malicious file
never runs. None of the three runs code from the file; at worst they build an array, which is
then checked (uint8, N x 3072, labels 0..9). gv does not check md5: the structure checks catch a
torn or foreign batch, and a genuine copy stays readable whatever pickler last wrote it.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from ..errors import GVError
from .fetch import describe, ensure_local
from .spec import DatasetSpec

FOLDER = "cifar-10-batches-py"
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCHES = ("test_batch",)
PIXELS = 3 * 32 * 32

# The function numpy pickles arrays with, under its numpy 1 and numpy 2 module names (a genuine
# batch names numpy.core.multiarray; a copy re-pickled under numpy 2 names numpy._core.multiarray).
_RECONSTRUCT = np.empty(0).__reduce__()[0]
ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}


class RefusedGlobal(pickle.UnpicklingError):
    """The pickle names a Python object outside ALLOWED_GLOBALS."""


class BatchUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):  # every global a pickle names comes through here
        try:
            return ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise RefusedGlobal(f"{module}.{name}") from None

    def persistent_load(self, pid):
        raise RefusedGlobal("a persistent id")


def read_batch(name: str, path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(data uint8 (N, 3072), labels int64 (N,)) from one batch file, checked."""
    fix = f"replace it with a genuine copy (delete {path.parent} and run again online to re-download)"
    if not path.is_file():
        raise GVError(
            f"dataset '{name}': {path} is missing: copy it there, or delete {path.parent} and run again "
            f"online to re-download CIFAR-10"
        )
    try:
        with open(path, "rb") as fh:
            # latin1, as torchvision does: it turns Python 2 str into str and keeps numpy's raw bytes intact.
            entry = BatchUnpickler(fh, encoding="latin1").load()
    except RefusedGlobal as exc:
        raise GVError(
            f"dataset '{name}': refused to load {path}: it names the Python object '{exc}', which a CIFAR-10 "
            f"batch never does (gv never runs code from data files); {fix}"
        ) from None
    except Exception as exc:  # torn or foreign: any failure of the (closed) unpickler means not a batch
        raise GVError(
            f"dataset '{name}': {path} is not a readable CIFAR-10 batch ({type(exc).__name__}: {describe(exc)}); {fix}"
        ) from None
    if not isinstance(entry, dict):
        raise GVError(f"dataset '{name}': {path} holds a {type(entry).__name__}, not a CIFAR-10 batch (a dict); {fix}")
    data = entry.get("data", entry.get(b"data"))
    labels = entry.get("labels", entry.get(b"labels"))
    if not (isinstance(data, np.ndarray) and data.dtype == np.uint8 and data.ndim == 2 and data.shape[1] == PIXELS):
        what = f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise GVError(f"dataset '{name}': {path} has no 'data' array of uint8 (N, {PIXELS}) (found {what}); {fix}")
    try:
        labels = np.asarray(labels)
    except Exception:
        labels = np.asarray(None)  # reported below
    if not (np.issubdtype(labels.dtype, np.integer) and labels.shape == (len(data),)):
        raise GVError(f"dataset '{name}': {path} has no list of {len(data):,} integer 'labels'; {fix}")
    outside = labels[(labels < 0) | (labels > 9)]
    if len(outside):
        raise GVError(f"dataset '{name}': {path} has labels outside 0..9 (e.g. {outside[0]}); {fix}")
    return data, labels.astype(np.int64)


def load_cifar10(spec: DatasetSpec, root: Path, split: str, image_size: int) -> tuple[np.ndarray, np.ndarray]:
    folder = root / FOLDER

    def download() -> None:
        # torchvision's own archive address and md5; only the download and extraction, no unpickling.
        import torchvision.datasets as tvd
        from torchvision.datasets.utils import download_and_extract_archive

        download_and_extract_archive(tvd.CIFAR10.url, str(root), filename=tvd.CIFAR10.filename, md5=tvd.CIFAR10.tgz_md5)

    ensure_local(spec.name, root, folder, download)
    batches = [read_batch(spec.name, folder / batch) for batch in (TRAIN_BATCHES if split == "train" else TEST_BATCHES)]
    images = np.concatenate([data for data, _ in batches]).reshape(-1, 3, 32, 32)
    return images, np.concatenate([labels for _, labels in batches])
