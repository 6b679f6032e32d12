"""Every size a user gives is checked against memory (and a picture against what can be shown)
before anything is allocated: one line with the limit and the way out, exit 2, nothing written."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
from helpers import assert_one_line_error, run_cli, tiny_config

from gvcore.errors import GVError
from gvcore.limits import check_memory, memory_limit, npz_declared, parse_bytes
from gvcore.trainer import train


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A tiny trained GAN and CGAN (a few steps: the checks come before any sampling)."""
    root = tmp_path_factory.mktemp("runs")
    for family in ("gan", "cgan"):
        assert train(tiny_config(family, steps=2), root / family).status == "done"
    return root


@pytest.fixture
def eight_gigabytes(monkeypatch):
    # The limit is half of what the machine has free; pin it so the sizes below fail on any machine.
    monkeypatch.setenv("GV_MEMORY_LIMIT", "8G")


def test_the_limit_is_read_from_the_machine_or_set_by_the_user(monkeypatch):
    monkeypatch.delenv("GV_MEMORY_LIMIT", raising=False)
    assert 0 < memory_limit()
    monkeypatch.setenv("GV_MEMORY_LIMIT", "512M")
    assert memory_limit() == 512 << 20
    assert parse_bytes("2G") == 2 << 30 and parse_bytes("1000") == 1000
    for bad in ("lots", "-1G", "0", "nan"):
        with pytest.raises(GVError, match="GV_MEMORY_LIMIT"):
            parse_bytes(bad)
    with pytest.raises(GVError, match=r"bad --n 5: that needs 1\.0 GB .* over the 536\.9 MB .*; draw fewer"):
        check_memory("--n 5", 1e9, "draw fewer")
    check_memory("--n 5", 1e6, "draw fewer")  # fits: no error


def test_sampling_a_hundred_million_images_is_refused_before_any_is_drawn(runs, tmp_path, eight_gigabytes):
    out = tmp_path / "many.npz"
    line = assert_one_line_error(
        run_cli("sample", runs / "gan", "--n", "100000000", "--out", out), "bad --n 100,000,000", "8.6 GB", "fewer"
    )
    assert "1x28x28" in line and not out.exists()
    # A grid too wide to look at is refused even when it would fit in memory.
    assert_one_line_error(run_cli("sample", runs / "cgan", "--n", "20000", "--out", tmp_path / "g.png"), "32,767 px")
    assert not (tmp_path / "g.png").exists()
    assert run_cli("sample", runs / "gan", "--n", "12", "--out", tmp_path / "ok.npz").exit_code == 0


def test_an_interpolation_of_a_million_steps_is_refused_at_once(runs, tmp_path, eight_gigabytes):
    out = tmp_path / "path.png"
    for run in ("gan", "cgan"):
        result = run_cli(
            "interpolate", runs / run, "--from", "test:0", "--to", "test:1", "--steps", "1000000", "--out", out
        )
        assert_one_line_error(result, "bad --steps 1,000,000", "fewer --steps")
    assert not out.exists()


def _npz_declaring(path, shape):
    """An .npz whose images.npy header declares ``shape`` (uint8) while holding a few bytes: a lie
    that np.load would believe and try to allocate."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "|u1", "fortran_order": False, "shape": shape})
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("images.npy", header.getvalue() + bytes(100))
    return path


def test_an_npz_declaring_a_billion_images_is_refused_from_its_header(tmp_path, eight_gigabytes):
    path = _npz_declaring(tmp_path / "liar.npz", (1_000_000_000, 28, 28, 1))
    assert npz_declared(path) == {"images": ((1_000_000_000, 28, 28, 1), "uint8", 784_000_000_000)}
    assert_one_line_error(
        run_cli("eval", "--samples", path, "--dataset", "mnist-5k"),
        "liar.npz",
        "'images' array declares shape (1000000000, 28, 28, 1)",
        "fewer images",
    )


def test_sample_counts_and_batches_are_checked_wherever_they_are_given(runs, tmp_path, eight_gigabytes, monkeypatch):
    assert_one_line_error(run_cli("eval", runs / "gan", "--n", "100000000"), "--n 100,000,000", "score fewer")
    out = tmp_path / "run"
    assert_one_line_error(
        run_cli("train", "gan", "--steps", "1", "--set", "eval.num_samples=100000000", "--out", out),
        "eval.num_samples 100,000,000",
    )
    monkeypatch.setenv("GV_MEMORY_LIMIT", "20M")  # a 4,000-image DCGAN step needs far more
    assert_one_line_error(
        run_cli("train", "dcgan", "--steps", "1", "--batch-size", "4000", "--out", out),
        "train.batch_size 4,000",
        "smaller --batch-size",
    )
