"""Folder datasets: decode and cache timings for 5,000 and 50,000 images. Prints, never asserts.

For each size a folder of PNG files is written into a temporary directory -- mnist-5k's digits, and
for 50,000 the same digits again and again with small changes (shifted by a pixel, brightened, a
few pixels flipped) so no two files are the same -- then, each in a fresh process (as `gv train`
and every sweep trial are):

    first load    scan, read every header, decode every image, write the cache (a cold cache)
    cached load   scan, read the manifest and the decoded array (what every later command pays)
    touched       one file's time changed: the folder is new to gv, decoded again

printed side by side with the ratio first / cached. The issue's target: a cached load of 50,000
images under 2 s.

    python bench/bench_folder.py                  # 5,000 and 50,000 images
    python bench/bench_folder.py --sizes 5000     # just one size
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

# One load in a fresh process: its wall time, what the folder came to, and where the time went.
LOAD = """
import json, sys, time
start = time.perf_counter()
from gvcore.data import get_spec, load_dataset
imported = time.perf_counter()
spec = get_spec(sys.argv[1])
train, test = load_dataset(sys.argv[1], "train"), load_dataset(sys.argv[1], "test")
done = time.perf_counter()
print(json.dumps({"seconds": done - imported, "imports": imported - start, "train": len(train), "test": len(test),
                  "shape": list(train.images.shape[1:]), "classes": spec.num_classes}))
"""


def write_folder(root: Path, count: int) -> None:
    """``count`` PNG files in class folders: mnist-5k's digits, varied after the first 5,000."""
    import numpy as np
    from PIL import Image

    from gvcore.data import load_dataset

    splits = [load_dataset("mnist-5k", split) for split in ("train", "test")]
    images = np.concatenate([s.images.numpy()[:, 0] for s in splits])
    labels = np.concatenate([s.labels.numpy() for s in splits])
    rng = np.random.default_rng(0)
    for i in range(count):
        image, label = images[i % len(images)], int(labels[i % len(images)])
        if i >= len(images):  # a small change, so every file is its own image
            image = np.roll(image, rng.integers(-1, 2, size=2), axis=(0, 1))
            image = np.clip(image.astype(int) + rng.integers(-8, 9), 0, 255).astype(np.uint8)
            flip = rng.integers(0, 28, size=(3, 2))
            image[flip[:, 0], flip[:, 1]] ^= 0x80
        folder = root / str(label)
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(folder / f"{i:06d}.png")


def load(folder: Path, cache: Path) -> dict:
    env = {**os.environ, "GV_CACHE_DIR": str(cache)}
    out = subprocess.run([sys.executable, "-c", LOAD, str(folder)], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="5000,50000", help="comma-separated image counts")
    args = parser.parse_args()
    rows = []
    for count in (int(s) for s in args.sizes.split(",")):
        with tempfile.TemporaryDirectory(prefix="gv-bench-folder-") as tmp:
            folder, cache = Path(tmp) / "images", Path(tmp) / "cache"
            write_folder(folder, count)
            first = load(folder, cache)
            cached = load(folder, cache)
            victim = next(folder.rglob("*.png"))
            stat = victim.stat()
            os.utime(victim, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
            touched = load(folder, cache)
            size = sum(f.stat().st_size for f in (cache / "datasets").rglob("*") if f.is_file())
            rows.append((count, first, cached, touched, size))
            print(
                f"{count:,} images ({first['train']:,} train / {first['test']:,} test, "
                f"{'x'.join(map(str, first['shape']))}, {first['classes']} classes): cache {size / 2**20:.1f} MiB",
                flush=True,
            )
    print(
        f"\n{'images':>8} {'first load':>11} {'cached load':>12} {'touched':>9} {'first/cached':>13}  (s; imports apart)"
    )
    for count, first, cached, touched, _ in rows:
        ratio = first["seconds"] / cached["seconds"]
        print(
            f"{count:>8,} {first['seconds']:>11.2f} {cached['seconds']:>12.2f} {touched['seconds']:>9.2f} "
            f"{ratio:>12.1f}x"
        )
    imports = sum(r[2]["imports"] for r in rows) / len(rows)
    print(f"(a fresh process also spends {imports:.1f} s importing torch and gv before any of this)")
    # Shared machines: the timings are only comparable at a similar load.
    print(f"load average at the end (1, 5, 15 min): {', '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
