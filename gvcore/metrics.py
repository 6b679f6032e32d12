"""Sample-quality metrics: the public face of :mod:`gvcore.evaluation`.

The trainer CLI and the sweep adapter call :func:`make_evaluator` (the cheap in-training set,
reported as ``eval/<key>``); leaderboards call :func:`evaluate_checkpoint` (10k samples, every
metric); ``gv eval`` calls both kinds. ``METRICS`` is the registry, by metric name.
"""

from __future__ import annotations

from .evaluation.api import (FULL_EVAL_SAMPLES, Scorer, evaluate_checkpoint, evaluate_images, evaluate_model,
                             generate_samples, load_samples, make_evaluator)
from .evaluation.classifier import DomainClassifier, get_classifier
from .evaluation.features import Reference, dataset_reference, reference_from_images
from .evaluation.registry import (ALL, AUTO, DIRECTION, METRICS, Context, MetricSpec, metric_of, register,
                                  resolve_metrics)

__all__ = [
    "ALL", "AUTO", "DIRECTION", "FULL_EVAL_SAMPLES", "METRICS", "Context", "DomainClassifier", "MetricSpec", "Reference",
    "Scorer", "dataset_reference", "evaluate_checkpoint", "evaluate_images", "evaluate_model",
    "generate_samples", "get_classifier", "load_samples", "make_evaluator", "metric_of", "reference_from_images",
    "register", "resolve_metrics",
]
