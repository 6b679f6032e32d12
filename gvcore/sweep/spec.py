"""What a validated sweep is: :class:`SweepSpec`, its searched :class:`Dimension` s and its scheduler.

Also the one table of search distributions (:data:`DISTRIBUTIONS`): how gv draws a value itself
(``expand_trials``) and which Ray Tune search-space call means the same thing (PBT mutations in
``gvcore/tune``). Both sides read this table, so a distribution is described in one place.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from ..evaluation.axes import AXES

# What a sweep ranks, early-stops (ASHA) and keeps checkpoints by when its file names no metric:
# the overall axis's metric (a sample-quality metric, the only kind that compares GANs with VAEs: IJzer
# report), the one that agrees best with independent judges on trained models (docs/studies/realism.md).
DEFAULT_METRIC = AXES["overall"].metrics[0]
DEFAULT_MODE = "min"
# Samples for the full evaluation (every metric) of each trial's best checkpoint at the end.
DEFAULT_FINAL_EVAL_SAMPLES = 10_000
# The most trials one sweep may expand to unless its file (max_trials) or --max-trials says more:
# a typo such as num_samples: 1000000000 must be refused at once, not expanded for minutes.
DEFAULT_MAX_TRIALS = 10_000

SCHEDULERS = ("fifo", "asha", "pbt")


@dataclass(frozen=True)
class Distribution:
    """One kind of searched key: how gv draws from it and its Ray Tune equivalent."""

    takes: str  # "values" (a list of candidates) or "range" ([low, high])
    # Draws one value (None: a grid is expanded, never drawn).
    draw: Callable[[random.Random, list[Any]], Any] | None
    tune_name: str  # the ray.tune function with the same meaning (high excluded for randint, as here)


DISTRIBUTIONS: dict[str, Distribution] = {
    "choice": Distribution("values", lambda rng, values: rng.choice(values), "choice"),
    "grid": Distribution("values", None, "choice"),
    "uniform": Distribution("range", lambda rng, v: rng.uniform(v[0], v[1]), "uniform"),
    "loguniform": Distribution(
        "range", lambda rng, v: math.exp(rng.uniform(math.log(v[0]), math.log(v[1]))), "loguniform"
    ),
    "randint": Distribution("range", lambda rng, v: rng.randrange(v[0], v[1]), "randint"),  # high excluded
}


@dataclass
class Dimension:
    """One searched key: a distribution and its arguments."""

    key: str
    kind: str  # one of DISTRIBUTIONS
    values: list[Any]  # choice / grid: the candidates; uniform / loguniform / randint: [low, high]

    def sample(self, rng: random.Random) -> Any:
        draw = DISTRIBUTIONS[self.kind].draw
        if draw is None:
            raise AssertionError(f"{self.kind} is expanded, not drawn")
        return draw(rng, self.values)

    def tune_spec(self) -> tuple[str, tuple[Any, ...]]:
        """This distribution as Ray Tune's search-space call: (function name in ray.tune, its arguments)."""
        distribution = DISTRIBUTIONS[self.kind]
        if distribution.takes == "values":
            return (distribution.tune_name, (list(self.values),))
        return (distribution.tune_name, tuple(self.values))

    def bounds(self) -> tuple[float, float] | None:
        """The inclusive range a drawn value lies in, or None for a list of candidates."""
        if DISTRIBUTIONS[self.kind].takes == "values":
            return None
        low, high = self.values
        return (low, high - 1) if self.kind == "randint" else (low, high)

    def to_yaml(self) -> dict[str, list[Any]]:
        return {self.kind: list(self.values)}


@dataclass
class SchedulerSpec:
    type: str = "fifo"
    # ASHA: a trial is judged first after grace_period budget units (steps, epochs or FLOPs), then every
    # reduction_factor times longer; all but the best 1/reduction_factor stop at each rung.
    grace_period: float = 1.0
    reduction_factor: float = 3.0
    # PBT: every perturbation_interval budget units the bottom quantile copies a top trial's
    # checkpoint and perturbs (or, with resample_probability, redraws) the mutated keys.
    perturbation_interval: float = 1.0
    quantile_fraction: float = 0.25
    resample_probability: float = 0.25
    mutations: dict[str, Dimension] = field(default_factory=dict)

    # The options each scheduler type takes in a sweep file (besides `type`).
    OPTIONS = {
        "fifo": (),
        "asha": ("grace_period", "reduction_factor"),
        "pbt": ("perturbation_interval", "quantile_fraction", "resample_probability", "mutations"),
    }

    def to_yaml(self) -> dict[str, Any]:
        """The `scheduler:` section that parses back into this spec."""
        out: dict[str, Any] = {"type": self.type}
        for option in self.OPTIONS[self.type]:
            value = getattr(self, option)
            out[option] = {k: d.to_yaml() for k, d in value.items()} if option == "mutations" else value
        return out


@dataclass
class SweepSpec:
    name: str
    description: str
    source: str  # the file it came from (for messages)
    dataset: str
    families: list[str]
    base: dict[str, Any]
    per_family: dict[str, dict[str, Any]]  # family -> dotted key -> value, on top of base
    search: dict[str, Dimension]
    seeds: list[int]
    num_samples: int
    budget_unit: str  # one of config.BUDGET_KINDS: "epochs" | "steps" | "flops" | "seconds"
    budget: int | float  # an integer for epochs / steps
    eval_every: int
    metric: str
    mode: str
    scheduler: SchedulerSpec
    cpu: float
    gpu: float
    max_concurrent: int | None
    search_seed: int
    final_eval_samples: int = DEFAULT_FINAL_EVAL_SAMPLES
    max_trials: int = DEFAULT_MAX_TRIALS
    # The file said `families: all` (every family the dataset allows): written back that way.
    all_families: bool = False

    @property
    def time_attr(self) -> str:
        """The reported value schedulers count in: the budget's unit. (A seconds budget takes no
        scheduler: schema refuses it, since wall-clock rungs depend on how busy the machine is.)"""
        return {"steps": "step", "epochs": "epoch", "flops": "flops"}[self.budget_unit]

    @property
    def budget_text(self) -> str:
        """The budget for people: '12 epochs', '3.3e+12 FLOPs', '90 s'."""
        from ..budget import describe

        return describe(self.budget_unit, self.budget)

    def grid_points(self) -> int:
        """Combinations of the grid keys (1 without any)."""
        return math.prod(len(d.values) for d in self.search.values() if d.kind == "grid")

    def grid_size(self) -> int:
        return len(self.families) * len(self.seeds) * self.grid_points()

    def num_trials(self) -> int:
        return self.num_samples * self.grid_size()

    def to_doc(self) -> dict[str, Any]:
        """The sweep file (a YAML document) that parses back into this spec."""
        doc: dict[str, Any] = {
            "name": self.name,
            "description": self.description,
            "dataset": self.dataset,
            "families": "all" if self.all_families else list(self.families),
            "base": dict(self.base),
            "per_family": {f: dict(keys) for f, keys in self.per_family.items()},
            "seeds": list(self.seeds),
            "num_samples": self.num_samples,
            "budget": {self.budget_unit: self.budget},
            "eval_every": self.eval_every,
            "metric": self.metric,
            "mode": self.mode,
            "scheduler": self.scheduler.to_yaml(),
            "resources": {"cpu": self.cpu, "gpu": self.gpu},
            "search_seed": self.search_seed,
            "final_eval_samples": self.final_eval_samples,
            "max_trials": self.max_trials,
        }
        if self.search:
            doc["search"] = {k: d.to_yaml() for k, d in self.search.items()}
        if self.max_concurrent is not None:
            doc["max_concurrent"] = self.max_concurrent
        return doc

    def to_dict(self) -> dict[str, Any]:
        """The spec as saved in sweep.json (read back by ``schema.spec_from_saved`` on --resume)."""
        out = asdict(self)
        out["search"] = {k: d.to_yaml() for k, d in self.search.items()}
        out["scheduler"]["mutations"] = {k: d.to_yaml() for k, d in self.scheduler.mutations.items()}
        return out
