"""Pooling sweeps for `gv compare` and `gv report`: read and check the sweeps once, then one sample
of metric values per family (or, with ``by``, per setting of a family, seeds pooled).

Before any statistics the sweeps are checked as a whole (:func:`read_sweeps`): each directory once,
one dataset, no trial seen twice (a sweep beside a copy of itself), and one training budget unless
mixed budgets are allowed (then every output says so). Then the metric: one every sweep recorded,
with a better side, and no loss across GANs and VAEs.

A trial's value is gvcore/sweep/values.py's rule (the final evaluation of its best checkpoint when
the pool's finished trials have one, else their best reports); failed trials are the worst outcome.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import BUDGET_KINDS, DEFAULT_EPOCHS
from ..errors import GVError
from ..evaluation.catalog import metric_direction
from ..sweep import leaderboard, storage
from ..sweep.leaderboard import LeaderboardRow
from ..sweep.values import (
    BEST_REPORT,
    FAILED_STATUSES,
    FINAL,
    UNFINISHED_STATUSES,
    best_report_value,
    final_value,
    is_finished,
    recorded_metrics,
    trial_value,
    value_source,
)


def family_kind(family: str) -> str:
    """'gan' or 'vae' (losses of different kinds don't compare)."""
    from ..families import get_family

    return get_family(family).kind


def dataset_of(row: LeaderboardRow) -> str | None:
    """The dataset a trial trained on, with its image size when set ('mnist-5k', 'imagenette at 64 px')."""
    name, size = row.config.get("data.name"), row.config.get("data.image_size")
    return None if name is None else (f"{name} at {size} px" if size else str(name))


def budget_of(row: LeaderboardRow) -> str:
    """The budget a trial was given, in words ('flops 3.5e+12'); a row naming none had the default epochs."""
    for kind in BUDGET_KINDS:
        amount = row.config.get(f"train.{kind}")
        if amount is not None:
            return f"{kind} {amount:g}" if isinstance(amount, (int, float)) else f"{kind} {amount}"
    return f"epochs {DEFAULT_EPOCHS}"


# --- sweeps ---------------------------------------------------------------------------------------


@dataclass
class Sweep:
    directory: str
    name: str
    metric: str | None
    mode: str | None
    final: bool
    trials: list[LeaderboardRow]


def read_sweep(directory: str) -> Sweep:
    doc = leaderboard.read(directory)
    if not doc.rows:
        raise GVError(
            f"'{directory}' has no trials in its {leaderboard.LEADERBOARD_JSON} yet: "
            "compare it once its first trial reports"
        )
    metric = doc.metric or doc.rows[0].metric
    mode = doc.mode or doc.rows[0].mode
    name = doc.sweep or str(directory).rstrip("/").rsplit("/", 1)[-1]
    return Sweep(directory=str(directory), name=name, metric=metric, mode=mode, final=doc.final, trials=doc.rows)


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
    by_sweep = {s.directory: sorted({d for t in s.trials if (d := dataset_of(t))}) for s in sweeps}
    datasets = sorted({d for names in by_sweep.values() for d in names})
    if len(datasets) > 1:
        listed = ", ".join(f"{name}: {'/'.join(names) or '?'}" for name, names in by_sweep.items())
        raise GVError(f"the sweeps are on different datasets ({listed}): compare or report sweeps of one dataset")
    return datasets[0] if datasets else None


def _no_trial_twice(sweeps: list[Sweep]) -> None:
    """A trial id in two sweeps is one trial counted twice: a sweep folder beside its copy."""
    where: dict[str, str] = {}
    for sweep in sweeps:
        for row in sweep.trials:
            if row.trial_id in where and where[row.trial_id] != sweep.directory:
                raise GVError(
                    f"trial {row.trial_id} is in both '{where[row.trial_id]}' and '{sweep.directory}': one is a copy "
                    "of the other; pass each sweep once"
                )
            where[row.trial_id] = sweep.directory


def _budgets(sweeps: list[Sweep], allow_mixed: bool) -> list[str]:
    """The budgets the trials were given; more than one is refused unless ``allow_mixed``."""
    by_sweep: dict[str, set[str]] = {}
    for sweep in sweeps:
        by_sweep[sweep.directory] = {budget_of(row) for row in sweep.trials}
    budgets = sorted({b for found in by_sweep.values() for b in found})
    if len(budgets) > 1 and not allow_mixed:
        listed = "; ".join(f"{d}: {', '.join(sorted(b))}" for d, b in by_sweep.items())
        raise GVError(
            f"the trials were given different budgets ({listed}): families compare only at one budget; pass "
            "--allow-mixed-budgets to pool them anyway (the verdict then says so)"
        )
    return budgets


def read_sweeps(directories: list[str], allow_mixed_budgets: bool = False) -> tuple[list[Sweep], list[str]]:
    """The sweeps, read once and checked as a whole (see the module docstring); with the budgets found."""
    if not directories:
        raise GVError("no sweep directory given: pass one or more sweep directories (STORAGE/NAME)")
    sweeps = [read_sweep(d) for d in _check_unique(directories)]
    _one_dataset(sweeps)
    _no_trial_twice(sweeps)
    return sweeps, _budgets(sweeps, allow_mixed_budgets)


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
    budgets: list[str] = field(default_factory=list)  # the trials' budgets: more than one only when allowed


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


def ranking_metric(sweeps: list[Sweep]) -> str:
    """The metric the sweeps ranked and kept their checkpoints by, when they agree; else the overall
    axis's, as they recorded it (what `gv report` picks each family's best checkpoint by)."""
    try:
        return _choose_metric(sweeps, None)
    except GVError:
        return axis_metric(sweeps, "overall")


def axis_metric(sweeps: list[Sweep], axis: str) -> str:
    """The metric an axis (gvcore/evaluation/axes.py) is judged on here: the first of its metrics
    every sweep recorded."""
    from ..evaluation.axes import get_axis

    found = get_axis(axis)
    for metric in found.metrics:
        try:
            return _choose_metric(sweeps, metric)
        except GVError:
            continue
    recorded = sorted({m for s in sweeps for m in recorded_metrics(s.trials)})
    raise GVError(
        f"axis '{axis}' needs one of {', '.join(found.metrics)}, and the sweeps did not record it (they recorded "
        f"{', '.join(recorded) or 'nothing yet'}): run them with a gv that scores it, or pick another --axis"
    )


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


def setting_text(key: str, value: Any) -> str:
    """``optim.lr``, 0.0005 -> ``lr=0.0005``: how a setting is named in tables and groups. Floats
    print as their shortest round-trip text (repr), so two different values never share a name;
    a row that doesn't record the key ran with the family's default."""
    return (
        f"{key.rsplit('.', 1)[-1]}={'default' if value is None else repr(value) if isinstance(value, float) else value}"
    )


def group_of(trial: LeaderboardRow, by: list[str]) -> str:
    """The group a trial is pooled into: its family, and with ``by`` the values of those config
    keys too (``vae lr=0.0005 dropout=0``), so trials that differ only by seed pool together."""
    if not by:
        return trial.family  # type: ignore[return-value]
    return " ".join([trial.family or "?"] + [setting_text(key, trial.config.get(key)) for key in by])


def _check_by(by: list[str], trials: list[LeaderboardRow]) -> None:
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


def load_pool(
    sweeps: list[str] | list[Sweep],
    metric: str | None = None,
    by: list[str] | None = None,
    allow_mixed_budgets: bool = False,
    axis: str | None = None,
) -> Pool:
    """Every family's values of one metric -- or, with ``by`` (config keys), every setting's within
    each family, seeds pooled -- from sweep directories (read and checked here) or sweeps already
    read by :func:`read_sweeps` (the report judges every axis from one reading). Raises GVError on
    bad input."""
    if sweeps and all(isinstance(s, Sweep) for s in sweeps):
        read: list[Sweep] = list(sweeps)  # type: ignore[arg-type]
        budgets = _budgets(read, allow_mixed=True)
    else:
        read, budgets = read_sweeps([str(s) for s in sweeps], allow_mixed_budgets)
    dataset = _one_dataset(read)
    if axis is not None and metric is not None:
        raise GVError(f"--axis {axis} and --metric {metric} both given: an axis names its metric; give one")
    metric = axis_metric(read, axis) if axis is not None else _choose_metric(read, metric)
    trials = [t for s in read for t in s.trials if t.family]
    by = list(by or [])
    _check_by(by, trials)
    notes: list[str] = []
    direction = _direction(metric, sorted({t.family for t in trials if t.family}), read, notes)
    if len(budgets) > 1:
        notes.append(
            f"trials at different budgets are pooled ({'; '.join(budgets)}): families did not get equal compute"
        )

    source = value_source(trials, metric)
    finished = [t for t in trials if is_finished(t)]
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
        value, where = trial_value(trial, metric, source)
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
            f"no finished or failed trial with a value of {metric} in {', '.join(s.name for s in read)} "
            "yet: compare again once trials finish"
        )
    return Pool(
        metric=metric,
        direction=direction,
        value_source=source,
        value_counts=counts,
        dataset=dataset,
        sweeps=read,
        families=families,
        notes=notes,
        by=by,
        budgets=budgets,
    )
