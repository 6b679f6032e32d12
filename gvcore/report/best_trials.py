"""Which trials a report shows: every sweep's rows, each family's best trial by a metric, and
that trial's best checkpoint on disk (never its latest, which the metrics don't describe)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import Config
from ..errors import GVError
from ..evaluation.catalog import metric_direction
from ..families import FAMILIES
from ..models import GenerativeModel
from ..sweep.leaderboard import LeaderboardRow
from ..sweep.values import values_of


@dataclass
class Entry:
    """The best trial of one family."""

    family: str
    sweep: str
    row: LeaderboardRow
    value: float | None
    model: GenerativeModel
    config: Config
    checkpoint: Path
    metrics: dict[str, float] = field(default_factory=dict)
    figures: dict[str, str] = field(default_factory=dict)
    notes: dict[str, Any] = field(default_factory=dict)


def metric_mode(metric: str) -> str:
    """'min' or 'max' for a metric to pick and rank trials by (gvcore.evaluation.catalog.metric_direction)."""
    mode = metric_direction(metric)
    if mode is None:
        raise GVError(f"metric '{metric}' has no better side to rank by: use e.g. eval/fid, eval/kid or eval/precision")
    return mode


def checkpoint_file(row: LeaderboardRow) -> Path | None:
    """The trial's best checkpoint on disk -- never its latest one, which the metrics don't describe.
    A sweep dir that was moved or copied still works: the checkpoint is looked for under it too."""
    from ..checkpoint import CHECKPOINT_NAME

    best = row.best_checkpoint
    if best and best.startswith("file://"):
        best = best[len("file://") :]
    if not best or "://" in best:
        return None  # in cloud storage (s3://, gs://): sync the sweep dir to disk and report on that
    candidates = [Path(best)]
    if row.sweep_dir:
        candidates.append(Path(row.sweep_dir) / Path(best).parent.name / Path(best).name)
    for path in candidates:
        if (path / CHECKPOINT_NAME).is_file():
            return path / CHECKPOINT_NAME
    return None


def pick_best(rows: list[LeaderboardRow], metric: str, mode: str) -> dict[str, LeaderboardRow]:
    """family -> the row with the best value of ``metric`` (gvcore/sweep/values.py: the final evaluation
    where the trials have one) that still has a checkpoint on disk."""
    best: dict[str, tuple[float, LeaderboardRow]] = {}
    for row, value in zip(rows, values_of(rows, metric)):
        if value is None or row.failed or row.family is None or checkpoint_file(row) is None:
            continue
        current = best.get(row.family)
        if current is None or (value < current[0] if mode == "min" else value > current[0]):
            best[row.family] = (value, row)
    order = {name: i for i, name in enumerate(FAMILIES)}
    return {family: best[family][1] for family in sorted(best, key=lambda f: order.get(f, len(order)))}
