"""Ray Tune for gv: the only package that imports Ray (tests/test_layering.py keeps it so).

Trials reach wandb only through Ray's own integration, also here. Each module has one job:

* ``driver`` -- run (or resume) a sweep: SweepRequest in, SweepOutcome out
* ``cluster`` -- reach Ray (an existing cluster or embedded), check addresses and resources
* ``trainable`` -- one trial: the plain trainer reporting to Tune, resuming from Tune's checkpoints
* ``wandb_logger`` -- one W&B run per trial, whose failures never fail the trial
* ``search`` -- distributions as Tune domains, the ASHA / PBT scheduler
* ``live`` -- the callback behind the live table and the live leaderboard file
* ``results`` -- Tune's records as leaderboard rows
* ``final_evaluation`` -- the full evaluation of each trial's best checkpoint, as Ray tasks

The CLI imports this package inside the command that needs it: importing Ray costs seconds.
"""

from .cluster import check_address
from .driver import SweepOutcome, SweepRequest, run_sweep
from .search import build_scheduler
from .wandb_logger import WandbSettings

__all__ = ["SweepOutcome", "SweepRequest", "WandbSettings", "build_scheduler", "check_address", "run_sweep"]
