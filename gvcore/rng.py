"""The global RNG state of torch (CPU and CUDA): saved into checkpoints, restored on resume, and
preserved around work that must not consume the training run's random numbers (evaluation, sample
grids, counting a step's FLOPs), so a resumed run repeats an uninterrupted one step for step."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch


def rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


@contextlib.contextmanager
def preserved_rng(device: torch.device) -> Iterator[None]:
    """Evaluation must not consume the training RNG, so a resumed run repeats an uninterrupted one."""
    cpu = torch.get_rng_state()
    cuda = torch.cuda.get_rng_state(device) if device.type == "cuda" else None
    try:
        yield
    finally:
        torch.set_rng_state(cpu)
        if cuda is not None:
            torch.cuda.set_rng_state(cuda, device)
