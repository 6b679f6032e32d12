"""Ray Tune for gv: the only package that imports Ray (tests/test_layering.py keeps it so).

Trials reach wandb only through Ray's own integration, also here. Each module has one job:

* ``driver`` -- run (or resume) a sweep: SweepRequest in, SweepOutcome out
* ``cluster`` -- reach Ray (an existing cluster or embedded), check addresses, resources and that
  every node reads a sweep's folder
* ``trainable`` -- one trial: the plain trainer reporting to Tune, resuming from Tune's checkpoints
* ``wandb_logger`` -- one W&B run per trial, whose failures never fail the trial
* ``search`` -- distributions as Tune domains, the ASHA / PBT scheduler
* ``live`` -- the callback behind the live table and the live leaderboard file
* ``results`` -- Tune's records as leaderboard rows
* ``final_evaluation`` -- the full evaluation of each trial's best checkpoint, as Ray tasks
* ``study_driver`` -- a study's rounds (`gv study`), each a sweep, on one Ray connection

The CLI imports this package inside the command that needs it: importing Ray costs seconds.
"""

from .cluster import check_address, check_dataset_on_nodes
from .driver import SweepOutcome, SweepRequest, run_sweep
from .search import build_scheduler
from .study_driver import StudyOutcome, StudyRequest, run_study
from .wandb_logger import WandbSettings

__all__ = [
    "StudyOutcome",
    "StudyRequest",
    "SweepOutcome",
    "SweepRequest",
    "WandbSettings",
    "build_scheduler",
    "check_address",
    "check_dataset_on_nodes",
    "run_study",
    "run_sweep",
]
