"""The validation pool of `gv evaluator validate`: real gv models, rebuilt from a recipe kept here.

A ladder damages real images in known ways; a pool asks the harder question -- do gv's metrics
order what gv's own models draw the way independent judges do? The recipe (families x training
budgets x seeds, as data) is in the repository, the models are not: the command trains them,
resumably, into its output folder (``runs/<family>-s<seed>``, one run per family and seed, trained
to each budget in turn: gv's training has no schedule that depends on the total, so a run resumed
to a larger budget is the run trained to it from the start) and keeps each budget's samples
(``sets/<family>-s<seed>-<budget>.npz``, `gv sample`'s format).

``standard`` is the pool behind docs/studies/realism.md: all six families at a tenth, 0.3x, 1x
and 3x quick-mnist's budget (3.5e12 training FLOPs), two seeds: 48 sets, and 24 of them
well-trained (1x and 3x). ``small`` is the test's.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import GVError
from ..rundir import atomic_path, write_json

QUICK_MNIST_FLOPS = 3.5e12  # sweeps/quick-mnist.yaml: the README's main job
SETS_DIR, RUNS_DIR, MANIFEST = "sets", "runs", "pool.json"


@dataclass(frozen=True)
class PoolRecipe:
    """Which models a pool holds: every family x budget x seed."""

    families: tuple[str, ...]
    budgets: tuple[float, ...]  # training FLOPs, ascending
    seeds: tuple[int, ...]
    samples: int  # drawn from each model
    well_trained: float  # budgets from this one up count as well-trained
    batch_size: int = 64  # train.batch_size (64: gv's default)
    judge_images: int = 0  # training images the judges learn from (0: the whole training split)

    def __post_init__(self) -> None:
        if list(self.budgets) != sorted(self.budgets) or not self.budgets:
            raise ValueError("a pool's budgets must be given in ascending order")


SIX = ("gan", "lsgan", "dcgan", "cgan", "vae", "cvae")
POOLS: dict[str, PoolRecipe] = {
    "standard": PoolRecipe(
        SIX,
        tuple(m * QUICK_MNIST_FLOPS for m in (0.1, 0.3, 1.0, 3.0)),
        (0, 1),
        samples=10_000,
        well_trained=QUICK_MNIST_FLOPS,
    ),
    # The test's: two families, two tiny budgets, one seed; seconds on a CPU.
    "small": PoolRecipe(
        ("gan", "vae"), (2e10, 2e11), (0,), samples=500, well_trained=2e11, batch_size=32, judge_images=1000
    ),
}


@dataclass(frozen=True)
class PoolSet:
    """One model's samples in the pool."""

    name: str
    family: str
    seed: int
    budget: float
    step: int
    well_trained: bool
    path: Path

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "family": self.family,
            "seed": self.seed,
            "budget": self.budget,
            "step": self.step,
            "well_trained": self.well_trained,
            "path": self.path.name,
        }


def get_pool(name: str) -> PoolRecipe:
    if name not in POOLS:
        raise GVError(f"unknown --pool '{name}': choose one of {', '.join(POOLS)}")
    return POOLS[name]


def set_name(family: str, seed: int, budget: float) -> str:
    return f"{family}-s{seed}-{budget:.3g}flops".replace("+", "")


def build_pool(
    recipe: PoolRecipe, dataset: str, out: Path, data_dir: str = "", log: Callable[[str], None] = print
) -> list[PoolSet]:
    """Train (or resume) every model of the recipe into ``out`` and keep each budget's samples.
    Sets already on disk are kept: an interrupted build continues where it stopped."""
    import torch

    from ..config import Config
    from ..families import resolve_config
    from ..trainer import load_model, train
    from .api import generate_samples

    done = {entry["name"]: entry for entry in _read_manifest(out)}
    sets: list[PoolSet] = []
    for seed in recipe.seeds:
        for family in recipe.families:
            run = out / RUNS_DIR / f"{family}-s{seed}"
            for budget in recipe.budgets:
                name = set_name(family, seed, budget)
                path = out / SETS_DIR / f"{name}.npz"
                if name in done and path.is_file():
                    step = int(done[name]["step"])
                else:
                    config = Config(family=family)
                    config.data.name, config.data.data_dir = dataset, data_dir
                    config.train.flops, config.train.seed = budget, seed
                    config.train.batch_size = recipe.batch_size
                    config.eval.metrics = ""  # the pool is scored afterwards, all at once
                    threads = torch.get_num_threads()
                    try:
                        result = train(resolve_config(config), run)
                    finally:
                        torch.set_num_threads(threads)
                    if result.status != "done":
                        raise GVError(f"validation pool: {name} ended '{result.status}' ({result.message})")
                    if result.total_steps is not None and result.step > result.total_steps:
                        # Its samples were deleted after a larger budget was trained: the run is past it.
                        raise GVError(f"validation pool: {run} is past {name}'s budget; delete that folder to rebuild")
                    model, _, payload = load_model(run)
                    images, labels = generate_samples(model, recipe.samples, seed=seed)
                    arrays: dict[str, Any] = {"images": images.permute(0, 2, 3, 1).numpy()}
                    if labels is not None:
                        arrays["labels"] = labels.numpy()
                    with atomic_path(path) as tmp:
                        with open(tmp, "wb") as handle:
                            np.savez(handle, **arrays)
                    step = int(payload["step"])
                    log(f"pool: {name} trained to step {step:,}, {recipe.samples:,} samples")
                entry = PoolSet(name, family, seed, budget, step, budget >= recipe.well_trained, path)
                sets.append(entry)
                done[name] = entry.to_dict()
                write_json(out / MANIFEST, {"sets": list(done.values())})
    return sets


def _read_manifest(out: Path) -> list[dict[str, Any]]:
    path = out / MANIFEST
    if not path.is_file():
        return []
    try:
        data = json.loads(path.read_text())
        return [
            e for e in data.get("sets", []) if isinstance(e, dict) and "name" in e and isinstance(e.get("step"), int)
        ]
    except (OSError, ValueError, AttributeError):
        return []  # a damaged manifest: the sets are rebuilt (their runs resume from their checkpoints)


SCORES = "scores.json"  # every set's metric and judge scores, so a rerun only scores new sets
JUDGES_CACHE = "references.pt"


def score_pool(
    sets: list[PoolSet],
    dataset: str,
    out: Path,
    metrics: tuple[str, ...],
    data_dir: str = "",
    log: Callable[[str], None] = print,
    judge_images: int = 0,
) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, float]]]:
    """(metric scores, judge scores), set name -> name -> value: gv's ``metrics`` through its
    evaluator, and the independent judges (references.py, trained once on the dataset's training
    split and cached in ``out``). Scores already in ``out``'s scores.json for an unchanged set file
    are kept."""
    from ..data import load_dataset
    from .api import Scorer, load_samples
    from .references import Judges

    path = out / SCORES
    try:
        cached = json.loads(path.read_text()) if path.is_file() else {}
        cached = cached if isinstance(cached, dict) else {}
    except (OSError, ValueError):
        cached = {}  # damaged: every set is scored again
    scorer = Scorer.for_dataset(dataset, data_dir)
    train_images = load_dataset(dataset, "train", data_dir).images
    train_images = train_images[:judge_images] if judge_images else train_images
    judges: Judges | None = None
    metric_scores: dict[str, dict[str, float]] = {}
    judge_scores: dict[str, dict[str, float]] = {}
    for entry in sets:
        stamp = f"{entry.path.stat().st_size}:{entry.path.stat().st_mtime_ns}"
        old = cached.get(entry.name)
        if isinstance(old, dict) and old.get("stamp") == stamp and set(metrics) <= set(old.get("metrics", {})):
            metric_scores[entry.name], judge_scores[entry.name] = old["metrics"], old["judges"]
            continue
        if judges is None:
            judges = Judges.prepare(train_images, scorer.test_set.images, out / JUDGES_CACHE, log)
        images, labels = load_samples(entry.path, dataset)
        metric_scores[entry.name] = scorer.score(images, labels, list(metrics), bootstrap=False)
        judge_scores[entry.name] = judges.score(images)
        cached[entry.name] = {"stamp": stamp, "metrics": metric_scores[entry.name], "judges": judge_scores[entry.name]}
        write_json(path, cached)
        log(f"pool: scored {entry.name}")
    return metric_scores, judge_scores
