"""Expanding a sweep into its trials' flat configs (dotted key -> value), and naming them.

Trials are expanded by gv itself rather than by Ray's variant generator so that every family and
every seed sees the *same* random draws: draw ``i`` of ``optim.lr`` is the same number for DCGAN
and VAE, and for seed 0 and seed 1. That is what "equal search effort" and "repeats over seeds"
mean; Ray then runs an explicit grid of these trial configs.
"""

from __future__ import annotations

import itertools
import random
from typing import Any

from ..config import Config, get_value, set_value
from ..errors import GVError
from .spec import SweepSpec


def expand_trials(spec: SweepSpec) -> list[dict[str, Any]]:
    """Every trial's flat config (dotted key -> value), in the order Ray will start them.

    Sample-major: draw i of the random keys is shared by every family, grid point and seed. Each
    config is resolved once here so that a bad combination is reported before anything runs.
    """
    grid_dims = [d for d in spec.search.values() if d.kind == "grid"]
    trials: list[dict[str, Any]] = []
    for drawn in random_draws(spec, spec.num_samples):
        for family in spec.families:
            for combo in itertools.product(*(d.values for d in grid_dims)):
                for seed in spec.seeds:
                    values = {**drawn, **{d.key: v for d, v in zip(grid_dims, combo)}}
                    trials.append(trial_flat(spec, family, values, seed, f"trial {len(trials)}"))
    return trials


def random_draws(spec: SweepSpec, count: int) -> list[dict[str, Any]]:
    """The first ``count`` draws of the random (non-grid) keys, from ``spec.search_seed``: draw i is
    the same numbers whoever asks (a sweep's sample i, a study's trial i)."""
    rng = random.Random(spec.search_seed)
    random_dims = [d for d in spec.search.values() if d.kind != "grid"]
    return [{d.key: d.sample(rng) for d in random_dims} for _ in range(count)]


def trial_flat(spec: SweepSpec, family: str, values: dict[str, Any], seed: int, label: str) -> dict[str, Any]:
    """One trial's flat config: the file's fixed keys, then ``values`` (searched keys), the seed,
    the budget and the eval interval; resolved once, so a bad combination names ``label``."""
    from ..families import resolve_config

    flat: dict[str, Any] = {"family": family, "data.name": spec.dataset}
    flat.update(spec.base)
    flat.update(spec.per_family.get(family, {}))
    flat.update(values)
    flat["train.seed"] = seed
    flat[f"train.{spec.budget_unit}"] = spec.budget
    flat["train.eval_every"] = spec.eval_every
    flat = with_metric(flat, spec.metric)
    try:
        resolved = resolve_config(trial_config(flat))
    except GVError as exc:
        raise GVError(f"{spec.source}: {label} ({family}): {exc}") from None
    # PBT perturbs values it finds in the trial's config: give it the concrete ones.
    for key in spec.scheduler.mutations:
        flat.setdefault(key, get_value(resolved, key))
    return flat


def with_metric(flat: dict[str, Any], metric: str) -> dict[str, Any]:
    """An eval/ metric must be computed at every eval: add its metric to the trial's eval.metrics."""
    from ..families import get_family

    if not metric.startswith("eval/"):
        return flat
    from ..evaluation.catalog import metric_of, resolve_metrics

    name = metric_of(metric[len("eval/") :])
    spec = get_family(flat["family"])
    asked = flat.get("eval.metrics", Config().eval.metrics)
    if name not in resolve_metrics(asked, has_labels=spec.conditional, is_vae=spec.kind == "vae", where="eval.metrics"):
        flat = dict(flat, **{"eval.metrics": ",".join(p for p in (asked, name) if p)})
    return flat


def trial_config(flat: dict[str, Any]) -> Config:
    """A Config from a trial's flat dotted dict (values already validated)."""
    cfg = Config()
    for key, value in flat.items():
        set_value(cfg, key, value)
    return cfg


def searched_keys(spec: SweepSpec) -> list[str]:
    """The keys that differ between trials: what a leaderboard shows besides the family."""
    keys = list(spec.search)
    if len(spec.seeds) > 1:
        keys.append("train.seed")
    return keys


def trial_dirname(family: str, trial_id: str) -> str:
    """A trial's directory under the sweep directory (Ray's and gv's files for that trial)."""
    return f"{family}_{trial_id}"
