"""Checkpoints: model, optimizers, step and RNG state, plus the config that rebuilds the model.

Saved with ``torch.save`` and always loaded with ``torch.load(weights_only=True)``: a checkpoint
holds only tensors, numbers, strings and dicts, so a malicious or foreign pickle is refused
instead of executed. Writes are atomic (temp file + rename), so a crash never leaves half a file.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import zipfile
from pathlib import Path
from typing import Any

import torch

from .config import Config
from .errors import GVError
from .rng import rng_state
from .rundir import atomic_path

FORMAT = "gv-checkpoint/1"
CHECKPOINT_NAME = "checkpoint.pt"


def save_checkpoint(
    path: str | os.PathLike,
    *,
    model: torch.nn.Module,
    optimizers: dict[str, torch.optim.Optimizer],
    config: Config,
    step: int,
    epoch: int,
    extra: dict[str, Any] | None = None,
) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": FORMAT,
        "config": config.to_json(),  # JSON text: rebuilds the model, and is safe under weights_only
        "step": int(step),
        "epoch": int(epoch),
        "model": model.state_dict(),
        "optimizers": {name: opt.state_dict() for name, opt in optimizers.items()},
        "rng": rng_state(),
        "extra": extra or {},
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return path


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load and check a gv checkpoint. Anything else -- corrupt, foreign, a pickle carrying code --
    is a GVError, never executed."""
    path = Path(path)
    if not path.is_file():
        raise GVError(f"checkpoint '{path}' does not exist")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        # torch explains a refusal at length; keep the global it refused, if it names one.
        found = re.search(r"GLOBAL (\S+)", str(exc))
        what = f" (it asks for {found.group(1)})" if found else ""
        raise GVError(
            f"'{path}' is not a gv checkpoint: refused to load it{what}; gv loads plain tensors only, "
            "never code -- pass a checkpoint gv wrote"
        ) from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError, AttributeError, TypeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise GVError(f"'{path}' is not a readable gv checkpoint (corrupt or foreign file: {first[:160]})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise GVError(f"'{path}' is not a gv checkpoint (no '{FORMAT}' marker); pass a file gv wrote")
    return payload


def config_of(payload: dict[str, Any]) -> Config:
    """The config a checkpoint was trained with; a damaged one is a GVError, not a traceback."""
    try:
        return Config.from_saved(json.loads(payload["config"]))
    except GVError as exc:
        raise GVError(f"checkpoint holds a config this gv can't use ({exc}); pass a checkpoint gv wrote") from None
    except (KeyError, TypeError, ValueError):
        raise GVError("checkpoint has no readable config: it is damaged or was not written by gv") from None
