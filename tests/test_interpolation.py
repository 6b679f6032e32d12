"""Interpolations and GAN inversion on real (briefly) trained models."""

from __future__ import annotations

import math

import pytest
import torch
from helpers import assert_one_line_error, run_cli, tiny_config
from PIL import Image

from gvcore.data import load_dataset
from gvcore.interpolation import (
    class_interpolation,
    find_endpoints,
    latent_interpolation,
    random_latent_error,
    real_interpolation,
    slerp,
)
from gvcore.trainer import load_model, train

pytestmark = pytest.mark.slow  # every test here trains models first


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("interp")
    out = {}
    # DCGAN learns digit strokes in a couple of hundred steps (the MLP GAN needs thousands).
    for family, steps, batch in (("dcgan", 200, 32), ("cvae", 150, 64)):
        cfg = tiny_config(family, steps=steps, batch_size=batch, log_every=50, eval_every=steps)
        assert train(cfg, root / family).status == "done"
        out[family] = root / family
    return out


def test_slerp_keeps_gaussian_norms_and_hits_the_endpoints():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(100, generator=g), torch.randn(100, generator=g)
    path = slerp(a, b, torch.linspace(0, 1, 11))
    assert torch.allclose(path[0], a, atol=1e-5) and torch.allclose(path[-1], b, atol=1e-5)
    # A straight line sags to ~0.7 of the norm mid-way; slerp stays on the shell.
    mid_linear = (0.5 * a + 0.5 * b).norm() / a.norm()
    assert mid_linear < 0.85
    norms = path.norm(dim=1) / math.sqrt(100)
    assert norms.min() > 0.85 and norms.max() < 1.15


def test_gan_inversion_beats_a_random_latent(runs):
    model, _, _ = load_model(runs["dcgan"])
    test = load_dataset("mnist-5k", "test")
    x = test.to_float()[[0, 120, 260, 480]]
    endpoints = find_endpoints(model, x, generator=torch.Generator().manual_seed(0))
    random = random_latent_error(model, x, generator=torch.Generator().manual_seed(0))
    assert endpoints.method == "inversion"
    assert endpoints.errors.mean() < 0.5 * random.mean(), (endpoints.errors, random)
    path = real_interpolation(model, endpoints, None, steps=10)
    assert path.shape == (10, 1, 28, 28)
    # The path starts and ends at the inverted endpoints' images.
    assert torch.allclose(path[0], endpoints.reconstructions[0], atol=1e-4)


def test_vae_endpoints_come_from_the_encoder(runs):
    model, _, _ = load_model(runs["cvae"])
    test = load_dataset("mnist-5k", "test")
    x, y = test.to_float()[[3, 300]], test.labels[[3, 300]]
    endpoints = find_endpoints(model, x, y)
    assert endpoints.method == "encoder"
    assert endpoints.errors.mean() < random_latent_error(model, x, y, torch.Generator().manual_seed(1)).mean()
    imgs = real_interpolation(model, endpoints, y, steps=6)
    assert imgs.shape == (6, 1, 28, 28) and imgs.min() >= -1 and imgs.max() <= 1


def test_class_and_latent_interpolation_shapes(runs):
    model, _, _ = load_model(runs["cvae"])
    z = model.sample_latent(2, torch.Generator().manual_seed(0))
    blend = class_interpolation(model, z[0], 3, 8, steps=7)
    assert blend.shape == (7, 1, 28, 28)
    assert not torch.allclose(blend[0], blend[-1])
    assert torch.allclose(blend[0], model.generate(z[:1], torch.tensor([3])), atol=1e-5)
    line = latent_interpolation(model, z[0], z[1], steps=5, label=2)
    assert line.shape == (5, 1, 28, 28)


def test_interpolate_command(runs, tmp_path):
    out = tmp_path / "a.png"
    result = run_cli("interpolate", runs["cvae"], "--out", out, "--steps", "8")
    assert result.exit_code == 0, result.output
    assert Image.open(out).size == (2 + 8 * 30, 2 + 10 * 30)  # conditional: one row per class
    out = tmp_path / "b.png"
    assert run_cli("interpolate", runs["cvae"], "--from", "class:1", "--to", "class:7", "--out", out).exit_code == 0
    assert Image.open(out).size == (2 + 10 * 30, 32)
    out = tmp_path / "c.png"
    result = run_cli("interpolate", runs["dcgan"], "--from", "test:0", "--to", "test:499", "--out", out, "--steps", "6")
    assert result.exit_code == 0, result.output
    assert "inversion" in result.output
    assert Image.open(out).size == (2 + 8 * 30, 32)  # real, 6 steps, real


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--from", "seed:x"], "seed:x"),
        (["--from", "nowhere.png"], "nowhere.png"),
        (["--from", "class:1", "--to", "class:2"], "conditional"),
        (["--from", "seed:1", "--to", "test:3"], "mix"),
        (["--from", "test:1", "--to", "test:9999"], "test:9999"),
        (["--steps", "1"], "--steps 1"),
        (["--method", "cubic"], "cubic"),
    ],
)
def test_interpolate_bad_input(runs, tmp_path, args, needle):
    out = tmp_path / "x.png"
    assert_one_line_error(run_cli("interpolate", runs["dcgan"], *args, "--out", out), needle)
    assert not out.exists()
