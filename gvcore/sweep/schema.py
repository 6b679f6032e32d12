"""Sweep files: the schema and its checks. Everything is checked here, before Ray starts: a bad
file is a :class:`GVError` naming the file, the key and the problem (one line, exit 2).

``parse_sweep`` is the one validator: command-line overrides (``gvcore.sweep.overrides``) edit the
document and come back through it, so every rule is written once.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from ..config import BUDGET_KINDS, DEFAULT_EPOCHS
from ..errors import GVError
from .fields import (
    check_key,
    fail,
    fixed_keys,
    is_int,
    is_number,
    mapping,
    parse_dimension,
    positive_int,
    positive_number,
    string,
)
from .spec import (
    DEFAULT_FINAL_EVAL_SAMPLES,
    DEFAULT_MAX_TRIALS,
    DEFAULT_METRIC,
    DEFAULT_MODE,
    SCHEDULERS,
    Dimension,
    SchedulerSpec,
    SweepSpec,
)

# PBT copies a better trial's weights into a worse one and perturbs these; keys that change the
# networks' shapes (latent size, architecture, widths) can't be carried across a copy.
PBT_MUTABLE = (
    "optim.lr",
    "optim.lr_discriminator",
    "optim.beta1",
    "optim.beta2",
    "optim.weight_decay",
    "model.kl_weight",
    "model.dropout",
    "model.leaky_slope",
    "train.label_smoothing",
    "train.r1_gamma",
)

TOP_LEVEL_KEYS = (
    "name",
    "description",
    "dataset",
    "families",
    "base",
    "per_family",
    "search",
    "repeats",
    "seeds",
    "num_samples",
    "budget",
    "eval_every",
    "metric",
    "mode",
    "scheduler",
    "resources",
    "max_concurrent",
    "search_seed",
    "final_eval_samples",
    "max_trials",
    # `gv study`'s race settings (gvcore/study/settings.py reads them; `gv sweep` runs the fixed design)
    "study",
)


# `families: all`: every family the dataset allows (without labels: no cgan, cvae).
ALL_FAMILIES = "all"


def _families(source: str, raw: Any, dataset: str, labelled: bool) -> tuple[list[str], bool]:
    """The families to run, and whether the file said `all` (kept as `all` when the spec is
    written back, so another --dataset gets the families it allows)."""
    from ..families import FAMILIES  # torch: imported when a sweep is read, not at `gv --help`

    if raw == ALL_FAMILIES:
        return [name for name, spec in FAMILIES.items() if labelled or not spec.conditional], True
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list) or not raw:
        raise fail(source, "families", f"expected a list of families from {', '.join(FAMILIES)}, or {ALL_FAMILIES!r}")
    for name in raw:
        if name not in FAMILIES:
            raise fail(source, "families", f"unknown family {name!r}: choose from {', '.join(FAMILIES)}")
        if FAMILIES[name].conditional and not labelled:
            raise fail(
                source,
                "families",
                f"{name} needs labelled images, and {dataset} has no classes (its images lie directly in the "
                f"folder): put each class's images in a sub-folder named after it, drop {name}, or say "
                f"families: {ALL_FAMILIES} (every family the data allows)",
            )
    if len(set(raw)) != len(raw):
        raise fail(source, "families", f"{raw} lists a family twice")
    return list(raw), False


def _budget(source: str, raw: Any) -> tuple[str, int | float]:
    raw = mapping(source, "budget", raw)
    if len(raw) != 1 or next(iter(raw)) not in BUDGET_KINDS:
        kinds = ", ".join(f"{{{kind}: N}}" for kind in BUDGET_KINDS)
        raise fail(source, "budget", f"expected exactly one of {kinds}, got {raw!r}")
    unit, value = next(iter(raw.items()))
    if unit in ("flops", "seconds"):
        if is_number(value) and not math.isfinite(value):
            raise fail(source, f"budget.{unit}", f"expected a finite number > 0, got {value!r}")
        return unit, positive_number(source, f"budget.{unit}", value)
    return unit, positive_int(source, f"budget.{unit}", value)


def _seeds(source: str, doc: dict[str, Any]) -> list[int]:
    if "seeds" in doc and "repeats" in doc:
        raise fail(source, "seeds", "give repeats (seeds 0..N-1) or seeds (a list), not both")
    if "seeds" in doc:
        seeds = doc["seeds"]
        if not isinstance(seeds, list) or not seeds or not all(is_int(s) and s >= 0 for s in seeds):
            raise fail(source, "seeds", f"expected a list of integers >= 0, got {seeds!r}")
        if len(set(seeds)) != len(seeds):
            raise fail(source, "seeds", f"{seeds} repeats a seed")
        return list(seeds)
    return list(range(positive_int(source, "repeats", doc.get("repeats", 1))))


def _scheduler(source: str, raw: Any, budget: int | float, unit: str) -> SchedulerSpec:
    if raw is None or isinstance(raw, str):
        raw = {"type": raw or "fifo"}
    raw = dict(mapping(source, "scheduler", raw))
    kind = raw.pop("type", "fifo")
    if kind not in SCHEDULERS:
        raise fail(source, "scheduler.type", f"unknown scheduler {kind!r}: use one of {', '.join(SCHEDULERS)}")
    allowed = SchedulerSpec.OPTIONS[kind]
    for key in raw:
        if key not in allowed:
            extra = f"{kind} takes {', '.join(allowed)}" if allowed else "fifo takes no options"
            raise fail(source, f"scheduler.{key}", f"unknown option: {extra}")
    spec = SchedulerSpec(type=kind)
    if kind != "fifo" and unit == "seconds":
        raise fail(
            source,
            "scheduler.type",
            f"{kind} can't count in seconds: wall-clock rungs depend on how many "
            "trials share the machine; use budget {flops: N} (equal compute) or fifo",
        )
    if kind == "asha":
        spec.grace_period = positive_number(source, "scheduler.grace_period", raw.get("grace_period", 1))
        spec.reduction_factor = positive_number(source, "scheduler.reduction_factor", raw.get("reduction_factor", 3))
        if spec.grace_period > budget:
            raise fail(
                source,
                "scheduler.grace_period",
                f"{spec.grace_period:g} {unit} is past the budget of {budget:g} {unit}",
            )
        if spec.reduction_factor <= 1:
            raise fail(source, "scheduler.reduction_factor", f"must be > 1, got {spec.reduction_factor:g}")
    if kind == "pbt":
        spec.perturbation_interval = positive_number(
            source, "scheduler.perturbation_interval", raw.get("perturbation_interval", max(1, budget // 4))
        )
        if spec.perturbation_interval >= budget:
            raise fail(
                source,
                "scheduler.perturbation_interval",
                f"{spec.perturbation_interval:g} {unit} leaves no room to perturb within the budget of {budget:g} {unit}",
            )
        for key in ("quantile_fraction", "resample_probability"):
            value = raw.get(key, getattr(spec, key))
            if not is_number(value) or not 0 <= value <= (0.5 if key == "quantile_fraction" else 1):
                limit = "0.5" if key == "quantile_fraction" else "1"
                raise fail(source, f"scheduler.{key}", f"expected a number in [0, {limit}], got {value!r}")
            setattr(spec, key, float(value))
        mutations = mapping(source, "scheduler.mutations", raw.get("mutations"))
        if not mutations:
            raise fail(
                source,
                "scheduler.mutations",
                "pbt needs at least one key to mutate, e.g. optim.lr: {loguniform: [1e-4, 1e-2]}",
            )
        for key, dim_raw in mutations.items():
            check_key(source, "scheduler.mutations", key)
            if key not in PBT_MUTABLE:
                raise fail(
                    source,
                    f"scheduler.mutations.{key}",
                    f"PBT can only mutate keys that keep the network shapes: {', '.join(PBT_MUTABLE)}",
                )
            dim = parse_dimension(key, dim_raw, "scheduler.mutations", source)
            if dim.kind == "grid":
                raise fail(source, f"scheduler.mutations.{key}", "grid is not a PBT mutation: use choice")
            spec.mutations[key] = dim
    return spec


def _resources(source: str, raw: Any) -> tuple[float, float]:
    raw = mapping(source, "resources", raw if raw is not None else {})
    for key in raw:
        if key not in ("cpu", "gpu"):
            raise fail(source, f"resources.{key}", "unknown resource: use cpu and gpu")
    cpu = positive_number(source, "resources.cpu", raw.get("cpu", 1))
    gpu = positive_number(source, "resources.gpu", raw.get("gpu", 0), allow_zero=True)
    return cpu, gpu


def check_metric(
    source: str,
    metric: str,
    families: list[str],
    base: dict[str, Any],
    per_family: dict[str, dict[str, Any]] | None = None,
    labelled: bool = True,
) -> None:
    """Every trial must report the metric at every eval, or Tune stops the sweep (``labelled``
    False: the dataset has no labels, so no metric of classes)."""
    from ..families import get_family

    if metric.startswith("eval/"):
        from ..evaluation.catalog import CATALOG, metric_of, resolve_metrics

        name = metric_of(metric[len("eval/") :])
        if name is None:
            raise fail(
                source,
                "metric",
                f"{metric!r} is not reported by any evaluation metric (registered: "
                f"{', '.join(CATALOG) or 'none'}); or rank by {DEFAULT_METRIC}",
            )
        for family in families:
            spec = get_family(family)
            try:  # e.g. eval/label_acc needs a conditional family, eval/nelbo a VAE
                resolve_metrics(
                    name, has_labels=spec.conditional, is_vae=spec.kind == "vae", where="metric", labelled=labelled
                )
            except GVError as exc:
                raise fail(source, "metric", f"{metric!r} can't rank family {family}: {exc}") from None
            # A bad eval.metrics would only fail inside the trials: name the file now. (The ranking
            # metric itself is added to every trial's eval.metrics by expand_trials.)
            wanted = (per_family or {}).get(family, {}).get("eval.metrics", base.get("eval.metrics", "auto"))
            try:
                resolve_metrics(
                    wanted,
                    has_labels=spec.conditional,
                    is_vae=spec.kind == "vae",
                    where="eval.metrics",
                    labelled=labelled,
                )
            except GVError as exc:
                raise fail(source, "eval.metrics", f"for {family}: {exc}") from None
        return
    if metric == "loss/objective":
        return
    for family in families:
        reported = get_family(family).reported_losses
        if metric not in reported:
            raise fail(
                source,
                "metric",
                f"family {family} does not report {metric!r}; it reports "
                f"{', '.join(('loss/objective',) + reported)} (or an eval/ metric)",
            )


def _final_eval_samples(source: str, value: Any) -> int:
    n = positive_int(source, "final_eval_samples", value, allow_zero=True)
    if 0 < n < 100:
        raise fail(source, "final_eval_samples", f"{n} samples are too few to score: use 0 (off) or at least 100")
    return n


def parse_sweep(doc: Any, source: str) -> SweepSpec:
    """A validated SweepSpec from a loaded YAML document."""
    from .. import data as datamod

    doc = mapping(source, "(top level)", doc)
    for key in doc:
        if key not in TOP_LEVEL_KEYS:
            raise fail(source, str(key), f"unknown key: a sweep file takes {', '.join(TOP_LEVEL_KEYS)}")
    name = string(source, "name", doc.get("name", Path(source).stem))
    description = str(doc.get("description", "") or "").strip()
    base = fixed_keys(source, "base", doc.get("base"))
    try:
        # A folder is stored as an absolute path (relative ones are relative to where gv runs):
        # trials in other processes and on other nodes read the same folder.
        dataset = datamod.resolve_name(string(source, "dataset", doc.get("dataset")))
        labelled = datamod.get_spec(dataset, base.get("data.max_pixels", 0)).num_classes > 0
    except GVError as exc:
        raise fail(source, "dataset", str(exc)) from None
    families, all_families = _families(source, doc.get("families"), dataset, labelled)

    per_family: dict[str, dict[str, Any]] = {}
    for family, raw in mapping(source, "per_family", doc.get("per_family") or {}).items():
        if family not in families:
            raise fail(source, f"per_family.{family}", f"is not one of this sweep's families ({', '.join(families)})")
        per_family[family] = fixed_keys(source, f"per_family.{family}", raw)

    search: dict[str, Dimension] = {}
    if "search" in doc:
        raw_search = doc["search"]
        if not raw_search:
            raise fail(
                source,
                "search",
                "the search space is empty: add a key such as optim.lr: {loguniform: [1e-4, 1e-2]}, or remove 'search'",
            )
        for key, raw in mapping(source, "search", raw_search).items():
            check_key(source, "search", key)
            fixed_in = ["base"] * (key in base) + [f"per_family.{f}" for f, keys in per_family.items() if key in keys]
            if fixed_in:
                raise fail(source, f"search.{key}", f"is also set in {fixed_in[0]}: keep one")
            search[key] = parse_dimension(key, raw, "search", source)

    unit, budget = _budget(source, doc.get("budget", {"epochs": DEFAULT_EPOCHS}))
    eval_every = positive_int(source, "eval_every", doc.get("eval_every", 0), allow_zero=True)
    metric = string(source, "metric", doc.get("metric", DEFAULT_METRIC))
    mode = doc.get("mode", DEFAULT_MODE)
    if mode not in ("min", "max"):
        raise fail(source, "mode", f"expected min or max, got {mode!r}")
    check_metric(source, metric, families, base, per_family, labelled=labelled)
    scheduler = _scheduler(source, doc.get("scheduler"), budget, unit)
    for key in scheduler.mutations:
        if key in search and search[key].kind == "grid":
            raise fail(source, f"scheduler.mutations.{key}", "is a grid key in search: PBT would undo the grid")
    cpu, gpu = _resources(source, doc.get("resources"))
    max_concurrent = doc.get("max_concurrent")
    if max_concurrent is not None:
        max_concurrent = positive_int(source, "max_concurrent", max_concurrent)
    seeds = _seeds(source, doc)
    num_samples = positive_int(source, "num_samples", doc.get("num_samples", 1))
    max_trials = positive_int(source, "max_trials", doc.get("max_trials", DEFAULT_MAX_TRIALS))
    spec = SweepSpec(
        name=name,
        description=description,
        source=source,
        dataset=dataset,
        families=families,
        base=base,
        per_family=per_family,
        search=search,
        seeds=seeds,
        num_samples=num_samples,
        budget_unit=unit,
        budget=budget,
        eval_every=eval_every,
        metric=metric,
        mode=mode,
        scheduler=scheduler,
        cpu=cpu,
        gpu=gpu,
        max_concurrent=max_concurrent,
        search_seed=positive_int(source, "search_seed", doc.get("search_seed", 0), allow_zero=True),
        final_eval_samples=_final_eval_samples(source, doc.get("final_eval_samples", DEFAULT_FINAL_EVAL_SAMPLES)),
        max_trials=max_trials,
        all_families=all_families,
    )
    # Counted, not expanded: a sweep of a billion trials is refused at once.
    if spec.num_trials() > max_trials:
        factors = " x ".join(
            f"{n:,} {what}"
            for n, what in (
                (spec.num_samples, "num_samples"),
                (len(spec.families), "families"),
                (spec.grid_points(), "grid points"),
                (len(spec.seeds), "seeds"),
            )
        )
        raise fail(
            source,
            "num_samples",
            f"{factors} = {spec.num_trials():,} trials, over the limit of "
            f"{max_trials:,}: lower num_samples / repeats / the grid, or raise "
            "max_trials in the sweep file (--max-trials on the command line)",
        )
    from .expand import expand_trials

    expand_trials(spec)  # every trial's config must resolve (e.g. beta1 < 1), before Ray starts
    return spec


def spec_from_saved(data: dict[str, Any]) -> SweepSpec:
    """Rebuild a spec saved with ``SweepSpec.to_dict`` (sweep.json), for --resume. The distributions
    go through the sweep file's own checks: a damaged sweep.json is an error, not a strange sweep."""
    data = dict(data)
    data["search"] = {k: parse_dimension(k, v, "search", data["source"]) for k, v in data["search"].items()}
    scheduler = dict(data["scheduler"])
    scheduler["mutations"] = {
        k: parse_dimension(k, v, "scheduler.mutations", data["source"]) for k, v in scheduler["mutations"].items()
    }
    data["scheduler"] = SchedulerSpec(**scheduler)
    return SweepSpec(**data)
