"""The report's pictures: shared-noise sample grids, interpolations, the sensitivity plot and the
training curves. Fairness first: every family is drawn from the same noise (same seed; families
with the same latent size get the very same latent vectors), interpolated between the same
endpoints, and asked to reach the same two real test images."""

from __future__ import annotations

import math
import statistics
from pathlib import Path
from typing import Any

import torch

from ..config import Config
from ..families import FAMILIES
from ..images import grid_labels, save_grid
from ..interpolation import (
    class_interpolation,
    find_endpoints,
    latent_interpolation,
    random_latent_error,
    real_interpolation,
)
from ..models import GenerativeModel
from ..rundir import atomic_path, read_metrics
from ..sweep.leaderboard import LeaderboardRow
from ..sweep.values import values_of
from .best_trials import Entry

REPORT_SEED = 0
GRID_SIDE = 8
INTERPOLATION_STEPS = 10
# Class pairs for the conditional families' class-to-class rows.
CLASS_PAIRS = ((1, 7), (3, 8), (4, 9), (0, 6))
# The label a conditional family is held at for its latent interpolation row.
LATENT_ROW_LABEL = 3


def class_pairs(num_classes: int) -> tuple[tuple[int, int], ...]:
    """The class-to-class rows: CLASS_PAIRS where both classes exist (a folder may have two
    classes), else neighbouring classes."""
    pairs = tuple((a, b) for a, b in CLASS_PAIRS if max(a, b) < num_classes)
    return pairs or tuple((a, a + 1) for a in range(min(num_classes - 1, len(CLASS_PAIRS))))


def _seeded(dim: int, n: int, offset: int) -> torch.Tensor:
    # Drawn on the CPU from a fixed seed: every family of latent size `dim` gets these exact vectors.
    return torch.randn(n, dim, generator=torch.Generator().manual_seed(REPORT_SEED + offset))


@torch.no_grad()
def sample_grid(model: GenerativeModel) -> torch.Tensor:
    """8x8 from the shared noise; conditional families: one row per class, the same noise per column."""
    model.eval()
    if model.conditional:
        z = _seeded(model.latent_dim, GRID_SIDE, 0).repeat(model.num_classes, 1)
        labels = grid_labels(model.num_classes, GRID_SIDE)
        return model.generate(z.to(model.device), labels.to(model.device))
    return model.generate(_seeded(model.latent_dim, GRID_SIDE * GRID_SIDE, 0).to(model.device))


def shared_real_pair(config: Config) -> tuple[torch.Tensor, torch.Tensor]:
    """Two held-out real images every family must reach: the first test images of two classes."""
    from ..data import load_split, to_unit_range

    test = load_split(config.data, "test")
    first = [int(torch.nonzero(test.labels == c)[0]) for c in (0, 8) if bool((test.labels == c).any())]
    index = first if len(first) == 2 else [0, len(test) - 1]
    return to_unit_range(test.images[index]), test.labels[index]


def make_figures(entry: Entry, out: Path) -> None:
    model, name = entry.model, entry.family
    figures = out / "figures"
    entry.figures["samples"] = str(save_grid(sample_grid(model), figures / f"samples-{name}.png", GRID_SIDE))

    z0, z1 = _seeded(model.latent_dim, 2, 1)
    label = min(LATENT_ROW_LABEL, model.num_classes - 1)  # a folder may have fewer classes than MNIST
    row = latent_interpolation(model, z0, z1, INTERPOLATION_STEPS, label if model.conditional else None)
    entry.figures["latent"] = str(save_grid(row, figures / f"latent-{name}.png", INTERPOLATION_STEPS))
    entry.notes["latent"] = f"slerp between the shared latent seeds (size {model.latent_dim})" + (
        f", label {label}" if model.conditional else ""
    )

    if model.conditional:
        z = _seeded(model.latent_dim, 1, 2)[0]
        pairs = class_pairs(model.num_classes)
        rows = [class_interpolation(model, z, a, b, INTERPOLATION_STEPS) for a, b in pairs]
        entry.figures["classes"] = str(save_grid(torch.cat(rows), figures / f"classes-{name}.png", INTERPOLATION_STEPS))
        entry.notes["classes"] = ", ".join(f"{a}->{b}" for a, b in pairs)

    x, y = shared_real_pair(entry.config)
    endpoints = find_endpoints(model, x, y, generator=torch.Generator().manual_seed(REPORT_SEED))
    path = real_interpolation(model, endpoints, y, INTERPOLATION_STEPS)
    strip = torch.cat([x[:1].to(path.device), path, x[1:].to(path.device)])
    entry.figures["real"] = str(save_grid(strip, figures / f"real-{name}.png", INTERPOLATION_STEPS + 2))
    baseline = random_latent_error(model, x, y, torch.Generator().manual_seed(REPORT_SEED))
    entry.notes["real"] = {
        "method": endpoints.method,
        "endpoint_mse": [round(float(e), 5) for e in endpoints.errors],
        "random_latent_mse": [round(float(e), 5) for e in baseline],
    }


def save_figure(plt, fig, path: Path) -> str:
    """Lay out, write (atomically) and close a matplotlib figure; returns its path."""
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return str(path)


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


FAMILY_COLORS = {
    "gan": "#1f77b4",
    "lsgan": "#ff7f0e",
    "dcgan": "#2ca02c",
    "cgan": "#d62728",
    "vae": "#9467bd",
    "cvae": "#8c564b",
}


def sensitivity_figure(rows: list[LeaderboardRow], metric: str, mode: str, path: Path) -> dict[str, Any]:
    """Box + strip plot of the metric over every trial of each family; diverged trials counted.

    Returns per-family statistics for report.json."""
    plt = pyplot()
    families = [f for f in FAMILIES if any(r.family == f for r in rows)]
    stats: dict[str, Any] = {}
    values = []
    value_of = {id(row): value for row, value in zip(rows, values_of(rows, metric))}
    for family in families:
        mine = [r for r in rows if r.family == family]
        vals = [v for v in (value_of[id(r)] for r in mine) if v is not None]
        failed = sum(r.failed for r in mine)
        values.append(vals)
        stats[family] = {
            "trials": len(mine),
            "scored": len(vals),
            "diverged_or_error": failed,
            "best": (min(vals) if mode == "min" else max(vals)) if vals else None,
            "median": statistics.median(vals) if vals else None,
            "worst": (max(vals) if mode == "min" else min(vals)) if vals else None,
        }
    fig, ax = plt.subplots(figsize=(max(5.0, 1.4 * len(families) + 2), 4.2), dpi=110)
    positions = range(1, len(families) + 1)
    if any(values):
        ax.boxplot(
            [v if v else [float("nan")] for v in values],
            positions=list(positions),
            widths=0.5,
            showfliers=False,
            medianprops={"color": "black"},
        )
    jitter = torch.Generator().manual_seed(0)
    for pos, family, vals in zip(positions, families, values):
        xs = pos + (torch.rand(len(vals), generator=jitter) - 0.5) * 0.3
        ax.scatter(xs.tolist(), vals, s=22, alpha=0.8, color=FAMILY_COLORS.get(family, "gray"), zorder=3)
    labels = [
        f"{f}\n{stats[f]['scored']} scored"
        + (f", {stats[f]['diverged_or_error']} failed" if stats[f]["diverged_or_error"] else "")
        for f in families
    ]
    ax.set_xticks(list(positions))
    ax.set_xticklabels(labels, fontsize=8)
    ax.set_ylabel(f"{metric} ({'lower' if mode == 'min' else 'higher'} is better)")
    ax.set_title("Hyperparameter sensitivity: the metric over all trials of each family")
    ax.grid(axis="y", alpha=0.3)
    save_figure(plt, fig, path)
    return stats


def _history(entry: Entry) -> list[dict[str, Any]]:
    return read_metrics(entry.row.run_dir) if entry.row.run_dir else []


def curves_figures(entries: list[Entry], metric: str, out: Path) -> dict[str, str]:
    """Loss curves (one panel per family: GAN and VAE losses don't share a scale) and the metric
    over training for every best trial on one axis."""
    plt = pyplot()
    paths: dict[str, str] = {}
    histories = {e.family: _history(e) for e in entries}
    with_losses = [e for e in entries if any(k.startswith("loss/") for line in histories[e.family] for k in line)]
    if with_losses:
        cols = min(3, len(with_losses))
        rows = math.ceil(len(with_losses) / cols)
        fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.0 * rows), dpi=110, squeeze=False)
        for ax in axes.flat[len(with_losses) :]:
            ax.axis("off")
        for ax, entry in zip(axes.flat, with_losses):
            lines = [ln for ln in histories[entry.family] if any(k.startswith("loss/") for k in ln)]
            for key in sorted({k for ln in lines for k in ln if k.startswith("loss/")}):
                pts = [(ln["step"], ln[key]) for ln in lines if isinstance(ln.get(key), (int, float))]
                ax.plot([p[0] for p in pts], [p[1] for p in pts], label=key.split("/", 1)[1], linewidth=1.2)
            ax.set_title(entry.family, fontsize=10)
            ax.set_xlabel("step", fontsize=8)
            ax.legend(fontsize=7)
            ax.grid(alpha=0.3)
        fig.suptitle("Training losses of the best trials")
        paths["losses"] = save_figure(plt, fig, out / "figures" / "losses.png")
    series = {
        e.family: [
            (ln["step"], ln[metric])
            for ln in histories[e.family]
            if isinstance(ln.get(metric), (int, float)) and math.isfinite(ln[metric])
        ]
        for e in entries
    }
    if any(series.values()):
        fig, ax = plt.subplots(figsize=(6.5, 4.0), dpi=110)
        for family, pts in series.items():
            if pts:
                ax.plot(
                    [p[0] for p in pts],
                    [p[1] for p in pts],
                    marker="o",
                    markersize=3,
                    label=family,
                    color=FAMILY_COLORS.get(family),
                )
        ax.set_xlabel("step")
        ax.set_ylabel(metric)
        ax.set_title(f"{metric} during training (best trial of each family)")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
        paths["metric"] = save_figure(plt, fig, out / "figures" / "metric.png")
    return paths
