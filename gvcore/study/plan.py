"""What a study runs: its sweep spec (the file with the `gv study` flags, ranked by the axis's metric)
and each round's trials.

Trial i of a family is always the same trial, whichever round runs it: draw i of the search space
(gvcore/sweep/expand.random_draws, the same numbers for every family, as in a sweep) and seed i. So a
round is a list of trial indices per family, a resumed round reruns nothing but its unfinished
trials, and the trials of every family are independent draws of "this family, tuned at random".
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from ..errors import GVError
from ..sweep import apply_overrides, parse_sweep
from ..sweep.expand import random_draws, trial_flat
from ..sweep.files import read_sweep_document
from ..sweep.spec import SweepSpec
from .settings import StudySettings, check_sweep, parse_study, with_flags


@dataclass
class StudyFlags:
    """The `gv study` flags that shape the trials (None: not given)."""

    dataset: str | None = None
    families: list[str] | None = None
    budget: float | None = None  # training FLOPs per trial
    max_concurrent: int | None = None
    cpus_per_trial: float | None = None
    gpus_per_trial: float | None = None
    sets: list[str] | None = None


def metric_of_axis(axis: str) -> tuple[str, str]:
    """The metric a new study races on (its axis's first: gvcore/evaluation/axes.py) and its better side."""
    from ..evaluation.axes import get_axis
    from ..evaluation.catalog import metric_direction

    metric = get_axis(axis).metrics[0]
    better = metric_direction(metric)
    if better is None:  # an axis names metrics with a better side; a table edit that breaks that is a bug
        raise AssertionError(f"axis {axis}'s metric {metric} has no better side")
    return metric, better


def load_study(ref: str, flags: StudyFlags, **settings_flags: Any) -> tuple[SweepSpec, StudySettings]:
    """The study's spec and settings from a sweep file (its `study:` section) and the flags; every
    check before Ray starts."""
    doc, source = read_sweep_document(ref)
    if not isinstance(doc, dict):
        parse_sweep(doc, source)  # names the problem as `gv sweep` would
        raise AssertionError("parse_sweep accepted a non-mapping")
    settings = with_flags(parse_study(doc.get("study"), source), **settings_flags)
    doc = copy.deepcopy(doc)
    said: list[str] = []
    if flags.dataset is not None:
        doc["dataset"] = flags.dataset
        said.append(f"--dataset {flags.dataset}")
    if flags.families is not None:
        doc["families"] = list(flags.families)
        if isinstance(doc.get("per_family"), dict):
            doc["per_family"] = {f: k for f, k in doc["per_family"].items() if f in flags.families}
        said.append(f"--families {','.join(flags.families)}")
    if flags.budget is not None:
        doc["budget"] = {"flops": flags.budget}
        said.append(f"--budget {flags.budget:g}")
    metric, better = metric_of_axis(settings.axis)
    doc["metric"], doc["mode"] = metric, better
    # A study numbers its trials itself (trial i: draw i, seed i); the file's fixed design
    # (num_samples x seeds) is what `gv sweep` runs on the same file.
    for key in ("repeats", "seeds", "num_samples"):
        doc.pop(key, None)
    where = f"{source} with {' '.join(said)}" if said else source
    spec = parse_sweep(doc, where)
    if any(item.split("=", 1)[0].strip() == "train.seed" for item in flags.sets or []):
        raise GVError("bad --set train.seed: a study gives its i-th trial of every family seed i; drop it")
    spec = apply_overrides(
        spec,
        max_concurrent=flags.max_concurrent,
        cpus_per_trial=flags.cpus_per_trial,
        gpus_per_trial=flags.gpus_per_trial,
        sets=flags.sets or [],
    )
    check_sweep(spec)
    return spec, settings


def round_trials(spec: SweepSpec, families: list[str], first: int, count: int) -> list[dict[str, Any]]:
    """The flat configs of trials ``first .. first + count - 1`` of each family, index-major (every
    family's trial i before anyone's trial i + 1, so the round's families progress together)."""
    draws = random_draws(spec, first + count)
    return [
        trial_flat(spec, family, draws[index], index, f"trial {index}")
        for index in range(first, first + count)
        for family in families
    ]


def trial_index(config: dict[str, Any]) -> int | None:
    """Which trial of its family a leaderboard row is (its seed; see the module docstring)."""
    seed = config.get("train.seed")
    return seed if isinstance(seed, int) and not isinstance(seed, bool) else None
