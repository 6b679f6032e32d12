"""`gv report`: the best checkpoint of every family, side by side.

Fairness first: every family is drawn from the same noise, interpolated between the same
endpoints, and asked to reach the same two real test images. Then the numbers: every metric of the
evaluation registry, parameters, wall time and steps to best, and the spread of the metric over
all trials of each family (how hard it is to tune; Lucic et al. 2018).

One job per module: ``trials`` (which trial and checkpoint stands for each family), ``figures``
(grids, interpolations, plots), ``page`` (report.html), ``build`` (the whole report) and
``to_wandb`` (`gv report --wandb` / `--wandb-report`).
"""

from .best_trials import Entry, checkpoint_file, metric_mode, pick_best
from .build import build_report

__all__ = ["Entry", "build_report", "checkpoint_file", "metric_mode", "pick_best"]
