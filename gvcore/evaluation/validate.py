"""`gv evaluator validate`: do gv's metrics order real gv models the way independent judges do?

The pool (validate_pool.py: families x budgets x seeds, rebuilt from its recipe) is scored by every
distance gv reports and by the independent judges (references.py). For each metric and each judge
the rank agreement is Spearman's rho over the sets, with a 95% bootstrap interval (resampling the
sets, scipy.stats.bootstrap); twice: over the whole pool, and over the well-trained sets alone,
where the judges themselves agree less (two good judges need not agree perfectly on models that are
all nearly right).

The goals (issue 21), checked for the realism metric and for the one `overall` names (axes.py),
each against its judges (realism: the judges of texture, references.REALISM_JUDGES; overall: all):

* whole pool: rho >= 0.9 with each of its judges;
* well-trained sets: rho with each of its judges at least those judges' own agreement there (the
  lowest rho between two of them).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .catalog import direction

WHOLE_POOL_GOAL = 0.9
BOOTSTRAP_RESAMPLES = 2000
# The metrics scored on the pool: every distance with a better side, and the k-NN measures beside.
POOL_METRICS = ("fid", "fid2", "kid", "realism", "combined", "precision", "recall", "coverage")


@dataclass
class Agreement:
    """Spearman's rho of one metric with one judge over a set of pool sets, with its interval."""

    rho: float
    low: float
    high: float
    sets: int

    def to_dict(self) -> dict[str, float | int]:
        return {"rho": self.rho, "low": self.low, "high": self.high, "sets": self.sets}

    def text(self) -> str:
        return f"{self.rho:+.2f} [{self.low:+.2f}, {self.high:+.2f}]"


def badness(key: str, value: float) -> float:
    """A metric's value turned so that larger is worse (a 'max' metric is negated)."""
    return -value if direction(key) == "max" else value


def spearman(x: Sequence[float], y: Sequence[float], seed: int = 0) -> Agreement:
    """Spearman's rho and its 95% percentile bootstrap interval (pairs resampled together)."""
    from scipy import stats

    a, b = np.asarray(x, float), np.asarray(y, float)
    rho = float(stats.spearmanr(a, b).statistic)
    if len(a) < 4:
        return Agreement(rho, math.nan, math.nan, len(a))

    def statistic(u: np.ndarray, v: np.ndarray, axis: int = -1) -> np.ndarray:
        # Spearman's rho of every resample at once: Pearson's r of the ranks along ``axis``.
        ru, rv = stats.rankdata(u, axis=axis), stats.rankdata(v, axis=axis)
        ru, rv = ru - ru.mean(axis, keepdims=True), rv - rv.mean(axis, keepdims=True)
        spread = np.sqrt((ru * ru).sum(axis) * (rv * rv).sum(axis))
        # A resample of ties only has no order: no agreement.
        return np.where(spread > 0, (ru * rv).sum(axis) / np.where(spread > 0, spread, 1.0), 0.0)

    result = stats.bootstrap(
        (a, b),
        statistic,
        paired=True,
        vectorized=True,
        n_resamples=BOOTSTRAP_RESAMPLES,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    interval = result.confidence_interval
    return Agreement(rho, float(interval.low), float(interval.high), len(a))


@dataclass
class Validation:
    """The agreement tables and the verdict on the realism and overall metrics."""

    metrics: list[str]
    judges: list[str]
    whole: dict[str, dict[str, Agreement]]  # metric (or judge) -> judge -> agreement, whole pool
    trained: dict[str, dict[str, Agreement]]  # the same over the well-trained sets
    judged: dict[str, str]  # "realism" / "overall" -> the metric judged
    role_judges: dict[str, list[str]] = field(default_factory=dict)  # role -> the judges it is held to
    failures: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures

    def judges_agree(self, judges: Sequence[str] | None = None) -> float:
        """The lowest agreement between two of ``judges`` (default: all) on the well-trained sets: the bar there."""
        judges = list(self.judges if judges is None else judges)
        values = [self.trained[a][b].rho for i, a in enumerate(judges) for b in judges[i + 1 :]]
        return min(values) if values else math.nan

    def judges_of(self, role: str) -> list[str]:
        return [j for j in self.role_judges.get(role, self.judges) if j in self.judges]

    def to_dict(self) -> dict[str, Any]:
        def table(rows: dict[str, dict[str, Agreement]]) -> dict[str, dict[str, Any]]:
            return {m: {j: a.to_dict() for j, a in cells.items()} for m, cells in rows.items()}

        return {
            "passed": self.passed,
            "judged": self.judged,
            "goals": {
                role: {
                    "judges": self.judges_of(role),
                    "whole_pool": WHOLE_POOL_GOAL,
                    "well_trained": self.judges_agree(self.judges_of(role)),
                }
                for role in self.judged
            },
            "whole_pool": table(self.whole),
            "well_trained": table(self.trained),
            "failures": self.failures,
        }


def validate(
    scores: dict[str, dict[str, float]],
    judge_scores: dict[str, dict[str, float]],
    well_trained: set[str],
    judged: dict[str, str],
    role_judges: dict[str, Sequence[str]] | None = None,
) -> Validation:
    """The agreement of every metric (``scores``: set -> metric -> value) with every judge
    (``judge_scores``: set -> judge -> value, larger = worse), and the goals for ``judged`` (role ->
    metric), each held to its ``role_judges`` (default: every judge)."""
    names = sorted(scores)
    metrics = [m for m in POOL_METRICS if all(m in scores[n] for n in names)]
    judges = sorted({j for n in names for j in judge_scores[n]})

    def column(source: dict[str, dict[str, float]], key: str, subset: list[str], turn: bool) -> list[float]:
        return [badness(key, source[n][key]) if turn else source[n][key] for n in subset]

    def tables(subset: list[str]) -> dict[str, dict[str, Agreement]]:
        rows: dict[str, dict[str, Agreement]] = {}
        for m in metrics:
            rows[m] = {
                j: spearman(column(scores, m, subset, True), column(judge_scores, j, subset, False)) for j in judges
            }
        for a in judges:
            rows[a] = {
                b: spearman(column(judge_scores, a, subset, False), column(judge_scores, b, subset, False))
                for b in judges
                if b != a
            }
        return rows

    trained_names = [n for n in names if n in well_trained]
    roles = {role: list(role_judges.get(role, judges)) for role in judged} if role_judges else {}
    result = Validation(metrics, judges, tables(names), tables(trained_names), judged, roles)
    for role, metric in judged.items():
        if metric not in metrics:
            result.failures.append(f"{role} metric '{metric}' was not scored on the pool")
            continue
        bar = result.judges_agree(result.judges_of(role))
        for j in result.judges_of(role):
            whole, trained = result.whole[metric][j], result.trained[metric][j]
            if not whole.rho >= WHOLE_POOL_GOAL:
                result.failures.append(
                    f"{role} ({metric}) agrees with {j} at {whole.rho:+.2f} over the whole pool (goal {WHOLE_POOL_GOAL})"
                )
            if not trained.rho >= bar:
                result.failures.append(
                    f"{role} ({metric}) agrees with {j} at {trained.rho:+.2f} among the well-trained sets, "
                    f"below the judges' own agreement {bar:+.2f}"
                )
    return result
