"""The metric sanity suite behind `gv evaluator check`: disturbance ladders (Heusel et al. 2017).

The dataset's held-out images (its test split) are damaged in known ways, each at
:data:`LEVELS` increasing levels, and scored against the clean held-out images (the reference every
model is scored against). A distance (catalog.DISTANCES: fid, kid, fid2, realism, combined) must get worse at every
step of every ladder, level 0 included; the k-NN measures are shown beside them but not judged
(precision need not fall when classes are dropped, nor recall under blur).

Ladders (noise sigma on the 0-255 pixel scale):

    noise          Gaussian noise, sigma 10, 20, 40, 80
    blur           Gaussian blur, sigma 0.6, 1.2, 1.8, 2.4 px
    salt_pepper    2%, 5%, 10%, 20% of the pixels set to black or white
    occlusion      one mid-grey rectangle a side 15%, 25%, 35%, 50% of the image's, placed at random
    mode_dropping  2, 4, 6, 8 of the classes removed (the set refilled from the others), each level's
                   scores the mean over :data:`DRAWS` random choices of the classes; a dataset
                   without labels: of 10 equal clusters of its images' features (label_free.py)
    contamination  10%, 25%, 50%, 75% of the images replaced by out-of-domain ones (smooth random
                   textures: nothing the dataset holds)

and the defects generative models make (defects.py): softness (decoder means), speckle at stroke
edges, haze, blobs, broken strokes.

The result is written beside the evaluator's networks (``check.json``, tied to their ids), so
`gv report` can say whether the evaluator it used passed.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from ..data import to_uint8, to_unit_range
from . import defects
from .catalog import DISTANCES

LEVELS: dict[str, tuple[float, ...]] = {
    "noise": (10, 20, 40, 80),
    "blur": (0.6, 1.2, 1.8, 2.4),
    "salt_pepper": (0.02, 0.05, 0.1, 0.2),
    "occlusion": (0.15, 0.25, 0.35, 0.5),
    "mode_dropping": (2, 4, 6, 8),
    "contamination": (0.1, 0.25, 0.5, 0.75),
    **defects.LEVELS,
}
SHOWN = ("precision", "recall", "density", "coverage")  # scored and shown, not judged
# Random draws a level is scored over (the mean of each metric); one for the others. Which classes are
# dropped matters as much as how many: dropping the thin 1s and the thick 0s moves the texture
# statistics (realism) opposite ways, so on one draw realism went 0.066, 0.064, 0.16, 0.29 as 2, 4, 6,
# 8 of mnist-5k's classes were dropped. Over 8 draws it rises at every level, about twofold a step
# (seeds 0-3: e.g. 0.044, 0.105, 0.181, 0.281), as the class-feature distances already did on one.
DRAWS: dict[str, int] = {"mode_dropping": 8}


METRICS = ",".join((*DISTANCES, *SHOWN))
CHECK_FILE = "check.json"


def _noise(x: torch.Tensor, level: float, g: torch.Generator, labels: torch.Tensor) -> torch.Tensor:
    return to_uint8((to_unit_range(x) + level / 127.5 * torch.randn(x.shape, generator=g)).clamp(-1, 1))


def _blur(x: torch.Tensor, level: float, g: torch.Generator, labels: torch.Tensor) -> torch.Tensor:
    from torchvision.transforms.v2.functional import gaussian_blur

    size = 2 * math.ceil(3 * level) + 1
    return to_uint8(gaussian_blur(to_unit_range(x), [size, size], [level, level]))


def _salt_pepper(x: torch.Tensor, level: float, g: torch.Generator, labels: torch.Tensor) -> torch.Tensor:
    n, _, h, w = x.shape
    hit = torch.rand(n, 1, h, w, generator=g) < level
    salt = (torch.rand(n, 1, h, w, generator=g) < 0.5).to(torch.uint8) * 255
    return torch.where(hit, salt.expand_as(x), x)


def _occlusion(x: torch.Tensor, level: float, g: torch.Generator, labels: torch.Tensor) -> torch.Tensor:
    n, _, h, w = x.shape
    rh, rw = max(1, round(level * h)), max(1, round(level * w))
    top = torch.randint(0, h - rh + 1, (n,), generator=g)
    left = torch.randint(0, w - rw + 1, (n,), generator=g)
    rows, cols = torch.arange(h)[None, :], torch.arange(w)[None, :]
    inside = ((rows >= top[:, None]) & (rows < top[:, None] + rh))[:, :, None] & (
        (cols >= left[:, None]) & (cols < left[:, None] + rw)
    )[:, None, :]
    return torch.where(inside[:, None], torch.full_like(x, 128), x)


def _mode_dropping(x: torch.Tensor, level: float, g: torch.Generator, labels: torch.Tensor) -> torch.Tensor:
    classes = labels.unique()
    kept = classes[torch.randperm(len(classes), generator=g)[: max(1, len(classes) - int(level))]]
    pool = torch.nonzero(torch.isin(labels, kept)).flatten()
    return x[pool[torch.randint(0, len(pool), (len(x),), generator=g)]]


def out_of_domain(n: int, shape: tuple[int, ...], g: torch.Generator) -> torch.Tensor:
    """Smooth random textures (coarse noise, upsampled): images no dataset of gv's holds."""
    c, h, w = shape
    coarse = torch.randn(n, c, max(2, h // 4), max(2, w // 4), generator=g)
    smooth = F.interpolate(coarse, size=(h, w), mode="bicubic", align_corners=False)
    return to_uint8(torch.tanh(smooth))


def _contamination(x: torch.Tensor, level: float, g: torch.Generator, labels: torch.Tensor) -> torch.Tensor:
    k = round(level * len(x))
    out = x.clone()
    out[torch.randperm(len(x), generator=g)[:k]] = out_of_domain(k, tuple(x.shape[1:]), g)
    return out


DISTURB: dict[str, Callable[[torch.Tensor, float, torch.Generator, torch.Tensor], torch.Tensor]] = {
    "noise": _noise,
    "blur": _blur,
    "salt_pepper": _salt_pepper,
    "occlusion": _occlusion,
    "mode_dropping": _mode_dropping,
    "contamination": _contamination,
    **defects.DISTURB,
}


@dataclass
class LadderResult:
    name: str
    levels: tuple[float, ...]  # 0 (clean) first
    scores: list[dict[str, float]]  # one per level

    def rises(self, key: str) -> bool:
        """Whether ``key`` gets worse (larger) at every step of the ladder."""
        values = [s[key] for s in self.scores]
        return all(b > a for a, b in zip(values, values[1:]))

    def failures(self) -> list[str]:
        """'fid: 1.2 -> 0.8' for each distance that did not get worse at some step."""
        out = []
        for key in DISTANCES:
            values = [s[key] for s in self.scores]
            for i, (a, b) in enumerate(zip(values, values[1:])):
                if not b > a:
                    out.append(f"{key} at {self.levels[i]:g} -> {self.levels[i + 1]:g}: {a:.4g} -> {b:.4g}")
        return out

    @property
    def passed(self) -> bool:
        return not self.failures()


def run_ladders(scorer: Any, seed: int = 0) -> list[LadderResult]:
    """Every ladder on the scorer's held-out images (its test split), scored against its reference."""
    from .label_free import pseudo_classes

    test = scorer.test_set
    labels = test.labels if scorer.evaluator.labelled else pseudo_classes(scorer.reference.features)
    clean = scorer.score(test.images, None, METRICS, bootstrap=False)
    results = []
    for i, (name, levels) in enumerate(LEVELS.items()):
        g = torch.Generator().manual_seed(seed * 100 + i)
        scores = [clean]
        for level in levels:
            draws = [
                scorer.score(DISTURB[name](test.images, level, g, labels), None, METRICS, bootstrap=False)
                for _ in range(DRAWS.get(name, 1))
            ]
            scores.append({key: sum(draw[key] for draw in draws) / len(draws) for key in draws[0]})
        results.append(LadderResult(name, (0.0, *levels), scores))
    return results


def summary(results: list[LadderResult], scorer: Any) -> dict[str, Any]:
    """What check.json and `--json` hold."""
    from .classifier import quality

    ev = scorer.evaluator
    return {
        "dataset": scorer.dataset,
        "passed": all(r.passed for r in results),
        "ladders_passed": sum(r.passed for r in results),
        "ladders": len(results),
        "judged": list(DISTANCES),
        "draws": {name: DRAWS.get(name, 1) for name in LEVELS},
        "networks": {
            name: {
                "accuracy": net.accuracy if math.isfinite(net.accuracy) else None,  # None: a label-free network
                "quality": quality(net),
                "id": net.meta.get("id"),
            }
            for name, net in ev.networks().items()
        },
        "results": {
            r.name: {"levels": list(r.levels), "scores": r.scores, "passed": r.passed, "failures": r.failures()}
            for r in results
        },
    }


def plot(results: list[LadderResult], path: Any) -> None:
    """Metric vs level, one panel per ladder; each metric relative to its largest value there."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..rundir import atomic_path

    cols = 3
    rows = math.ceil(len(results) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False)
    for ax, r in zip(axes.flat, results):
        for key in (*DISTANCES, *SHOWN):
            values = torch.tensor([s[key] for s in r.scores])
            top = float(values.abs().max()) or 1.0
            style = "-o" if key in DISTANCES else ":."
            ax.plot(range(len(values)), (values / top).tolist(), style, label=f"{key} (max {top:.3g})", ms=3)
        ax.set_xticks(range(len(r.levels)), [f"{v:g}" for v in r.levels])
        ax.set_title(f"{r.name}: {'passed' if r.passed else 'FAILED'}", fontsize=10)
        ax.set_xlabel("level")
        ax.legend(fontsize=6)
    for ax in list(axes.flat)[len(results) :]:
        ax.axis("off")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=90)
    plt.close(fig)


def read_check(classifier_path: str) -> dict[str, Any] | None:
    """The saved check of the evaluator whose ``classifier`` network is at that path, or None."""
    from pathlib import Path

    path = Path(classifier_path).with_name(CHECK_FILE)
    try:
        data = json.loads(path.read_text())
        return data if isinstance(data, dict) else None
    except (OSError, ValueError):
        return None
