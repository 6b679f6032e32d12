"""A study's race settings: the `study:` section of a sweep file and the `gv study` flags on top.

    study:
      axis: overall            # what "wins" means: an axis of gvcore/evaluation/axes.py (its first metric)
      confidence: 0.95         # every exit and the verdict hold at this confidence, looks included
      margin: 0.1              # stop when the families left are equivalent: P(A beats B) within 0.5 +- margin
      trials_per_round: 2      # new trials per family still racing, each round after the first
      first_round: null        # trials per family in round 1 (null: the fewest at which a family can leave)
      max_trials: 96           # the budget: trials in all (and/or max_hours)
      max_hours: null

The sweep file supplies the rest: dataset, families, base / per_family keys, the search space every
trial draws from afresh, the per-trial budget, resources. Checked here, before Ray starts.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from ..errors import GVError
from ..sweep.fields import fail, is_int, is_number, mapping
from ..sweep.spec import SweepSpec

DEFAULT_CONFIDENCE = 0.95
DEFAULT_MARGIN = 0.1
DEFAULT_TRIALS_PER_ROUND = 2
DEFAULT_AXIS = "overall"


@dataclass
class StudySettings:
    axis: str = DEFAULT_AXIS
    confidence: float = DEFAULT_CONFIDENCE
    margin: float | None = DEFAULT_MARGIN
    trials_per_round: int = DEFAULT_TRIALS_PER_ROUND
    first_round: int | None = None  # None: the fewest trials per family at which a family can leave
    max_trials: int | None = None
    max_hours: float | None = None

    KEYS = ("axis", "confidence", "margin", "trials_per_round", "first_round", "max_trials", "max_hours")

    def to_dict(self) -> dict[str, Any]:
        return {key: getattr(self, key) for key in self.KEYS}


def _confidence(source: str, key: str, value: Any) -> float:
    if not is_number(value) or not 0.5 < value < 1:
        raise fail(source, key, f"expected a confidence between 0.5 and 1 (e.g. 0.95), got {value!r}")
    return float(value)


def _margin(source: str, key: str, value: Any) -> float | None:
    if value is None:
        return None
    if not is_number(value) or not 0 < value < 0.5:
        raise fail(
            source, key, f"expected a margin on P(A beats B) between 0 and 0.5 (e.g. 0.1), or null, got {value!r}"
        )
    return float(value)


def _count(source: str, key: str, value: Any, allow_none: bool) -> int | None:
    if value is None and allow_none:
        return None
    if not is_int(value) or value < 1:
        raise fail(source, key, f"expected an integer >= 1{' or null' if allow_none else ''}, got {value!r}")
    return int(value)


def _hours(source: str, key: str, value: Any) -> float | None:
    if value is None:
        return None
    if not is_number(value) or not math.isfinite(value) or value <= 0:
        raise fail(source, key, f"expected a number of hours > 0, or null, got {value!r}")
    return float(value)


def _axis(source: str, key: str, value: Any) -> str:
    from ..evaluation.axes import AXES

    if value not in AXES:
        raise fail(source, key, f"unknown axis {value!r}: choose one of {', '.join(AXES)}")
    return str(value)


CHECKS = {
    "axis": _axis,
    "confidence": _confidence,
    "margin": _margin,
    "trials_per_round": lambda source, key, value: _count(source, key, value, allow_none=False),
    "first_round": lambda source, key, value: _count(source, key, value, allow_none=True),
    "max_trials": lambda source, key, value: _count(source, key, value, allow_none=True),
    "max_hours": _hours,
}
FLAGS = {key: f"--{key.replace('_', '-')}" for key in StudySettings.KEYS}


def parse_study(raw: Any, source: str) -> StudySettings:
    """The `study:` section of a sweep file (absent: the defaults), checked."""
    section = mapping(source, "study", raw) if raw is not None else {}
    settings = StudySettings()
    for key, value in section.items():
        if key not in CHECKS:
            raise fail(source, f"study.{key}", f"unknown key: a study takes {', '.join(StudySettings.KEYS)}")
        setattr(settings, key, CHECKS[key](source, f"study.{key}", value))
    return settings


def with_flags(settings: StudySettings, **flags: Any) -> StudySettings:
    """``settings`` with the `gv study` flags that were given (None: not given) on top, each checked."""
    out = dataclasses.replace(settings)
    for key, value in flags.items():
        if value is not None:
            setattr(out, key, CHECKS[key]("gv study", FLAGS[key], value))
    return out


def check_budget(settings: StudySettings, families: int, first_round: int) -> None:
    """A study needs a budget, and the budget must hold the first round."""
    if settings.max_trials is None and settings.max_hours is None:
        raise GVError(
            "a study needs a budget: pass --max-trials N (trials in all) or --max-hours H, or set "
            "study.max_trials / study.max_hours in the sweep file"
        )
    if settings.max_trials is not None and settings.max_trials < families * first_round:
        raise GVError(
            f"bad --max-trials {settings.max_trials}: the first round alone is {families} families x "
            f"{first_round} trials = {families * first_round} (the fewest at which a family can be told beaten "
            f"at confidence {settings.confidence:g}); raise --max-trials or race fewer families"
        )


def check_sweep(spec: SweepSpec) -> None:
    """What a race needs of the sweep file: complete trials at one budget, each drawn afresh."""
    if len(spec.families) < 2:
        raise GVError(
            f"{spec.source}: families: a study races two families or more, got {', '.join(spec.families)}; "
            "pass --families with at least two"
        )
    if spec.scheduler.type != "fifo":
        raise GVError(
            f"{spec.source}: scheduler.type: a study compares complete trials, so its scheduler is fifo "
            f"({spec.scheduler.type} would stop or alter trials part-way); remove the scheduler section"
        )
    if spec.budget_unit == "seconds":
        raise GVError(
            f"{spec.source}: budget: a study gives every trial the same compute, and seconds depend on how busy "
            "the machine is; use budget {flops: N} (--budget N)"
        )
    grids = [key for key, dim in spec.search.items() if dim.kind == "grid"]
    if grids:
        raise GVError(
            f"{spec.source}: search.{grids[0]}: a study draws every searched key afresh for each trial; "
            "a grid has no place in a race: use choice"
        )
