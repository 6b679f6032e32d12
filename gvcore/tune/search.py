"""Tune's side of a sweep's search: distributions as Tune domains, and the scheduler a sweep asks for.

The sweep file's distributions are defined once, in ``gvcore.sweep.Dimension``; this module only
asks each dimension for its Tune spelling (``Dimension.tune_spec``), so the two can't drift apart.

ClampToBounds is pickled by reference into every sweep's tuner.pkl (inside the PBT scheduler):
moving or renaming it breaks ``--resume`` of sweeps saved before.
"""

from __future__ import annotations

from typing import Any

from ray import tune
from ray.tune.schedulers import ASHAScheduler, PopulationBasedTraining

from ..sweep import Dimension, SweepSpec


def domain(dimension: Dimension):
    """A searched key's distribution as a Tune search-space domain (tune.choice, tune.uniform, ...)."""
    name, arguments = dimension.tune_spec()
    return getattr(tune, name)(*arguments)


class ClampToBounds:
    """PBT perturbs by x0.8 / x1.2, which can leave a key's declared range (beta1 past 1); pull
    every mutated value back inside it. A class, not a closure, so Tune can pickle it."""

    def __init__(self, bounds: dict[str, tuple[float, float]]):
        self.bounds = bounds

    def __call__(self, config: dict[str, Any]) -> dict[str, Any]:
        values = config["trial"]
        for key, (low, high) in self.bounds.items():
            if key in values:
                values[key] = min(max(values[key], low), high)
        return config


def build_scheduler(spec: SweepSpec):
    """The Tune scheduler a sweep asks for (None = FIFO), counting time in the budget's unit."""
    s = spec.scheduler
    if s.type == "asha":
        return ASHAScheduler(
            time_attr=spec.time_attr,
            # Ray declares ints; in a FLOP budget both are whole FLOP counts, so nothing is lost.
            max_t=int(spec.budget),
            grace_period=int(s.grace_period),
            reduction_factor=s.reduction_factor,
        )
    if s.type == "pbt":
        bounds = {k: b for k, d in s.mutations.items() if (b := d.bounds()) is not None}
        return PopulationBasedTraining(
            time_attr=spec.time_attr,
            perturbation_interval=s.perturbation_interval,
            hyperparam_mutations={"trial": {k: domain(d) for k, d in s.mutations.items()}},
            quantile_fraction=s.quantile_fraction,
            resample_probability=s.resample_probability,
            custom_explore_fn=ClampToBounds(bounds),
        )
    return None
