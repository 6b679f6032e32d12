"""Dataset loaders, offline: tiny fixtures in the real on-disk layouts, loaded, trained on, and damaged.

Each fixture is what a real download leaves, in miniature: the same folders, file names and binary
formats (IDX files with their .gz archives, Python 2 pickles for CIFAR-10, JPEG folders named by
wnid), and each is cross-checked against torchvision's own reader where torchvision can read it.
The damaged layouts must each be one line on stderr naming the bad path, exit code 2, and nothing
written: no run dir, no cache file.
"""

from __future__ import annotations

import gzip
import json
import os
import pickle
import pickletools
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import assert_one_line_error, run_cli
from PIL import Image

from gvcore.data import _CACHE, load_dataset
from gvcore.datasets.imagenette import WNIDS, cache_path

# --- fixture builders ---------------------------------------------------------------------------

MNIST_FOLDERS = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST"}
N_TRAIN, N_TEST = 20, 10


def write_idx(path: Path, array: np.ndarray, magic: int) -> None:
    """An IDX file as LeCun's site serves it (extracted), plus the .gz torchvision downloaded it as."""
    data = struct.pack(">I", magic) + struct.pack(f">{array.ndim}I", *array.shape) + array.astype(np.uint8).tobytes()
    path.write_bytes(data)
    path.with_name(path.name + ".gz").write_bytes(gzip.compress(data))


def make_mnist_like(root: Path, dataset: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """ROOT/<MNIST|FashionMNIST>/raw/ with all four files; returns {split: (images, labels)} written."""
    raw = root / MNIST_FOLDERS[dataset] / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(1)
    written = {}
    for split, prefix, n in (("train", "train", N_TRAIN), ("test", "t10k", N_TEST)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = (np.arange(n) * 3 % 10).astype(np.uint8)
        write_idx(raw / f"{prefix}-images-idx3-ubyte", images, 2051)
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels, 2049)
        written[split] = (images, labels)
    return written


_RECONSTRUCT = np.empty(0).__reduce__()[0]


class Python2Pickler(pickle._Pickler):
    """Pickles the way Python 2's cPickle wrote the CIFAR-10 batches: protocol 2, every string an
    8-bit string (SHORT_BINSTRING / BINSTRING), numpy's reconstructor under its numpy 1 name."""

    dispatch = dict(pickle._Pickler.dispatch)

    def save_py2_string(self, obj):
        raw = obj.encode("latin1") if isinstance(obj, str) else obj
        if len(raw) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(raw)]) + raw)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(raw)) + raw)
        self.memoize(obj)

    dispatch[str] = save_py2_string
    dispatch[bytes] = save_py2_string

    def save_global(self, obj, name=None):
        if obj is _RECONSTRUCT:
            self.write(pickle.GLOBAL + b"numpy.core.multiarray\n_reconstruct\n")
            self.memoize(obj)
        else:
            super().save_global(obj, name)


def write_py2_pickle(path: Path, obj) -> None:
    with open(path, "wb") as fh:
        Python2Pickler(fh, protocol=2).dump(obj)


def cifar_images(n: int, offset: int) -> np.ndarray:
    """(n, 3, 32, 32) images whose channel c is the constant 10 * (offset + i) % 200 + c: the layout is checkable."""
    values = (10 * (offset + np.arange(n)) % 200)[:, None, None, None] + np.arange(3)[None, :, None, None]
    return np.broadcast_to(values, (n, 3, 32, 32)).astype(np.uint8)


def make_cifar10(root: Path, per_batch: int = 4) -> Path:
    """ROOT/cifar-10-batches-py/ with data_batch_1..5, test_batch and batches.meta."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for index, name in enumerate(names):
        images = cifar_images(per_batch, index * per_batch)
        label = "testing batch 1 of 1" if name == "test_batch" else f"training batch {index + 1} of 5"
        write_py2_pickle(
            folder / name,
            {
                "batch_label": label,
                "labels": [(index * per_batch + i) % 10 for i in range(per_batch)],
                "data": images.reshape(per_batch, 3072).copy(),
                "filenames": [f"img_{index}_{i}.png" for i in range(per_batch)],
            },
        )
    classes = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    write_py2_pickle(folder / "batches.meta", {"num_cases_per_batch": 10000, "label_names": classes, "num_vis": 3072})
    return folder


def imagenette_color(label: int) -> tuple[int, int, int]:
    return (20 * label + 10, 200 - 15 * label, 128)


def make_imagenette(root: Path, train_per_class: int = 2, val_per_class: int = 1) -> Path:
    """ROOT/imagenette2-160/{train,val}/<wnid>/*.JPEG: small JPEGs, one flat colour per class,
    shorter side 160 as in the 160 px copy, plus the csv a real copy carries."""
    top = root / "imagenette2-160"
    for split, per_class in (("train", train_per_class), ("val", val_per_class)):
        for label, wnid in enumerate(WNIDS):
            (top / split / wnid).mkdir(parents=True)
            for i in range(per_class):
                size = (213, 160) if i % 2 == 0 else (160, 240)
                Image.new("RGB", size, imagenette_color(label)).save(
                    top / split / wnid / f"{wnid}_{i}.JPEG", quality=90
                )
    (top / "noisy_imagenette.csv").write_text(
        "path,noisy_labels_0,noisy_labels_1,noisy_labels_5,noisy_labels_25,noisy_labels_50,is_valid\n"
    )
    return top


# --- loading each dataset -------------------------------------------------------------------------


@pytest.mark.parametrize("dataset", ["mnist", "fashion-mnist"])
def test_mnist_like_reads_torchvision_layout(dataset, tmp_path):
    import torchvision.datasets as tvd

    written = make_mnist_like(tmp_path, dataset)
    for split, (images, labels) in written.items():
        ds = load_dataset(dataset, split, tmp_path)
        assert ds.images.dtype == torch.uint8 and ds.images.shape == (len(images), 1, 28, 28)
        assert ds.labels.dtype == torch.int64 and ds.labels.tolist() == labels.tolist()
        assert np.array_equal(ds.images[:, 0].numpy(), images)
        # The fixture is what torchvision itself reads from a real download, and gv agrees with it.
        reference = getattr(tvd, MNIST_FOLDERS[dataset])(str(tmp_path), train=(split == "train"))
        assert torch.equal(reference.data, ds.images[:, 0]) and torch.equal(reference.targets, ds.labels)


def test_mnist_reads_the_gz_when_the_extracted_file_is_gone(tmp_path):
    written = make_mnist_like(tmp_path, "mnist")
    raw = tmp_path / "MNIST" / "raw"
    (raw / "train-images-idx3-ubyte").unlink()
    (raw / "train-labels-idx1-ubyte").unlink()
    ds = load_dataset("mnist", "train", tmp_path)
    assert np.array_equal(ds.images[:, 0].numpy(), written["train"][0])
    assert ds.labels.tolist() == written["train"][1].tolist()


def test_cifar10_reads_the_python2_batches(tmp_path):
    folder = make_cifar10(tmp_path)
    train_set, test_set = load_dataset("cifar10", "train", tmp_path), load_dataset("cifar10", "test", tmp_path)
    assert train_set.images.shape == (20, 3, 32, 32) and train_set.images.dtype == torch.uint8
    assert test_set.images.shape == (4, 3, 32, 32) and train_set.labels.dtype == torch.int64
    assert train_set.labels.tolist() == [i % 10 for i in range(20)]
    assert test_set.labels.tolist() == [(20 + i) % 10 for i in range(4)]
    # Red, green, blue planes in that order, images in batch order.
    assert np.array_equal(train_set.images.numpy(), cifar_images(20, 0))
    assert np.array_equal(test_set.images.numpy(), cifar_images(4, 20))
    # The fixture is a Python 2 pickle naming exactly the globals a real batch names, and reads the
    # same through torchvision's own call (plain pickle, encoding="latin1").
    raw = (folder / "data_batch_1").read_bytes()
    globals_named = {arg for op, arg, _ in pickletools.genops(raw) if op.name == "GLOBAL"}
    assert globals_named == {"numpy.core.multiarray _reconstruct", "numpy ndarray", "numpy dtype"}
    assert raw[:2] == b"\x80\x02" and not any(
        op.name in ("BINUNICODE", "BINBYTES") for op, _, _ in pickletools.genops(raw)
    )
    entry = pickle.loads(raw, encoding="latin1")  # our own fixture: safe to unpickle plainly
    assert np.array_equal(entry["data"].reshape(-1, 3, 32, 32), cifar_images(4, 0)) and entry["labels"] == [0, 1, 2, 3]


def test_cifar10_reads_a_batch_repickled_by_python3(tmp_path):
    folder = make_cifar10(tmp_path)
    with open(folder / "test_batch", "wb") as fh:  # numpy 2 names, bytes keys, protocol 4
        pickle.dump({b"data": cifar_images(3, 7).reshape(3, 3072), b"labels": [1, 2, 3]}, fh, protocol=4)
    test_set = load_dataset("cifar10", "test", tmp_path)
    assert np.array_equal(test_set.images.numpy(), cifar_images(3, 7)) and test_set.labels.tolist() == [1, 2, 3]


def test_imagenette_reads_the_folders_and_then_its_cache(tmp_path):
    import torchvision.datasets as tvd

    top = make_imagenette(tmp_path)
    train_set = load_dataset("imagenette", "train", tmp_path, image_size=32)
    test_set = load_dataset("imagenette", "test", tmp_path, image_size=32)
    assert train_set.images.shape == (20, 3, 32, 32) and test_set.images.shape == (10, 3, 32, 32)
    assert train_set.images.dtype == torch.uint8 and train_set.labels.dtype == torch.int64
    assert train_set.labels.tolist() == [label for label in range(10) for _ in range(2)]
    # Each image is its class's colour (JPEG is lossy: within a few levels), centre-cropped square.
    for image, label in zip(train_set.images, train_set.labels):
        mean = image.float().mean(dim=(1, 2))
        assert torch.allclose(mean, torch.tensor(imagenette_color(int(label)), dtype=torch.float32), atol=4)
    # Same files and labels as torchvision's own Imagenette class (its wnids, its order).
    reference = tvd.Imagenette(str(tmp_path), split="train", size="160px")
    assert [label for _, label in reference._samples] == train_set.labels.tolist()
    assert sorted(reference.wnids) == list(WNIDS) == sorted(tvd.Imagenette._WNID_TO_CLASS)

    # The second load (a fresh process: empty in-memory cache) reads gv-cache/, not the JPEGs.
    cache = cache_path(tmp_path, "train", 32)
    assert cache.is_file() and cache_path(tmp_path, "test", 32).is_file()
    assert not list(cache.parent.glob("*.tmp"))
    for key in [key for key in _CACHE if key[2] == str(tmp_path)]:  # (name, split, root, size)
        del _CACHE[key]
    for jpeg in top.rglob("*.JPEG"):
        jpeg.unlink()
    again = load_dataset("imagenette", "train", tmp_path, image_size=32)
    assert torch.equal(again.images, train_set.images) and torch.equal(again.labels, train_set.labels)


class _Payload:
    marker = ""

    def __reduce__(self):
        return (os.system, (f"touch {_Payload.marker}",))


def test_imagenette_rebuilds_a_torn_or_foreign_cache(tmp_path):
    make_imagenette(tmp_path, train_per_class=1)
    cache = cache_path(tmp_path, "train", 64)
    good = load_dataset("imagenette", "train", tmp_path)  # the default size, 64
    assert good.images.shape == (10, 3, 64, 64)
    valid_bytes = cache.read_bytes()
    _Payload.marker = str(tmp_path / "pwned")
    evil = tmp_path / "evil.npz"
    np.savez(evil, images=np.array([_Payload()], dtype=object), labels=np.zeros(1, dtype=np.int64))
    damaged = {
        "torn": valid_bytes[: len(valid_bytes) // 2],
        "not a zip": b"\x00garbage" * 10,
        "empty": b"",
        "object array (a pickle)": evil.read_bytes(),
        "wrong size": _npz_bytes(tmp_path, np.zeros((1, 3, 16, 16), np.uint8), np.zeros(1, np.int64)),
        "bad labels": _npz_bytes(tmp_path, np.zeros((10, 3, 64, 64), np.uint8), np.full(10, 42, np.int64)),
    }
    for what, content in damaged.items():
        cache.write_bytes(content)
        for key in [key for key in _CACHE if key[2] == str(tmp_path)]:
            del _CACHE[key]
        rebuilt = load_dataset("imagenette", "train", tmp_path)
        assert torch.equal(rebuilt.images, good.images) and torch.equal(rebuilt.labels, good.labels), what
        assert cache.read_bytes() == valid_bytes, what  # rewritten whole
    assert not (tmp_path / "pwned").exists()


def _npz_bytes(tmp_path: Path, images: np.ndarray, labels: np.ndarray) -> bytes:
    path = tmp_path / "other.npz"
    np.savez(path, images=images, labels=labels)
    return path.read_bytes()


# --- training from each layout through the CLI ----------------------------------------------------


@pytest.mark.parametrize(
    "dataset, family, extra",
    [
        ("mnist", "gan", []),
        ("fashion-mnist", "vae", []),
        # The data path is under test here (the 3-channel nets are in test_foundation): MLPs keep it quick.
        ("cifar10", "lsgan", ["--set", "model.architecture=mlp"]),
        ("imagenette", "cgan", ["--set", "model.architecture=mlp", "--set", "data.image_size=32"]),
    ],
)
def test_train_a_few_steps_from_each_layout(dataset, family, extra, tmp_path):
    root = tmp_path / "data"
    if dataset in MNIST_FOLDERS:
        make_mnist_like(root, dataset)
    elif dataset == "cifar10":
        make_cifar10(root)
    else:
        make_imagenette(root)
    out = tmp_path / "run"
    result = run_cli(
        "train",
        family,
        "--dataset",
        dataset,
        "--data-dir",
        root,
        "--steps",
        "3",
        "--batch-size",
        "8",
        "--out",
        out,
        "--set",
        "eval.metrics=",
        *extra,
    )
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "result.json").read_text())
    assert summary["status"] == "done" and summary["step"] == 3
    assert json.loads((out / "config.json").read_text())["config"]["data"]["name"] == dataset


# --- damaged folders: one line naming the path, exit 2, nothing written ---------------------------


def _truncate(path: Path, keep: int) -> None:
    path.write_bytes(path.read_bytes()[:keep])


def _idx_damage(how: str):
    def damage(root: Path) -> list[str]:
        make_mnist_like(root, "mnist")
        raw = root / "MNIST" / "raw"
        images, labels = raw / "train-images-idx3-ubyte", raw / "train-labels-idx1-ubyte"
        if how == "truncated":
            _truncate(images, 16 + 28 * 28 * 5)
            return [str(images), "truncated"]
        if how == "cut inside the header":
            _truncate(labels, 6)
            return [str(labels), "truncated"]
        if how == "wrong magic":
            labels.write_bytes(struct.pack(">I", 2051) + labels.read_bytes()[4:])
            return [str(labels), "magic number 2051", "expected 2049"]
        if how == "trailing data":
            images.write_bytes(images.read_bytes() + b"\x00" * 7)
            return [str(images), "past the 20 items"]
        if how == "missing":
            labels.unlink()
            labels.with_name(labels.name + ".gz").unlink()
            return [str(labels), "missing"]
        if how == "torn gz":
            images.unlink()
            gz = images.with_name(images.name + ".gz")
            _truncate(gz, 60)
            return [str(gz), "cannot be read"]
        if how == "fewer labels":
            write_idx(labels, np.zeros(19, np.uint8), 2049)
            return [str(labels), "19 labels", "20 images"]
        if how == "label out of range":
            write_idx(labels, np.full(20, 12, np.uint8), 2049)
            return [str(labels), "label 12"]
        raise AssertionError(how)

    return damage


def _cifar_damage(how: str):
    def damage(root: Path) -> list[str]:
        folder = make_cifar10(root)
        batch = folder / "data_batch_3"
        if how == "missing":
            batch.unlink()
            return [str(batch), "missing"]
        if how == "torn":
            _truncate(batch, 300)
            return [str(batch), "not a readable CIFAR-10 batch"]
        if how == "foreign pickle":
            write_py2_pickle(batch, ["not", "a", "batch"])
            return [str(batch), "list", "not a CIFAR-10 batch"]
        if how == "wrong data":
            write_py2_pickle(batch, {"data": np.zeros((4, 1024), np.uint8), "labels": [0, 1, 2, 3]})
            return [str(batch), "'data'", "(4, 1024)"]
        if how == "bad labels":
            write_py2_pickle(batch, {"data": np.zeros((4, 3072), np.uint8), "labels": [0, 1, 2, 30]})
            return [str(batch), "outside 0..9"]
        if how == "not a pickle":
            batch.write_bytes(b"%PDF-1.4 definitely not a pickle")
            return [str(batch), "not a readable CIFAR-10 batch"]
        raise AssertionError(how)

    return damage


def _imagenette_damage(how: str):
    def damage(root: Path) -> list[str]:
        top = make_imagenette(root)
        train = top / "train"
        if how == "foreign folder":
            (train / "foo").mkdir()
            return [str(train), "'foo'", "not one of the 10 Imagenette classes", "n01440764"]
        if how == "missing class":
            for jpeg in (train / WNIDS[9]).iterdir():
                jpeg.unlink()
            (train / WNIDS[9]).rmdir()
            return [str(train), WNIDS[9], "parachute"]
        if how == "empty class":
            for jpeg in (train / WNIDS[4]).iterdir():
                jpeg.unlink()
            return [str(train / WNIDS[4]), "no .JPEG"]
        if how == "corrupt jpeg":
            bad = train / WNIDS[2] / f"{WNIDS[2]}_1.JPEG"
            bad.write_bytes(os.urandom(500))
            return [str(bad), "not a readable image"]
        if how == "truncated jpeg":
            bad = train / WNIDS[5] / f"{WNIDS[5]}_0.JPEG"
            _truncate(bad, bad.stat().st_size // 2)
            return [str(bad), "not a readable image"]
        if how == "not a jpeg":
            bad = train / WNIDS[1] / f"{WNIDS[1]}_0.JPEG"
            Image.new("RGB", (20, 20)).save(bad, format="BMP")
            return [str(bad), "not a readable image"]
        if how == "split missing":
            import shutil

            shutil.rmtree(train)
            return [str(train), "missing"]
        raise AssertionError(how)

    return damage


DAMAGE = (
    [
        ("mnist", how, _idx_damage(how))
        for how in (
            "truncated",
            "cut inside the header",
            "wrong magic",
            "trailing data",
            "missing",
            "torn gz",
            "fewer labels",
            "label out of range",
        )
    ]
    + [
        ("cifar10", how, _cifar_damage(how))
        for how in ("missing", "torn", "foreign pickle", "wrong data", "bad labels", "not a pickle")
    ]
    + [
        ("imagenette", how, _imagenette_damage(how))
        for how in (
            "foreign folder",
            "missing class",
            "empty class",
            "corrupt jpeg",
            "truncated jpeg",
            "not a jpeg",
            "split missing",
        )
    ]
)


@pytest.mark.parametrize("dataset, how, damage", DAMAGE, ids=[f"{d}-{h}" for d, h, _ in DAMAGE])
def test_damaged_dataset_is_a_one_line_error(dataset, how, damage, tmp_path):
    root = tmp_path / "data"
    needles = damage(root)
    out = tmp_path / "run"
    result = run_cli(
        "train",
        "gan",
        "--dataset",
        dataset,
        "--data-dir",
        root,
        "--steps",
        "2",
        "--batch-size",
        "4",
        "--out",
        out,
        "--set",
        "eval.metrics=",
    )
    assert_one_line_error(result, f"dataset '{dataset}'", *needles)
    assert not out.exists()
    assert not (root / "gv-cache").exists()  # no cache from a failed load


@pytest.mark.parametrize("payload", ["os.system", "builtins.eval", "numpy.load"])
def test_a_malicious_cifar_batch_is_refused_never_run(payload, tmp_path):
    root = tmp_path / "data"
    folder = make_cifar10(root)
    marker = tmp_path / "pwned"
    module, name = payload.split(".")
    argument = {
        "os.system": f"touch {marker}",
        "builtins.eval": f"open({str(marker)!r}, 'w')",
        "numpy.load": str(marker),
    }[payload]
    # A batch-shaped dict whose labels come from calling the payload, in Python 2's opcodes.
    evil = (
        b"\x80\x02}q\x00(U\x06labelsq\x01c"
        + module.encode()
        + b"\n"
        + name.encode()
        + b"\nq\x02"
        + b"U"
        + bytes([len(argument)])
        + argument.encode()
        + b"\x85R"
        + b"u."
    )
    # A well-formed pickle that calls the payload: plain pickle.loads (torchvision's way, minus its
    # md5 check) would run it -- shown with the harmless eval, which creates the marker.
    assert ("GLOBAL", f"{module} {name}") in [(op.name, arg) for op, arg, _ in pickletools.genops(evil)]
    if payload == "builtins.eval":
        pickle.loads(evil, encoding="latin1")["labels"].close()
        assert marker.exists()
        marker.unlink()
    (folder / "data_batch_1").write_bytes(evil)
    result = run_cli(
        "train",
        "gan",
        "--dataset",
        "cifar10",
        "--data-dir",
        root,
        "--steps",
        "2",
        "--batch-size",
        "4",
        "--out",
        tmp_path / "run",
        "--set",
        "eval.metrics=",
    )
    assert_one_line_error(result, "refused", str(folder / "data_batch_1"), f"'{module}.{name}'")
    assert not marker.exists() and not (tmp_path / "run").exists()
