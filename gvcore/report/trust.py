"""How far the report's numbers can be trusted: the evaluator's status (its networks' held-out
accuracy, its sanity-suite ladders), noise-aware "best in column", near-copy flags and figures, and
whether a second feature space (``fid2``) orders the families the same way."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch

from ..evaluation.catalog import MEMORIZATION_FLAG, direction
from ..sweep.values import finite_number
from .best_trials import Entry

# Two values differ beyond the noise when they are more than this many combined standard errors apart.
NOISE_Z = 2.0
NEIGHBOUR_SAMPLES = 10


def best_beyond_noise(values: dict[str, float], errors: dict[str, float], mode: str) -> set[str]:
    """The families tied for best within the noise (NOISE_Z combined standard errors of the best);
    none when every family is within the noise of the best (no difference larger than the noise)."""
    if len(values) < 2:
        return set()
    best = min(values, key=lambda f: values[f]) if mode == "min" else max(values, key=lambda f: values[f])
    tied = {
        f
        for f, v in values.items()
        if abs(v - values[best]) <= NOISE_Z * math.hypot(errors.get(best, 0.0), errors.get(f, 0.0))
    }
    return tied if len(tied) < len(values) else set()


def memorization_flags(entries: list[Entry]) -> dict[str, float]:
    """family -> its share of near-copies, for the families above MEMORIZATION_FLAG."""
    shares = {e.family: finite_number(e.metrics.get("eval/memorization")) for e in entries}
    return {family: v for family, v in shares.items() if v is not None and v > MEMORIZATION_FLAG}


def rank_agreement(entries: list[Entry], a: str = "eval/fid", b: str = "eval/fid2") -> dict[str, Any] | None:
    """Kendall's tau between the families' orders by ``a`` and by ``b``, and the pairs they order
    oppositely; None with fewer than two families holding both."""
    from scipy.stats import kendalltau

    both = {
        e.family: (e.metrics[a], e.metrics[b])
        for e in entries
        if finite_number(e.metrics.get(a)) is not None and finite_number(e.metrics.get(b)) is not None
    }
    if len(both) < 2:
        return None
    names = list(both)
    tau = kendalltau([both[f][0] for f in names], [both[f][1] for f in names]).statistic
    flips = [
        f"{x} / {y}"
        for i, x in enumerate(names)
        for y in names[i + 1 :]
        if (both[x][0] - both[y][0]) * (both[x][1] - both[y][1]) < 0
    ]
    order = lambda k: sorted(names, key=lambda f: both[f][k] if direction(a.split("/", 1)[1]) == "min" else -both[f][k])  # noqa: E731
    return {"a": a, "b": b, "kendall_tau": finite_number(tau), "flips": flips, "order_a": order(0), "order_b": order(1)}


def evaluator_status(entries: list[Entry]) -> dict[str, Any] | None:
    """The evaluator of the first entry's dataset: its networks' held-out accuracy and its last check."""
    from ..evaluation.classifier import about, get_classifier, network_names, quality
    from ..evaluation.ladders import read_check

    if not entries:
        return None
    data = entries[0].config.data
    nets = {
        name: get_classifier(data.name, data.data_dir, data.image_size, network=name, channels=data.channels)
        for name in network_names(data.name)
    }
    check = read_check(nets["classifier"].meta["path"])
    ids = {name: net.meta.get("id") for name, net in nets.items()}
    if check is not None and {n: v.get("id") for n, v in check.get("networks", {}).items()} != ids:
        check = None  # a check of networks since retrained
    return {
        "dataset": data.name,
        "networks": {
            name: {
                "about": about(data.name, name),
                "accuracy": net.accuracy,
                "quality": quality(net),
                "test_images": net.meta.get("test_images"),
            }
            for name, net in nets.items()
        },
        "check": None
        if check is None
        else {
            "ladders_passed": check["ladders_passed"],
            "ladders": check["ladders"],
            "judged": check["judged"],
            "passed": check["passed"],
        },
    }


@torch.no_grad()
def nearest_neighbour_figure(entry: Entry, out: Path) -> None:
    """Samples (top row) above their nearest training images in the classifier's features (bottom row)."""
    from ..data import load_split, to_unit_range
    from ..evaluation.api import generate_samples
    from ..evaluation.classifier import get_classifier
    from ..evaluation.memorization import neighbours
    from ..images import save_grid

    data = entry.config.data
    clf = get_classifier(data.name, data.data_dir, data.image_size, channels=data.channels)
    train, test = load_split(data, "train"), load_split(data, "test")
    near = neighbours(clf, train.images, test.images)
    images, _ = generate_samples(entry.model, NEIGHBOUR_SAMPLES, seed=0)
    dist, idx = near.nearest(clf.embed(images)[0])
    grid = torch.cat([to_unit_range(images), to_unit_range(train.images[idx])])
    entry.figures["neighbours"] = str(
        save_grid(grid, out / "figures" / f"neighbours-{entry.family}.png", NEIGHBOUR_SAMPLES)
    )
    copies = int((dist < near.threshold).sum())
    entry.notes["neighbours"] = (
        "distance to the nearest training image: "
        + ", ".join(f"{d:.2f}" for d in dist.tolist())
        + f"; near-copy below {near.threshold:.2f} ({copies} of {NEIGHBOUR_SAMPLES} here)"
    )
