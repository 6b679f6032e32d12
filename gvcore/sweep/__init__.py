"""Sweeps without Ray: the sweep files going in (find, validate, expand into trial configs) and
what a sweep leaves behind (its leaderboard, on a local path or a storage URI).

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
    budget: {epochs: 10}                    # or {steps: N}, {flops: 2.0e13}, {seconds: 600}
    eval_every: 500                         # steps between checkpoints / samples / reports (0 = each epoch)
    metric: eval/fid                        # what Tune ranks, stops and keeps checkpoints by (default)
    mode: min
    final_eval_samples: 10000               # full evaluation of every trial's best checkpoint (0 = off)
    scheduler: {type: asha, grace_period: 2, reduction_factor: 3}   # fifo | asha | pbt
    resources: {cpu: 1, gpu: 0}             # per trial; gpu may be fractional
    max_concurrent: 4                       # optional cap on parallel trials
    search_seed: 0                          # seeds the random draws, so a sweep file is repeatable
    max_trials: 10000                       # refuse sweeps that expand to more trials (a typo guard)

Budgets: ``epochs`` and ``steps`` give every family the same optimizer steps; ``flops`` the same
compute (each trial counts the FLOPs of one of its training steps with torch's counter and trains
``flops // flops_per_step`` steps, so a family with 10x cheaper steps trains 10x longer; its default
eval interval is a quarter of the run); ``seconds`` the same training time on *this* machine (wall
clock, evaluations excluded: it depends on the hardware and on how many trials share it). ASHA and
PBT count in steps, epochs or FLOPs; a seconds budget takes fifo only.

One job per module. In: ``spec`` (the validated data and the distribution table), ``schema`` (every
check, before Ray starts; ``spec_from_saved`` reads sweep.json back), ``files`` (finding and reading
files), ``overrides`` (the `gv sweep` flags, re-validated by ``schema``) and ``expand`` (trial configs
and names). Around one trial: ``trial_run`` (its run dir from a Tune checkpoint, PBT's hand-over,
the result dicts it reports). Out: ``leaderboard`` (typed rows, ranking, leaderboard.json / .csv)
and ``storage`` (a sweep directory on a path or a URI).
"""

from .expand import expand_trials, searched_keys, trial_config, trial_dirname, with_metric
from .files import find_sweep_file, load_sweep, shipped_sweep_dirs, shipped_sweeps
from .overrides import apply_overrides
from .schema import PBT_MUTABLE, check_metric, parse_dimension, parse_sweep, spec_from_saved
from .spec import (
    DEFAULT_FINAL_EVAL_SAMPLES,
    DEFAULT_MAX_TRIALS,
    DEFAULT_METRIC,
    DEFAULT_MODE,
    DISTRIBUTIONS,
    Dimension,
    SchedulerSpec,
    SweepSpec,
)

__all__ = [
    "DEFAULT_FINAL_EVAL_SAMPLES",
    "DEFAULT_MAX_TRIALS",
    "DEFAULT_METRIC",
    "DEFAULT_MODE",
    "DISTRIBUTIONS",
    "PBT_MUTABLE",
    "Dimension",
    "SchedulerSpec",
    "SweepSpec",
    "apply_overrides",
    "check_metric",
    "expand_trials",
    "find_sweep_file",
    "load_sweep",
    "parse_dimension",
    "parse_sweep",
    "searched_keys",
    "shipped_sweep_dirs",
    "shipped_sweeps",
    "spec_from_saved",
    "trial_config",
    "trial_dirname",
    "with_metric",
]
