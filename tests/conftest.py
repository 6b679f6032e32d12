"""Shared test set-up: nothing here may need ../shared or the network."""

import atexit
import os
import shutil
import tempfile

import pytest

# Real wandb, never online, never chatty; tests that use it point WANDB_DIR at a temp dir.
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
# Datasets other than mnist-5k must fail fast instead of trying mirrors.
os.environ.setdefault("GV_OFFLINE", "1")
# Ray's first ray.init() turns token authentication on by setting RAY_AUTH_MODE=token in this
# process's environment. Fixtures that restore the environment after a module would drop it, and
# a cluster started later would then disagree with the cached auth state of this process (its
# actors are cancelled before they run). Set it up front, so every snapshot holds it.
os.environ.setdefault("RAY_AUTH_MODE", "token")
# The evaluation classifier and reference statistics are cached per test session, never in the
# user's ~/.cache: the suite is hermetic and trains the classifier once (about 15 s).
if "GV_CACHE_DIR" not in os.environ:
    os.environ["GV_CACHE_DIR"] = tempfile.mkdtemp(prefix="gv-test-cache-")
    atexit.register(shutil.rmtree, os.environ["GV_CACHE_DIR"], True)


@pytest.fixture(scope="module")
def one_torch_thread():
    """One torch thread for a module's tests: on a 2-core machine shared with other jobs, two
    spinning OpenMP threads run small models several times slower than one."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def pytest_collection_modifyitems(config, items):
    """A test that starts Ray or Chromium is slow by definition: the fast loop (`-m "not slow"`)
    never starts either, whatever the test's own marks say."""
    for item in items:
        if item.get_closest_marker("ray") or item.get_closest_marker("browser"):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="module")
def scorer():
    """mnist-5k's Scorer, one per test module (test_realism, test_trust), on one torch thread."""
    import torch

    from gvcore.evaluation.api import Scorer

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # 2 shared cores: one thread each is fastest
    yield Scorer.for_dataset("mnist-5k")
    torch.set_num_threads(threads)
