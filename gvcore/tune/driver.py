"""The sweep driver: connect to Ray, run (or restore) the Tuner with the live view, collect the results.

Everything the CLI decided (the sweep, its trials, where it runs, W&B, the display) arrives as one
SweepRequest; what the CLI prints afterwards leaves as one SweepOutcome.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import ray
from ray import tune

from ..errors import GVError
from ..sweep import SweepSpec, leaderboard, storage, trial_dirname
from .cluster import check_resources, connect
from .final_evaluation import final_evaluation
from .live import LiveView
from .results import rows_from_results, unfinished_trials
from .search import build_scheduler
from .trainable import TrialContext, run_trial
from .wandb_logger import WANDB_FLAG_KEY, WandbSettings

# A trial that crashes (its worker killed, a node lost) is retried from its last checkpoint this often.
MAX_FAILURES = 2
# Checkpoints kept per trial: the best by the sweep metric (Ray always keeps the latest too, for
# restores). Each is a whole model with its optimiser state (34 MB for the MLP GANs, 120 MB for
# DCGAN), so a 144-trial study keeping 2 took ~4 copies a trial with the run folder's own.
CHECKPOINTS_KEPT = 1


@dataclass
class SweepRequest:
    spec: SweepSpec
    trials: list[dict[str, Any]]
    storage: str  # absolute local path or a URI
    name: str
    resume: bool
    address: str | None
    wandb: WandbSettings
    # Builds the live table from leaderboard rows (gvcore.commands.sweep.live_table).
    render: Callable[..., Any]
    console: Any
    interactive: bool
    # Runs once Ray is connected and the resources checked, before any trial (writes sweep.json).
    before_start: Callable[[], None] = lambda: None

    @property
    def sweep_dir(self) -> str:
        return storage.join(self.storage, self.name)


@dataclass
class SweepOutcome:
    rows: list[leaderboard.LeaderboardRow]
    interrupted: bool
    sweep_dir: str
    startup_s: float  # connecting / starting Ray until the first trial started
    elapsed_s: float
    wandb_fallbacks: list[str] = field(default_factory=list)  # trials whose online W&B init failed


def trial_name(trial) -> str:
    """A trial's name and directory: family_trialid. Pickled by reference into tuner.pkl."""
    return trial_dirname(trial.config["trial"]["family"], trial.trial_id)


def _new_tuner(request: SweepRequest, trainable, view: LiveView) -> tune.Tuner:
    spec = request.spec
    return tune.Tuner(
        trainable,
        param_space={"trial": tune.grid_search(request.trials)},
        tune_config=tune.TuneConfig(
            metric=spec.metric,
            mode=spec.mode,
            scheduler=build_scheduler(spec),
            num_samples=1,
            max_concurrent_trials=spec.max_concurrent,
            trial_name_creator=trial_name,
            trial_dirname_creator=trial_name,
            # A finished trial's worker (Python, torch and the dataset already loaded) runs
            # the next trial: ~5 s less per trial on a laptop. Not under PBT, whose pauses
            # and restarts lose reports when actors are reused (seen with Ray 2.60).
            reuse_actors=spec.scheduler.type != "pbt",
        ),
        run_config=tune.RunConfig(
            name=request.name,
            storage_path=request.storage,
            verbose=0,
            callbacks=[view],
            # PBT hands a donor's checkpoint to another trial some time after choosing it:
            # deleting non-best checkpoints meanwhile would pull it away, so PBT keeps all.
            checkpoint_config=tune.CheckpointConfig(
                num_to_keep=None if spec.scheduler.type == "pbt" else CHECKPOINTS_KEPT,
                checkpoint_score_attribute=spec.metric,
                checkpoint_score_order=spec.mode,
            ),
            failure_config=tune.FailureConfig(max_failures=MAX_FAILURES),
            # Cloud storage: upload each trial's run/ folder (samples, metrics) with its checkpoints.
            sync_config=tune.SyncConfig(sync_artifacts=storage.is_uri(request.storage)),
        ),
    )


def _restored_tuner(request: SweepRequest, trainable, view: LiveView) -> tune.Tuner:
    """The interrupted sweep's Tuner, running this invocation's live view.

    Ray 2.60's Tuner.restore takes no run config: it unpickles the whole TunerInternal from the
    sweep's tuner.pkl, written when the sweep began -- RunConfig, callbacks and all -- and fit()
    runs those unpickled callbacks. A restored Tuner has no public way to take new ones; its
    TunerInternal's get_run_config() returns the very RunConfig that fit() will use (Ray's own
    Tuner edits it that way to swap the progress reporter under Ray Client), so the restored
    LiveView copy is replaced there by ``view``, made with this terminal's display like a new
    sweep's. Through Ray Client the Tuner and its callbacks live on the cluster: the restored copy
    runs there and prints plain lines, as a new sweep's copy would.
    """
    try:
        tuner = tune.Tuner.restore(request.sweep_dir, trainable=trainable, resume_unfinished=True, resume_errored=True)
    except (ModuleNotFoundError, AttributeError) as exc:
        # tuner.pkl names gv's classes by module path (the live view, the PBT explore function):
        # a sweep saved by a gv whose modules were laid out differently can't be unpickled --
        # pickle says so as a missing module or "Can't get attribute"; any other error is a bug.
        if isinstance(exc, AttributeError) and "Can't get attribute" not in str(exc):
            raise
        raise GVError(
            f"'{request.sweep_dir}' was saved by another gv version and can't be resumed ({exc}): "
            "start a new sweep (drop --resume)"
        ) from None
    if not ray.util.client.ray.is_connected() and tuner._local_tuner is not None:
        tuner._local_tuner.get_run_config().callbacks = [view]
    return tuner


def run_sweep(request: SweepRequest) -> SweepOutcome:
    """Run (or resume) a sweep on Ray Tune and return its final leaderboard rows."""
    spec = request.spec
    started = time.monotonic()
    owned = connect(request.address)
    embedded = owned and request.address is None and not os.environ.get("RAY_ADDRESS")
    noisy = [logging.getLogger(name) for name in ("ray.tune", "ray.train", "ray.air")]
    levels = [log.level for log in noisy]
    # Signal handlers belong to the main thread (a test may run a sweep from another one).
    in_main_thread = threading.current_thread() is threading.main_thread()
    sigint = signal.getsignal(signal.SIGINT) if in_main_thread else None
    # The view that runs in this process (under Ray Client, a copy runs on the cluster and this one
    # stays empty: no start-up time, no W&B fallbacks to tell).
    view = LiveView(
        request.name,
        request.sweep_dir,
        spec.metric,
        spec.mode,
        render=request.render,
        console=request.console,
        interactive=request.interactive,
    )
    try:
        check_resources(spec, embedded)
        request.before_start()
        context = TrialContext(
            sweep_name=request.name,
            sweep_dir=request.sweep_dir,
            local_storage=not storage.is_uri(request.storage),
            metric=spec.metric,
            cpu=spec.cpu,
            gpu=spec.gpu,
            wandb=request.wandb,
        )
        trainable = tune.with_resources(
            tune.with_parameters(run_trial, context=context), {"cpu": spec.cpu, "gpu": spec.gpu}
        )
        # Trial failures are shown in the table and the leaderboard; Tune's own tracebacks would
        # tear the live display apart.
        for log in noisy:
            log.setLevel(logging.CRITICAL)
        warnings.filterwarnings("ignore", module=r"ray(\.|$)")
        tuner = (_restored_tuner if request.resume else _new_tuner)(request, trainable, view)
        results = tuner.fit()
        rows = rows_from_results(results, spec, request.storage)
        interrupted = unfinished_trials(request.sweep_dir, rows) > 0
        view.stop_display()
        if spec.final_eval_samples and not interrupted:
            # The leaderboard as trained, first: an interrupted final evaluation loses nothing else.
            leaderboard.write(request.sweep_dir, rows, sweep=request.name, final=False)
            final_evaluation(rows, spec, request.console, request.interactive)
    finally:
        for log, level in zip(noisy, levels):
            log.setLevel(level)
        # Tune leaves its own SIGINT handler installed after a run that wasn't interrupted.
        if in_main_thread:
            signal.signal(signal.SIGINT, sigint)
        view.stop_display()
        if owned:
            ray.shutdown()
    fallbacks = [r.trial_id for r in rows if any(WANDB_FLAG_KEY in h for h in view.histories.get(r.trial_id, []))]
    startup = (view.first_start - started) if view.first_start else float("nan")
    return SweepOutcome(
        rows=rows,
        interrupted=interrupted,
        sweep_dir=request.sweep_dir,
        startup_s=startup,
        elapsed_s=time.monotonic() - started,
        wandb_fallbacks=fallbacks,
    )
