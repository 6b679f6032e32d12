"""Which feature network an unlabelled folder's evaluator uses: an autoencoder or a contrastive net.

The two candidates of gvcore/evaluation/label_free.py -- an autoencoder's bottleneck (the choice)
and a SimCLR-style contrastive encoder -- each with the strided and the pooled body, trained
without labels. Prints, never asserts:

1. Ladders: mnist-5k and colour digits (mnist-5k's strokes in colour on coloured ground, 32 px),
   their test splits damaged as `gv evaluator check` damages them; fid in each network's features
   must rise at every level. Mode dropping drops equal-size clusters of the features (what an
   unlabelled folder gets), over --seeds draws, and the true classes once.
2. Ranking trained models: mnist-5k models of the four unconditional families at two or three
   budgets each (trained here: --scale sets their steps), 2,000 samples each; fid in every
   network's features, and the Spearman agreement of each order with the labelled classifiers'.

    python bench/study_label_free.py                  # ~25 min on 2 CPU cores
    python bench/study_label_free.py --scale 0.25     # shorter trainings, a cruder pool
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))  # colour_digits, the tests' colour data

import numpy as np  # noqa: E402
import torch  # noqa: E402
from folder_helpers import colour_digits  # noqa: E402
from scipy.stats import spearmanr  # noqa: E402

from gvcore.config import Config  # noqa: E402
from gvcore.data import load_dataset  # noqa: E402
from gvcore.evaluation import stats  # noqa: E402
from gvcore.evaluation.api import generate_samples  # noqa: E402
from gvcore.evaluation.classifier import get_classifier  # noqa: E402
from gvcore.evaluation.label_free import LabelFreeRecipe, pseudo_classes, train_label_free  # noqa: E402
from gvcore.evaluation.ladders import DISTURB, LEVELS  # noqa: E402
from gvcore.families import resolve_config  # noqa: E402
from gvcore.trainer import load_model, train  # noqa: E402

CANDIDATES = [
    (objective, arch, seed)
    for objective in ("autoencoder", "contrastive")
    for arch, seed in (("strided", 0), ("pooled", 1))
]
POOL = [("gan", 200), ("gan", 1500), ("gan", 4000), ("lsgan", 600), ("lsgan", 3000), ("dcgan", 60), ("dcgan", 350)]
POOL += [("vae", 300), ("vae", 1500), ("vae", 4000)]


def fid(real: torch.Tensor, fake: torch.Tensor) -> float:
    return float(stats.frechet(*stats.mean_and_cov(fake.double()), *stats.mean_and_cov(real.double())))


def rises(values: list[float]) -> bool:
    return all(b > a for a, b in zip(values, values[1:]))


def ladders(net, test: torch.Tensor, labels: torch.Tensor, seeds: int) -> dict[str, str]:
    clean = net.embed(test)[0]
    embed = lambda images: net.embed(images)[0]  # noqa: E731
    out = {}
    for i, (name, levels) in enumerate(LEVELS.items()):
        if name == "mode_dropping":
            classes = pseudo_classes(clean)
            passed = 0
            for seed in range(seeds):
                g = torch.Generator().manual_seed(seed * 100 + i)
                passed += rises([0.0] + [fid(clean, embed(DISTURB[name](test, lv, g, classes))) for lv in levels])
            g = torch.Generator().manual_seed(i)
            true = rises([0.0] + [fid(clean, embed(DISTURB[name](test, lv, g, labels))) for lv in levels])
            out[name] = f"{passed}/{seeds}" + (" (classes ok)" if true else " (classes FAIL)")
            continue
        g = torch.Generator().manual_seed(i)
        out[name] = (
            "ok" if rises([0.0] + [fid(clean, embed(DISTURB[name](test, lv, g, labels))) for lv in levels]) else "FAIL"
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=5, help="draws of the mode-dropping ladder")
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies the pool's training steps")
    args = parser.parse_args()
    torch.set_num_threads(1)
    train_set, test_set = load_dataset("mnist-5k", "train"), load_dataset("mnist-5k", "test")
    data = {
        "mnist-5k": (train_set.images, test_set.images),
        "colour digits": (
            torch.from_numpy(colour_digits(train_set.images.numpy(), train_set.labels.numpy(), seed=1)),
            torch.from_numpy(colour_digits(test_set.images.numpy(), test_set.labels.numpy(), seed=2)),
        ),
    }
    mnist_nets: dict[str, Any] = {}
    print("1. ladders (fid in each network's features must rise at every level)\n")
    for name, (train_images, test_images) in data.items():
        for objective, arch, seed in CANDIDATES:
            recipe = LabelFreeRecipe(arch, objective, seed, "")
            net = train_label_free(train_images, test_images, recipe, "candidate", torch.device("cpu"))
            if name == "mnist-5k":
                mnist_nets[f"{objective}/{arch}"] = net
            result = ladders(net, test_images, test_set.labels, args.seeds)
            print(f"{name:>14} {objective:>12} {arch:>8} ({net.meta['train_seconds']:4.0f}s): {result}", flush=True)

    print("\n2. ranking trained mnist-5k models by fid in each network's features\n")
    pool = {}
    with tempfile.TemporaryDirectory(prefix="gv-label-free-") as tmp:
        for family, steps in POOL:
            cfg = Config(family=family)
            cfg.train.steps, cfg.eval.metrics, cfg.train.threads = max(10, int(steps * args.scale)), "", 1
            run = Path(tmp) / f"{family}-{steps}"
            train(resolve_config(cfg), run)
            pool[f"{family}-{cfg.train.steps}"] = generate_samples(load_model(run, "cpu")[0], 2000, seed=3)[0]
    nets = {"classifier": get_classifier("mnist-5k"), "classifier2": get_classifier("mnist-5k", network="classifier2")}
    nets.update(mnist_nets)
    table = {}
    for name, judge in nets.items():
        reference = judge.embed(test_set.images)[0]
        table[name] = [fid(reference, judge.embed(images)[0]) for images in pool.values()]
    print(f"{'model':>12} " + " ".join(f"{name[:16]:>16}" for name in nets))
    for i, model in enumerate(pool):
        print(f"{model:>12} " + " ".join(f"{table[name][i]:16.2f}" for name in nets))
    print("\nSpearman agreement of the model orders:")
    for a in nets:
        print(f"{a:>22} " + " ".join(f"{spearmanr(table[a], table[b])[0]:6.2f}" for b in nets))
    best = np.argsort(table["classifier"])[: len(pool) // 2]
    print(f"\namong the {len(best)} best models (by the classifier's fid):")
    for a in nets:
        row = [spearmanr(np.asarray(table[a])[best], np.asarray(table[b])[best])[0] for b in nets]
        print(f"{a:>22} " + " ".join(f"{value:6.2f}" for value in row))


if __name__ == "__main__":
    main()
