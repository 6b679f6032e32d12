"""Sample-quality metrics: the public face of :mod:`gvcore.evaluation`.

The trainer CLI and the sweep adapter call :func:`make_evaluator` (the cheap in-training set,
reported as ``eval/<key>``); leaderboards call :func:`evaluate_checkpoint` (10k samples, every
metric); ``gv eval`` calls both kinds. ``METRICS`` is the registry, by metric name; ``CATALOG``
holds what each metric returns (``direction``, ``unit``, ``display_order`` read it), without torch.
"""

from __future__ import annotations

from .evaluation.api import (FULL_EVAL_SAMPLES, Scorer, evaluate_checkpoint, evaluate_images, evaluate_model,
                             generate_samples, load_samples, make_evaluator)
from .evaluation.catalog import (ALL, AUTO, CATALOG, DIRECTION, KeyInfo, MetricInfo, direction, display_order,
                                 key_info, metric_of, resolve_metrics, spread_key, unit)
from .evaluation.classifier import DomainClassifier, get_classifier
from .evaluation.features import Evaluator, Reference, dataset_reference, reference_from_images
from .evaluation.registry import METRICS, Context, MetricSpec, register

__all__ = [
    "ALL", "AUTO", "CATALOG", "DIRECTION", "FULL_EVAL_SAMPLES", "METRICS", "Context", "DomainClassifier", "Evaluator", "KeyInfo",
    "MetricInfo", "MetricSpec", "Reference", "Scorer", "dataset_reference", "direction", "display_order",
    "evaluate_checkpoint", "evaluate_images", "evaluate_model", "generate_samples", "get_classifier", "key_info",
    "load_samples", "make_evaluator", "metric_of", "reference_from_images", "register", "resolve_metrics",
    "spread_key", "unit",
]
