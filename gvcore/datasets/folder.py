"""A user's folder of images as a dataset: probed, decoded once, cached by the folder's content.

The folder is scanned first (folder_scan.py: files, classes, split, content key). Then, once per
content key, on each machine:

1. every image's header is read (Pillow, a closed list of formats: :data:`PIL_FORMATS`), which
   gives the sizes -- and the default side, :func:`default_side` -- and refuses any image over
   ``data.max_pixels`` before it is decompressed;
2. every image is decoded, its alpha composited onto white, resized (shorter side) and
   centre-cropped to the side asked for, and checked for colour: the dataset is grey when every
   image is (channels equal within :data:`GREY_TOLERANCE` levels: a grey photo saved as RGB JPEG
   is grey), else RGB.

What that found is kept under ``$GV_CACHE_DIR/datasets/<key>/``: ``manifest.json`` (the files in
dataset order with their labels, which went to train and which to test, their sizes, grey or not)
and ``images-<side>px.npz`` per side (uint8 (N, C, side, side), loaded with allow_pickle=False after
a zip-bomb check). Both are written through gv's atomic writer, under a file lock so parallel trials
decode a folder once; a torn or foreign cache file is rebuilt, never trusted.
"""

from __future__ import annotations

import contextlib
import json
import warnings
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from ..cache import cache_root
from ..errors import GVError
from ..rundir import atomic_path, write_json
from .fetch import describe
from .folder_scan import HOLDOUT_SHARE, FolderScan, scan_folder

# What Pillow may decode a file as: never a plugin that hands the file to another program (EPS)
# or one nobody means by "a folder of pictures". MPO is how cameras and phones write JPEGs (a
# format of its own in older Pillow; newer ones open it through JPEG).
PIL_FORMATS = ("PNG", "JPEG", "MPO", "BMP", "WEBP", "GIF", "TIFF")
GREY_MODES = ("1", "L", "LA", "La", "I", "I;16", "I;16L", "I;16B", "I;16N", "F")
GREY_TOLERANCE = 2  # levels of 255 between channels that still count as grey (JPEG rounding)
# The default side (issue 22): the images' own when they are all square, of one side, and a side
# every architecture builds for up to OWN_SIDE_LIMIT; else SMALL_SIDE when most images are
# smaller than SMALL_BELOW px, else LARGE_SIDE.
OWN_SIDE_LIMIT = 128
SMALL_BELOW = 48
SMALL_SIDE = 32
LARGE_SIDE = 64
MANIFEST = "manifest.json"
# This process's decoded folders, (content key, side) -> images: both splits are views of one array.
_DECODED: dict[tuple[str, int], np.ndarray] = {}
MANIFEST_FORMAT = "gv-folder/1"
LOCK_TIMEOUT_S = 3600.0
T = TypeVar("T")


@dataclass(frozen=True)
class FolderInfo:
    """A scanned and probed folder: everything a DatasetSpec needs, and the way to its pixels."""

    scan: FolderScan
    widths: np.ndarray  # int64 per file, in the scan's order
    heights: np.ndarray
    grey: bool
    default_side: int

    @property
    def channels(self) -> int:
        return 1 if self.grey else 3

    @property
    def cache_dir(self) -> Path:
        return entry_dir(self.scan.key)

    def check_pixels(self, max_pixels: int) -> None:
        """The largest image (its header's size) against data.max_pixels, before anything is decoded."""
        pixels = self.widths * self.heights
        worst = int(pixels.argmax())
        if pixels[worst] > max_pixels:
            raise _too_large(
                self.scan.root / self.scan.files[worst], self.widths[worst], self.heights[worst], max_pixels
            )

    def images(self, side: int, max_pixels: int) -> np.ndarray:
        """Every image (training split first) at ``side`` px, uint8 (N, channels, side, side):
        from this process, from the cache, or decoded now (only then is data.max_pixels checked:
        a cached decode decompresses nothing)."""
        key = (self.scan.key, side)
        if key not in _DECODED:
            path = self.cache_dir / f"images-{side}px.npz"
            shape = (len(self.scan.files), self.channels, side, side)
            cached = _read_images(path, shape)
            if cached is None:
                self.check_pixels(max_pixels)
                with _locked(self.cache_dir):
                    cached = _read_images(path, shape)  # another process may have decoded it meanwhile
                    if cached is None:
                        cached, _ = decode(self.scan, side, max_pixels, grey=self.grey)
                        _write_images(path, cached)
            _DECODED[key] = cached
        return _DECODED[key]

    def split(self, split: str, side: int, max_pixels: int) -> tuple[np.ndarray, np.ndarray]:
        part = self.scan.split_of(split)
        return self.images(side, max_pixels)[part], np.asarray(self.scan.labels[part], dtype=np.int64)

    def describe(self) -> str:
        scan = self.scan
        n_test = len(scan.files) - scan.num_train
        kind = f"{len(scan.class_names)} classes" if scan.labelled else "unlabelled"
        split = "train/ and test/ folders" if scan.split_by == "folders" else f"{HOLDOUT_SHARE:.0%} held out by gv"
        skipped = f"; {scan.skipped} non-image files skipped" if scan.skipped else ""
        return (
            f"folder {scan.root}: {len(scan.files):,} images ({scan.num_train:,} train / {n_test:,} test, {split}), "
            f"{kind}, {'grey' if self.grey else 'RGB'}, default {self.default_side} px{skipped}"
        )


def entry_dir(key: str) -> Path:
    return cache_root() / "datasets" / key[:32]


RAISE_LIMIT = "raise the limit with --set data.max_pixels=N (gv eval / gv evaluator: GV_MAX_PIXELS=N)"


def _too_large(path: Path, width: int, height: int, max_pixels: int) -> GVError:
    return GVError(
        f"dataset folder: {path} is {width}x{height} = {width * height:,} pixels, more than data.max_pixels "
        f"{max_pixels:,} (a decompression bomb, or a very large photo): shrink or remove it, or {RAISE_LIMIT}"
    )


def _unreadable(path: Path, exc: BaseException) -> GVError:
    from PIL import UnidentifiedImageError

    if isinstance(exc, UnidentifiedImageError):
        problem = f"is named as an image but is not a {'/'.join(PIL_FORMATS)} image"
    else:
        problem = f"is damaged or truncated ({describe(exc)})"
    return GVError(f"dataset folder: {path} {problem}: delete or replace it")


def open_formats() -> tuple[str, ...]:
    """PIL_FORMATS that this Pillow opens by that name (naming an unknown one is a KeyError)."""
    from PIL import Image

    Image.init()
    return tuple(name for name in PIL_FORMATS if name in Image.OPEN)


@contextlib.contextmanager
def _pillow(max_pixels: int) -> Iterator[Any]:
    """Pillow with its decompression-bomb limit at data.max_pixels (gv checks each size itself,
    with a better message; this is the backstop) and its warning about big images silenced."""
    from PIL import Image

    before = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = max_pixels
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            yield Image
    finally:
        Image.MAX_IMAGE_PIXELS = before


def _read(Image: Any, path: Path, formats: Any, max_pixels: int, work: Callable[[Any], T]) -> T:
    """``work`` on the opened image (its header read, nothing decoded yet), Pillow's errors mapped to
    one-line GVErrors: over ``max_pixels`` (a decompression bomb, or a very large photo) or unreadable
    (Pillow reports damage as OSError, SyntaxError, ValueError, ...)."""
    try:
        with Image.open(path, formats=formats) as img:
            if img.width * img.height > max_pixels:
                raise _too_large(path, img.width, img.height, max_pixels)
            return work(img)
    except GVError:
        raise
    except Exception as exc:
        if isinstance(exc, Image.DecompressionBombError):
            width, height = _header_size(path)
            if width * height > max_pixels:
                raise _too_large(path, width, height, max_pixels) from None
            # A format whose header says less than it decodes to (an icon's largest frame, say).
            raise GVError(
                f"dataset folder: {path} decodes to more than data.max_pixels {max_pixels:,} pixels: remove it, or "
                f"{RAISE_LIMIT}"
            ) from None
        raise _unreadable(path, exc) from None


def probe(scan: FolderScan, max_pixels: int) -> tuple[np.ndarray, np.ndarray]:
    """Every image's (widths, heights) from its header; not an image or over max_pixels is a GVError."""
    widths = np.empty(len(scan.files), dtype=np.int64)
    heights = np.empty(len(scan.files), dtype=np.int64)
    formats = open_formats()
    with _pillow(max_pixels) as Image:
        for i, name in enumerate(scan.files):
            widths[i], heights[i] = _read(Image, scan.root / name, formats, max_pixels, lambda img: img.size)
    return widths, heights


def _header_size(path: Path) -> tuple[int, int]:
    from PIL import Image

    before = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None  # only the header is read: nothing is decompressed
    formats = open_formats()
    try:
        with Image.open(path, formats=formats) as img:
            return img.size
    finally:
        Image.MAX_IMAGE_PIXELS = before


def default_side(widths: np.ndarray, heights: np.ndarray) -> int:
    """The images' own side when all are square, of one side, that every architecture builds for
    (up to OWN_SIDE_LIMIT); else SMALL_SIDE when most are smaller than SMALL_BELOW px, else LARGE_SIDE."""
    from ..nets import side_supported

    side = int(widths[0])
    if (widths == side).all() and (heights == side).all() and side <= OWN_SIDE_LIMIT and side_supported(side):
        return side
    small = np.minimum(widths, heights) < SMALL_BELOW
    return SMALL_SIDE if small.mean() > 0.5 else LARGE_SIDE


def _as_l_or_rgb(img: Any) -> Any:
    """A decoded image in mode L (grey modes) or RGB; alpha composited onto white; 16-bit and float
    grey scaled to 0..255 (Pillow's own conversion clips them)."""
    from PIL import Image

    mode = img.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        values = np.asarray(img).astype(np.int64)
        return Image.fromarray((np.clip(values, 0, 65535) >> 8).astype(np.uint8), "L")
    if mode == "F":
        return Image.fromarray(np.clip(np.asarray(img), 0, 255).astype(np.uint8), "L")
    if mode in ("1", "L"):
        return img.convert("L")
    if mode in ("LA", "La", "PA", "RGBA", "RGBa") or (mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        flat = Image.alpha_composite(white, rgba)
        return flat.convert("L" if mode in ("LA", "La") else "RGB")
    return img.convert("RGB")


def decode(scan: FolderScan, side: int, max_pixels: int, grey: bool | None = None) -> tuple[np.ndarray, bool]:
    """Every image resized (shorter side) and centre-cropped to ``side``: uint8 (N, C, side, side)
    and whether all are grey (C = 1 then; ``grey`` given: the answer already known)."""
    from PIL import ImageOps

    n = len(scan.files)
    rgb = np.empty((n, side, side, 3), dtype=np.uint8)
    all_grey = True
    formats = open_formats()
    with _pillow(max_pixels) as Image:

        def fit(img: Any) -> Any:
            if img.format in ("JPEG", "MPO"):
                img.draft(img.mode, (side, side))  # decode at a reduced scale that still covers side
            flat = _as_l_or_rgb(img)  # decodes the whole file: a truncated one fails here
            return ImageOps.fit(flat, (side, side), method=Image.Resampling.BICUBIC)

        for i, name in enumerate(scan.files):
            pixels = np.asarray(_read(Image, scan.root / name, formats, max_pixels, fit))
            if pixels.ndim == 2:
                rgb[i] = pixels[:, :, None]
            else:
                rgb[i] = pixels
                if all_grey and grey is None:
                    wide = pixels.astype(np.int16)
                    spread = np.abs(wide - wide[:, :, :1]).max()
                    all_grey = bool(spread <= GREY_TOLERANCE)
    is_grey = all_grey if grey is None else grey
    if is_grey:
        # Grey images were decoded as L (three equal channels); grey RGB ones within the tolerance.
        return rgb.mean(axis=3, dtype=np.float32).round().astype(np.uint8)[:, None], True
    return np.ascontiguousarray(rgb.transpose(0, 3, 1, 2)), False


# --- the cache ----------------------------------------------------------------------------------


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """One process decodes a folder while the others wait, then read its cache. Without a writable
    cache (read-only home, full disk) each process decodes for itself: slower, still correct."""
    from filelock import FileLock, Timeout

    try:
        folder.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(folder / "lock"), timeout=LOCK_TIMEOUT_S)
        lock.acquire()
    except Timeout:
        raise GVError(
            f"waited {LOCK_TIMEOUT_S:.0f}s for another process decoding this folder ({folder / 'lock'}); "
            "if no gv process is running, delete that lock file"
        ) from None
    except OSError:
        yield
        return
    try:
        yield
    finally:
        lock.release()


def _read_images(path: Path, shape: tuple[int, int, int, int]) -> np.ndarray | None:
    """The cached images, or None when missing, torn, foreign or of another shape (then rebuilt)."""
    if not path.is_file():
        return None
    try:
        # The declared sizes first: a foreign zip must not inflate past what this folder can hold.
        with zipfile.ZipFile(path) as archive:
            if sum(info.file_size for info in archive.infolist()) > int(np.prod(shape)) + (1 << 20):
                return None
        with np.load(path, allow_pickle=False) as npz:
            images = npz["images"]
    except Exception:  # not a zip, torn, missing key, object array: all mean "decode again"
        return None
    return images if images.dtype == np.uint8 and images.shape == shape else None


def _write_images(path: Path, images: np.ndarray) -> None:
    try:
        with atomic_path(path) as tmp, tmp.open("wb") as fh:  # a file object: numpy adds no ".npz"
            np.savez(fh, images=images)
    except OSError:
        return  # no cache: the next process decodes again


def _read_manifest(scan: FolderScan) -> FolderInfo | None:
    path = entry_dir(scan.key) / MANIFEST
    try:
        doc = json.loads(path.read_text())
        if doc["format"] != MANIFEST_FORMAT or doc["key"] != scan.key or doc["files"] != list(scan.files):
            return None
        widths = np.asarray(doc["widths"], dtype=np.int64)
        heights = np.asarray(doc["heights"], dtype=np.int64)
        grey, side = doc["grey"], doc["default_side"]
        n = len(scan.files)
        if widths.shape != (n,) or heights.shape != (n,) or not isinstance(grey, bool) or not isinstance(side, int):
            return None
        if (widths < 1).any() or (heights < 1).any() or side < 1:
            return None
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return FolderInfo(scan, widths, heights, grey, side)


def _write_manifest(info: FolderInfo) -> None:
    scan = info.scan
    doc = {
        "format": MANIFEST_FORMAT,
        "key": scan.key,
        "root": str(scan.root),
        "class_names": list(scan.class_names),
        "split_by": scan.split_by,
        "holdout_share": HOLDOUT_SHARE if scan.split_by == "holdout" else None,
        "train": list(scan.files[: scan.num_train]),
        "test": list(scan.files[scan.num_train :]),
        "files": list(scan.files),
        "labels": list(scan.labels),
        "widths": info.widths.tolist(),
        "heights": info.heights.tolist(),
        "grey": info.grey,
        "default_side": info.default_side,
        "skipped": scan.skipped,
    }
    with contextlib.suppress(OSError):
        write_json(entry_dir(scan.key) / MANIFEST, doc)


def open_folder(root: Path, max_pixels: int) -> FolderInfo:
    """Scan a folder; probe and decode it at its default side unless its manifest is cached
    (``max_pixels`` is checked when it is probed: a cached folder decompresses nothing)."""
    scan = scan_folder(root)
    info = _read_manifest(scan)
    if info is None:
        with _locked(entry_dir(scan.key)):
            info = _read_manifest(scan)
            if info is None:
                widths, heights = probe(scan, max_pixels)
                side = default_side(widths, heights)
                images, grey = decode(scan, side, max_pixels)
                info = FolderInfo(scan, widths, heights, grey, side)
                _write_images(info.cache_dir / f"images-{side}px.npz", images)
                _write_manifest(info)  # last: a manifest promises the probe and the first decode are done
                _DECODED[(scan.key, side)] = images
    return info
