"""The foundation: the trainer, losses, data, config, checkpoints. (The contract every family keeps
is tests/test_families.py.)"""

from __future__ import annotations

import json
import math
import pickle

import numpy as np
import pytest
import torch
from helpers import loss_lines, read_jsonl, tiny_config

from gvcore import losses
from gvcore.checkpoint import load_checkpoint
from gvcore.config import Config, apply_overrides, valid_keys
from gvcore.data import DATASETS, get_spec, load_dataset, to_uint8, to_unit_range
from gvcore.errors import GVError
from gvcore.families import resolve_config
from gvcore.models import build_model
from gvcore.trainer import checkpoint_path, train

# --- the trainer (the contract every family keeps is tests/test_families.py) ------------------


@pytest.mark.slow
def test_same_seed_same_losses_other_seed_other_losses(tmp_path):
    train(tiny_config("dcgan", steps=4), tmp_path / "a")
    train(tiny_config("dcgan", steps=4), tmp_path / "b")
    train(tiny_config("dcgan", steps=4, seed=1), tmp_path / "c")
    assert loss_lines(tmp_path / "a") == loss_lines(tmp_path / "b")
    assert loss_lines(tmp_path / "a") != loss_lines(tmp_path / "c")


def test_run_directory_contents(tmp_path):
    cfg = tiny_config("cgan", steps=6, eval_every=3)
    train(cfg, tmp_path)
    info = json.loads((tmp_path / "config.json").read_text())
    assert info["config"]["family"] == "cgan"
    assert info["config"]["model"]["latent_dim"] == 100 and info["config"]["optim"]["beta1"] == 0.5
    assert info["family"]["conditional"] is True
    assert set(info["versions"]) >= {"gv", "torch", "torchvision", "python"}
    assert info["parameters"]["generator"] > 0
    # config.json holds the full resolved config: it rebuilds the same model.
    assert resolve_config(Config.from_dict(info["config"])).to_dict() == info["config"]
    assert sorted(p.name for p in (tmp_path / "samples").iterdir()) == ["step-0000003.png", "step-0000006.png"]
    from PIL import Image

    grid = Image.open(tmp_path / "samples" / "step-0000006.png")
    assert grid.size[1] > grid.size[0] // 2  # 10 class rows x 8 columns
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["status"] == "done" and result["step"] == 6
    assert len(read_jsonl(tmp_path / "metrics.jsonl")) == 6


def test_diverging_run_stops_without_nan_checkpoint(tmp_path):
    cfg = tiny_config("vae", steps=20, eval_every=10)
    cfg.optim.lr = 1e4  # blows the VAE up within a couple of steps
    result = train(cfg, tmp_path)
    assert result.status == "diverged"
    assert result.step < 10
    assert not checkpoint_path(tmp_path).exists()  # nothing NaN was saved
    assert json.loads((tmp_path / "result.json").read_text())["status"] == "diverged"


def test_vae_gaussian_reconstruction_and_label_smoothing_train(tmp_path):
    cfg = tiny_config("vae", steps=3)
    apply_overrides(cfg, ["model.reconstruction=gaussian"])
    assert train(cfg, tmp_path / "vae").status == "done"
    cfg = tiny_config("gan", steps=3)
    apply_overrides(cfg, ["train.label_smoothing=0.1", "optim.lr_discriminator=4e-4"])
    assert train(cfg, tmp_path / "gan").status == "done"


# --- losses against hand-computed values ------------------------------------------------------


def test_bce_losses_by_hand():
    real, fake = torch.tensor([0.0, 2.0]), torch.tensor([-1.0])
    expected_d = (math.log(2.0) + math.log(1 + math.exp(-2.0))) / 2 + math.log(1 + math.exp(-1.0))
    assert losses.bce_discriminator_loss(real, fake).item() == pytest.approx(expected_d, rel=1e-6)
    # Non-saturating generator loss: -log sigmoid(-1) = log(1 + e).
    assert losses.bce_generator_loss(fake).item() == pytest.approx(math.log(1 + math.e), rel=1e-6)
    # One-sided label smoothing: target 0.9 for the real logit 0 still gives log 2.
    smoothed = losses.bce_discriminator_loss(torch.tensor([0.0]), torch.tensor([-1.0]), real_target=0.9)
    assert smoothed.item() == pytest.approx(math.log(2.0) + math.log(1 + math.exp(-1.0)), rel=1e-6)


def test_least_squares_losses_by_hand():
    real, fake = torch.tensor([1.5, 0.5]), torch.tensor([0.2])
    assert losses.least_squares_discriminator_loss(real, fake).item() == pytest.approx(0.5 * 0.25 + 0.5 * 0.04)
    assert losses.least_squares_generator_loss(fake).item() == pytest.approx(0.5 * 0.64)


def test_gaussian_kl_closed_form():
    mu = torch.tensor([1.0, 0.0, 0.5])
    logvar = torch.tensor([0.0, math.log(4.0), -1.0])
    kl = losses.gaussian_kl(mu, logvar)
    assert kl[0].item() == pytest.approx(0.5)  # shift by 1 at unit variance
    assert kl[1].item() == pytest.approx(1.5 - math.log(2.0))  # variance 4 at zero mean
    reference = torch.distributions.kl_divergence(
        torch.distributions.Normal(mu, torch.exp(0.5 * logvar)), torch.distributions.Normal(0.0, 1.0)
    )
    assert torch.allclose(kl, reference, atol=1e-6)


def test_reconstruction_likelihoods_by_hand():
    target = torch.tensor([[1.0, 0.0, 0.25]])
    logits = torch.tensor([[0.0, 0.0, 0.0]])
    # Bernoulli: every pixel at p = 1/2 costs log 2 nats, whatever the target.
    assert losses.reconstruction_nll(logits, target, "bernoulli", 1.0).item() == pytest.approx(3 * math.log(2.0))
    # Gaussian with std^2 = 1/2: squared error + log(pi)/2 per pixel (mean = sigmoid(0) = 0.5).
    sq = (0.5**2) + (0.5**2) + (0.25**2)
    got = losses.reconstruction_nll(logits, target, "gaussian", math.sqrt(0.5)).item()
    assert got == pytest.approx(sq + 3 * 0.5 * math.log(math.pi), rel=1e-6)


def test_lsgan_is_gan_with_another_loss():
    gan = build_model(resolve_config(Config(family="gan")))
    lsgan = build_model(resolve_config(Config(family="lsgan")))
    assert type(gan) is type(lsgan)
    assert gan.parameter_counts() == lsgan.parameter_counts()
    assert gan.loss.name == "bce" and lsgan.loss.name == "least_squares"


# --- data ---------------------------------------------------------------------------------------


def test_mnist_5k_is_real_digits_with_a_held_out_split():
    train_set = load_dataset("mnist-5k", "train")
    test_set = load_dataset("mnist-5k", "test")
    assert len(train_set) == 4500 and len(test_set) == 500
    assert train_set.images.dtype == torch.uint8 and train_set.image_shape == (1, 28, 28)
    assert torch.bincount(train_set.labels).tolist() == [450] * 10
    assert torch.bincount(test_set.labels).tolist() == [50] * 10
    # Real MNIST statistics: mostly black background, ~19% of pixels lit, full 0..255 range.
    lit = (train_set.images > 127).float().mean().item()
    assert 0.08 < lit < 0.25
    assert train_set.images.max() == 255 and train_set.images.min() == 0
    # No test digit appears in the training split.
    train_keys = {hash(img.numpy().tobytes()) for img in train_set.images}
    assert not any(hash(img.numpy().tobytes()) in train_keys for img in test_set.images)
    floats = train_set.to_float()
    assert floats.min() == -1.0 and floats.max() == 1.0
    assert torch.equal(to_uint8(floats), train_set.images)
    assert torch.equal(to_unit_range(train_set.images), floats)


def test_missing_dataset_offline_is_a_clear_error(tmp_path):
    with pytest.raises(GVError) as info:
        load_dataset("fashion-mnist", "train", tmp_path / "data")
    message = str(info.value)
    assert "fashion-mnist" in message and str(tmp_path / "data") in message and "--data-dir" in message
    assert "\n" not in message


def test_every_dataset_has_a_spec_with_its_image_shape():
    # (Every family building, training and sampling at these shapes: tests/test_families.py.)
    assert set(DATASETS) == {"mnist-5k", "mnist", "fashion-mnist", "cifar10", "imagenette"}
    shapes = {name: get_spec(name).image_shape() for name in DATASETS}
    assert shapes == {
        "mnist-5k": (1, 28, 28),
        "mnist": (1, 28, 28),
        "fashion-mnist": (1, 28, 28),
        "cifar10": (3, 32, 32),
        "imagenette": (3, 64, 64),
    }


# --- config -------------------------------------------------------------------------------------


def test_config_round_trips_and_takes_typed_overrides():
    cfg = apply_overrides(
        Config(family="vae"),
        [
            "optim.lr=3e-4",
            "train.epochs=2",
            "model.latent_dim=8",
            "train.device=cpu",
            "optim.beta1=none",
            "data.image_size=0",
        ],
    )
    assert cfg.optim.lr == 3e-4 and cfg.train.epochs == 2 and cfg.model.latent_dim == 8 and cfg.optim.beta1 is None
    assert Config.from_json(cfg.to_json()) == cfg
    resolved = resolve_config(cfg)
    assert resolved.optim.beta1 == 0.9 and Config.from_json(resolved.to_json()) == resolved
    assert "optim.lr" in valid_keys() and "train.batch_size" in valid_keys()


@pytest.mark.parametrize(
    "override, needle",
    [
        ("optim.lrr=1", "optim.lrr"),
        ("bogus=1", "bogus"),
        ("optim=1", "optim"),
        ("train.epochs=2.5", "2.5"),
        ("optim.lr=fast", "fast"),
        ("train.label_smoothing", "train.label_smoothing"),
    ],
)
def test_bad_overrides_are_rejected(override, needle):
    with pytest.raises(GVError, match=needle.replace(".", r"\.")):
        resolve_config(apply_overrides(Config(), [override]))


# --- checkpoints refuse anything that isn't one -------------------------------------------------


class _Boom:
    def __reduce__(self):
        import os

        return (os.system, ("touch /tmp/gv-pwned-by-checkpoint",))


def test_checkpoint_loading_refuses_code_corrupt_and_foreign_files(tmp_path):
    import os

    marker = "/tmp/gv-pwned-by-checkpoint"
    if os.path.exists(marker):
        os.remove(marker)
    evil = tmp_path / "evil.pt"
    torch.save({"format": "gv-checkpoint/1", "model": _Boom()}, evil)
    with pytest.raises(GVError, match="refused to load it .it asks for posix.system"):
        load_checkpoint(evil)
    plain_pickle = tmp_path / "plain.pt"
    plain_pickle.write_bytes(pickle.dumps(_Boom()))
    with pytest.raises(GVError):
        load_checkpoint(plain_pickle)
    assert not os.path.exists(marker)

    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(np.random.default_rng(0).bytes(2000))
    with pytest.raises(GVError, match="corrupt.pt' is not a"):
        load_checkpoint(corrupt)
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(3)}, foreign)
    with pytest.raises(GVError, match="not a gv checkpoint"):
        load_checkpoint(foreign)
