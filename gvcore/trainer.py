"""The plain training loop: one function, phases top to bottom, no Ray and no wandb.

Hosts (the CLI's progress bar, the Ray Tune adapter) stay outside the loop and talk to it through
:class:`Hooks`: ``on_progress`` every log interval, ``on_eval`` after every checkpoint, and
``should_stop`` polled every step.

What it writes into the run directory is described once, in gvcore/rundir.py.

The budget (epochs, steps, FLOPs or seconds; gvcore/budget.py) becomes a number of steps before the
loop, except a seconds budget: the loop ends at the first step past it and then evaluates.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

from . import __version__
from .budget import budget_of, check_batch_memory, copy_budget, count_flops_per_step, plan_steps
from .checkpoint import CHECKPOINT_NAME, config_of, load_checkpoint, save_checkpoint
from .config import Config
from .data import load_split
from .errors import GVError
from .families import get_family, resolve_config
from .images import grid_labels, save_grid
from .models import GenerativeModel, build_model
from .rng import preserved_rng, restore_rng_state
from .rundir import (
    CHECKPOINTS_DIR,
    CONFIG_FILE,
    RESULT_FILE,
    SAMPLES_DIR,
    MetricsWriter,
    read_json,
    truncate_metrics,
    write_json,
)

# What the loop calls at every eval: (model, step) -> {"eval/<key>": value} (gvcore.evaluation.api.make_evaluator).
EvaluationFunction = Callable[[GenerativeModel, int], dict[str, float]]


@dataclass
class Progress:
    step: int
    total_steps: int | None  # None: a seconds budget, still running
    epoch: float
    losses: dict[str, float]
    images_per_s: float
    elapsed: float


@dataclass
class EvalEvent:
    step: int
    total_steps: int | None  # None: a seconds budget, still running
    epoch: float
    losses: dict[str, float]
    metrics: dict[str, float]
    checkpoint: Path
    samples: Path
    images_per_s: float
    elapsed: float
    flops_per_step: float = 0.0

    @property
    def flops(self) -> float:
        return self.step * self.flops_per_step


@dataclass
class Hooks:
    on_progress: Callable[[Progress], None] | None = None
    on_eval: Callable[[EvalEvent], None] | None = None
    should_stop: Callable[[], bool] | None = None


@dataclass
class RunResult:
    status: str  # "done" | "diverged" | "stopped"
    run_dir: Path
    step: int
    total_steps: int | None  # None: a seconds budget stopped before its time ran out
    wall_time: float
    images_per_s: float
    losses: dict[str, float] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    checkpoint: Path | None = None
    message: str = ""
    flops_per_step: float = 0.0
    train_time: float = 0.0  # wall_time less evaluations and checkpoints: what a seconds budget counts

    @property
    def flops(self) -> float:
        return self.step * self.flops_per_step

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "step": self.step,
            "total_steps": self.total_steps,
            "wall_time": round(self.wall_time, 3),
            "train_time": round(self.train_time, 3),
            "images_per_s": round(self.images_per_s, 1),
            "flops_per_step": self.flops_per_step,
            "flops": self.flops,
            "losses": self.losses,
            "metrics": self.metrics,
            "checkpoint": str(self.checkpoint) if self.checkpoint else None,
            "message": self.message,
        }


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise GVError(f"device '{name}' asked for but no CUDA GPU is available: use --device cpu or auto")
    return torch.device(name)


def epoch_permutation(seed: int, epoch: int, n: int, device: torch.device) -> torch.Tensor:
    """The data order of one epoch, a pure function of (seed, epoch): resuming needs no saved state."""
    g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(n, generator=g).to(device)


def versions() -> dict[str, str]:
    import torchvision

    return {
        "gv": __version__,
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "python": platform.python_version(),
    }


def checkpoint_path(run_dir: Path) -> Path:
    return Path(run_dir) / CHECKPOINTS_DIR / CHECKPOINT_NAME


def train(
    config: Config,
    run_dir: str | os.PathLike,
    hooks: Hooks | None = None,
    evaluator_for: Callable[[Config], EvaluationFunction | None] | None = None,
    resume: bool = True,
) -> RunResult:
    """Train ``config`` into ``run_dir``; continue from its checkpoint if there is one."""
    hooks = hooks or Hooks()
    run_dir = Path(run_dir)
    ckpt_file = checkpoint_path(run_dir)
    payload = load_checkpoint(ckpt_file) if resume and ckpt_file.is_file() else None
    # A resumed run keeps its own config, except for the budget the caller may have extended.
    cfg = resolve_config(config)
    if payload is not None:
        saved = config_of(payload)
        copy_budget(cfg.train, saved.train)
        cfg = resolve_config(saved)
    spec = get_family(cfg.family)
    t = cfg.train

    # --- 1. device, threads, seed -------------------------------------------------------------
    device = pick_device(t.device)
    if t.threads:
        torch.set_num_threads(t.threads)
    torch.manual_seed(t.seed)

    # --- 2. data: the whole training split as one float tensor on the device -----------------
    train_set = load_split(cfg.data, "train")
    images = train_set.to_float(device)
    labels = train_set.labels.to(device)
    n_train = images.shape[0]

    # --- 3. model and optimizers; FLOPs of one step; the plan ------------------------------------
    model = build_model(cfg).to(device)
    model.train()
    optimizers = model.make_optimizers()
    # Counted once, on a copy and the first batch of epoch 0; a resumed run keeps the count it was
    # planned with, so it continues to the same total whatever this torch counts.
    flops_per_step = float(payload["extra"].get("flops_per_step", 0.0)) if payload is not None else 0.0
    if not flops_per_step:
        plan_steps(cfg, n_train)  # a batch larger than the data is refused before any step is measured
        first = epoch_permutation(t.seed, 0, n_train, device)[: min(t.batch_size, n_train)]
        check_batch_memory(model, images[first], labels[first], t.batch_size)
        flops_per_step = count_flops_per_step(model, images[first], labels[first])
    plan = plan_steps(cfg, n_train, flops_per_step)
    steps_per_epoch, total_steps, eval_every = plan.steps_per_epoch, plan.total_steps, plan.eval_every
    # The evaluator (its classifier trained on a cold cache: a minute) is made once the budget is
    # known to buy a step, for the config the run trains with, and without touching the training RNG.
    with preserved_rng(device):
        evaluator = evaluator_for(cfg) if evaluator_for else None
    budget_kind, budget_amount = budget_of(t)
    seconds = t.seconds  # None unless the budget is seconds of training

    # --- 4. fresh run or resume ---------------------------------------------------------------
    step, wall_before, eval_before = 0, 0.0, 0.0
    if payload is not None:
        model.load_state_dict(payload["model"])
        for name, opt in optimizers.items():
            opt.load_state_dict(payload["optimizers"][name])
        restore_rng_state(payload["rng"])
        step = int(payload["step"])
        wall_before = float(payload["extra"].get("wall_time", 0.0))
        eval_before = float(payload["extra"].get("eval_time", 0.0))
        truncate_metrics(run_dir, step)
    run_dir.mkdir(parents=True, exist_ok=True)
    info_file = run_dir / CONFIG_FILE
    created = (read_json(info_file) or {}).get("created") if payload is not None else None
    write_json(
        info_file,
        {
            "config": cfg.to_dict(),
            "family": {
                "name": spec.name,
                "kind": spec.kind,
                "conditional": spec.conditional,
                "loss": spec.loss,
                "reference": spec.reference,
            },
            "dataset": {
                "name": cfg.data.name,
                "image_shape": list(train_set.image_shape),
                "num_classes": train_set.num_classes,
                "train_images": n_train,
            },
            "parameters": model.parameter_counts(),
            "budget": {
                "kind": budget_kind,
                "amount": budget_amount,
                "flops_per_step": flops_per_step,
                "total_steps": total_steps,
            },
            "versions": versions(),
            "created": created or datetime.now(UTC).isoformat(timespec="seconds"),
        },
    )

    # Fixed noise (its own generator, not the training RNG) so grids are comparable across steps.
    if spec.conditional:
        grid_y = grid_labels(model.num_classes, 8, device)
    else:
        grid_y = None
    grid_z = model.sample_latent(64 if grid_y is None else grid_y.shape[0], torch.Generator().manual_seed(t.seed + 1))

    # --- 5. the loop --------------------------------------------------------------------------
    metrics_file = MetricsWriter(run_dir)
    start = time.perf_counter()
    window_start, window_steps = start, 0
    sums: dict[str, torch.Tensor] = {}
    losses: dict[str, float] = {}
    metrics: dict[str, float] = {}
    images_per_s = 0.0
    status, message = "done", ""
    last_ckpt: Path | None = ckpt_file if payload is not None else None
    perm: torch.Tensor | None = None

    eval_time = eval_before  # seconds spent checkpointing and evaluating: not training time

    def elapsed() -> float:
        return wall_before + time.perf_counter() - start

    def training_time() -> float:
        return elapsed() - eval_time

    log_line = metrics_file.append

    try:
        if seconds and wall_before - eval_before >= seconds:
            total_steps = step  # resumed after its time ran out: nothing left to train
        while total_steps is None or step < total_steps:
            epoch, offset = divmod(step, steps_per_epoch)
            if perm is None or offset == 0:
                perm = epoch_permutation(t.seed, epoch, n_train, device)
            idx = perm[offset * t.batch_size : (offset + 1) * t.batch_size]
            out = model.train_step(images[idx], labels[idx], optimizers)
            for key, value in out.items():
                sums[key] = sums[key] + value if key in sums else value.clone()
            step += 1
            window_steps += 1
            if seconds and training_time() >= seconds:
                total_steps = step  # out of time: this step is the last, evaluated below

            at_log = step % t.log_every == 0 or step == total_steps
            at_eval = step % eval_every == 0 or step == total_steps
            if at_log or at_eval:
                # Losses are summed on the device and read back only here: one sync per window.
                if not all(bool(torch.isfinite(v)) for v in sums.values()):
                    bad = {k: float(v / window_steps) for k, v in sums.items()}
                    status, message = "diverged", f"non-finite loss at step {step}: {bad}"
                    log_line({"step": step, "status": "diverged", **{k: str(v) for k, v in bad.items()}})
                    break
                now = time.perf_counter()
                images_per_s = window_steps * t.batch_size / max(now - window_start, 1e-9)
                losses = {k: float(v) / window_steps for k, v in sums.items()}
                log_line(
                    {
                        "step": step,
                        "epoch": round(step / steps_per_epoch, 4),
                        "time": round(elapsed(), 3),
                        "images_per_s": round(images_per_s, 1),
                        **losses,
                    }
                )
                sums, window_start, window_steps = {}, now, 0
                if hooks.on_progress:
                    hooks.on_progress(
                        Progress(step, total_steps, step / steps_per_epoch, losses, images_per_s, elapsed())
                    )

            if at_eval:
                eval_started = time.perf_counter()
                if not all(bool(torch.isfinite(p).all()) for p in model.parameters()):
                    status, message = "diverged", f"non-finite parameters at step {step}"
                    log_line({"step": step, "status": "diverged"})
                    break
                last_ckpt = save_checkpoint(
                    ckpt_file,
                    model=model,
                    optimizers=optimizers,
                    config=cfg,
                    step=step,
                    epoch=epoch,
                    extra={"wall_time": elapsed(), "eval_time": eval_time, "flops_per_step": flops_per_step},
                )
                with preserved_rng(device):
                    try:
                        model.eval()
                        with torch.no_grad():
                            grid = model.generate(grid_z, grid_y)
                        samples_png = save_grid(grid, run_dir / SAMPLES_DIR / f"step-{step:07d}.png", nrow=8)
                        metrics = evaluator(model, step) if evaluator else {}
                    finally:
                        model.train()
                if metrics:
                    log_line({"step": step, "time": round(elapsed(), 3), **metrics})
                if hooks.on_eval:
                    hooks.on_eval(
                        EvalEvent(
                            step,
                            total_steps,
                            step / steps_per_epoch,
                            losses,
                            metrics,
                            last_ckpt,
                            samples_png,
                            images_per_s,
                            elapsed(),
                            flops_per_step,
                        )
                    )
                eval_time += time.perf_counter() - eval_started

            if hooks.should_stop and hooks.should_stop():
                status, message = "stopped", f"stopped by the host at step {step}"
                break
    except KeyboardInterrupt:
        # The interrupt may land mid-step, so the last checkpoint (not this state) is what resumes.
        status, message = "stopped", f"interrupted at step {step}; resume with: gv resume {run_dir}"
    finally:
        metrics_file.close()

    result = RunResult(
        status,
        run_dir,
        step,
        total_steps,
        elapsed(),
        images_per_s,
        losses,
        metrics,
        last_ckpt,
        message,
        flops_per_step,
        training_time(),
    )
    write_json(run_dir / RESULT_FILE, result.to_dict())
    return result


def load_model(
    path: str | os.PathLike, device: str | torch.device = "cpu"
) -> tuple[GenerativeModel, Config, dict[str, Any]]:
    """Rebuild a model from a run directory or a checkpoint file, in eval mode."""
    path = Path(path)
    if path.is_dir():
        file = checkpoint_path(path)
        if not file.is_file():
            raise GVError(
                f"run dir '{path}' has no checkpoint ({file.relative_to(path)}); train it first or pass a checkpoint file"
            )
    elif path.exists():
        file = path
    else:
        raise GVError(f"run dir '{path}' does not exist: pass a directory made by `gv train` (or its checkpoint file)")
    payload = load_checkpoint(file)
    cfg = resolve_config(config_of(payload))
    model = build_model(cfg)
    model.load_state_dict(payload["model"])
    model.to(pick_device(str(device)) if isinstance(device, str) else device).eval()
    return model, cfg, payload
