"""Reading a user's folder of images as a dataset: which files, which classes, which split.

Layouts (dgm-eval's and torchvision ImageFolder's conventions)::

    ROOT/*.png                      unlabelled: every image directly in the folder
    ROOT/<class>/**/*.png           labelled: one sub-folder per class (names sorted = labels 0..K-1);
                                    a single sub-folder is no classes: its images, unlabelled
    ROOT/train/... + ROOT/test/...  either of the above, split by the user (val/ stands for test/)
    ROOT/train/...                  alone: gv holds out the test split itself

Without a test folder gv holds out :data:`HOLDOUT_SHARE` of every class (a fixed seed, so every run
and every node makes the same split); the manifest (folder.py) records which file went where.

Files whose suffix is not an image's (``.txt``, ``.DS_Store``, anything hidden) are skipped and
counted. Everything else wrong is a one-line GVError naming the file or folder: no images, a
single image, a class folder with no images, a folder holding both images and sub-folders, a
broken link, a symlink loop, a FIFO or device named as an image. Links are followed (a folder of
links into a photo library is a dataset), every folder is visited at most once, and nothing is
opened that could block: the walk always ends.

The scan's ``key`` hashes each image's relative name, size and modification time: the decoded
cache and the evaluator are keyed by it, so a changed, added or removed file means a new decode.
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import GVError
from .fetch import describe

# Suffixes gv reads as images (case-insensitive); the formats folder.py lets Pillow decode them as.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".gif", ".tif", ".tiff")
SPLIT_TRAIN = "train"
SPLIT_TEST_NAMES = ("test", "val")  # the first present is the test split
HOLDOUT_SHARE = 0.1
HOLDOUT_SEED = 20240611  # fixed: the split is a property of the folder, not of a run's seed
SCAN_VERSION = 1


@dataclass(frozen=True)
class FolderScan:
    """What a folder holds, before any image is opened."""

    root: Path
    class_names: tuple[str, ...]  # () = unlabelled
    files: tuple[str, ...]  # relative POSIX paths: the training split, then the test split
    labels: tuple[int, ...]  # per file; -1 when unlabelled
    num_train: int  # files[:num_train] train, the rest test
    split_by: str  # "folders" (train/ and test/ given) or "holdout" (gv's seeded share)
    skipped: int  # files that are not images
    key: str  # hex digest of every image's name, size and modification time

    @property
    def labelled(self) -> bool:
        return bool(self.class_names)

    def split_of(self, split: str) -> slice:
        return slice(0, self.num_train) if split == "train" else slice(self.num_train, len(self.files))


def _fail(path: Path, problem: str) -> GVError:
    return GVError(f"dataset folder {path}: {problem}")


def is_image_name(name: str) -> bool:
    return name.lower().endswith(IMAGE_SUFFIXES)


@dataclass
class _Walk:
    """One scan's state: the folders seen (loop guard), the skipped count and each image's stat."""

    root: Path
    skipped: int = 0
    seen: set[tuple[int, int]] | None = None
    stats: dict[str, tuple[int, int]] | None = None  # relative path -> (size, mtime_ns)

    def __post_init__(self) -> None:
        self.seen, self.stats = set(), {}

    def enter(self, folder: Path) -> None:
        """Mark a folder visited; reaching one twice means a link loops back (or doubles a folder)."""
        try:
            info = folder.stat()
        except OSError as exc:
            raise _fail(folder, f"can't be read ({describe(exc)})") from None
        ident = (info.st_dev, info.st_ino)
        assert self.seen is not None
        if ident in self.seen:
            raise _fail(
                folder,
                "leads back to a folder already read (a symlink loop or a second link to one folder): remove the link",
            )
        self.seen.add(ident)

    def entries(self, folder: Path) -> tuple[list[str], list[Path]]:
        """(image files as POSIX paths relative to the root, sub-folders) directly in ``folder``,
        sorted; other files counted as skipped. Strings, not Paths, for the images: a Path and its
        relative_to cost ~10 us each, a second of every load of a 50,000-image folder."""
        self.enter(folder)
        try:
            listing = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as exc:
            raise _fail(folder, f"can't be read ({describe(exc)})") from None
        prefix = "" if folder == self.root else folder.relative_to(self.root).as_posix() + "/"
        assert self.stats is not None
        images: list[str] = []
        folders: list[Path] = []
        for entry in listing:
            hidden = entry.name.startswith(".")
            try:
                info = entry.stat()  # follows links: a link to an image is that image
            except OSError as exc:
                if hidden or (not is_image_name(entry.name) and not entry.is_symlink()):
                    self.skipped += 1
                    continue
                what = "a broken link or a symlink loop" if entry.is_symlink() else "unreadable"
                raise _fail(Path(entry.path), f"is {what} ({describe(exc)}): fix or remove it") from None
            if stat.S_ISDIR(info.st_mode):
                if not hidden:  # .git, .ipynb_checkpoints, ...
                    folders.append(Path(entry.path))
            elif hidden or not is_image_name(entry.name):
                self.skipped += 1
            elif not stat.S_ISREG(info.st_mode):
                # A FIFO would block the reader forever; a device is nobody's photo.
                raise _fail(
                    Path(entry.path),
                    "is named as an image but is not a regular file (a pipe, socket or device): remove it",
                )
            else:
                relative = prefix + entry.name
                self.stats[relative] = (info.st_size, info.st_mtime_ns)
                images.append(relative)
        return images, folders

    def all_images(self, folder: Path) -> list[str]:
        """Every image under a class folder, sub-folders included (as ImageFolder does)."""
        images, folders = self.entries(folder)
        for sub in folders:
            images += self.all_images(sub)
        return images


def _split_root(
    walk: _Walk, folder: Path, listing: tuple[list[str], list[Path]] | None = None
) -> tuple[list[str], list[int], tuple[str, ...]]:
    """A folder that is flat (unlabelled) or one sub-folder per class: its images, labels, classes
    (``listing``: its entries, when already read)."""
    images, folders = listing if listing is not None else walk.entries(folder)
    if images and folders:
        names = ", ".join(f.name for f in folders[:3]) + (", ..." if len(folders) > 3 else "")
        raise _fail(
            folder,
            f"holds both images and sub-folders ({names}): for a labelled dataset put every image in its "
            "class's sub-folder; for an unlabelled one move the sub-folders out",
        )
    if images:
        return images, [-1] * len(images), ()
    if not folders:
        others = f" ({walk.skipped} other files skipped)" if walk.skipped else ""
        raise _fail(
            folder, f"holds no images{others}: gv reads {', '.join(IMAGE_SUFFIXES)} files, flat or in class sub-folders"
        )
    files: list[str] = []
    labels: list[int] = []
    for label, class_dir in enumerate(folders):
        found = walk.all_images(class_dir)
        if not found:
            raise _fail(class_dir, "is a class folder with no images: add some, or remove the folder")
        files += found
        labels += [label] * len(found)
    return files, labels, tuple(f.name for f in folders)


def _holdout(labels: list[int]) -> np.ndarray:
    """Which files the test split gets: HOLDOUT_SHARE of each class (at least one image stays in
    training), drawn with a fixed seed per class; at least one test image in all."""
    labels_array = np.asarray(labels)
    test = np.zeros(len(labels), dtype=bool)
    for label in np.unique(labels_array):
        members = np.flatnonzero(labels_array == label)
        count = min(len(members) - 1, int(HOLDOUT_SHARE * len(members) + 0.5))
        rng = np.random.default_rng([HOLDOUT_SEED, int(label) + 1])
        test[rng.permutation(members)[:count]] = True
    if not test.any():
        largest = np.bincount(labels_array + 1).argmax() - 1
        test[np.flatnonzero(labels_array == largest)[-1]] = True
    return test


def scan_folder(root: Path) -> FolderScan:
    """The folder's images, classes and split, checked; see the module docstring."""
    if not root.exists():
        raise GVError(f"dataset folder {root} does not exist: pass an existing folder of images or a built-in dataset")
    if not root.is_dir():
        raise GVError(f"dataset {root} is a file, not a folder: pass the folder that holds the images")
    walk = _Walk(root)
    loose, top = walk.entries(root)
    names = {f.name: f for f in top}
    if SPLIT_TRAIN in names:
        test_name = next((n for n in SPLIT_TEST_NAMES if n in names), None)
        extra = [f.name for f in top if f.name not in (SPLIT_TRAIN, *SPLIT_TEST_NAMES)]
        if extra or loose:
            what = ", ".join(extra[:3] + loose[:3])  # loose images sit in the root: their names
            raise _fail(
                root, f"has {SPLIT_TRAIN}/ beside other things ({what}): move them into {SPLIT_TRAIN}/ (and test/)"
            )
        train_files, train_labels, classes = _split_root(walk, names[SPLIT_TRAIN])
        if test_name is None:
            test_mask = _holdout(train_labels)
            files, labels = train_files, train_labels
            split_by = "holdout"
        else:
            test_files, test_labels, test_classes = _split_root(walk, names[test_name])
            if bool(classes) != bool(test_classes):
                raise _fail(
                    names[test_name],
                    f"is {'flat' if not test_classes else 'in class folders'} but {SPLIT_TRAIN}/ is "
                    f"{'flat' if not classes else 'in class folders'}: give both splits the same layout",
                )
            unknown = sorted(set(test_classes) - set(classes))
            if unknown:
                raise _fail(
                    names[test_name],
                    f"has classes {SPLIT_TRAIN}/ lacks ({', '.join(unknown[:3])}): add them to {SPLIT_TRAIN}/ "
                    "or remove them",
                )
            relabel = {name: classes.index(name) for name in test_classes}
            test_labels = [relabel[test_classes[label]] if label >= 0 else -1 for label in test_labels]
            files, labels = train_files + test_files, train_labels + test_labels
            test_mask = np.arange(len(files)) >= len(train_files)
            split_by = "folders"
    else:
        files, labels, classes = _split_root(walk, root, (loose, top))
        test_mask = _holdout(labels)
        split_by = "holdout"
    if len(files) < 2:
        raise _fail(root, "holds only one image: gv needs at least two (one to train on, one held out to test with)")
    if len(classes) == 1:  # one class is no classes: its images, unlabelled (nothing to condition on)
        classes, labels = (), [-1] * len(labels)
    order = np.concatenate([np.flatnonzero(~test_mask), np.flatnonzero(test_mask)])
    relative = [files[i] for i in order]
    assert walk.stats is not None
    digest = hashlib.sha256(f"gv-folder-scan/{SCAN_VERSION}\n{classes}\n".encode())
    lines = []
    for name, i in zip(relative, order.tolist()):
        size, mtime = walk.stats[name]
        lines.append(f"{'test' if test_mask[i] else 'train'}\t{name}\t{size}\t{mtime}\n")
    digest.update("".join(lines).encode())
    return FolderScan(
        root=root,
        class_names=classes,
        files=tuple(relative),
        labels=tuple(int(labels[i]) for i in order),
        num_train=int((~test_mask).sum()),
        split_by=split_by,
        skipped=walk.skipped,
        key=digest.hexdigest(),
    )
