"""A trial's value of a metric: the one rule that `gv results`, `gv report`, `gv compare` and the
report's W&B copy all follow, so they never disagree about a trial.

A trial's value is the final evaluation of its best checkpoint (every metric on the sweep's
``final_eval_samples`` images, ``row.final``) when it has one, else its best report during training
(``best_metric`` for the sweep's own metric, ``metrics`` for the others: 2,000 samples by default).

Trials that are ranked or compared together use one source: when some finished trial of the group
lacks the final value, every trial of the group is read from its best report, so the values compare
(an FID on 2,000 samples is biased upwards against one on 10,000). Only when neither source covers
every finished trial is each trial's own best available value used ("mixed", said where it is shown).

Rows are duck-typed (``LeaderboardRow``'s fields), so this module imports nothing of the leaderboard.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any, Protocol

# Where a trial stands: finished (done), gave up on non-finite losses (diverged), crashed (error),
# ended early by the scheduler or an interruption (stopped); running / pending while a sweep runs.
FAILED_STATUSES = ("diverged", "error")
UNFINISHED_STATUSES = ("running", "pending")
FINAL, BEST_REPORT, MIXED = "final", "best_report", "mixed"
# Values beyond this are not metric values: gv compare's statistics use 1e300 as a finite stand-in
# for a failed trial (gvcore/compare/statistics.py), so real values must stay far below it.
LARGEST_VALUE = 1e200


class Row(Protocol):
    """What a value is read from: a leaderboard row."""

    status: str
    metric: str
    best_metric: float | None
    metrics: dict[str, float]
    final: dict[str, float] | None


def finite_number(value: Any) -> float | None:
    """``value`` as a float when it is a real, finite metric value (not a bool, not a stand-in), else None."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        if abs(value) < LARGEST_VALUE:
            return float(value)
    return None


def best_report_value(row: Row, metric: str) -> float | None:
    """The value recorded with the trial's best report during training."""
    return finite_number(row.best_metric if row.metric == metric else row.metrics.get(metric))


def final_value(row: Row, metric: str) -> float | None:
    """The value of the final evaluation of the trial's best checkpoint (eval/ metrics only)."""
    if not metric.startswith("eval/"):
        return None
    return finite_number((row.final or {}).get(metric.removeprefix("eval/")))


def is_finished(row: Row) -> bool:
    return row.status not in FAILED_STATUSES + UNFINISHED_STATUSES


def value_source(rows: Iterable[Row], metric: str) -> str:
    """FINAL when every finished trial with a value has a final one, BEST_REPORT when every one
    has a best-report value, else MIXED (each trial's own best available value)."""
    finished = [
        r
        for r in rows
        if is_finished(r) and (final_value(r, metric) is not None or best_report_value(r, metric) is not None)
    ]
    if all(final_value(r, metric) is not None for r in finished):
        return FINAL
    if all(best_report_value(r, metric) is not None for r in finished):
        return BEST_REPORT
    return MIXED


def trial_value(row: Row, metric: str, source: str = FINAL) -> tuple[float | None, str]:
    """(the trial's value of ``metric``, where it came from: FINAL or BEST_REPORT). ``source`` is
    the group's (:func:`value_source`); FINAL and MIXED take the final value when there is one."""
    final = final_value(row, metric) if source != BEST_REPORT else None
    if final is not None:
        return final, FINAL
    return best_report_value(row, metric), BEST_REPORT


def values_of(rows: list[Any], metric: str) -> list[float | None]:
    """Each row's value of ``metric`` (aligned with ``rows``), all read from the group's one source."""
    source = value_source(rows, metric)
    return [trial_value(row, metric, source)[0] for row in rows]


def recorded_metrics(rows: Iterable[Row]) -> list[str]:
    """Every metric some trial has a value of (for error messages)."""
    names: set[str] = set()
    for row in rows:
        if row.metric:
            names.add(row.metric)
        names |= {k for k, v in row.metrics.items() if finite_number(v) is not None}
        names |= {f"eval/{k}" for k, v in (row.final or {}).items() if finite_number(v) is not None}
    return sorted(names)
