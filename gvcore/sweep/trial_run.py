"""What one sweep trial does around the plain trainer, with no Ray in it.

The Ray adapter hands a trial its config and (when Tune restarts it) a checkpoint directory;
this module turns those into a run directory the trainer can continue, and turns the trainer's
events into the flat result dicts Tune records.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import torch

from ..budget import clear_budget, copy_budget
from ..checkpoint import CHECKPOINT_NAME, config_of, load_checkpoint
from ..config import Config, get_value, set_value
from ..families import get_family, resolve_config
from ..models import build_model
from ..rundir import CONFIG_FILE, atomic_path, read_json, read_metrics
from ..trainer import EvalEvent, RunResult, checkpoint_path
from .leaderboard import (
    FLOPS_KEY,
    FLOPS_PER_STEP_KEY,
    MESSAGE_KEY,
    NODE_KEY,
    PID_KEY,
    RESTORED_KEY,
    RUN_DIR_KEY,
    STATUS_KEY,
    WALL_KEY,
)

# Keys PBT may change between a donor's checkpoint and the trial that continues from it; anything
# else differing means the checkpoint belongs to another model.
_SHAPE_KEYS = (
    "family",
    "data.name",
    "data.image_size",
    "data.channels",
    "model.architecture",
    "model.latent_dim",
    "model.conv_width",
    "model.reconstruction",
)


def prepare_run_dir(run_dir: Path, checkpoint_dir: Path | None, config: Config) -> int:
    """Make ``run_dir`` ready for ``train(config, run_dir, resume=True)``; returns the step it continues from.

    Without a checkpoint the trial starts over, so leftovers of an earlier attempt (a crash before
    the first report, a restart of an errored trial) are cleared. With one -- Tune's latest for
    this trial, or a better trial's when PBT exploits -- it becomes the run's checkpoint.
    """
    if checkpoint_dir is None:
        if run_dir.exists():
            shutil.rmtree(run_dir)
        return 0
    source = Path(checkpoint_dir) / CHECKPOINT_NAME
    target = checkpoint_path(run_dir)
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(target) as tmp:
        shutil.copyfile(source, tmp)
    return adopt_hyperparameters(target, config)


def _flat(cfg: Config) -> dict[str, Any]:
    from ..config import flatten

    return flatten(cfg.to_dict())


def adopt_hyperparameters(checkpoint_file: Path, config: Config) -> int:
    """Rewrite a checkpoint so that resuming it trains with ``config``'s hyperparameters.

    The trainer resumes a checkpoint with the config saved in it, optimizer settings included.
    After a PBT exploit the weights come from a donor trial but the learning rate (etc.) must be
    this trial's perturbed one, so the saved config and every optimizer param group are updated
    here. Returns the checkpoint's step.
    """
    payload = load_checkpoint(checkpoint_file)
    saved = resolve_config(config_of(payload))
    wanted = resolve_config(config)
    # A setting the trial leaves to its family is what the checkpoint trained with: a family
    # default changed since (a sweep resumed under a newer gv) must not change a model mid-run.
    for key in get_family(config.family).defaults:
        if get_value(config, key) is None:
            set_value(wanted, key, get_value(saved, key))
    # The budget and thread count are the host's to set on every resume anyway.
    for cfg in (saved, wanted):
        clear_budget(cfg.train)
        cfg.train.threads = 0
    if saved == wanted:
        return int(payload["step"])
    old, new = _flat(saved), _flat(wanted)
    clash = [k for k in _SHAPE_KEYS if old[k] != new[k]]
    if clash:
        raise RuntimeError(
            f"checkpoint {checkpoint_file} is for another model ({clash[0]}: {old[clash[0]]!r} "
            f"!= {new[clash[0]]!r}); PBT mutations must keep the network shapes"
        )
    model = build_model(wanted)
    try:  # any other setting that adds or removes weights (a GAN's generator average, on or off)
        model.load_state_dict(payload["model"])
    except RuntimeError as error:
        raise RuntimeError(
            f"checkpoint {checkpoint_file} is for another model ({str(error).splitlines()[-1].strip()[:120]}); "
            "PBT mutations must keep the network shapes"
        ) from None
    fresh = model.make_optimizers()
    for name, optimizer in fresh.items():
        groups = payload["optimizers"][name]["param_groups"]
        for saved_group, fresh_group in zip(groups, optimizer.state_dict()["param_groups"]):
            saved_group.update({k: v for k, v in fresh_group.items() if k != "params"})
    copy_budget(config.train, wanted.train)
    payload["config"] = wanted.to_json()
    with atomic_path(checkpoint_file) as tmp:
        torch.save(payload, tmp)
    return int(payload["step"])


def objective(config: Config, losses: dict[str, float]) -> float:
    """loss/objective: the loss this family minimises for its sampler (FamilySpec.objective_loss)."""
    key = get_family(config.family).objective_loss
    return float(losses.get(key, float("nan")))


def eval_result(event: EvalEvent, config: Config, run_dir: Path, restored_from: int, node: str) -> dict[str, Any]:
    """The flat result Tune records at an eval: losses, eval metrics, progress and gv's bookkeeping."""
    return {
        "step": event.step,
        "total_steps": event.total_steps,
        "epoch": round(event.epoch, 4),
        "images_per_s": round(event.images_per_s, 1),
        # What ASHA / PBT count in under a FLOP budget (SweepSpec.time_attr), and what rows record.
        FLOPS_KEY: event.flops,
        FLOPS_PER_STEP_KEY: event.flops_per_step,
        **event.losses,
        "loss/objective": objective(config, event.losses),
        **event.metrics,
        WALL_KEY: round(event.elapsed, 3),
        STATUS_KEY: "done" if event.total_steps is not None and event.step >= event.total_steps else "running",
        RUN_DIR_KEY: str(run_dir),
        NODE_KEY: node,
        PID_KEY: os.getpid(),  # the worker process: where to look (py-spy, top) at a slow trial
        RESTORED_KEY: restored_from,
    }


def logged_values(run_dir: Path, step: int) -> dict[str, Any]:
    """The losses and eval metrics metrics.jsonl holds for ``step`` (with loss/objective), or {}."""
    info = read_json(run_dir / CONFIG_FILE)
    if info is None or not isinstance(info.get("config"), dict):
        return {}
    values: dict[str, Any] = {}
    for record in read_metrics(run_dir):
        if record.get("step") == step:
            values.update(
                {k: v for k, v in record.items() if k.startswith(("loss/", "eval/")) or k in ("d_real", "d_fake")}
            )
    if values:
        values["loss/objective"] = objective(Config.from_dict(info["config"]), values)
    return values


def final_result(
    result: RunResult, last: dict[str, Any] | None, metric: str, run_dir: Path, restored_from: int, node: str
) -> dict[str, Any]:
    """The closing report of a trial that did not end at its last eval (diverged / stopped).

    Tune wants the sweep metric in every report, so the last eval's values are repeated: from this
    attempt, else (a trial restarted from its final checkpoint, which trains no further) from the
    run's metrics.jsonl, else NaN. The status and message say what happened.
    """
    out = dict(last or logged_values(run_dir, result.step))
    out.setdefault(metric, float("nan"))
    out.update(
        {
            "step": result.step,
            "total_steps": result.total_steps,
            "images_per_s": round(result.images_per_s, 1),
            FLOPS_KEY: result.flops,
            FLOPS_PER_STEP_KEY: result.flops_per_step,
            WALL_KEY: round(result.wall_time, 3),
            STATUS_KEY: result.status,
            MESSAGE_KEY: result.message,
            RUN_DIR_KEY: str(run_dir),
            NODE_KEY: node,
            PID_KEY: os.getpid(),
            RESTORED_KEY: restored_from,
        }
    )
    return out
