"""Sizes a user gives, checked against this machine's memory before anything is allocated.

Every count that sets how much memory gv takes -- samples to draw or score, interpolation steps,
the images of a grid, the arrays an .npz file declares, a training batch -- goes through
:func:`check_memory` first. A size that would not fit is a one-line GVError with the limit and the
way out (exit 2), never a MemoryError traceback halfway through, and never minutes of swapping.

The limit is half of the memory the system reports available (cgroup limits included), so gv
leaves room for everything else on the machine; ``GV_MEMORY_LIMIT`` (bytes, or e.g. ``8G``) sets it.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from .errors import GVError

# The share of the available memory one command may plan to use.
SHARE_OF_AVAILABLE = 0.5
# The longest side of a picture gv draws: browsers and image viewers refuse larger ones (Chromium's
# canvas and many decoders stop at 32,767 px), so a bigger grid is no picture anyone can look at.
MAX_PICTURE_SIDE = 32_767
_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def _meminfo_available() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _cgroup_room() -> int | None:
    """What a container's memory limit leaves (cgroup v2, then v1), when there is one."""
    for limit_file, usage_file in (
        ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
        ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes"),
    ):
        try:
            limit_text = Path(limit_file).read_text().strip()
            if limit_text == "max":
                return None
            limit, usage = int(limit_text), int(Path(usage_file).read_text().strip())
        except (OSError, ValueError):
            continue
        if limit < 1 << 60:  # v1 reports "no limit" as a huge number
            return max(0, limit - usage)
    return None


def parse_bytes(text: str) -> int:
    """'8G', '512M', '1000000' -> bytes; a GVError for anything else."""
    cleaned = text.strip().upper().removesuffix("B").removesuffix("I")
    unit = cleaned[-1] if cleaned and cleaned[-1] in _UNITS else ""
    try:
        value = float(cleaned[: len(cleaned) - len(unit)]) * _UNITS[unit]
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise GVError(f"bad GV_MEMORY_LIMIT '{text}': give bytes or a size such as 8G or 512M")
    return int(value)


def memory_limit(device: str = "cpu") -> int:
    """Bytes one gv command may plan to use: GV_MEMORY_LIMIT, else half of what is available (on a
    CUDA device: of its free memory)."""
    given = os.environ.get("GV_MEMORY_LIMIT")
    if given:
        return parse_bytes(given)
    if str(device).startswith("cuda"):
        import torch

        free, _ = torch.cuda.mem_get_info(torch.device(device))
        return int(free * SHARE_OF_AVAILABLE)
    found = [m for m in (_meminfo_available(), _cgroup_room()) if m is not None]
    if not found:
        try:  # not Linux: the physical memory
            found = [os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")]
        except (ValueError, OSError, AttributeError):
            return 4 << 30
    return int(min(found) * SHARE_OF_AVAILABLE)


def human_bytes(count: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB", "PB"):
        if abs(count) < 1000 or unit == "PB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1000
    raise AssertionError("unreachable")


def check_memory(what: str, needed: float, fix: str, device: str = "cpu") -> None:
    """Refuse before allocating when ``needed`` bytes (for ``what``, e.g. "--n 100,000,000: 100,000,000
    samples of 1x28x28") exceed :func:`memory_limit`; ``fix`` says what to do instead."""
    limit = memory_limit(device)
    if not math.isfinite(needed) or needed > limit:
        where = "this GPU" if str(device).startswith("cuda") else "this machine"
        raise GVError(
            f"bad {what}: that needs {human_bytes(needed)} of memory, over the {human_bytes(limit)} gv may use on "
            f"{where} (half of what is free; GV_MEMORY_LIMIT sets it); {fix}"
        )


def image_bytes(shape: tuple[int, ...], bytes_per_value: int = 4) -> int:
    """Bytes of one image of ``shape`` (C, H, W) held as float32 (or ``bytes_per_value``)."""
    return math.prod(shape) * bytes_per_value


def grid_bytes(count: int, shape: tuple[int, ...], nrow: int, padding: int = 2) -> int:
    """Bytes of a sample grid of ``count`` images (torchvision's make_grid, 3 float32 channels, then uint8)."""
    _, height, width = shape
    rows = math.ceil(count / max(1, nrow))
    pixels = rows * min(count, nrow) * (height + padding) * (width + padding)
    return pixels * 3 * (4 + 1)


def check_picture(what: str, count: int, shape: tuple[int, ...], nrow: int, fix: str, padding: int = 2) -> None:
    """Refuse a grid of ``count`` images, ``nrow`` a row, whose side would exceed MAX_PICTURE_SIDE."""
    _, height, width = shape
    columns, rows = min(count, nrow), math.ceil(count / max(1, nrow))
    side = max(columns * (width + padding), rows * (height + padding)) + padding
    if side > MAX_PICTURE_SIDE:
        raise GVError(
            f"bad {what}: the picture would be {side:,} px on its longest side, over the {MAX_PICTURE_SIDE:,} px "
            f"browsers and image viewers can show; {fix}"
        )


def npz_declared(path: Path) -> dict[str, tuple[tuple[int, ...], str, int]]:
    """name -> (shape, dtype, bytes) of every array an .npz file declares, read from the headers alone
    (nothing is decompressed or allocated). Raises ValueError / OSError / zipfile.BadZipFile on a damaged file."""
    import zipfile

    import numpy as np

    declared: dict[str, tuple[tuple[int, ...], str, int]] = {}
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            if not info.filename.endswith(".npy"):
                continue
            with archive.open(info) as stream:
                version = np.lib.format.read_magic(stream)
                read_header = (
                    np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
                )
                shape, _, dtype = read_header(stream, max_header_size=10_000)
            declared[info.filename.removesuffix(".npy")] = (tuple(shape), str(dtype), math.prod(shape) * dtype.itemsize)
    return declared
