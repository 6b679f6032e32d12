"""Which trials a report shows: every sweep's rows, each family's best trial by a metric, and
that trial's best checkpoint on disk (never its latest, which the metrics don't describe)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import Config
from ..errors import GVError
from ..families import FAMILIES
from ..models import GenerativeModel
from ..sweep.leaderboard import LeaderboardRow


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
    """'min' or 'max' for a leaderboard metric (eval/<key> from the registry; losses: min)."""
    from ..evaluation.catalog import direction

    key = metric.split("/", 1)[1] if metric.startswith("eval/") else metric
    mode = direction(key) or (None if metric.startswith("eval/") else "min")
    if mode is None:
        raise GVError(f"metric '{metric}' has no better side to rank by: use e.g. eval/fid, eval/kid or eval/precision")
    return mode


def row_value(row: dict[str, Any], metric: str) -> float | None:
    """A trial's value of ``metric``: its best value when it is the sweep metric, else the value
    recorded with its best checkpoint (the final full evaluation included)."""
    value = row.best_metric if row.metric == metric else row.metrics.get(metric)
    if value is None and metric.startswith("eval/"):
        value = (row.final or {}).get(metric.removeprefix("eval/"))
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def checkpoint_file(row: dict[str, Any]) -> Path | None:
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
    """family -> the row with the best value of ``metric`` that still has a checkpoint on disk."""
    best: dict[str, LeaderboardRow] = {}
    for row in rows:
        value = row_value(row, metric)
        if value is None or row.failed or checkpoint_file(row) is None:
            continue
        current = best.get(row.family)
        if current is None or (
            value < row_value(current, metric) if mode == "min" else value > row_value(current, metric)
        ):
            best[row.family] = row
    return dict(sorted(best.items(), key=lambda kv: list(FAMILIES).index(kv[0]) if kv[0] in FAMILIES else 99))
