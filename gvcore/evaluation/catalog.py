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

from collections.abc import Sequence

from ..errors import GVError

# The declaration types live in metric_info.py; importers read them from here too.
from .metric_info import DIRECTIONS as DIRECTIONS
from .metric_info import NEEDS as NEEDS
from .metric_info import Direction as Direction
from .metric_info import KeyInfo, MetricInfo, count, index_metrics, spread, standard_error

NATS = "nats/image"

CATALOG: dict[str, MetricInfo] = index_metrics(
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
        "realism",
        "texture of each image: Frechet distance between the per-image channel means and standard deviations "
        "of the evaluator network's first two convolution layers, generated vs the real test split's (realism.py)",
        cheap=True,
        keys=(
            KeyInfo(
                "realism", better="min", unit=None, help="could each sample pass for a real image (blur, speckle, haze)"
            ),
            standard_error("realism"),
        ),
    ),
    MetricInfo(
        "combined",
        "Frechet distance over realism's texture statistics and fid's class features side by side, scaled on "
        "the real test split so the texture block carries a quarter of the class features' trace: the `overall` "
        "axis (docs/studies/realism.md)",
        cheap=True,
        keys=(
            KeyInfo("combined", better="min", unit=None, help="realism and legibility in one distance (overall)"),
            standard_error("combined"),
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
        needs="classes",
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
        needs="classes",
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
DISTANCES = ("fid", "kid", "fid2", "realism", "combined")
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
AUTO = "auto"  # the cheap in-training set: fid, realism and combined, plus label_acc / nelbo where they apply


def _needs_message(metric: MetricInfo, where: str, labelled: bool = True) -> str:
    if not labelled and metric.needs in ("classes", "labels"):  # a folder without class sub-folders
        return f"metric '{metric.name}' in {where} needs classes; this dataset has no labels (a flat folder): drop it"
    fix = {
        "labels": ": a conditional family (cgan, cvae) or an .npz with a 'labels' array",
        "vae": " (it scores the test split's likelihood), not a GAN or a file of images",
    }
    return f"metric '{metric.name}' in {where} needs {NEEDS[str(metric.needs)]}{fix[str(metric.needs)]}"


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
    text: str | Sequence[str] | None, *, has_labels: bool, is_vae: bool, where: str = "--metrics", labelled: bool = True
) -> list[str]:
    """Metric names from 'fid,kid', 'auto', 'all' (combinable; key names such as 'mode_collapse'
    name their metric). A named metric that cannot apply is an error; auto/all skip those."""
    parts = text.split(",") if isinstance(text, str) else list(text or [])
    parts = [p.strip() for p in parts if p and p.strip()]

    def applies(metric: MetricInfo) -> bool:  # labelled False: a folder without classes, no metric of classes
        return {None: True, "classes": labelled, "labels": has_labels and labelled, "vae": is_vae}[metric.needs]

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
            raise GVError(_needs_message(CATALOG[name], where, labelled))
        names.append(name)
    return list(dict.fromkeys(names))
