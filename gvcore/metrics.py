"""Sample-quality metrics: a registry of small functions, each returning a dict of named floats.

The evaluation issue fills the registry (fid, kid, precision/recall, ...); the trainer only knows
``make_evaluator``, which turns ``config.eval.metrics`` into a callable run at every eval interval.
"""

from __future__ import annotations

from typing import Callable

from .config import Config
from .errors import GVError

# name -> fn(model, config, step) -> {"eval/<name>": value, ...}
METRICS: dict[str, Callable[..., dict[str, float]]] = {}


def parse_metric_names(text: str) -> list[str]:
    names = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [name for name in names if name not in METRICS]
    if unknown:
        have = ", ".join(METRICS) or "none yet"
        raise GVError(f"unknown metric '{unknown[0]}' in eval.metrics: available metrics are {have}")
    return names


def make_evaluator(config: Config):
    """A callable (model, step) -> metrics for the trainer, or None when no metrics are asked for."""
    names = parse_metric_names(config.eval.metrics)
    if not names:
        return None

    def evaluate(model, step: int) -> dict[str, float]:
        out: dict[str, float] = {}
        for name in names:
            out.update(METRICS[name](model, config, step))
        return out

    return evaluate
