"""Reading sweeps for `gv compare`: leaderboard rows -> one sample of metric values per family.

Three small functions stand between this module and the code it reads, one place each:
:func:`trial_record` (every access to a leaderboard row), :func:`metric_direction`
(which way a metric is better, from the evaluation catalog) and :func:`family_kind` (GAN or VAE).

Which value of a trial is compared: the final full evaluation of its best checkpoint (``final``:
every metric on the sweep's final_eval_samples images) when every finished trial has one, else its
best report (``best_metric`` for the sweep's own metric, ``metrics`` for the others), so that all
values compare (a FID on 2,000 samples is biased upwards against one on 10,000). Only when neither
covers every trial is each trial's own best available value used ("mixed", said in the output).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import GVError
from ..sweep import leaderboard, storage
from ..sweep.leaderboard import LeaderboardRow

FAILED_STATUSES = ("diverged", "error")
UNFINISHED_STATUSES = ("running", "pending")
FINAL, BEST_REPORT, MIXED = "final", "best_report", "mixed"
# Values beyond this are not metric values: the statistics use 1e300 as a finite stand-in for a
# failed trial (gvcore/compare/statistics.py), so real values must stay far below it.
LARGEST_VALUE = 1e200


@dataclass(frozen=True)
class TrialRecord:
    """What `gv compare` needs of one leaderboard row."""

    family: str | None
    status: str
    sweep_metric: str | None
    sweep_mode: str | None
    dataset: str | None
    best_metric: Any
    best_report: dict[str, Any]
    final: dict[str, Any]
    config: dict[str, Any] = field(default_factory=dict)  # dotted key -> value
    run_dir: str | None = None  # the trial's run directory (metrics.jsonl, samples), when recorded


def trial_record(row: LeaderboardRow) -> TrialRecord:
    """The one function that reads a leaderboard row."""
    name, size = row.config.get("data.name"), row.config.get("data.image_size")
    dataset = None if name is None else (f"{name} at {size} px" if size else str(name))
    return TrialRecord(
        family=row.family or row.config.get("family"),
        status=row.status,
        sweep_metric=row.metric,
        sweep_mode=row.mode,
        dataset=dataset,
        best_metric=row.best_metric,
        best_report=dict(row.metrics),
        final=dict(row.final or {}),
        config=dict(row.config),
        run_dir=row.run_dir,
    )


def metric_direction(metric: str) -> str | None:
    """'min' or 'max' for a metric, or None when it has no better side (eval/density). The one
    lookup of the metric registry: repoint it at gvcore.evaluation's direction(key) when it lands."""
    if metric.startswith("eval/"):
        from ..evaluation.catalog import direction  # the metrics' declarations, no torch

        return direction(metric.removeprefix("eval/"))
    if metric.startswith("loss/"):
        return "min"
    return None


def family_kind(family: str) -> str:
    """'gan' or 'vae' (losses of different kinds don't compare)."""
    from ..families import get_family

    return get_family(family).kind


def _number(value: Any) -> float | None:
    if (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and abs(value) < LARGEST_VALUE
    ):
        return float(value)
    return None


def best_report_value(trial: TrialRecord, metric: str) -> float | None:
    return _number(trial.best_metric if trial.sweep_metric == metric else trial.best_report.get(metric))


def final_value(trial: TrialRecord, metric: str) -> float | None:
    return _number(trial.final.get(metric.removeprefix("eval/"))) if metric.startswith("eval/") else None


def recorded_metrics(trials: list[TrialRecord]) -> list[str]:
    """Every metric some trial has a value of (for error messages)."""
    names = {t.sweep_metric for t in trials if t.sweep_metric}
    names |= {k for t in trials for k, v in t.best_report.items() if _number(v) is not None}
    names |= {f"eval/{k}" for t in trials for k, v in t.final.items() if _number(v) is not None}
    return sorted(names)


# --- sweeps ---------------------------------------------------------------------------------------


@dataclass
class Sweep:
    directory: str
    name: str
    metric: str | None
    mode: str | None
    final: bool
    trials: list[TrialRecord]


def read_sweep(directory: str) -> Sweep:
    doc = leaderboard.read(directory)
    trials = [trial_record(row) for row in doc.rows]
    if not trials:
        raise GVError(
            f"'{directory}' has no trials in its {leaderboard.LEADERBOARD_JSON} yet: "
            "compare it once its first trial reports"
        )
    metric = doc.metric or trials[0].sweep_metric
    mode = doc.mode or trials[0].sweep_mode
    name = doc.sweep or str(directory).rstrip("/").rsplit("/", 1)[-1]
    return Sweep(directory=str(directory), name=name, metric=metric, mode=mode, final=doc.final, trials=trials)


@dataclass
class FamilyValues:
    """One family's sample: finished trials' values, failed trials (the worst outcome), and trials
    left out (still running, or never recorded the metric)."""

    values: list[float] = field(default_factory=list)
    failed: int = 0
    excluded: int = 0
    family: str | None = None  # the model family (with --by the group is one setting of it)


@dataclass
class Pool:
    """The trials of one or more sweeps, ready for the statistics."""

    metric: str
    direction: str
    value_source: str  # FINAL, BEST_REPORT or MIXED
    value_counts: dict[str, int]
    dataset: str | None
    sweeps: list[Sweep]
    families: dict[str, FamilyValues]  # by family, or with `by` by family and setting
    notes: list[str]
    by: list[str] = field(default_factory=list)  # config keys the groups are split by (--by)


def _check_unique(directories: list[str]) -> list[str]:
    seen: dict[str, str] = {}
    out = []
    for directory in directories:
        key = directory.rstrip("/") if storage.is_uri(directory) else str(Path(directory).expanduser().resolve())
        if key in seen:
            raise GVError(f"sweep dir '{directory}' is given twice: pass each sweep directory once")
        seen[key] = directory
        out.append(directory if storage.is_uri(directory) else str(Path(directory).expanduser()))
    return out


def _one_dataset(sweeps: list[Sweep]) -> str | None:
    by_sweep = {s.name: sorted({t.dataset for t in s.trials if t.dataset}) for s in sweeps}
    datasets = sorted({d for names in by_sweep.values() for d in names})
    if len(datasets) > 1:
        listed = ", ".join(f"{name}: {'/'.join(names) or '?'}" for name, names in by_sweep.items())
        raise GVError(f"the sweeps are on different datasets ({listed}): compare sweeps of one dataset")
    return datasets[0] if datasets else None


def _choose_metric(sweeps: list[Sweep], metric: str | None) -> str:
    if metric is None:
        metrics = {s.name: s.metric for s in sweeps}
        if len(set(metrics.values())) > 1:
            listed = ", ".join(f"{name}: {m}" for name, m in metrics.items())
            raise GVError(
                f"the sweeps rank by different metrics ({listed}): pass --metric to compare them on one, "
                "e.g. --metric eval/fid"
            )
        metric = next(iter(metrics.values()))
        if not metric:
            raise GVError(f"'{sweeps[0].directory}' names no metric in its leaderboard: pass --metric, e.g. eval/fid")
        return metric
    for sweep in sweeps:
        has_it = sweep.metric == metric or any(
            best_report_value(t, metric) is not None or final_value(t, metric) is not None for t in sweep.trials
        )
        if not has_it:
            raise GVError(
                f"bad --metric '{metric}': sweep '{sweep.name}' did not record it; "
                f"it recorded {', '.join(recorded_metrics(sweep.trials)) or 'nothing yet'}"
            )
    return metric


def _direction(metric: str, families: list[str], sweeps: list[Sweep], notes: list[str]) -> str:
    direction = metric_direction(metric)
    if direction is None:
        raise GVError(
            f"metric '{metric}' has no better side to compare by: pass --metric with one that has, "
            "e.g. eval/fid, eval/kid or eval/precision"
        )
    if metric.startswith("loss/"):
        kinds: dict[str, list[str]] = {}
        for family in families:
            kinds.setdefault(family_kind(family), []).append(family)
        if len(kinds) > 1:
            listed = " and ".join(f"{kind.upper()}s ({', '.join(names)})" for kind, names in sorted(kinds.items()))
            raise GVError(
                f"metric '{metric}' is a loss and losses don't compare {listed}: pass --metric with an "
                "eval/ metric such as eval/fid, or compare families of one kind"
            )
    for sweep in sweeps:
        if sweep.metric == metric and sweep.mode and sweep.mode != direction:
            notes.append(
                f"sweep {sweep.name} ranked {metric} with mode {sweep.mode}, but "
                f"{'lower' if direction == 'min' else 'higher'} is better: compared as {direction}"
            )
    return direction


def _value_source(finished: list[TrialRecord], metric: str) -> str:
    if all(final_value(t, metric) is not None for t in finished):
        return FINAL
    if all(best_report_value(t, metric) is not None for t in finished):
        return BEST_REPORT
    return MIXED


def _value(trial: TrialRecord, metric: str, source: str) -> tuple[float | None, str]:
    final = final_value(trial, metric) if source != BEST_REPORT else None
    if final is not None:
        return final, FINAL
    return best_report_value(trial, metric), BEST_REPORT


def setting_text(key: str, value: Any) -> str:
    """``optim.lr``, 0.0005 -> ``lr=0.0005``: how a setting is named in tables and groups. Floats
    print as their shortest round-trip text (repr), so two different values never share a name;
    a row that doesn't record the key ran with the family's default."""
    return (
        f"{key.rsplit('.', 1)[-1]}={'default' if value is None else repr(value) if isinstance(value, float) else value}"
    )


def group_of(trial: TrialRecord, by: list[str]) -> str:
    """The group a trial is pooled into: its family, and with ``by`` the values of those config
    keys too (``vae lr=0.0005 dropout=0``), so trials that differ only by seed pool together."""
    if not by:
        return trial.family  # type: ignore[return-value]
    return " ".join([trial.family or "?"] + [setting_text(key, trial.config.get(key)) for key in by])


def _check_by(by: list[str], trials: list[TrialRecord]) -> None:
    from ..config import valid_keys

    keys = valid_keys()
    for key in by:
        if key not in keys:
            raise GVError(
                f"bad --by '{key}': not a config key; use dotted keys such as optim.lr or model.dropout "
                "(see `gv config`)"
            )
        if not any(key in t.config for t in trials):
            raise GVError(f"bad --by '{key}': the sweeps' leaderboards record no value of it")


def load_pool(directories: list[str], metric: str | None = None, by: list[str] | None = None) -> Pool:
    """Read and check the sweeps (one dataset, one metric the sweeps recorded, a direction, no loss
    across GANs and VAEs) and gather every family's values -- or, with ``by`` (config keys), every
    setting's within each family, seeds pooled. Raises GVError on bad input."""
    sweeps = [read_sweep(d) for d in _check_unique(directories)]
    dataset = _one_dataset(sweeps)
    metric = _choose_metric(sweeps, metric)
    trials = [t for s in sweeps for t in s.trials if t.family]
    by = list(by or [])
    _check_by(by, trials)
    notes: list[str] = []
    direction = _direction(metric, sorted({t.family for t in trials}), sweeps, notes)

    finished = [
        t
        for t in trials
        if t.status not in FAILED_STATUSES + UNFINISHED_STATUSES
        and (final_value(t, metric) is not None or best_report_value(t, metric) is not None)
    ]
    source = _value_source(finished, metric)
    if source == BEST_REPORT and any(final_value(t, metric) is not None for t in finished):
        notes.append(
            f"the final evaluation is missing for {sum(final_value(t, metric) is None for t in finished)} "
            "trials: every trial is compared by its best report, so the values compare"
        )

    families: dict[str, FamilyValues] = {}
    counts = {FINAL: 0, BEST_REPORT: 0}
    unfinished = missing = 0
    for trial in trials:
        entry = families.setdefault(group_of(trial, by), FamilyValues(family=trial.family))
        if trial.status in FAILED_STATUSES:
            entry.failed += 1
            continue
        if trial.status in UNFINISHED_STATUSES:
            entry.excluded += 1
            unfinished += 1
            continue
        value, where = _value(trial, metric, source)
        if value is None:
            entry.excluded += 1
            missing += 1
            continue
        entry.values.append(value)
        counts[where] += 1
    if unfinished:
        notes.append(f"{unfinished} trials still running or pending are left out: compare again when the sweep ends")
    if missing:
        notes.append(f"{missing} finished trials never recorded {metric} and are left out")
    empty = sorted(f for f, v in families.items() if not v.values and not v.failed)
    for family in empty:
        del families[family]
    if empty:
        notes.append(f"no trial of {', '.join(empty)} has a value of {metric}: not compared")
    if not families:
        raise GVError(
            f"no finished or failed trial with a value of {metric} in {', '.join(s.name for s in sweeps)} "
            "yet: compare again once trials finish"
        )
    return Pool(
        metric=metric,
        direction=direction,
        value_source=source,
        value_counts=counts,
        dataset=dataset,
        sweeps=sweeps,
        families=families,
        notes=notes,
        by=by,
    )
