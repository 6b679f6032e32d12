"""Crafted leaderboards with known truths, written as real leaderboard.json files (gv compare, the
report's verdict)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def make_row(
    index: int,
    family: str,
    outcome: Any,
    *,
    metric: str,
    mode: str,
    dataset: str = "mnist-5k",
    final: dict[str, float] | None = None,
) -> dict[str, Any]:
    """One leaderboard row; ``outcome`` is a value (a finished trial) or a status (diverged, error, running)."""
    finished = isinstance(outcome, (int, float))
    row = {
        "rank": index + 1,
        "trial_id": f"{index:05d}",
        "family": family,
        "status": "done" if finished else outcome,
        "metric": metric,
        "mode": mode,
        "best_metric": float(outcome) if finished else None,
        "best_step": 100 if finished else None,
        "step": 100,
        "total_steps": 100,
        "wall_time_s": 12.5,
        "images_per_s": 900.0,
        "best_checkpoint": None,
        "run_dir": None,
        "node": "n1",
        "restores": 0,
        "error": None if finished else "loss is nan",
        "config": {"family": family, "data.name": dataset, "optim.lr": 1e-3 * (1 + index % 7), "train.seed": index},
        "metrics": {metric: float(outcome), "loss/generator": 1.0} if finished else {},
    }
    if final is not None:
        row["final"] = final
    return row


def write_leaderboard(
    directory: Path,
    trials: dict[str, list[Any]],
    *,
    metric: str = "eval/fid",
    mode: str = "min",
    dataset: str = "mnist-5k",
    final: dict[str, list[dict[str, float] | None]] | None = None,
) -> Path:
    """A sweep directory holding a leaderboard.json with ``trials``: family -> outcomes."""
    rows = []
    for family, outcomes in trials.items():
        for i, outcome in enumerate(outcomes):
            row_final = (final or {}).get(family, [None] * len(outcomes))[i]
            row = make_row(len(rows), family, outcome, metric=metric, mode=mode, dataset=dataset, final=row_final)
            row["trial_id"] = f"{directory.name}_{row['trial_id']}"  # unique across sweeps, as Ray's ids are
            rows.append(row)
    directory.mkdir(parents=True, exist_ok=True)
    doc = {
        "sweep": directory.name,
        "final": True,
        "updated": "2026-01-01T00:00:00+00:00",
        "metric": metric,
        "mode": mode,
        "interrupted": False,
        "wall_time_s": 100.0,
        "rows": rows,
    }
    (directory / "leaderboard.json").write_text(json.dumps(doc, indent=2))
    return directory
