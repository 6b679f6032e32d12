"""Sweep files (`sweeps/*.yaml`): parse, validate and expand them into trial configs. No Ray here.

A sweep file names a dataset, one or more families, a base config, a search space over dotted
config keys, seed repeats, a budget, an eval interval, the metric to rank by, a scheduler and the
resources of one trial::

    name: dcgan-mnist
    description: DCGAN learning rate and latent size on MNIST
    dataset: mnist
    families: [dcgan]
    base: {train.batch_size: 64}            # fixed for every trial (nested mappings work too)
    per_family:                             # optional: fixed keys for one family only
      dcgan: {optim.beta1: 0.5}
    search:                                 # one distribution per dotted key
      optim.lr: {loguniform: [1.0e-4, 3.0e-3]}
      model.latent_dim: {choice: [32, 64, 100]}
      train.label_smoothing: {grid: [0.0, 0.1]}
    repeats: 2                              # seeds 0..repeats-1 (or `seeds: [3, 7]`)
    num_samples: 4                          # random draws of the non-grid keys
    budget: {epochs: 10}                    # or {steps: N}
    eval_every: 500                         # steps between checkpoints / samples / reports (0 = each epoch)
    metric: eval/fid                        # what Tune ranks, stops and keeps checkpoints by (default)
    mode: min
    final_eval_samples: 10000               # full evaluation of every trial's best checkpoint (0 = off)
    scheduler: {type: asha, grace_period: 2, reduction_factor: 3}   # fifo | asha | pbt
    resources: {cpu: 1, gpu: 0}             # per trial; gpu may be fractional
    max_concurrent: 4                       # optional cap on parallel trials
    search_seed: 0                          # seeds the random draws, so a sweep file is repeatable

Everything is checked here, before Ray starts: a bad file is a :class:`GVError` naming the file,
the key and the problem.

Trials are expanded by gv itself rather than by Ray's variant generator so that every family and
every seed sees the *same* random draws: draw ``i`` of ``optim.lr`` is the same number for DCGAN
and VAE, and for seed 0 and seed 1. That is what "equal search effort" and "repeats over seeds"
mean; Ray then runs an explicit grid of these trial configs.
"""

from __future__ import annotations

import itertools
import math
import random
import sys
import sysconfig
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .config import Config, flatten, get_value, set_value
from .errors import GVError

# What a sweep ranks, early-stops (ASHA) and keeps checkpoints by when its file names no metric:
# a sample-quality metric, the only kind that compares GANs with VAEs (seed 001).
DEFAULT_METRIC = "eval/fid"
DEFAULT_MODE = "min"

# The loss each family minimises for its sampler, reported as "loss/objective": the generator loss
# for GANs and the negative ELBO for VAEs. Not comparable across the two kinds (seed 001).
OBJECTIVE_LOSS = {"gan": "loss/generator", "vae": "loss/total"}

# The per-step values each kind's train_step returns (tests check this against the models).
REPORTED_LOSSES = {
    "gan": ("loss/discriminator", "loss/generator", "d_real", "d_fake"),
    "vae": ("loss/total", "loss/reconstruction", "loss/kl"),
}

SCHEDULERS = ("fifo", "asha", "pbt")
DISTRIBUTIONS = ("choice", "grid", "uniform", "loguniform", "randint")

# PBT copies a better trial's weights into a worse one and perturbs these; keys that change the
# networks' shapes (latent size, architecture, widths) can't be carried across a copy.
PBT_MUTABLE = ("optim.lr", "optim.lr_discriminator", "optim.beta1", "optim.beta2", "optim.weight_decay",
               "model.kl_weight", "model.dropout", "model.leaky_slope", "train.label_smoothing")

# Keys with their own top-level field in a sweep file; setting them in `base` / `search` too would
# leave two places saying different things.
OWN_FIELD = {"family": "families", "data.name": "dataset", "train.seed": "repeats (or seeds)",
             "train.epochs": "budget", "train.steps": "budget", "train.eval_every": "eval_every"}

TOP_LEVEL_KEYS = ("name", "description", "dataset", "families", "base", "per_family", "search", "repeats", "seeds",
                  "num_samples", "budget", "eval_every", "metric", "mode", "scheduler", "resources",
                  "max_concurrent", "search_seed", "final_eval_samples")

# Samples for the full evaluation (every metric) of each trial's best checkpoint at the end.
DEFAULT_FINAL_EVAL_SAMPLES = 10_000


@dataclass
class Dimension:
    """One searched key: a distribution and its arguments."""

    key: str
    kind: str  # one of DISTRIBUTIONS
    values: list[Any]  # choice / grid: the candidates; uniform / loguniform / randint: [low, high]

    def sample(self, rng: random.Random) -> Any:
        low_high = self.values
        if self.kind == "choice":
            return rng.choice(self.values)
        if self.kind == "uniform":
            return rng.uniform(*low_high)
        if self.kind == "loguniform":
            return math.exp(rng.uniform(math.log(low_high[0]), math.log(low_high[1])))
        if self.kind == "randint":  # high excluded, as tune.randint
            return rng.randrange(low_high[0], low_high[1])
        raise AssertionError(f"{self.kind} is not sampled")

    def tune_spec(self) -> tuple[str, tuple[Any, ...]]:
        """This distribution as Ray Tune's search-space call: (function name in ray.tune, its arguments)."""
        if self.kind in ("choice", "grid"):
            return ("choice", (list(self.values),))
        return (self.kind, tuple(self.values))

    def to_yaml(self) -> dict[str, list[Any]]:
        return {self.kind: list(self.values)}


@dataclass
class SchedulerSpec:
    type: str = "fifo"
    # ASHA: a trial is judged first after grace_period budget units (steps or epochs), then every
    # reduction_factor times longer; all but the best 1/reduction_factor stop at each rung.
    grace_period: float = 1.0
    reduction_factor: float = 3.0
    # PBT: every perturbation_interval budget units the bottom quantile copies a top trial's
    # checkpoint and perturbs (or, with resample_probability, redraws) the mutated keys.
    perturbation_interval: float = 1.0
    quantile_fraction: float = 0.25
    resample_probability: float = 0.25
    mutations: dict[str, Dimension] = field(default_factory=dict)


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
    budget_unit: str  # "steps" | "epochs"
    budget: int
    eval_every: int
    metric: str
    mode: str
    scheduler: SchedulerSpec
    cpu: float
    gpu: float
    max_concurrent: int | None
    search_seed: int
    final_eval_samples: int = DEFAULT_FINAL_EVAL_SAMPLES

    @property
    def time_attr(self) -> str:
        """The reported value schedulers count in: the budget's unit."""
        return "step" if self.budget_unit == "steps" else "epoch"

    def grid_size(self) -> int:
        size = len(self.families) * len(self.seeds)
        for dim in self.search.values():
            if dim.kind == "grid":
                size *= len(dim.values)
        return size

    def num_trials(self) -> int:
        return self.num_samples * self.grid_size()

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["search"] = {k: d.to_yaml() for k, d in self.search.items()}
        out["scheduler"]["mutations"] = {k: d.to_yaml() for k, d in self.scheduler.mutations.items()}
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "SweepSpec":
        """Rebuild a spec saved with to_dict (sweep.json), for --resume."""
        data = dict(data)
        data["search"] = {k: _dimension(k, v, "search", data["source"]) for k, v in data["search"].items()}
        sched = dict(data["scheduler"])
        sched["mutations"] = {k: _dimension(k, v, "scheduler.mutations", data["source"])
                              for k, v in sched["mutations"].items()}
        data["scheduler"] = SchedulerSpec(**sched)
        return cls(**data)


# --- finding sweep files ------------------------------------------------------------------------


def shipped_sweep_dirs() -> list[Path]:
    """Where the shipped sweep files live: the repository's `sweeps/` (a clone or an editable
    install), else `share/gv/sweeps` under the install prefix (a wheel install, via data-files)."""
    candidates = [Path(__file__).resolve().parent.parent / "sweeps"]
    for prefix in (sysconfig.get_path("data"), sys.prefix):
        candidates.append(Path(prefix) / "share" / "gv" / "sweeps")
    return [d for d in dict.fromkeys(candidates) if d.is_dir()]


def shipped_sweeps() -> dict[str, Path]:
    """Shipped sweep name -> file, the first directory winning."""
    found: dict[str, Path] = {}
    for directory in shipped_sweep_dirs():
        for path in sorted(directory.glob("*.yaml")):
            found.setdefault(path.stem, path)
    return found


def find_sweep_file(ref: str) -> Path:
    """A sweep given as a shipped name (`quick-mnist`) or a path to a YAML file."""
    path = Path(ref).expanduser()
    if path.is_file():
        return path
    looks_like_path = path.suffix in (".yaml", ".yml") or "/" in ref or "\\" in ref
    if looks_like_path:
        raise GVError(f"sweep file '{ref}' does not exist: pass a readable .yaml file or a shipped sweep name (see `gv sweeps`)")
    shipped = shipped_sweeps()
    if ref in shipped:
        return shipped[ref]
    names = ", ".join(shipped) or "none found"
    raise GVError(f"unknown sweep '{ref}': shipped sweeps are {names}; or pass a path to a .yaml file")


# --- parsing ------------------------------------------------------------------------------------


def _fail(source: str, key: str, problem: str) -> GVError:
    return GVError(f"{source}: {key}: {problem}")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_key(source: str, where: str, key: Any) -> str:
    """A dotted config key that a sweep may set in `base` / `search`."""
    if not isinstance(key, str):
        raise _fail(source, where, f"key {key!r} is not a dotted config key such as optim.lr")
    if key in OWN_FIELD:
        raise _fail(source, f"{where}.{key}", f"set it with the top-level '{OWN_FIELD[key]}' field instead")
    try:
        get_value(Config(), key)
    except GVError as exc:
        raise _fail(source, f"{where}.{key}", str(exc)) from None
    return key


def _check_value(source: str, where: str, key: str, value: Any) -> Any:
    """A value the config field accepts, coerced as `--set` would (int -> float where declared)."""
    scratch = Config()
    try:
        set_value(scratch, key, value)
    except GVError as exc:
        raise _fail(source, where, str(exc)) from None
    return get_value(scratch, key)


def _dimension(key: str, raw: Any, section: str, source: str) -> Dimension:
    where = f"{section}.{key}"
    if not isinstance(raw, dict) or len(raw) != 1:
        raise _fail(source, where, f"expected one distribution such as {{choice: [a, b]}}; use one of {', '.join(DISTRIBUTIONS)}")
    kind, args = next(iter(raw.items()))
    if kind not in DISTRIBUTIONS:
        raise _fail(source, where, f"unknown distribution '{kind}': use one of {', '.join(DISTRIBUTIONS)}")
    if not isinstance(args, list):
        raise _fail(source, where, f"{kind} takes a list, e.g. {{{kind}: [a, b]}}")
    if kind in ("choice", "grid"):
        if not args:
            raise _fail(source, where, f"{kind} has no values: list at least one")
        values = [_check_value(source, where, key, v) for v in args]
        return Dimension(key, kind, values)
    if len(args) != 2 or not all(_is_number(v) for v in args):
        raise _fail(source, where, f"{kind} takes [low, high] numbers, got {args!r}")
    low, high = args
    if not low < high:
        raise _fail(source, where, f"{kind} needs low < high, got [{low}, {high}]")
    if kind == "loguniform" and low <= 0:
        raise _fail(source, where, f"loguniform needs low > 0, got {low}")
    if kind == "randint":
        if not (_is_int(low) and _is_int(high)):
            raise _fail(source, where, f"randint takes [low, high] integers (high excluded), got {args!r}")
        _check_value(source, where, key, low)
    else:
        # uniform draws are fractional: the key must take a float (an int key wants randint or choice).
        try:
            set_value(Config(), key, 0.5)
        except GVError:
            raise _fail(source, where, f"{kind} draws fractional numbers but '{key}' is not a float key: use randint or choice") from None
    return Dimension(key, kind, [low, high])


def _fixed_keys(source: str, section: str, raw: Any) -> dict[str, Any]:
    """A base / per_family section: dotted (or nested) keys with values their fields accept."""
    fixed = {}
    for key, value in flatten(_mapping(source, section, raw or {})).items():
        _check_key(source, section, key)
        fixed[key] = _check_value(source, f"{section}.{key}", key, value)
    return fixed


def _positive_int(source: str, key: str, value: Any, allow_zero: bool = False) -> int:
    if not _is_int(value) or value < 0 or (value == 0 and not allow_zero):
        raise _fail(source, key, f"expected an integer {'>= 0' if allow_zero else '>= 1'}, got {value!r}")
    return value


def _positive_number(source: str, key: str, value: Any, allow_zero: bool = False) -> float:
    if not _is_number(value) or value < 0 or (value == 0 and not allow_zero):
        raise _fail(source, key, f"expected a number {'>= 0' if allow_zero else '> 0'}, got {value!r}")
    return float(value)


def _string(source: str, key: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _fail(source, key, f"expected a non-empty string, got {value!r}")
    return value.strip()


def _mapping(source: str, key: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _fail(source, key, f"expected a mapping (key: value lines), got {type(value).__name__}")
    return value


def _families(source: str, raw: Any) -> list[str]:
    from .families import FAMILIES  # torch: imported when a sweep is read, not at `gv --help`
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list) or not raw:
        raise _fail(source, "families", f"expected a list of families from {', '.join(FAMILIES)}")
    for name in raw:
        if name not in FAMILIES:
            raise _fail(source, "families", f"unknown family {name!r}: choose from {', '.join(FAMILIES)}")
    if len(set(raw)) != len(raw):
        raise _fail(source, "families", f"{raw} lists a family twice")
    return list(raw)


def _budget(source: str, raw: Any) -> tuple[str, int]:
    raw = _mapping(source, "budget", raw)
    if len(raw) != 1 or next(iter(raw)) not in ("steps", "epochs"):
        raise _fail(source, "budget", f"expected exactly one of {{steps: N}} or {{epochs: N}}, got {raw!r}")
    unit, value = next(iter(raw.items()))
    return unit, _positive_int(source, f"budget.{unit}", value)


def _seeds(source: str, doc: dict[str, Any]) -> list[int]:
    if "seeds" in doc and "repeats" in doc:
        raise _fail(source, "seeds", "give repeats (seeds 0..N-1) or seeds (a list), not both")
    if "seeds" in doc:
        seeds = doc["seeds"]
        if not isinstance(seeds, list) or not seeds or not all(_is_int(s) and s >= 0 for s in seeds):
            raise _fail(source, "seeds", f"expected a list of integers >= 0, got {seeds!r}")
        if len(set(seeds)) != len(seeds):
            raise _fail(source, "seeds", f"{seeds} repeats a seed")
        return list(seeds)
    return list(range(_positive_int(source, "repeats", doc.get("repeats", 1))))


def _scheduler(source: str, raw: Any, budget: int, unit: str) -> SchedulerSpec:
    if raw is None or isinstance(raw, str):
        raw = {"type": raw or "fifo"}
    raw = dict(_mapping(source, "scheduler", raw))
    kind = raw.pop("type", "fifo")
    if kind not in SCHEDULERS:
        raise _fail(source, "scheduler.type", f"unknown scheduler {kind!r}: use one of {', '.join(SCHEDULERS)}")
    allowed = {"fifo": (), "asha": ("grace_period", "reduction_factor"),
               "pbt": ("perturbation_interval", "quantile_fraction", "resample_probability", "mutations")}[kind]
    for key in raw:
        if key not in allowed:
            extra = f"{kind} takes {', '.join(allowed)}" if allowed else "fifo takes no options"
            raise _fail(source, f"scheduler.{key}", f"unknown option: {extra}")
    spec = SchedulerSpec(type=kind)
    if kind == "asha":
        spec.grace_period = _positive_number(source, "scheduler.grace_period", raw.get("grace_period", 1))
        spec.reduction_factor = _positive_number(source, "scheduler.reduction_factor", raw.get("reduction_factor", 3))
        if spec.grace_period > budget:
            raise _fail(source, "scheduler.grace_period", f"{spec.grace_period:g} {unit} is past the budget of {budget} {unit}")
        if spec.reduction_factor <= 1:
            raise _fail(source, "scheduler.reduction_factor", f"must be > 1, got {spec.reduction_factor:g}")
    if kind == "pbt":
        spec.perturbation_interval = _positive_number(source, "scheduler.perturbation_interval",
                                                      raw.get("perturbation_interval", max(1, budget // 4)))
        if spec.perturbation_interval >= budget:
            raise _fail(source, "scheduler.perturbation_interval",
                        f"{spec.perturbation_interval:g} {unit} leaves no room to perturb within the budget of {budget} {unit}")
        for key in ("quantile_fraction", "resample_probability"):
            value = raw.get(key, getattr(spec, key))
            if not _is_number(value) or not 0 <= value <= (0.5 if key == "quantile_fraction" else 1):
                limit = "0.5" if key == "quantile_fraction" else "1"
                raise _fail(source, f"scheduler.{key}", f"expected a number in [0, {limit}], got {value!r}")
            setattr(spec, key, float(value))
        mutations = _mapping(source, "scheduler.mutations", raw.get("mutations"))
        if not mutations:
            raise _fail(source, "scheduler.mutations", "pbt needs at least one key to mutate, e.g. optim.lr: {loguniform: [1e-4, 1e-2]}")
        for key, dim_raw in mutations.items():
            _check_key(source, "scheduler.mutations", key)
            if key not in PBT_MUTABLE:
                raise _fail(source, f"scheduler.mutations.{key}",
                            f"PBT can only mutate keys that keep the network shapes: {', '.join(PBT_MUTABLE)}")
            dim = _dimension(key, dim_raw, "scheduler.mutations", source)
            if dim.kind == "grid":
                raise _fail(source, f"scheduler.mutations.{key}", "grid is not a PBT mutation: use choice")
            spec.mutations[key] = dim
    return spec


def _resources(source: str, raw: Any) -> tuple[float, float]:
    raw = _mapping(source, "resources", raw if raw is not None else {})
    for key in raw:
        if key not in ("cpu", "gpu"):
            raise _fail(source, f"resources.{key}", "unknown resource: use cpu and gpu")
    cpu = _positive_number(source, "resources.cpu", raw.get("cpu", 1))
    gpu = _positive_number(source, "resources.gpu", raw.get("gpu", 0), allow_zero=True)
    return cpu, gpu


def check_metric(source: str, metric: str, families: list[str], base: dict[str, Any],
                 per_family: dict[str, dict[str, Any]] | None = None) -> None:
    """Every trial must report the metric at every eval, or Tune stops the sweep."""
    from .families import get_family
    if metric.startswith("eval/"):
        from .metrics import METRICS, metric_of, resolve_metrics

        name = metric_of(metric[len("eval/"):])
        if name is None:
            raise _fail(source, "metric", f"{metric!r} is not reported by any evaluation metric (registered: "
                                          f"{', '.join(METRICS) or 'none'}); or rank by {DEFAULT_METRIC}")
        for family in families:
            spec = get_family(family)
            try:  # e.g. eval/label_acc needs a conditional family, eval/nelbo a VAE
                resolve_metrics(name, has_labels=spec.conditional, is_vae=spec.kind == "vae", where="metric")
            except GVError as exc:
                raise _fail(source, "metric", f"{metric!r} can't rank family {family}: {exc}") from None
            # A bad eval.metrics would only fail inside the trials: name the file now. (The ranking
            # metric itself is added to every trial's eval.metrics by expand_trials.)
            wanted = (per_family or {}).get(family, {}).get("eval.metrics", base.get("eval.metrics", "auto"))
            try:
                resolve_metrics(wanted, has_labels=spec.conditional, is_vae=spec.kind == "vae", where="eval.metrics")
            except GVError as exc:
                raise _fail(source, "eval.metrics", f"for {family}: {exc}") from None
        return
    if metric == "loss/objective":
        return
    for family in families:
        kind = get_family(family).kind
        if metric not in REPORTED_LOSSES[kind]:
            reported = ", ".join(("loss/objective",) + REPORTED_LOSSES[kind])
            raise _fail(source, "metric", f"family {family} does not report {metric!r}; it reports {reported} "
                                          "(or an eval/ metric)")


def _final_eval_samples(source: str, value: Any) -> int:
    n = _positive_int(source, "final_eval_samples", value, allow_zero=True)
    if 0 < n < 100:
        raise _fail(source, "final_eval_samples", f"{n} samples are too few to score: use 0 (off) or at least 100")
    return n


def parse_sweep(doc: Any, source: str) -> SweepSpec:
    """A validated SweepSpec from a loaded YAML document."""
    from . import data as datamod
    doc = _mapping(source, "(top level)", doc)
    for key in doc:
        if key not in TOP_LEVEL_KEYS:
            raise _fail(source, str(key), f"unknown key: a sweep file takes {', '.join(TOP_LEVEL_KEYS)}")
    name = _string(source, "name", doc.get("name", Path(source).stem))
    description = str(doc.get("description", "") or "").strip()
    dataset = _string(source, "dataset", doc.get("dataset"))
    if dataset not in datamod.DATASETS:
        raise _fail(source, "dataset", f"unknown dataset {dataset!r}: choose one of {', '.join(datamod.DATASETS)}")
    families = _families(source, doc.get("families"))

    base = _fixed_keys(source, "base", doc.get("base"))
    per_family: dict[str, dict[str, Any]] = {}
    for family, raw in _mapping(source, "per_family", doc.get("per_family") or {}).items():
        if family not in families:
            raise _fail(source, f"per_family.{family}", f"is not one of this sweep's families ({', '.join(families)})")
        per_family[family] = _fixed_keys(source, f"per_family.{family}", raw)

    search: dict[str, Dimension] = {}
    if "search" in doc:
        raw_search = doc["search"]
        if not raw_search:
            raise _fail(source, "search", "the search space is empty: add a key such as optim.lr: {loguniform: [1e-4, 1e-2]}, or remove 'search'")
        for key, raw in _mapping(source, "search", raw_search).items():
            _check_key(source, "search", key)
            fixed_in = ["base"] * (key in base) + [f"per_family.{f}" for f, keys in per_family.items() if key in keys]
            if fixed_in:
                raise _fail(source, f"search.{key}", f"is also set in {fixed_in[0]}: keep one")
            search[key] = _dimension(key, raw, "search", source)

    unit, budget = _budget(source, doc.get("budget", {"epochs": 10}))
    eval_every = _positive_int(source, "eval_every", doc.get("eval_every", 0), allow_zero=True)
    metric = _string(source, "metric", doc.get("metric", DEFAULT_METRIC))
    mode = doc.get("mode", DEFAULT_MODE)
    if mode not in ("min", "max"):
        raise _fail(source, "mode", f"expected min or max, got {mode!r}")
    check_metric(source, metric, families, base, per_family)
    scheduler = _scheduler(source, doc.get("scheduler"), budget, unit)
    for key in scheduler.mutations:
        if key in search and search[key].kind == "grid":
            raise _fail(source, f"scheduler.mutations.{key}", "is a grid key in search: PBT would undo the grid")
    cpu, gpu = _resources(source, doc.get("resources"))
    max_concurrent = doc.get("max_concurrent")
    if max_concurrent is not None:
        max_concurrent = _positive_int(source, "max_concurrent", max_concurrent)
    spec = SweepSpec(
        name=name, description=description, source=source, dataset=dataset, families=families, base=base,
        per_family=per_family, search=search, seeds=_seeds(source, doc), num_samples=_positive_int(source, "num_samples", doc.get("num_samples", 1)),
        budget_unit=unit, budget=budget, eval_every=eval_every, metric=metric, mode=mode, scheduler=scheduler,
        cpu=cpu, gpu=gpu, max_concurrent=max_concurrent,
        search_seed=_positive_int(source, "search_seed", doc.get("search_seed", 0), allow_zero=True),
        final_eval_samples=_final_eval_samples(source, doc.get("final_eval_samples", DEFAULT_FINAL_EVAL_SAMPLES)),
    )
    expand_trials(spec)  # every trial's config must resolve (e.g. beta1 < 1), before Ray starts
    return spec


def load_sweep(ref: str) -> SweepSpec:
    """Find, read and validate a sweep by shipped name or path."""
    path = find_sweep_file(ref)
    source = str(path) if not _is_shipped(path) else f"sweeps/{path.name}"
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise GVError(f"{source}: unreadable sweep file ({type(exc).__name__}: {exc})") from None
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "YAML"
        problem = getattr(exc, "problem", None) or str(exc)
        raise GVError(f"{source}: {where}: unreadable YAML ({problem})") from None
    if doc is None:
        raise GVError(f"{source}: (top level): the file is empty; see `gv sweeps` for examples")
    return parse_sweep(doc, source)


def _is_shipped(path: Path) -> bool:
    return any(path.resolve().parent == d.resolve() for d in shipped_sweep_dirs())


# --- command-line overrides ---------------------------------------------------------------------


def apply_overrides(spec: SweepSpec, *, num_samples: int | None = None, max_concurrent: int | None = None,
                    cpus_per_trial: float | None = None, gpus_per_trial: float | None = None,
                    sets: list[str] | None = None) -> SweepSpec:
    """The `gv sweep` flags on top of a file's spec; bad values are one-line GVErrors."""
    from . import data as datamod
    from .families import get_family
    from .config import apply_overrides as apply_set

    if num_samples is not None:
        if num_samples < 1:
            raise GVError(f"bad --num-samples {num_samples}: must be >= 1")
        spec.num_samples = num_samples
    if max_concurrent is not None:
        if max_concurrent < 1:
            raise GVError(f"bad --max-concurrent {max_concurrent}: must be >= 1")
        spec.max_concurrent = max_concurrent
    if cpus_per_trial is not None:
        if not cpus_per_trial > 0:
            raise GVError(f"bad --cpus-per-trial {cpus_per_trial:g}: must be > 0 (fractions share a core)")
        spec.cpu = float(cpus_per_trial)
    if gpus_per_trial is not None:
        if not gpus_per_trial >= 0:
            raise GVError(f"bad --gpus-per-trial {gpus_per_trial:g}: must be >= 0 (e.g. 0.25 packs 4 trials on a GPU)")
        spec.gpu = float(gpus_per_trial)
    for item in sets or []:
        # Parse with the config's own rules (unknown key, wrong type), then pin the key: it leaves
        # the search space, and family / seed pins replace the families / seeds lists.
        scratch = apply_set(Config(), [item])
        key = item.split("=", 1)[0].strip()
        value = get_value(scratch, key)
        if key == "family":
            get_family(value)
            spec.families = [value]
        elif key == "train.seed":
            spec.seeds = [value]
        elif key == "data.name":
            datamod.get_spec(value)
            spec.dataset = value
        elif key in ("train.epochs", "train.steps"):
            if value is None or value < 1:
                raise GVError(f"bad --set {item}: the budget must be >= 1")
            unit = key.split(".")[1]
            sched = spec.scheduler
            # The scheduler's intervals are in the sweep file's budget unit and must fit the budget.
            if sched.type != "fifo" and unit != spec.budget_unit:
                raise GVError(f"bad --set {item}: this sweep's {sched.type} scheduler counts in {spec.budget_unit}; "
                              f"set train.{spec.budget_unit} instead")
            if sched.type == "asha" and sched.grace_period > value:
                raise GVError(f"bad --set {item}: shorter than the ASHA grace period ({sched.grace_period:g} {unit})")
            if sched.type == "pbt" and sched.perturbation_interval >= value:
                raise GVError(f"bad --set {item}: leaves no room for PBT's perturbation interval "
                              f"({sched.perturbation_interval:g} {unit})")
            spec.budget_unit, spec.budget = unit, value
        elif key == "train.eval_every":
            spec.eval_every = value
        else:
            spec.search.pop(key, None)
            spec.scheduler.mutations.pop(key, None)
            for fixed in spec.per_family.values():
                fixed.pop(key, None)
            spec.base[key] = value
    if spec.scheduler.type == "pbt" and not spec.scheduler.mutations:
        raise GVError("--set pinned every key PBT mutates: drop those --set flags or use a sweep with another scheduler")
    check_metric("--set", spec.metric, spec.families, spec.base, spec.per_family)
    expand_trials(spec)
    return spec


# --- expansion ----------------------------------------------------------------------------------


def expand_trials(spec: SweepSpec) -> list[dict[str, Any]]:
    """Every trial's flat config (dotted key -> value), in the order Ray will start them.

    Sample-major: draw i of the random keys is shared by every family, grid point and seed. Each
    config is resolved once here so that a bad combination is reported before anything runs.
    """
    from .families import resolve_config
    rng = random.Random(spec.search_seed)
    grid_dims = [d for d in spec.search.values() if d.kind == "grid"]
    random_dims = [d for d in spec.search.values() if d.kind != "grid"]
    trials: list[dict[str, Any]] = []
    for _ in range(spec.num_samples):
        drawn = {d.key: d.sample(rng) for d in random_dims}
        for family in spec.families:
            for combo in itertools.product(*(d.values for d in grid_dims)):
                for seed in spec.seeds:
                    flat: dict[str, Any] = {"family": family, "data.name": spec.dataset}
                    flat.update(spec.base)
                    flat.update(spec.per_family.get(family, {}))
                    flat.update(drawn)
                    flat.update({d.key: v for d, v in zip(grid_dims, combo)})
                    flat["train.seed"] = seed
                    flat[f"train.{spec.budget_unit}"] = spec.budget
                    flat["train.eval_every"] = spec.eval_every
                    flat = with_metric(flat, spec.metric)
                    try:
                        resolved = resolve_config(trial_config(flat))
                    except GVError as exc:
                        raise GVError(f"{spec.source}: trial {len(trials)} ({family}): {exc}") from None
                    # PBT perturbs values it finds in the trial's config: give it the concrete ones.
                    for key in spec.scheduler.mutations:
                        flat.setdefault(key, get_value(resolved, key))
                    trials.append(flat)
    return trials


def with_metric(flat: dict[str, Any], metric: str) -> dict[str, Any]:
    """An eval/ metric must be computed at every eval: add its metric to the trial's eval.metrics."""
    from .families import get_family
    if not metric.startswith("eval/"):
        return flat
    from .metrics import metric_of, resolve_metrics

    name = metric_of(metric[len("eval/"):])
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
