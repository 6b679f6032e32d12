"""`gv compare`: which family is best on this data, with what confidence, and how hard each is to tune.

Works from sweeps' leaderboard.json files alone (no checkpoints, no Ray), pooling several sweeps.
Comparisons are distributions over every trial -- hyperparameters and seeds -- as Lucic et al. 2018
("Are GANs Created Equal?") argue, with the expected best of k trials (Dodge et al. 2019, "Show Your
Work") as the "how hard to tune" figure.

    pool.py        sweeps read and checked once; leaderboard rows -> per-family values of one metric
    statistics.py  median, IQM, expected best of k, P(A beats B), scipy.stats.bootstrap intervals
    verdict.py     the comparison document and the winner
    render.py      rich tables and the expected-best PNG
    racing.py      a race's exits (`gv study`): exact rank tests at anytime-valid levels

numpy and scipy are imported here, never by `gv`'s start-up: gvcore/commands/compare.py imports
this package inside the command.
"""

from .pool import Pool, axis_metric, load_pool, ranking_metric, read_sweeps
from .render import expected_best_figure, print_comparison
from .verdict import compare

__all__ = [
    "Pool",
    "axis_metric",
    "compare",
    "expected_best_figure",
    "load_pool",
    "print_comparison",
    "ranking_metric",
    "read_sweeps",
]
