"""A run's budget: which kind it is, how many steps it buys, and the FLOPs of one training step.

Four kinds, one per ``train.*`` field (``config.BUDGET_KINDS``), at most one set per run:

- ``epochs`` / ``steps``: a number of optimizer steps, the same for every family;
- ``flops``: equal *compute* -- FLOPs of one ``train_step`` are counted once per run by torch's own
  counter (``FlopCounterMode``) on a copy of the model and a real batch, and the run trains
  ``flops // flops_per_step`` steps. A family whose step is 10x cheaper gets 10x the steps
  (Lucic et al. 2018: compare families at a fixed computational budget);
- ``seconds``: training time (evaluations excluded), checked every step; machine dependent, so
  only comparable between runs on one machine under the same load.

The trainer calls :func:`count_flops_per_step` and :func:`plan_steps`; everything else reads
``flops_per_step`` from the run (config.json, result.json, the checkpoint, leaderboard rows).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

import torch

from .config import BUDGET_KINDS, DEFAULT_EPOCHS, Config, TrainConfig
from .errors import GVError
from .rng import preserved_rng

# An evaluation costs the same whatever the dataset's size, so on a tiny dataset (mnist-5k: 4,500
# images, ~1 s an epoch for the MLP families) evaluating every epoch would cost more than 10% of
# the run: the default interval is every epoch, but at least this many training images apart.
EVAL_MIN_IMAGES = 10_000
# A FLOP budget's default interval: this many evaluations, evenly spaced, so every family is
# evaluated at the same fractions of the same compute (its curves line up on a FLOPs axis) and a
# family with cheap steps is not evaluated ten times as often as DCGAN.
EVALS_PER_FLOP_BUDGET = 4


def budget_of(train: TrainConfig) -> tuple[str, float]:
    """(kind, amount) of a resolved config's budget."""
    for kind in BUDGET_KINDS:
        value = getattr(train, kind)
        if value is not None:
            return kind, value
    return "epochs", DEFAULT_EPOCHS


def describe(kind: str, amount: float) -> str:
    """A budget for people: '12 epochs', '3.3e+12 FLOPs', '90 s'."""
    if kind == "flops":
        return f"{amount:.3g} FLOPs"
    if kind == "seconds":
        return f"{amount:g} s"
    return f"{int(amount)} {kind}"


def check_budget(train: TrainConfig) -> None:
    """At most one budget, and a positive one (the config's rule; resolve_config calls it)."""
    given = [k for k in BUDGET_KINDS if getattr(train, k) is not None]
    if len(given) > 1:
        values = " and ".join(f"train.{k}={getattr(train, k):g}" for k in given)
        raise GVError(f"{values} are both set: give one budget (one of {', '.join(BUDGET_KINDS)})")
    for kind in given:
        value = getattr(train, kind)
        if not value > 0 or not math.isfinite(value):
            raise GVError(f"bad train.{kind} {value:g}: a budget must be a finite number > 0")


def clear_budget(train: TrainConfig) -> None:
    for kind in BUDGET_KINDS:
        setattr(train, kind, None)


def copy_budget(source: TrainConfig, target: TrainConfig) -> None:
    """Give ``target`` the budget of ``source`` (a resumed run keeps its config but takes the new budget)."""
    for kind in BUDGET_KINDS:
        setattr(target, kind, getattr(source, kind))


class Trainable(Protocol):
    """What the budget needs of a model (gvcore.models.GenerativeModel, without importing it)."""

    def make_optimizers(self) -> dict[str, torch.optim.Optimizer]: ...

    def train_step(
        self, images: torch.Tensor, labels: torch.Tensor, optimizers: dict[str, torch.optim.Optimizer]
    ) -> dict[str, torch.Tensor]: ...

    def parameters(self) -> Iterator[torch.nn.Parameter]: ...

    def modules(self) -> Iterator[torch.nn.Module]: ...


def count_flops_per_step(model: Trainable, images: torch.Tensor, labels: torch.Tensor) -> float:
    """FLOPs of one real ``train_step`` on this batch, counted by torch (matmuls and convolutions,
    forward and backward) on a deep copy of the model with fresh optimizers: the run's weights,
    optimizer state and RNG are exactly as before (the copied step draws noise from the global RNG,
    which is restored)."""
    from torch.utils.flop_counter import FlopCounterMode

    scratch = copy.deepcopy(model)
    optimizers = scratch.make_optimizers()
    with preserved_rng(images.device):
        counter = FlopCounterMode(display=False)
        with counter:
            scratch.train_step(images, labels, optimizers)
    flops = float(counter.get_total_flops())
    if flops <= 0:
        raise AssertionError("torch counted no FLOPs in a training step")
    return flops


def check_batch_memory(model: Trainable, images: torch.Tensor, labels: torch.Tensor, batch_size: int) -> None:
    """Refuse a batch whose training step would not fit in memory, before the first real step.

    One step on two images, on a copy of the model (as count_flops_per_step does), measures the
    activations each image makes (every layer's output); a step of ``batch_size`` images keeps them
    for the backward pass and makes their gradients: twice that, per image."""
    from .limits import check_memory

    scratch = copy.deepcopy(model)
    optimizers = scratch.make_optimizers()
    made = [0]

    def count(module: torch.nn.Module, inputs: object, output: object) -> None:
        for tensor in output if isinstance(output, (tuple, list)) else (output,):
            if isinstance(tensor, torch.Tensor):
                made[0] += tensor.numel() * tensor.element_size()

    handles = [m.register_forward_hook(count) for m in scratch.modules() if not any(m.children())]
    try:
        with preserved_rng(images.device):
            scratch.train_step(images[:2], labels[:2], optimizers)
    finally:
        for handle in handles:
            handle.remove()
    per_image = made[0] / 2
    weights = sum(p.numel() * p.element_size() for p in model.parameters())
    check_memory(
        f"train.batch_size {batch_size:,}: a training step of {batch_size:,} images",
        2 * per_image * batch_size + 4 * weights,
        "give a smaller --batch-size (or --set train.batch_size=...)",
        str(images.device),
    )


@dataclass
class StepPlan:
    steps_per_epoch: int
    # None: a seconds budget (the clock decides), or a FLOP budget before its step was counted.
    total_steps: int | None
    eval_every: int


def plan_steps(cfg: Config, n_train: int, flops_per_step: float | None = None) -> StepPlan:
    """Steps per epoch, total steps and eval interval of a resolved config."""
    t = cfg.train
    if t.batch_size > n_train:
        raise GVError(f"bad batch size {t.batch_size}: larger than the {n_train} training images of '{cfg.data.name}'")
    steps_per_epoch = n_train // t.batch_size  # drop the ragged last batch (BatchNorm-safe)
    kind, amount = budget_of(t)
    total: int | None
    if kind == "epochs":
        total = int(amount) * steps_per_epoch
    elif kind == "steps":
        total = int(amount)
    elif kind == "flops" and flops_per_step is not None:
        # Whole steps that fit in the budget: never more compute than asked for.
        total = int(amount // flops_per_step)
        if total < 1:
            raise GVError(
                f"bad train.flops {amount:.3g}: less than one training step of {cfg.family} "
                f"({flops_per_step:.3g} FLOPs at batch {t.batch_size}); give at least {flops_per_step:.3g}"
            )
    else:
        total = None
    if t.eval_every:
        return StepPlan(steps_per_epoch, total, t.eval_every)
    if kind == "flops" and total is not None:
        return StepPlan(steps_per_epoch, total, max(1, math.ceil(total / EVALS_PER_FLOP_BUDGET)))
    epochs_between = max(1, math.ceil(EVAL_MIN_IMAGES / (steps_per_epoch * t.batch_size)))
    return StepPlan(steps_per_epoch, total, epochs_between * steps_per_epoch)
