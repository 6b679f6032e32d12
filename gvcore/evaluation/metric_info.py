"""The types a metric is declared with (catalog.py declares every metric with them): a metric's
keys, which way each is better, its unit and help, what it needs besides images."""

from __future__ import annotations

import dataclasses
from dataclasses import KW_ONLY, dataclass
from typing import Literal

Direction = Literal["min", "max"] | None
DIRECTIONS = ("min", "max", None)
# What a metric may need besides images, in words (a metric without needs applies to every model).
NEEDS = {"labels": "the classes the images were drawn for", "vae": "a VAE or CVAE model", "classes": "labelled data"}


@dataclass(frozen=True)
class KeyInfo:
    """One number a metric returns."""

    name: str
    _: KW_ONLY
    better: Direction  # which way is better (None: neither): how `gv report` ranks by eval/<name>
    unit: str | None  # None: unitless
    help: str  # what the number means, one short phrase
    spread_of: str | None = None  # a spread (std or standard error) of that key, shown under its value
    per_class: bool = False  # returned once per class, as <name>/<c>
    beside: str | None = None  # a count shown beside that key's value (how many images it used)
    bootstrap: bool = False  # a bootstrap standard error: left out where no standard errors are computed


def spread(name: str, *, of: str, help: str) -> KeyInfo:
    """A spread of key ``of``: no better side of its own, and its value's unit (filled in by MetricInfo)."""
    return KeyInfo(name, better=None, unit=None, help=help, spread_of=of)


def standard_error(of: str) -> KeyInfo:
    """``<of>_se``: the bootstrap standard error of key ``of`` (resampling the generated images)."""
    return dataclasses.replace(
        spread(f"{of}_se", of=of, help=f"bootstrap standard error of {of} (resampling the generated images)"),
        bootstrap=True,
    )


def count(name: str, *, of: str, help: str) -> KeyInfo:
    """A number of images key ``of`` was computed from, shown beside it."""
    return KeyInfo(name, better=None, unit="images", help=help, beside=of)


@dataclass(frozen=True)
class MetricInfo:
    """One metric, as `--metrics` names it: how it is computed and the keys it returns."""

    name: str
    about: str  # how it is computed and against what
    _: KW_ONLY
    keys: tuple[KeyInfo, ...]
    needs: str | None = None  # a key of NEEDS, or None
    cheap: bool = False  # in the in-training set, eval.metrics=auto
    on_request: bool = False  # only when asked for by name (too slow for "all")
    # Which evaluator network's features or predictions it uses (classifier.NETWORKS), or "model".
    network: str = "classifier"

    def __post_init__(self) -> None:
        if self.needs not in (None, *NEEDS):
            raise ValueError(f"metric {self.name!r}: needs={self.needs!r} is not one of {sorted(NEEDS)}")
        values: dict[str, KeyInfo] = {}
        keys = []
        for key in self.keys:
            if "/" in key.name:  # '/' separates a per-class key from its class
                raise ValueError(f"metric {self.name!r}: key {key.name!r} has a '/': declare it per_class=True")
            if key.better not in DIRECTIONS:
                raise ValueError(
                    f"metric {self.name!r}, key {key.name!r}: better={key.better!r} is not one of {DIRECTIONS}"
                )
            if key.beside is not None and key.beside not in values:
                raise ValueError(f"metric {self.name!r}: count {key.name!r} must follow the key it counts")
            if key.spread_of is not None:
                if key.spread_of not in values:
                    raise ValueError(f"metric {self.name!r}: spread {key.name!r} must follow the key it spreads")
                key = dataclasses.replace(key, unit=values[key.spread_of].unit)
            values[key.name] = key
            keys.append(key)
        object.__setattr__(self, "keys", tuple(keys))

    def returns(self, num_classes: int, bootstrap: bool = True) -> list[str]:
        """The keys it returns for a dataset of ``num_classes`` classes, in order (``bootstrap``
        False: without the standard errors, as the in-training evaluator returns them)."""
        names: list[str] = []
        for key in self.keys:
            if key.bootstrap and not bootstrap:
                continue
            names += [f"{key.name}/{c}" for c in range(num_classes)] if key.per_class else [key.name]
        return names


def index_metrics(*metrics: MetricInfo) -> dict[str, MetricInfo]:
    # A key belongs to one metric: metric_of(key) and the direction of a key must be unambiguous.
    seen: dict[str, str] = {}
    for metric in metrics:
        for key in metric.keys:
            if key.name in seen:
                raise ValueError(f"key {key.name!r} is declared twice (metrics {seen[key.name]!r} and {metric.name!r})")
            seen[key.name] = metric.name
    index = {metric.name: metric for metric in metrics}
    if len(index) != len(metrics):
        raise ValueError("a metric name is declared twice")
    return index
