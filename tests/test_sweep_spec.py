"""Sweep files, flags, expansion, leaderboards and PBT hand-over -- everything before and around Ray,
tested without starting it. (The Ray runs themselves are in test_sweep_ray.py / test_sweep_cluster.py.)"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from helpers import assert_one_line_error
from sweep_helpers import invoke, write_sweep

from gvcore.checkpoint import load_checkpoint
from gvcore.config import Config
from gvcore.errors import GVError
from gvcore.families import FAMILIES
from gvcore.sweep import apply_overrides, expand_trials, leaderboard, load_sweep, shipped_sweeps, spec_from_saved
from gvcore.sweep.trial_run import adopt_hyperparameters, prepare_run_dir
from gvcore.trainer import checkpoint_path, train

RAY_TMP = Path("/tmp/ray")


def ray_sessions() -> set[str]:
    return {p.name for p in RAY_TMP.glob("session_*")} if RAY_TMP.is_dir() else set()


# --- shipped sweeps -----------------------------------------------------------------------------


@pytest.mark.slow
def test_every_shipped_sweep_validates_and_quick_mnist_is_all_six_on_mnist_5k():
    shipped = shipped_sweeps()
    expected = {
        "dcgan-mnist",
        "gan-mnist",
        "lsgan-mnist",
        "cgan-mnist",
        "vae-mnist",
        "cvae-mnist",
        "compare-mnist",
        "compare-fashion",
        "compare-cifar10",
        "imagenette",
        "quick-mnist",
        "study-mnist-5k",
        "study-mnist",
    }
    assert expected <= set(shipped)
    for name in shipped:
        spec = load_sweep(name)
        assert spec.name == name and spec.description
        assert spec.num_trials() == len(expand_trials(spec))
    quick = load_sweep("quick-mnist")
    assert quick.dataset == "mnist-5k" and set(quick.families) == set(FAMILIES) and quick.num_trials() == 6
    assert quick.search == {} and quick.base == {}  # the gvcore/config.py defaults, lr 1e-3 included
    compare = load_sweep("compare-mnist")
    assert set(compare.families) == set(FAMILIES)
    # The verdict studies: every family, at least 8 trials each (draws x seeds), the same FLOPs per trial.
    for name, per_family, seeds in (("study-mnist-5k", 8, 2), ("study-mnist", 150, 3)):
        study = load_sweep(name)
        trials = expand_trials(study)
        assert set(study.families) == set(FAMILIES) and study.budget_unit == "flops" and len(study.seeds) == seeds
        for family in FAMILIES:
            mine = [t for t in trials if t["family"] == family]
            assert len(mine) == per_family and {t["train.flops"] for t in mine} == {study.budget}


@pytest.mark.slow
def test_gv_sweeps_lists_every_shipped_sweep_with_its_description():
    result = invoke(["sweeps"])
    assert result.exit_code == 0, result.stderr
    for name, path in shipped_sweeps().items():
        assert name in result.stdout
        assert load_sweep(str(path)).description[:30] in result.stdout


# --- expansion ----------------------------------------------------------------------------------


def test_random_draws_are_shared_by_every_family_grid_point_and_seed(tmp_path):
    path = write_sweep(
        tmp_path,
        "pairs",
        families=["gan", "vae", "dcgan"],
        repeats=2,
        num_samples=3,
        search={
            "optim.lr": {"loguniform": [1e-4, 1e-2]},
            "model.latent_dim": {"randint": [8, 12]},
            "train.label_smoothing": {"grid": [0.0, 0.1]},
        },
    )
    spec = load_sweep(str(path))
    trials = expand_trials(spec)
    assert len(trials) == spec.num_trials() == 3 * 3 * 2 * 2
    lrs = sorted({t["optim.lr"] for t in trials})
    assert len(lrs) == 3 and all(1e-4 <= lr <= 1e-2 for lr in lrs)
    for lr in lrs:
        same_draw = [t for t in trials if t["optim.lr"] == lr]
        # one draw = every family x grid point x seed, all with the same latent size too
        assert len(same_draw) == 3 * 2 * 2
        assert {t["family"] for t in same_draw} == {"gan", "vae", "dcgan"}
        assert {t["train.seed"] for t in same_draw} == {0, 1}
        assert {t["train.label_smoothing"] for t in same_draw} == {0.0, 0.1}
        assert len({t["model.latent_dim"] for t in same_draw}) == 1
    assert all(8 <= t["model.latent_dim"] < 12 for t in trials)
    assert all(t["train.steps"] == 40 and t["train.eval_every"] == 20 and t["data.name"] == "mnist-5k" for t in trials)
    # repeatable from the file alone; another search_seed draws other values
    assert expand_trials(load_sweep(str(path))) == trials
    spec.search_seed = 1
    assert sorted({t["optim.lr"] for t in expand_trials(spec)}) != lrs


def test_an_eval_metric_is_added_to_every_trials_eval_metrics(tmp_path):
    from gvcore.evaluation.catalog import resolve_metrics

    path = write_sweep(tmp_path, "fid", families=["gan", "cvae"], metric="eval/fid", mode="min")
    trials = expand_trials(load_sweep(str(path)))
    for trial in trials:  # the file asked for none ("" in base); ranking by eval/fid needs fid
        names = resolve_metrics(
            trial["eval.metrics"], has_labels=trial["family"] == "cvae", is_vae=trial["family"] == "cvae"
        )
        assert names == ["fid"]


def test_set_pins_keys_families_and_seeds(tmp_path):
    path = write_sweep(
        tmp_path,
        "pins",
        repeats=3,
        num_samples=2,
        search={"optim.lr": {"loguniform": [1e-4, 1e-2]}},
        per_family={"vae": {"model.latent_dim": 8}},
    )
    spec = apply_overrides(
        load_sweep(str(path)),
        num_samples=1,
        cpus_per_trial=0.5,
        sets=["family=vae", "optim.lr=0.002", "train.seed=7", "model.latent_dim=16"],
    )
    trials = expand_trials(spec)
    assert [(t["family"], t["optim.lr"], t["train.seed"], t["model.latent_dim"]) for t in trials] == [
        ("vae", 0.002, 7, 16)
    ]
    assert spec.cpu == 0.5


# --- one-line errors before Ray -----------------------------------------------------------------

BAD_FILES = [
    ("families: [gan\n", "line", "unreadable YAML"),
    ("", "(top level)", "empty"),
    ("- just\n- a list\n", "(top level)", "expected a mapping"),
    ("dataset: mnist-5k\nfamilies: [gan]\nepochs: 3\n", "epochs", "unknown key"),
    ("dataset: mnist-5k\nfamilies: [gann]\n", "families", "unknown family 'gann'"),
    ("dataset: mnist-7k\nfamilies: [gan]\n", "dataset", "unknown dataset 'mnist-7k'"),
    ("dataset: mnist-5k\nfamilies: []\n", "families", "expected a list"),
    ("dataset: mnist-5k\nfamilies: [gan]\nbase: {optim.lrr: 0.1}\n", "base.optim.lrr", "unknown config key"),
    (
        "dataset: mnist-5k\nfamilies: [gan]\nbase: {train.batch_size: big}\n",
        "base.train.batch_size",
        "expected an integer",
    ),
    ("dataset: mnist-5k\nfamilies: [gan]\nbase: {family: vae}\n", "base.family", "top-level 'families'"),
    ("dataset: mnist-5k\nfamilies: [gan]\nbase: {optim.beta1: 1.5}\n", "trial 0 (gan)", "optim.beta1"),
    ("dataset: mnist-5k\nfamilies: [gan]\nsearch: {}\n", "search", "search space is empty"),
    (
        "dataset: mnist-5k\nfamilies: [gan]\nsearch: {model.size: {choice: [1]}}\n",
        "search.model.size",
        "unknown config key",
    ),
    ("dataset: mnist-5k\nfamilies: [gan]\nsearch: {optim.lr: {choice: []}}\n", "search.optim.lr", "no values"),
    (
        "dataset: mnist-5k\nfamilies: [gan]\nsearch: {optim.lr: {normal: [0, 1]}}\n",
        "search.optim.lr",
        "unknown distribution",
    ),
    ("dataset: mnist-5k\nfamilies: [gan]\nsearch: {optim.lr: {loguniform: [0, 1]}}\n", "search.optim.lr", "low > 0"),
    (
        "dataset: mnist-5k\nfamilies: [gan]\nsearch: {optim.lr: {uniform: [0.1, 0.01]}}\n",
        "search.optim.lr",
        "low < high",
    ),
    (
        "dataset: mnist-5k\nfamilies: [gan]\nsearch: {model.latent_dim: {uniform: [8, 64]}}\n",
        "search.model.latent_dim",
        "not a float key",
    ),
    (
        "dataset: mnist-5k\nfamilies: [gan]\nsearch: {model.latent_dim: {choice: [8, x]}}\n",
        "search.model.latent_dim",
        "expected an integer",
    ),
    ("dataset: mnist-5k\nfamilies: [gan]\nbudget: {steps: 10, epochs: 1}\n", "budget", "exactly one"),
    ("dataset: mnist-5k\nfamilies: [gan]\nbudget: {steps: 0}\n", "budget.steps", ">= 1"),
    ("dataset: mnist-5k\nfamilies: [gan]\nbudget: {flops: 0}\n", "budget.flops", "> 0, got 0"),
    ("dataset: mnist-5k\nfamilies: [gan]\nbudget: {flops: -2.0e13}\n", "budget.flops", "> 0, got -2"),
    ("dataset: mnist-5k\nfamilies: [gan]\nbudget: {flops: lots}\n", "budget.flops", "got 'lots'"),
    ("dataset: mnist-5k\nfamilies: [gan]\nbudget: {flops: .inf}\n", "budget.flops", "finite"),
    ("dataset: mnist-5k\nfamilies: [gan]\nbudget: {seconds: 0}\n", "budget.seconds", "> 0"),
    ("dataset: mnist-5k\nfamilies: [gan]\nbudget: {flops: 2.0e13, epochs: 3}\n", "budget", "exactly one of"),
    ("dataset: mnist-5k\nfamilies: [gan]\nbudget: {gpu_hours: 3}\n", "budget", "{flops: N}, {seconds: N}"),
    ("dataset: mnist-5k\nfamilies: [gan]\nbase: {train.flops: 1.0e12}\n", "base.train.flops", "top-level 'budget'"),
    (
        "dataset: mnist-5k\nfamilies: [gan]\nbudget: {seconds: 60}\nscheduler: {type: asha}\n",
        "scheduler.type",
        "asha can't count in seconds",
    ),
    (
        "dataset: mnist-5k\nfamilies: [gan]\nbudget: {seconds: 60}\nscheduler: {type: pbt, mutations: {optim.lr: {choice: [0.001]}}}\n",
        "scheduler.type",
        "pbt can't count in seconds",
    ),
    (
        "dataset: mnist-5k\nfamilies: [gan]\nbudget: {flops: 1.0e12}\nscheduler: {type: asha, grace_period: 2.0e12}\n",
        "scheduler.grace_period",
        "2e+12 flops is past the budget of 1e+12 flops",
    ),
    ("dataset: mnist-5k\nfamilies: [gan]\nnum_samples: 0\n", "num_samples", ">= 1"),
    ("dataset: mnist-5k\nfamilies: [gan]\nrepeats: two\n", "repeats", "integer"),
    ("dataset: mnist-5k\nfamilies: [gan]\nmode: lowest\n", "mode", "min or max"),
    ("dataset: mnist-5k\nfamilies: [gan]\nmetric: loss/kl\n", "metric", "does not report 'loss/kl'"),
    (
        "dataset: mnist-5k\nfamilies: [gan]\nmetric: eval/no_such_metric\n",
        "metric",
        "not reported by any evaluation metric",
    ),
    ("dataset: mnist-5k\nfamilies: [gan]\nmetric: eval/label_acc\nmode: max\n", "metric", "can't rank family gan"),
    ("dataset: mnist-5k\nfamilies: [gan]\nscheduler: hyperband\n", "scheduler.type", "unknown scheduler"),
    (
        "dataset: mnist-5k\nfamilies: [gan]\nbudget: {steps: 100}\nscheduler: {type: asha, grace_period: 500}\n",
        "scheduler.grace_period",
        "past the budget",
    ),
    (
        "dataset: mnist-5k\nfamilies: [gan]\nscheduler: {type: pbt, mutations: {model.latent_dim: {choice: [8, 16]}}}\n",
        "scheduler.mutations.model.latent_dim",
        "network shapes",
    ),
    ("dataset: mnist-5k\nfamilies: [gan]\nscheduler: {type: pbt}\n", "scheduler.mutations", "expected a mapping"),
    ("dataset: mnist-5k\nfamilies: [gan]\nresources: {cpu: 1, gpu: -1}\n", "resources.gpu", ">= 0"),
    ("dataset: mnist-5k\nfamilies: [gan]\nresources: {tpu: 1}\n", "resources.tpu", "unknown resource"),
    ("dataset: mnist-5k\nfamilies: [gan]\nper_family: {vae: {model.latent_dim: 8}}\n", "per_family.vae", "not one of"),
]


@pytest.mark.parametrize("text,key,problem", BAD_FILES, ids=[f"{c[1]}:{c[2]}" for c in BAD_FILES])
def test_bad_sweep_file_is_one_line_exit_2_without_ray(tmp_path, text, key, problem):
    import ray

    path = tmp_path / "bad.yaml"
    path.write_text(text)
    storage = tmp_path / "store"
    before = ray_sessions()
    result = invoke(["sweep", str(path), "--storage", str(storage)])
    assert_one_line_error(result, str(path), key, problem)
    assert not ray.is_initialized() and ray_sessions() == before
    assert not storage.exists()  # nothing half-written


def test_bad_flags_are_one_line_exit_2_without_ray(tmp_path):
    import ray

    good = write_sweep(tmp_path, "good")
    storage = tmp_path / "store"
    common = ["--storage", str(storage)]
    cases = [
        (["sweep", "no-such-sweep"], "unknown sweep 'no-such-sweep'"),
        (["sweep", str(tmp_path / "missing.yaml")], "does not exist"),
        (["sweep", str(good), "--num-samples", "0", *common], "--num-samples 0: num_samples: expected an integer >= 1"),
        (
            ["sweep", str(good), "--gpus-per-trial", "-1", *common],
            "--gpus-per-trial -1: resources.gpu: expected a number >= 0",
        ),
        (
            ["sweep", str(good), "--cpus-per-trial", "0", *common],
            "--cpus-per-trial 0: resources.cpu: expected a number > 0",
        ),
        (
            ["sweep", str(good), "--max-concurrent", "0", *common],
            "--max-concurrent 0: max_concurrent: expected an integer >= 1",
        ),
        (["sweep", str(good), "--cpus-per-trial", "4096", *common], "this machine has"),
        (["sweep", str(good), "--set", "optim.lrr=1", *common], "unknown config key 'optim.lrr'"),
        (["sweep", str(good), "--set", "optim.lr", *common], "malformed --set 'optim.lr'"),
        (["sweep", str(good), "--set", "train.batch_size=big", *common], "train.batch_size"),
        (["sweep", str(good), "--set", "family=gann", *common], "unknown family 'gann'"),
        (["sweep", str(good), "--wandb-mode", "sometimes", *common], "bad --wandb-mode 'sometimes'"),
        (["sweep", str(good), "--name", "a/b", *common], "bad --name 'a/b'"),
        (["sweep", str(good), "--resume", *common], "nothing to resume"),
        (["sweep", str(good), "--resume", "--name", "x", *common], "nothing to resume"),
        (["sweep", str(good), "--resume", "--set", "optim.lr=0.1", *common], "--set can't change a sweep on --resume"),
        (["sweep", str(good), "--num-samples", "two", *common], "--num-samples"),
        (["sweep", str(good), "--bogus-flag", *common], "--bogus-flag"),
        (
            ["sweep", "dcgan-mnist", "--set", "train.epochs=1", *common],
            "--set train.epochs=1: scheduler.grace_period: 2 epochs is past the budget",
        ),
        (["sweep", "dcgan-mnist", "--set", "train.steps=500", *common], "counts in epochs"),
        (["sweep", "dcgan-mnist", "--set", "train.flops=2e13", *common], "counts in epochs; set train.epochs instead"),
        (
            ["sweep", str(good), "--set", "train.flops=0", *common],
            "--set train.flops=0: budget.flops: expected a number > 0",
        ),
        (["sweep", str(good), "--set", "train.seconds=-3", *common], "--set train.seconds=-3: budget.seconds"),
        (["results", str(tmp_path / "nope")], "does not exist"),
        (["results", str(tmp_path)], "no leaderboard.json"),
    ]
    before = ray_sessions()
    for args, fragment in cases:
        result = invoke(args)
        assert_one_line_error(result, fragment)
    assert not ray.is_initialized() and ray_sessions() == before
    assert not storage.exists()


def test_a_huge_sweep_is_refused_at_once_by_the_trial_cap(tmp_path):
    """num_samples: 1000000000 is counted, never expanded: one line naming the product and the way out."""
    path = write_sweep(tmp_path, "huge", families=["gan", "vae"], repeats=2, num_samples=1_000_000_000)
    result = invoke(["sweep", str(path), "--storage", str(tmp_path / "store")])
    assert_one_line_error(
        result,
        "num_samples",
        "1,000,000,000 num_samples x 2 families x 1 grid points x 2 seeds",
        "4,000,000,000 trials",
        "limit of 10,000",
        "max_trials",
        "--max-trials",
    )
    assert not (tmp_path / "store").exists()
    # the cap is the file's (or the flag's) to raise, and it counts exactly
    spec = load_sweep(str(write_sweep(tmp_path, "cap", families=["gan", "vae"], num_samples=3, max_trials=6)))
    assert spec.num_trials() == 6
    with pytest.raises(GVError, match="with --max-trials 5: num_samples: .* = 6 trials, over the limit of 5"):
        apply_overrides(spec, max_trials=5)
    assert apply_overrides(spec, max_trials=6).num_trials() == 6


def test_overrides_go_through_the_sweep_files_own_validator(tmp_path):
    spec = load_sweep("dcgan-mnist")
    # a pinned budget below the ASHA grace period: the same rule and words as in a file
    with pytest.raises(
        GVError, match=r"dcgan-mnist.yaml with --set train.epochs=1: scheduler.grace_period: .* past the budget"
    ):
        apply_overrides(spec, sets=["train.epochs=1"])
    # pinning the only searched key of a file empties its search space, which is fine for a pin
    pinned = apply_overrides(
        load_sweep("dcgan-mnist"),
        sets=[
            f"{key}=0.5" if key.endswith("beta1") else f"{key}=0.001" for key in spec.search if key.startswith("optim.")
        ],
    )
    assert not any(key.startswith("optim.") for key in pinned.search)
    # the original spec is not modified by overrides
    assert load_sweep("dcgan-mnist").to_dict() == spec.to_dict()


@pytest.mark.parametrize("storage_kind", ["file", "under-a-file", "ftp-uri"])
def test_bad_storage_is_refused_before_ray_with_nothing_written(tmp_path, storage_kind):
    import ray

    good = write_sweep(tmp_path, "good")
    a_file = tmp_path / "notes.txt"
    a_file.write_text("not a directory")
    storage, fragment = {
        "file": (str(a_file), "is a file, not a directory"),
        "under-a-file": (str(a_file / "sweeps"), "is a file, so no directory can be made under it"),
        "ftp-uri": ("ftp://example.org/sweeps", "can't write sweeps to 'ftp://'"),
    }[storage_kind]
    before = ray_sessions()
    result = invoke(["sweep", str(good), "--storage", storage])
    assert_one_line_error(result, f"bad --storage '{storage}'", fragment)
    assert not ray.is_initialized() and ray_sessions() == before
    assert a_file.read_text() == "not a directory" and sorted(p.name for p in tmp_path.iterdir()) == [
        "good.yaml",
        "notes.txt",
    ]


def test_existing_sweep_dir_without_resume_is_refused(tmp_path):
    good = write_sweep(tmp_path, "good")
    (tmp_path / "store" / "taken").mkdir(parents=True)
    result = invoke(["sweep", str(good), "--storage", str(tmp_path / "store"), "--name", "taken"])
    assert_one_line_error(result, "already exists", "--resume --name taken")


def test_unreachable_cluster_address_is_a_quick_one_line_error(tmp_path):
    import ray

    good = write_sweep(tmp_path, "good")
    for address in ("127.0.0.1:1", "ray://127.0.0.1:1"):
        result = invoke(
            ["sweep", str(good), "--storage", str(tmp_path / "store"), "--address", address, "--wandb-mode", "disabled"]
        )
        # "unreachable" comes from gv's socket probe, before ray.init (which would wait a minute
        # or more per address and then fail with another message).
        assert_one_line_error(result, f"--address {address}", "unreachable")
    assert not ray.is_initialized()
    assert not (tmp_path / "store").exists()


# --- W&B mode -----------------------------------------------------------------------------------


def test_wandb_auto_mode(monkeypatch, tmp_path):
    from gvcore.commands.wandb_mode import resolve_wandb_mode

    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    assert resolve_wandb_mode("auto")[0] == "offline"  # not logged in
    monkeypatch.setenv("WANDB_API_KEY", "k" * 40)
    monkeypatch.setenv("WANDB_BASE_URL", "http://127.0.0.1:9")  # nothing listens there
    mode, why = resolve_wandb_mode("auto")
    assert mode == "offline" and "unreachable" in why
    netrc_file = tmp_path / "netrc"
    netrc_file.write_text("machine 127.0.0.1\n  login user\n  password " + "n" * 40 + "\n")
    netrc_file.chmod(0o600)
    monkeypatch.delenv("WANDB_API_KEY")
    monkeypatch.setenv("NETRC", str(netrc_file))
    assert "unreachable" in resolve_wandb_mode("auto")[1]  # logged in via `wandb login`, server down
    assert resolve_wandb_mode("online")[0] == "online"  # explicit: trials fall back per trial
    monkeypatch.setenv("WANDB_MODE", "disabled")
    assert resolve_wandb_mode("auto")[0] == "disabled"
    with pytest.raises(GVError, match="bad --wandb-mode"):
        resolve_wandb_mode("always")


# --- the trial side -----------------------------------------------------------------------------


def _tiny(family: str, lr: float, steps: int) -> Config:
    cfg = Config(family=family)
    cfg.optim.lr, cfg.train.steps, cfg.train.eval_every, cfg.train.log_every = lr, steps, 10, 10
    return cfg


@pytest.mark.slow
def test_pbt_handover_continues_donor_weights_with_the_recipients_hyperparameters(tmp_path):
    donor = tmp_path / "donor"
    train(_tiny("gan", 1e-3, 10), donor)
    recipient = tmp_path / "recipient"
    wanted = _tiny("gan", 3e-4, 20)
    wanted.optim.beta1 = 0.6
    step = prepare_run_dir(recipient, donor / "checkpoints", wanted)
    assert step == 10
    payload = load_checkpoint(checkpoint_path(recipient))
    for name in ("generator", "discriminator"):
        group = payload["optimizers"][name]["param_groups"][0]
        assert group["lr"] == 3e-4 and group["betas"][0] == 0.6
    result = train(wanted, recipient, resume=True)
    assert result.status == "done" and result.step == 20
    final = load_checkpoint(checkpoint_path(recipient))
    assert final["optimizers"]["generator"]["param_groups"][0]["lr"] == 3e-4
    assert json.loads(final["config"])["optim"]["lr"] == 3e-4
    # the donor's weights really were the starting point: its first 10 steps are not repeated
    lines = [json.loads(ln) for ln in (recipient / "metrics.jsonl").read_text().splitlines()]
    assert [ln["step"] for ln in lines if "loss/generator" in ln] == [20]
    # same config: untouched; another architecture: refused
    assert adopt_hyperparameters(checkpoint_path(recipient), wanted) == 20
    other = _tiny("gan", 3e-4, 20)
    other.model.latent_dim = 7
    with pytest.raises(RuntimeError, match="model.latent_dim"):
        adopt_hyperparameters(checkpoint_path(recipient), other)


@pytest.mark.slow
def test_fresh_trial_start_clears_an_earlier_attempt_and_the_live_view_reads_progress(tmp_path):
    from gvcore.rundir import last_logged

    run = tmp_path / "run"
    assert last_logged(run) == {}
    train(_tiny("vae", 1e-3, 10), run)
    assert last_logged(run)["step"] == 10 and "loss/total" in last_logged(run)
    assert checkpoint_path(run).is_file()
    assert prepare_run_dir(run, None, _tiny("vae", 1e-3, 10)) == 0
    assert not run.exists()


# --- leaderboards -------------------------------------------------------------------------------


def _row(trial_id, family, status, values, error=None):
    history = [
        {
            "step": 10 * (i + 1),
            "total_steps": 30,
            "loss/objective": v,
            "images_per_s": 100.0,
            "gv/wall_time": 1.0 + i,
            leaderboard.STATUS_KEY: "running",
        }
        for i, v in enumerate(values)
    ]
    return leaderboard.make_row(
        trial_id=trial_id,
        config={"family": family, "optim.lr": 0.001},
        status=status,
        metric="loss/objective",
        mode="min",
        history=history,
        error=error,
    )


def test_leaderboard_ranks_statuses_and_families_and_round_trips(tmp_path):
    rows = [
        _row("a", "vae", "done", [9.0, 7.0, 8.0]),
        _row("b", "gan", "diverged", [0.1], "non-finite loss"),
        _row("c", "gan", "done", [1.5, 1.2]),
        _row("d", "gan", "error", [], "boom"),
        _row("e", "gan", "stopped", [1.4]),
        _row("f", "gan", "done", [float("nan"), 1.1]),
    ]
    assert rows[0].best_metric == 7.0 and rows[0].best_step == 20 and rows[0].step == 30
    assert rows[5].best_metric == 1.1  # NaN reports never win
    json_path, csv_path = leaderboard.write(tmp_path, rows, sweep="s", final=True)
    doc = leaderboard.read(tmp_path)
    order = [(r.trial_id, r.rank) for r in doc.rows]
    # a loss ranks within each family (gan before vae, the registry order); done, stopped, diverged, error
    assert order == [("f", 1), ("c", 2), ("e", 3), ("b", 4), ("d", 5), ("a", 6)]
    assert doc.final and doc.metric == "loss/objective" and doc.rows[0].metrics["loss/objective"] == 1.1
    assert doc.schema == leaderboard.SCHEMA and json.loads(Path(json_path).read_text())["schema"] == leaderboard.SCHEMA
    assert [r.to_dict() for r in doc.rows] == [r.to_dict() for r in leaderboard.rank(rows)]  # a lossless round trip
    table = list(csv.DictReader(io.StringIO(Path(csv_path).read_text())))
    assert [r["trial_id"] for r in table] == ["f", "c", "e", "b", "d", "a"]
    assert json.loads(table[0]["config"]) == {"family": "gan", "optim.lr": 0.001}
    assert leaderboard.objective_note("loss/objective", doc.rows) is not None
    assert leaderboard.objective_note("eval/fid", doc.rows) is None
    result = invoke(["results", str(tmp_path)])
    assert result.exit_code == 0, result.stderr
    assert "gan_c" in result.stdout and "non-finite loss" in result.stdout and "boom" in result.stdout
    as_json = invoke(["results", str(tmp_path), "--json"])
    assert json.loads(as_json.stdout)["rows"][0]["trial_id"] == "f"


def test_nan_metric_everywhere_leaves_best_empty():
    row = _row("x", "vae", "diverged", [float("nan")])
    assert row.best_metric is None and row.best_step is None
    assert row.metrics == {}  # NaN is not a value to carry


def test_schedulers_count_in_the_budget_unit_and_pbt_stays_inside_its_bounds(tmp_path):
    from ray.tune.schedulers import ASHAScheduler, PopulationBasedTraining

    from gvcore.tune import build_scheduler

    asha = build_scheduler(
        load_sweep(
            str(
                write_sweep(
                    tmp_path,
                    "asha",
                    budget={"epochs": 6},
                    scheduler={"type": "asha", "grace_period": 2, "reduction_factor": 2},
                )
            )
        )
    )
    assert isinstance(asha, ASHAScheduler)
    assert (asha._time_attr, asha._max_t, asha._reduction_factor) == ("epoch", 6, 2)
    spec = load_sweep(
        str(
            write_sweep(
                tmp_path,
                "pbt",
                families=["vae"],
                scheduler={
                    "type": "pbt",
                    "perturbation_interval": 20,
                    "mutations": {
                        "optim.lr": {"loguniform": [1e-4, 1e-2]},
                        "model.dropout": {"uniform": [0.0, 0.5]},
                        "optim.beta1": {"choice": [0.5, 0.9]},
                    },
                },
            )
        )
    )
    pbt = build_scheduler(spec)
    assert isinstance(pbt, PopulationBasedTraining) and pbt._time_attr == "step"
    assert set(pbt._hyperparam_mutations["trial"]) == {"optim.lr", "model.dropout", "optim.beta1"}
    # every trial carries the mutated keys (PBT perturbs what it finds in the config) ...
    assert all({"optim.lr", "model.dropout", "optim.beta1"} <= set(t) for t in expand_trials(spec))
    # ... and a perturbation past a bound (x1.2 of 0.5 dropout, x0.8 of 1e-4 lr) is pulled back inside it
    clamped = pbt._custom_explore_fn({"trial": {"optim.lr": 0.8e-4, "model.dropout": 0.6, "optim.beta1": 0.9}})
    assert clamped["trial"] == {"optim.lr": 1e-4, "model.dropout": 0.5, "optim.beta1": 0.9}
    assert build_scheduler(load_sweep(str(write_sweep(tmp_path, "fifo")))) is None


def test_flop_and_seconds_budgets_in_files_and_pins(tmp_path):
    # Written as people write them (PyYAML alone would read 2.0e13 and 2e13 as strings):
    for text in ("2.0e13", "2e13", "2.0e+13", "20000000000000"):
        path = tmp_path / "plain.yaml"
        path.write_text(f"dataset: mnist-5k\nfamilies: [gan]\nbudget: {{flops: {text}}}\n")
        assert load_sweep(str(path)).budget == 2e13, text
    spec = load_sweep(str(write_sweep(tmp_path, "flops", budget={"flops": 2e13}, eval_every=0)))
    assert (spec.budget_unit, spec.budget, spec.time_attr, spec.budget_text) == ("flops", 2e13, "flops", "2e+13 FLOPs")
    trials = expand_trials(spec)
    assert all(t["train.flops"] == 2e13 and "train.steps" not in t for t in trials)
    from gvcore.families import resolve_config
    from gvcore.sweep import trial_config

    assert resolve_config(trial_config(trials[0])).train.flops == 2e13
    # a pin replaces the budget (and its unit) of a fifo sweep, validated like the file
    seconds = apply_overrides(spec, sets=["train.seconds=90"])
    assert (seconds.budget_unit, seconds.budget, seconds.budget_text) == ("seconds", 90.0, "90 s")
    assert all(t["train.seconds"] == 90.0 and "train.flops" not in t for t in expand_trials(seconds))
    assert apply_overrides(spec, sets=["train.flops=3e12"]).budget == 3e12
    # the spec round-trips through sweep.json (what --resume reads back)
    assert spec_from_saved(json.loads(json.dumps(spec.to_dict()))) == spec
    # a scheduler keeps the unit it counts in: pinning another budget kind is named as such
    asha = load_sweep(
        str(
            write_sweep(
                tmp_path,
                "asha-flops",
                budget={"flops": 1e12},
                scheduler={"type": "asha", "grace_period": 2.5e11, "reduction_factor": 2},
            )
        )
    )
    with pytest.raises(
        GVError,
        match=r"bad --set train.seconds=60: this sweep.s asha scheduler counts in flops; set train.flops instead",
    ):
        apply_overrides(asha, sets=["train.seconds=60"])


def test_asha_and_pbt_count_in_flops_under_a_flop_budget(tmp_path):
    from gvcore.tune import build_scheduler

    asha = build_scheduler(
        load_sweep(
            str(
                write_sweep(
                    tmp_path,
                    "asha",
                    budget={"flops": 4e12},
                    scheduler={"type": "asha", "grace_period": 1e12, "reduction_factor": 2},
                )
            )
        )
    )
    assert (asha._time_attr, asha._max_t, asha._reduction_factor) == ("flops", 4e12, 2)
    pbt = build_scheduler(
        load_sweep(
            str(
                write_sweep(
                    tmp_path,
                    "pbt",
                    families=["vae"],
                    budget={"flops": 4e12},
                    scheduler={"type": "pbt", "mutations": {"optim.lr": {"loguniform": [1e-4, 1e-2]}}},
                )
            )
        )
    )
    assert pbt._time_attr == "flops" and pbt._perturbation_interval == 1e12  # default: a quarter of the budget
