"""`gv families / config / train / resume / sample` through Typer's runner, bad input included."""

from __future__ import annotations

import json
import os
import pickle

import numpy as np
import pytest
import torch
from helpers import assert_one_line_error, loss_lines, run_cli
from PIL import Image


@pytest.fixture(scope="module")
def cgan_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "cgan"
    result = run_cli(
        "train",
        "cgan",
        "--dataset",
        "mnist-5k",
        "--steps",
        "8",
        "--batch-size",
        "32",
        "--seed",
        "3",
        "--out",
        out,
        "--set",
        "train.eval_every=4",
        "--set",
        "train.log_every=2",
    )
    assert result.exit_code == 0, result.output
    return out


def test_families_lists_all_six_with_parameter_counts():
    result = run_cli("families")
    assert result.exit_code == 0
    for name in ("gan", "lsgan", "dcgan", "cgan", "vae", "cvae"):
        assert f"│ {name} " in result.output
    assert "GAN" in result.output and "VAE" in result.output
    assert "2,223,633" in result.output  # the seed-000 MLP GAN: generator + discriminator


def test_config_lists_every_key_resolved():
    result = run_cli("config", "vae", "--set", "optim.lr=5e-4")
    assert result.exit_code == 0
    assert "optim.lr" in result.output and "0.0005" in result.output
    assert "model.latent_dim" in result.output


def test_train_writes_a_complete_run_dir(cgan_run):
    info = json.loads((cgan_run / "config.json").read_text())
    assert info["config"]["train"]["seed"] == 3 and info["config"]["train"]["batch_size"] == 32
    assert info["config"]["train"]["steps"] == 8
    assert (cgan_run / "checkpoints" / "checkpoint.pt").is_file()
    assert [line["step"] for line in loss_lines(cgan_run)] == [2, 4, 6, 8]
    assert json.loads((cgan_run / "result.json").read_text())["status"] == "done"


def test_sample_npz_balanced_labels(cgan_run, tmp_path):
    out = tmp_path / "s.npz"
    result = run_cli("sample", cgan_run, "--n", "30", "--out", out, "--seed", "1")
    assert result.exit_code == 0, result.output
    with np.load(out) as npz:
        images, labels = npz["images"], npz["labels"]
    assert images.shape == (30, 28, 28, 1) and images.dtype == np.uint8
    assert labels.shape == (30,) and np.bincount(labels).tolist() == [3] * 10
    assert images.std() > 0
    # Same seed, same images.
    again = tmp_path / "t.npz"
    run_cli("sample", cgan_run, "--n", "30", "--out", again, "--seed", "1")
    with np.load(again) as npz:
        assert np.array_equal(npz["images"], images)


def test_sample_chosen_labels_and_png_grid(cgan_run, tmp_path):
    out = tmp_path / "s.npz"
    assert run_cli("sample", cgan_run, "--n", "6", "--out", out, "--labels", "3,7").exit_code == 0
    with np.load(out) as npz:
        assert sorted(npz["labels"].tolist()) == [3, 3, 3, 7, 7, 7]
    png = tmp_path / "grid.png"
    result = run_cli("sample", cgan_run, "--n", "20", "--out", png)
    assert result.exit_code == 0, result.output
    grid = Image.open(png)
    # 10 class rows of 2 cells (28 px + 2 px padding each).
    assert grid.size == (2 + 2 * 30, 2 + 10 * 30)


def test_resume_extends_a_finished_run(cgan_run, tmp_path):
    import shutil

    run = tmp_path / "copy"
    shutil.copytree(cgan_run, run)
    result = run_cli("resume", run, "--steps", "12")
    assert result.exit_code == 0, result.output
    steps = [line["step"] for line in loss_lines(run)]
    assert steps == [2, 4, 6, 8, 10, 12]


@pytest.mark.slow
def test_train_with_a_flop_budget_and_resume_it_with_a_larger_one(tmp_path):
    run = tmp_path / "gan"
    # batch 16: the MLP GAN's step (with its R1 step) is ~2.9e8 FLOPs, so 1.5e9 buys 5 whole steps
    result = run_cli(
        "train",
        "gan",
        "--flops",
        "1.5e9",
        "--batch-size",
        "16",
        "--out",
        run,
        "--set",
        "eval.metrics=",
        "--set",
        "train.log_every=1",
    )
    assert result.exit_code == 0, result.output
    done = json.loads((run / "result.json").read_text())
    per_step = done["flops_per_step"]
    assert done["status"] == "done" and done["step"] == done["total_steps"] == int(1.5e9 // per_step) == 5
    assert done["flops"] == 5 * per_step and "FLOPs" in result.output
    # A larger budget continues the same run with the FLOPs a step it was planned with.
    assert run_cli("resume", run, "--flops", "2.4e9").exit_code == 0
    resumed = json.loads((run / "result.json").read_text())
    assert resumed["step"] == int(2.4e9 // per_step) == 8 and resumed["flops_per_step"] == per_step
    assert [line["step"] for line in loss_lines(run)] == list(range(1, 9))
    assert json.loads((run / "config.json").read_text())["config"]["train"]["flops"] == 2.4e9


def test_train_with_a_seconds_budget(tmp_path):
    run = tmp_path / "vae"
    # A microsecond of training: one step (any step takes longer), then the final checkpoint and grid.
    result = run_cli("train", "vae", "--seconds", "1e-6", "--out", run, "--set", "eval.metrics=")
    assert result.exit_code == 0, result.output
    done = json.loads((run / "result.json").read_text())
    assert done["status"] == "done" and done["step"] == done["total_steps"] == 1
    assert done["flops"] == done["flops_per_step"] > 0
    assert (run / "checkpoints" / "checkpoint.pt").is_file() and (run / "samples" / "step-0000001.png").is_file()
    assert json.loads((run / "config.json").read_text())["budget"]["kind"] == "seconds"


def test_resume_refuses_two_budgets(cgan_run):
    assert_one_line_error(
        run_cli("resume", cgan_run, "--steps", "12", "--flops", "1e12"),
        "--steps 12 and --flops 1e+12",
        "give one budget",
    )


# --- bad input: one line, exit 2, nothing written ------------------------------------------------


@pytest.mark.parametrize(
    "args, needles",
    [
        (["train", "stylegan"], ["stylegan", "gan, lsgan"]),
        (["train", "gan", "--dataset", "svhn"], ["svhn", "mnist-5k"]),
        (["train", "gan", "--set", "optim.lrr=1"], ["optim.lrr"]),
        (["train", "gan", "--set", "optim.lr"], ["optim.lr", "key=value"]),
        (["train", "gan", "--set", "=3"], ["=3"]),
        (["train", "gan", "--lr", "0"], ["0.0", "> 0"]),
        (["train", "gan", "--lr", "-1e-3"], ["-0.001"]),
        (["train", "gan", "--batch-size", "0"], ["batch size", "0"]),
        (["train", "gan", "--batch-size", "-5"], ["-5"]),
        (["train", "gan", "--batch-size", "9999"], ["9999", "4500"]),
        (["train", "gan", "--epochs", "2", "--steps", "5"], ["--epochs", "--steps"]),
        (["train", "gan", "--flops", "2e13", "--epochs", "3"], ["--epochs 3 and --flops 2e+13", "give one budget"]),
        (["train", "gan", "--steps", "3", "--seconds", "60"], ["--steps 3 and --seconds 60", "give one budget"]),
        (["train", "gan", "--flops", "0"], ["bad train.flops 0", "> 0"]),
        (["train", "gan", "--flops", "-2e13"], ["bad train.flops -2e+13", "> 0"]),
        (["train", "gan", "--flops", "nan"], ["bad train.flops nan", "finite"]),
        (["train", "gan", "--flops", "1000"], ["bad train.flops 1e+03", "less than one training step of gan"]),
        (["train", "gan", "--seconds", "0"], ["bad train.seconds 0", "> 0"]),
        (["train", "gan", "--seconds", "-5"], ["bad train.seconds -5"]),
        (
            ["train", "gan", "--flops", "2e13", "--set", "train.steps=4"],
            ["train.steps=4 and train.flops=2e+13", "give one budget"],
        ),
        (["train", "gan", "--flops", "lots"], ["--flops"]),
        (["train", "gan", "--epochs", "two"], ["--epochs"]),
        (["train", "gan", "--device", "tpu"], ["tpu"]),
        (["train", "cvae", "--set", "model.label_scale=0"], ["bad model.label_scale 0.0", "> 0"]),
        (["train", "cvae", "--set", "model.encoder_label_scale=-1"], ["bad model.encoder_label_scale -1.0", "> 0"]),
        (["train", "cvae", "--set", "model.kl_weight_start=-1"], ["bad model.kl_weight_start -1.0", ">= 0"]),
        (["train", "gan", "--set", "train.ema_decay=1"], ["bad train.ema_decay 1.0", "[0, 1)"]),
        (["train", "cvae", "--set", "model.free_bits=-0.5"], ["bad model.free_bits -0.5", ">= 0"]),
        (["train", "gan", "--dataset", "cifar10", "--data-dir", "{tmp}/nodata"], ["cifar10", "nodata"]),
    ],
)
def test_train_bad_input(args, needles, tmp_path):
    out = tmp_path / "run"
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    result = run_cli(*args, "--out", out)
    assert_one_line_error(result, *needles)
    assert not out.exists()  # nothing half-written
    assert not (tmp_path / "nodata").exists()


def test_train_refuses_an_existing_run_dir(cgan_run):
    assert_one_line_error(run_cli("train", "gan", "--out", cgan_run), str(cgan_run), "gv resume")


def test_sample_and_resume_missing_run_dir(tmp_path):
    missing = tmp_path / "nope"
    assert_one_line_error(run_cli("sample", missing, "--out", tmp_path / "x.png"), str(missing))
    assert_one_line_error(run_cli("resume", missing), str(missing))
    assert not (tmp_path / "x.png").exists()


def test_sample_bad_flags(cgan_run, tmp_path):
    assert_one_line_error(run_cli("sample", cgan_run, "--n", "0", "--out", tmp_path / "a.png"), "--n 0")
    assert_one_line_error(run_cli("sample", cgan_run, "--out", tmp_path / "a.jpg"), "a.jpg")
    assert_one_line_error(run_cli("sample", cgan_run, "--labels", "3,12", "--out", tmp_path / "a.png"), "3,12")
    assert not list(tmp_path.iterdir())


class _Payload:
    def __reduce__(self):
        return (os.system, (f"touch {_Payload.marker}",))


def test_sample_refuses_a_malicious_checkpoint(tmp_path):
    run = tmp_path / "evil-run"
    (run / "checkpoints").mkdir(parents=True)
    _Payload.marker = str(tmp_path / "pwned")
    # Both a torch.save'd file and a raw pickle carrying a call to os.system.
    torch.save({"format": "gv-checkpoint/1", "model": _Payload()}, run / "checkpoints" / "checkpoint.pt")
    result = run_cli("sample", run, "--out", tmp_path / "out.png")
    assert_one_line_error(result, "refused")
    (run / "checkpoints" / "checkpoint.pt").write_bytes(pickle.dumps(_Payload()))
    assert_one_line_error(run_cli("sample", run, "--out", tmp_path / "out.png"), "refused")
    assert_one_line_error(run_cli("resume", run), "refused")
    assert not (tmp_path / "pwned").exists()
    assert not (tmp_path / "out.png").exists()


def test_sample_labels_for_unconditional_family(tmp_path):
    out = tmp_path / "gan"
    assert run_cli("train", "gan", "--steps", "2", "--out", out).exit_code == 0
    assert_one_line_error(run_cli("sample", out, "--labels", "1", "--out", tmp_path / "a.png"), "--labels", "gan")
