"""Does a folder train as well as the built-in dataset it holds? mnist-5k written out as PNG files in
class folders (train/ and test/ as gv splits it) against `--dataset mnist-5k`. Prints, never asserts.

The same families, budget and seeds on both; every model's samples scored by the same evaluator
(mnist-5k's networks against its 500 test digits: both datasets hold exactly those images) and by
the folder's own evaluator (trained on the folder's training split). The folder passes when each
family's mean over seeds differs from the built-in's by less than the seed-to-seed spread (the
largest minus the smallest value over the seeds, the wider of the two datasets').

mnist-5k is stored sorted by class, and a class folder's files load in name order: written with
their index as name, the folder loads in mnist-5k's own order and every run -- the folder's
evaluator networks too -- is bit for bit the built-in's (gap 0). The files are therefore named by a
seeded shuffle within each class (``--keep-order`` to skip it): the folder then feeds the trainer's
seeded batches other images, a genuinely different run, as a user's folder would.

    python bench/study_folder_quality.py                         # gan, vae, dcgan; 3 seeds; 1,500 steps
    python bench/study_folder_quality.py --families vae --seeds 2 --steps 500
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))  # write_mnist_classes: the tests' PNG copy of mnist-5k

import numpy as np  # noqa: E402
import torch  # noqa: E402
from folder_helpers import write_mnist_classes  # noqa: E402

from gvcore.config import Config  # noqa: E402
from gvcore.evaluation.api import Scorer, generate_samples  # noqa: E402
from gvcore.families import resolve_config  # noqa: E402
from gvcore.trainer import load_model, train  # noqa: E402

METRICS = "fid,kid,precision,recall,coverage"


def shuffle_names(root: Path, seed: int = 0) -> None:
    """Rename each class folder's PNG files by a seeded permutation: the folder's load order (by
    name) is then no longer mnist-5k's, the images and labels stay the same."""
    rng = np.random.default_rng(seed)
    for folder in sorted({path.parent for path in root.rglob("*.png")}):
        files = sorted(folder.glob("*.png"))
        temporary = [path.rename(path.with_name(f"shuffling-{i}.tmp")) for i, path in enumerate(files)]
        for path, new_index in zip(temporary, rng.permutation(len(files))):
            path.rename(folder / f"{new_index:05d}.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--families", default="gan,vae,dcgan")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--samples", type=int, default=5000)
    parser.add_argument(
        "--keep-order", action="store_true", help="name the files in mnist-5k's order (bit-identical runs)"
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory(prefix="gv-folder-quality-") as tmp:
        folder = str(write_mnist_classes(Path(tmp) / "mnist-5k-png"))
        if not args.keep_order:
            shuffle_names(Path(folder))
        judges = {
            "mnist-5k evaluator": Scorer.for_dataset("mnist-5k"),
            "folder's evaluator": Scorer.for_dataset(folder),
        }
        scores: dict[tuple[str, str, str], list[dict[str, float]]] = {}
        for family in args.families.split(","):
            for dataset in ("mnist-5k", folder):
                for seed in range(args.seeds):
                    cfg = Config(family=family)
                    cfg.data.name, cfg.train.seed, cfg.train.steps = dataset, seed, args.steps
                    cfg.eval.metrics, cfg.train.threads = "", 1
                    run = Path(tmp) / f"{family}-{'folder' if dataset == folder else 'builtin'}-{seed}"
                    train(resolve_config(cfg), run)
                    images, _ = generate_samples(load_model(run, "cpu")[0], args.samples, seed=100 + seed)
                    for judge, scorer in judges.items():
                        key = (family, "folder" if dataset == folder else "mnist-5k", judge)
                        scores.setdefault(key, []).append(scorer.score(images, None, METRICS, bootstrap=False))
                    print(
                        f"{family} on {'the folder' if dataset == folder else 'mnist-5k'}, seed {seed}: done",
                        flush=True,
                    )
        for judge in judges:
            print(
                f"\n{judge}: mean over {args.seeds} seeds [min, max]; 'ok' when |folder - built-in| < the seeds' spread"
            )
            for family in args.families.split(","):
                for metric in METRICS.split(","):
                    runs = {d: [s[metric] for s in scores[(family, d, judge)]] for d in ("mnist-5k", "folder")}
                    spread = max(max(v) - min(v) for v in runs.values())  # within either dataset, seed to seed
                    gap = abs(sum(runs["folder"]) / len(runs["folder"]) - sum(runs["mnist-5k"]) / len(runs["mnist-5k"]))
                    cells = "  ".join(
                        f"{d} {sum(v) / len(v):.4g} [{min(v):.4g}, {max(v):.4g}]" for d, v in runs.items()
                    )
                    print(
                        f"  {family:>6} {metric:>10}: {cells}  gap {gap:.3g} vs spread {spread:.3g} "
                        f"{'ok' if gap < spread else 'OUTSIDE'}"
                    )


if __name__ == "__main__":
    main()
