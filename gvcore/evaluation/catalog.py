"""What every metric reports, declared once: its keys, which way each is better, its unit and help.

The registry (registry.py) attaches the function that computes each metric; everything else about a
metric is a fact declared here and read from here -- which way `gv report` ranks, `gv eval`'s
table, `--help` and `--json`, the report's column order. This module imports no torch, so
`gv --help` can build its text from it without loading the numerical stack.

A metric's declaration lists the keys it returns, in display order (the catalog's order is the
order of report and table columns):

    MetricInfo("nelbo", "the test split under the model, one latent draw per image", needs="vae", cheap=True, keys=(
        KeyInfo("nelbo", better="min", unit="nats/image", help="negative ELBO, reconstruction + KL"),
        ...
    ))
    MetricInfo("kid", ..., keys=(
        KeyInfo("kid", better="min", unit=None, help="unbiased kernel (MMD^2) distance, mean over the subsets"),
        spread("kid_std", of="kid", help="standard deviation of kid over the subsets"),
    ))

``better`` is "min", "max" or None (no better side, e.g. density: about 1 for real data); ``unit``
None means unitless. A spread is shown under its value, has no better side and takes its value's
unit; a per-class key ``class_frac`` stands for ``class_frac/<c>``, one per class.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import KW_ONLY, dataclass
from typing import Literal

from ..errors import GVError

Direction = Literal["min", "max"] | None
DIRECTIONS = ("min", "max", None)
# What a metric may need besides images, in words (a metric without needs applies to every model).
NEEDS = {"labels": "the classes the images were drawn for", "vae": "a VAE or CVAE model"}


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


def _index(*metrics: MetricInfo) -> dict[str, MetricInfo]:
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


NATS = "nats/image"

CATALOG: dict[str, MetricInfo] = _index(
    # --- distribution distances (feature space: the domain classifier's, or Inception-v3) -------
    MetricInfo(
        "fid",
        "generated vs the real test split's features (torchmetrics FID)",
        cheap=True,
        keys=(
            KeyInfo(
                "fid", better="min", unit=None, help="Frechet distance between Gaussians fit to the two feature sets"
            ),
            standard_error("fid"),
            count("fid_images", of="fid", help="generated images fid compared"),
            count("fid_reference_images", of="fid", help="real reference images fid compared against"),
        ),
    ),
    MetricInfo(
        "kid",
        "generated vs the real test split's features, over random subsets (torchmetrics KID)",
        keys=(
            KeyInfo("kid", better="min", unit=None, help="unbiased kernel (MMD^2) distance, mean over the subsets"),
            standard_error("kid"),
            spread("kid_std", of="kid", help="standard deviation of kid over the subsets"),
        ),
    ),
    # --- k-NN manifolds of the features (prdc) --------------------------------------------------
    MetricInfo(
        "precision",
        "k-NN manifolds of the features (Kynkaanniemi et al. 2019)",
        keys=(
            KeyInfo(
                "precision",
                better="max",
                unit=None,
                help="share of samples inside the real k-NN manifold (legibility, in class features)",
            ),
            standard_error("precision"),
        ),
    ),
    MetricInfo(
        "recall",
        "k-NN manifolds of the features (Kynkaanniemi et al. 2019)",
        keys=(
            KeyInfo(
                "recall",
                better="max",
                unit=None,
                help="share of real images inside the samples' k-NN manifold (diversity)",
            ),
            standard_error("recall"),
        ),
    ),
    MetricInfo(
        "density",
        "k-NN balls of the real features (Naeem et al. 2020)",
        keys=(
            # No better side: about 1 for real data, above 1 when samples crowd into dense regions.
            KeyInfo(
                "density",
                better=None,
                unit=None,
                help="how many real k-NN balls hold each sample, / k (about 1 for real data)",
            ),
            standard_error("density"),
        ),
    ),
    MetricInfo(
        "coverage",
        "k-NN balls of the real features (Naeem et al. 2020)",
        keys=(
            KeyInfo("coverage", better="max", unit=None, help="share of real images whose k-NN ball holds a sample"),
            standard_error("coverage"),
        ),
    ),
    MetricInfo(
        "memorization",
        "nearest training image of each sample in the classifier's features: a near-copy "
        "is closer to it than 99% of held-out real images are to theirs",
        keys=(
            KeyInfo(
                "memorization",
                better="min",
                unit=None,
                help="share of samples that are near-copies of a training image (unseen real images: ~0.01)",
            ),
            standard_error("memorization"),
        ),
    ),
    MetricInfo(
        "fid2",
        "fid in the second network's features (another architecture and seed)",
        network="classifier2",
        keys=(
            KeyInfo("fid2", better="min", unit=None, help="Frechet distance in classifier2's features"),
            standard_error("fid2"),
        ),
    ),
    # --- the domain classifier's view of the samples --------------------------------------------
    MetricInfo(
        "classifier_score",
        "Inception-Score analogue under the domain classifier, over splits (torchmetrics IS)",
        keys=(
            KeyInfo("classifier_score", better="max", unit=None, help="exp E KL(p(y|x) || p(y)), mean over the splits"),
            spread(
                "classifier_score_std",
                of="classifier_score",
                help="standard deviation of classifier_score over the splits",
            ),
        ),
    ),
    MetricInfo(
        "modes",
        "class histogram of the samples under the label reader",
        network="reader",
        keys=(
            KeyInfo(
                "classes_covered",
                better="max",
                unit=None,
                help="classes holding at least a quarter of their share of the data",
            ),
            KeyInfo("class_kl", better="min", unit="nats", help="KL(samples || data) of the class histograms"),
            KeyInfo("mode_collapse", better="min", unit=None, help="1 when a class of the data is not covered, else 0"),
            KeyInfo("class_frac", better=None, unit=None, help="share of the samples in class <c>", per_class=True),
        ),
    ),
    # --- conditional samples --------------------------------------------------------------------
    MetricInfo(
        "label_acc",
        "conditional samples under the label reader",
        needs="labels",
        cheap=True,
        network="reader",
        keys=(
            KeyInfo(
                "label_acc",
                better="max",
                unit=None,
                help="share of samples the reader puts in the class they were drawn for",
            ),
        ),
    ),
    MetricInfo(
        "intra_fid",
        "per class: the samples drawn for class c vs the real test images of class c",
        needs="labels",
        keys=(KeyInfo("intra_fid", better="min", unit=None, help="mean over the classes of the per-class fid"),),
    ),
    MetricInfo(
        "cas",
        "Classification Accuracy Score (Ravuri & Vinyals 2019): the classifier's architecture "
        "trained on the labelled samples, tested on the real test split",
        needs="labels",
        network="cas",
        keys=(
            KeyInfo("cas", better="max", unit=None, help="test accuracy of a classifier trained on the samples"),
            KeyInfo(
                "cas_real",
                better=None,
                unit=None,
                help="the same classifier trained on as many real training images (the ceiling)",
            ),
            count("cas_images", of="cas", help="labelled images each of the two classifiers was trained on"),
        ),
    ),
    # --- likelihood of the test split (VAEs) ----------------------------------------------------
    MetricInfo(
        "nelbo",
        "the test split under the model, one latent draw per image",
        needs="vae",
        cheap=True,
        network="model",
        keys=(
            KeyInfo("nelbo", better="min", unit=NATS, help="negative ELBO, reconstruction + KL"),
            KeyInfo("nelbo_recon", better="min", unit=NATS, help="its reconstruction term"),
            KeyInfo("nelbo_kl", better="min", unit=NATS, help="its KL(q(z|x) || p(z)) term"),
        ),
    ),
    MetricInfo(
        "iw_nll",
        "the test split under the model, importance-weighted (Burda et al. 2016); slow, so only when asked for by name",
        needs="vae",
        on_request=True,
        network="model",
        keys=(KeyInfo("iw_nll", better="min", unit=NATS, help="importance-weighted negative log-likelihood bound"),),
    ),
)

# Distances: what `gv evaluator check` requires to get worse along every disturbance ladder.
DISTANCES = ("fid", "kid", "fid2")
# The share of near-copies above which the report flags a family (unseen real images: ~0.01).
MEMORIZATION_FLAG = 0.05


# --- facts of one key ---------------------------------------------------------------------------


def key_info(key: str) -> KeyInfo | None:
    """The declaration of a key a metric returns ('fid', 'kid_std', 'class_frac/3'), or None for
    a key no metric returns. Keys are bare: 'fid', not 'eval/fid'."""
    prefix, per_class = (key.split("/", 1)[0], True) if "/" in key else (key, False)
    for metric in CATALOG.values():
        for info in metric.keys:
            if info.name == prefix and info.per_class == per_class:
                return info
    return None


def direction(key: str) -> Direction:
    """'min' or 'max': which way ``key`` is better; None when it has no better side or is unknown."""
    info = key_info(key)
    return info.better if info is not None else None


def metric_direction(metric: str) -> Direction:
    """Which way a leaderboard metric is better: ``eval/<key>`` as its key is declared, a ``loss/``
    lower; None when it has no better side (eval/density) or is unknown. Every reader of a sweep
    (gv results, report, compare, the sweep file's default mode) asks here."""
    if metric.startswith("eval/"):
        return direction(metric.removeprefix("eval/"))
    if metric.startswith("loss/"):
        return "min"
    return None


def unit(key: str) -> str | None:
    """The unit of ``key`` ('nats/image'), or None when it is unitless or unknown."""
    info = key_info(key)
    return info.unit if info is not None else None


def spread_key(key: str) -> str | None:
    """The key holding ``key``'s spread, shown under its value ('kid' -> 'kid_se'), or None."""
    return next((info.name for metric in CATALOG.values() for info in metric.keys if info.spread_of == key), None)


def display_order() -> list[str]:
    """Every key that gets a table column or row of its own, in display order: spreads (shown under
    their value) and per-class keys (one per class) left out."""
    return [
        info.name
        for metric in CATALOG.values()
        for info in metric.keys
        if info.spread_of is None and not info.per_class and info.beside is None
    ]


def counts_of(key: str) -> list[str]:
    """The count keys shown beside ``key`` ('fid' -> ['fid_images', 'fid_reference_images'])."""
    return [info.name for metric in CATALOG.values() for info in metric.keys if info.beside == key]


# Which way is better, per key with a better side (density has none): what a sweep's `mode` is
# when it ranks by eval/<key>. Kept for importers of the dict; new code calls direction(key).
DIRECTION: dict[str, str] = {key: better for key in display_order() if (better := direction(key)) is not None}


# --- choosing metrics ---------------------------------------------------------------------------

ALL = "all"  # every metric that applies, except the on-request ones
AUTO = "auto"  # the cheap in-training set: fid, plus label_acc / nelbo where they apply


def _needs_message(metric: MetricInfo, where: str) -> str:
    fix = {
        "labels": ": a conditional family (cgan, cvae) or an .npz with a 'labels' array",
        "vae": " (it scores the test split's likelihood), not a GAN or a file of images",
    }
    return f"metric '{metric.name}' in {where} needs {NEEDS[metric.needs]}{fix[metric.needs]}"


def metric_of(key: str) -> str | None:
    """The metric that reports ``key`` ('fid' -> 'fid', 'nelbo_kl' -> 'nelbo'), or None:
    what a sweep ranking by eval/<key> must add to eval.metrics."""
    if key in CATALOG:
        return key
    return next(
        (
            metric.name
            for metric in CATALOG.values()
            if any(info.name == key and not info.per_class for info in metric.keys)
        ),
        None,
    )


def resolve_metrics(
    text: str | Sequence[str] | None, *, has_labels: bool, is_vae: bool, where: str = "--metrics"
) -> list[str]:
    """Metric names from 'fid,kid', 'auto', 'all' (combinable; key names such as 'mode_collapse'
    name their metric). A named metric that cannot apply is an error; auto/all skip those."""
    parts = text.split(",") if isinstance(text, str) else list(text or [])
    parts = [p.strip() for p in parts if p and p.strip()]

    def applies(metric: MetricInfo) -> bool:
        return metric.needs is None or (metric.needs == "labels" and has_labels) or (metric.needs == "vae" and is_vae)

    names: list[str] = []
    for part in parts:
        if part in (ALL, AUTO):
            names += [n for n, m in CATALOG.items() if applies(m) and (m.cheap if part == AUTO else not m.on_request)]
            continue
        name = metric_of(part)
        if name is None:
            raise GVError(
                f"unknown metric '{part}' in {where}: choose from {', '.join(CATALOG)}, "
                f"'{AUTO}' (the cheap in-training set) or '{ALL}' (every metric that applies)"
            )
        if not applies(CATALOG[name]):
            raise GVError(_needs_message(CATALOG[name], where))
        names.append(name)
    return list(dict.fromkeys(names))
