"""Compute budgets (gvcore/budget.py): FLOPs of a step counted by torch without touching the run,
FLOP budgets as steps, resumes to the same total, and seconds budgets that end with an evaluation."""

from __future__ import annotations

import json

import pytest
import torch
from helpers import loss_lines, tiny_config

from gvcore.budget import count_flops_per_step, plan_steps
from gvcore.checkpoint import load_checkpoint
from gvcore.data import load_dataset
from gvcore.errors import GVError
from gvcore.families import FAMILIES, resolve_config
from gvcore.models import build_model
from gvcore.trainer import Hooks, checkpoint_path, train


def real_batch(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    digits = load_dataset("mnist-5k", "train", "", 0)
    return digits.to_float(torch.device("cpu"))[:n], digits.labels[:n]


def fresh_model(family: str, seed: int = 0):
    torch.manual_seed(seed)
    model = build_model(resolve_config(tiny_config(family)))
    return model, model.make_optimizers()


@pytest.mark.slow
@pytest.mark.parametrize("family", ["gan", "dcgan", "cvae"])
def test_counting_a_step_leaves_weights_optimizers_and_rng_as_they_were(family):
    images, labels = real_batch(16)
    counted, counted_opt = fresh_model(family)
    twin, twin_opt = fresh_model(family)
    for model, optimizers in ((counted, counted_opt), (twin, twin_opt)):
        torch.manual_seed(1)
        model.train_step(images, labels, optimizers)  # so that there is optimizer state (Adam moments)
    torch.manual_seed(5)
    flops = count_flops_per_step(counted, images, labels)
    assert flops > 0
    # The RNG was not consumed: the next training step draws the same noise as the twin's, and
    # weights + optimizer state were untouched, so both steps give the same losses and weights.
    after_count = counted.train_step(images, labels, counted_opt)
    torch.manual_seed(5)
    after_twin = twin.train_step(images, labels, twin_opt)
    assert {k: float(v) for k, v in after_count.items()} == {k: float(v) for k, v in after_twin.items()}
    for (name, a), (_, b) in zip(counted.state_dict().items(), twin.state_dict().items()):
        assert torch.equal(a, b), name


def test_flops_per_step_are_counted_not_assumed():
    images, labels = real_batch(64)
    per_family = {family: count_flops_per_step(fresh_model(family)[0], images, labels) for family in FAMILIES}
    # The convolutional DCGAN costs about eight MLP GAN steps; the MLP families of one kind are
    # within 10% of each other.
    assert 7 < per_family["dcgan"] / per_family["gan"] < 12
    for kind in (("gan", "lsgan", "cgan"), ("vae", "cvae")):
        assert max(per_family[f] for f in kind) / min(per_family[f] for f in kind) < 1.1
    assert per_family["lsgan"] == per_family["gan"]  # the same networks, another loss (R1 at another weight)
    # The R1 step is counted: about a fifth more than the adversarial step alone.
    plain = resolve_config(tiny_config("gan"))
    plain.train.r1_gamma = 0.0
    without_r1 = count_flops_per_step(build_model(plain), images, labels)
    assert 1.1 < per_family["gan"] / without_r1 < 1.4
    # Matmuls scale with the batch: half the batch, half the FLOPs.
    half = count_flops_per_step(fresh_model("gan")[0], images[:32], labels[:32])
    assert half * 2 == pytest.approx(per_family["gan"], rel=1e-6)


def flop_config(family: str, flops: float, **train):
    cfg = tiny_config(family, steps=None, eval_every=train.pop("eval_every", 0), **train)
    cfg.train.flops = flops
    return cfg


@pytest.mark.slow
def test_a_flop_budget_buys_whole_steps_and_every_record_says_so(tmp_path):
    images, labels = real_batch(16)
    per_step = count_flops_per_step(fresh_model("gan")[0], images, labels)
    budget = 10.5 * per_step
    result = train(flop_config("gan", budget), tmp_path / "run")
    assert result.status == "done" and result.step == result.total_steps == 10
    assert result.flops_per_step == per_step and result.flops == 10 * per_step <= budget
    saved = json.loads((tmp_path / "run" / "result.json").read_text())
    assert (saved["step"], saved["flops"], saved["flops_per_step"]) == (10, 10 * per_step, per_step)
    info = json.loads((tmp_path / "run" / "config.json").read_text())
    assert info["budget"] == {"kind": "flops", "amount": budget, "flops_per_step": per_step, "total_steps": 10}
    assert info["config"]["train"]["flops"] == budget and info["config"]["train"]["steps"] is None
    # The default eval interval of a FLOP budget: a quarter of the run (here 3 steps, and the last).
    assert sorted(p.name for p in (tmp_path / "run" / "samples").glob("*.png")) == [
        "step-0000003.png",
        "step-0000006.png",
        "step-0000009.png",
        "step-0000010.png",
    ]


def test_a_budget_below_one_step_is_refused_before_anything_is_written(tmp_path):
    made: list = []
    # ... and before the evaluator is made (on a cold cache that trains its classifier: a minute).
    with pytest.raises(GVError, match=r"bad train.flops 1e\+06: less than one training step of gan"):
        train(flop_config("gan", 1e6), tmp_path / "run", evaluator_for=made.append)
    assert not (tmp_path / "run").exists() and made == []
    # A budget that buys steps makes it once, for the config the run trains with.
    train(flop_config("gan", 3e9), tmp_path / "run", evaluator_for=made.append)
    assert [config.family for config in made] == ["gan"] and made[0].train.flops == 3e9


@pytest.mark.slow
def test_resuming_a_flop_budget_run_continues_to_the_same_total(tmp_path):
    images, labels = real_batch(16)
    budget = 9.5 * count_flops_per_step(fresh_model("vae")[0], images, labels)
    reference = train(flop_config("vae", budget, eval_every=3), tmp_path / "reference")
    seen: list[int] = []
    stopped = train(
        flop_config("vae", budget, eval_every=3),
        tmp_path / "stopped",
        Hooks(on_progress=lambda p: seen.append(p.step), should_stop=lambda: len(seen) >= 5),
    )
    assert stopped.status == "stopped" and stopped.step == 5
    assert load_checkpoint(checkpoint_path(tmp_path / "stopped"))["extra"]["flops_per_step"] == reference.flops_per_step
    resumed = train(flop_config("vae", budget, eval_every=3), tmp_path / "stopped")
    assert resumed.status == "done" and resumed.step == resumed.total_steps == reference.step == 9
    assert resumed.flops == reference.flops
    assert loss_lines(tmp_path / "stopped") == loss_lines(tmp_path / "reference")


def test_a_seconds_budget_ends_with_an_evaluation_and_resume_counts_the_saved_time(tmp_path):
    # A microsecond: every step takes longer, so the run trains exactly one step, then evaluates.
    cfg = tiny_config("gan", steps=None, eval_every=1000)
    cfg.train.seconds = 1e-6
    run = tmp_path / "run"
    result = train(cfg, run)
    assert result.status == "done" and result.step == result.total_steps == 1
    assert result.flops == result.flops_per_step > 0
    assert load_checkpoint(checkpoint_path(run))["step"] == 1  # the final checkpoint
    assert [p.name for p in (run / "samples").glob("*.png")] == ["step-0000001.png"]
    # Resumed, the saved training time already exceeds the budget: no further step.
    again = train(cfg, run)
    assert again.status == "done" and again.step == 1
    assert [line["step"] for line in loss_lines(run)] == [1]


def test_plan_of_each_budget_kind():
    cfg = resolve_config(tiny_config("gan", steps=None))  # no budget: DEFAULT_EPOCHS epochs
    assert plan_steps(cfg, 4500).total_steps == cfg.train.epochs * (4500 // 16)
    cfg.train.epochs, cfg.train.seconds = None, 30.0
    assert plan_steps(resolve_config(cfg), 4500).total_steps is None  # the clock decides
    cfg.train.seconds, cfg.train.flops = None, 1e9
    assert plan_steps(resolve_config(cfg), 4500, flops_per_step=3e8).total_steps == 3


@pytest.mark.parametrize(
    "budget, fragment",
    [
        ({"flops": 0.0}, "bad train.flops 0"),
        ({"flops": -1e12}, "bad train.flops -1e+12"),
        ({"seconds": 0.0}, "bad train.seconds 0"),
        ({"flops": float("inf")}, "finite number > 0"),
        ({"steps": 0}, "bad train.steps 0"),
        ({"epochs": 2, "flops": 1e12}, "train.epochs=2 and train.flops=1e+12 are both set"),
        ({"steps": 5, "seconds": 9.0}, "give one budget"),
    ],
)
def test_bad_budgets_are_config_errors(budget, fragment):
    cfg = tiny_config("gan", steps=None)
    for kind, value in budget.items():
        setattr(cfg.train, kind, value)
    with pytest.raises(GVError, match=None) as caught:
        resolve_config(cfg)
    assert fragment in str(caught.value) and "\n" not in str(caught.value)
