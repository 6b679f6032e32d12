"""The function trainable: one trial is the plain trainer with hooks that talk to Tune.

The trainer knows nothing of Ray (it talks to hosts through ``Hooks``); this is the one host that
turns its evals into ``tune.report`` calls with checkpoints, and Tune's checkpoints back into a
resumed run -- after a crash, on a resumed sweep, or when PBT hands a trial another's checkpoint.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ray
from ray import tune

from ..data import label as data_label
from ..sweep import trial_config, trial_dirname, trial_run
from .wandb_logger import WANDB_FLAG_KEY, WandbLogger, WandbSettings


@dataclass
class TrialContext:
    """What every trial needs besides its config (passed through tune.with_parameters)."""

    sweep_name: str
    sweep_dir: str
    local_storage: bool
    metric: str
    cpu: float
    gpu: float
    wandb: WandbSettings


def run_trial(config: dict[str, Any], context: TrialContext) -> None:
    """One trial: the plain trainer, reporting to Tune at every eval."""
    import torch

    from ..evaluation.api import make_evaluator
    from ..trainer import Hooks, train

    cfg = trial_config(config["trial"])
    # Each trial gets its CPU share as torch threads, so parallel trials don't oversubscribe cores.
    threads = max(1, int(context.cpu))
    cfg.train.threads = threads
    torch.set_num_threads(threads)

    tune_context = tune.get_context()
    trial_id = tune_context.get_trial_id()
    if context.local_storage:
        # Local or shared (NFS) storage: write straight into the trial's directory in the sweep dir.
        trial_dir = Path(context.sweep_dir) / trial_dirname(cfg.family, trial_id)
    else:
        # Cloud storage: the trial's working directory, which Tune uploads as trial artifacts.
        trial_dir = Path(tune_context.get_trial_dir())
    run_dir = trial_dir / "run"

    checkpoint = tune.get_checkpoint()
    if checkpoint is None:
        restored_from = trial_run.prepare_run_dir(run_dir, None, cfg)
    else:
        with checkpoint.as_directory() as directory:
            restored_from = trial_run.prepare_run_dir(run_dir, Path(directory), cfg)
    node = ray.get_runtime_context().get_node_id()

    wandb_run = WandbLogger(context.wandb, cfg, trial_dir, context.gpu, [cfg.family, data_label(cfg.data.name)])
    last: dict[str, Any] = {}

    def on_progress(p) -> None:
        wandb_run.log(
            {
                "step": p.step,
                "epoch": p.epoch,
                "images_per_s": p.images_per_s,
                **p.losses,
                "loss/objective": trial_run.objective(cfg, p.losses),
            }
        )

    def on_eval(event) -> None:
        result = trial_run.eval_result(event, cfg, run_dir, restored_from, node)
        if wandb_run.fell_back:
            result[WANDB_FLAG_KEY] = "offline after online init failed"
        # Training FLOPs so far beside the metrics: W&B can plot quality against compute.
        wandb_run.log({"step": event.step, "flops": event.flops, **event.metrics}, image=event.samples, step=event.step)
        last.clear()
        last.update(result)
        tune.report(result, checkpoint=tune.Checkpoint.from_directory(str(event.checkpoint.parent)))

    try:
        result = train(
            cfg, run_dir, Hooks(on_progress=on_progress, on_eval=on_eval), evaluator_for=make_evaluator, resume=True
        )
    except BaseException:
        wandb_run.finish(exit_code=1)
        raise
    if result.status == "stopped":
        # Interrupted inside the worker (Ctrl-C reaches the whole process group): not finished, so
        # Tune must keep it resumable rather than record it as complete.
        wandb_run.finish(exit_code=1)
        raise RuntimeError(f"trial interrupted at step {result.step}: it continues from its last checkpoint on resume")
    if result.status != "done" or not last:
        tune.report(trial_run.final_result(result, last, context.metric, run_dir, restored_from, node))
    wandb_run.finish(exit_code=0 if result.status == "done" else 1)
