"""The metric registry: small functions, each taking a :class:`Context` and returning named floats.

A context holds one set of images to score (generated, or read from an .npz) and everything a
metric may need; the expensive parts -- the images' features and logits, the k-NN manifolds --
are computed on first use and shared, so asking for fid and kid embeds the images once.

What each metric returns -- its keys, which way each is better, units, help, display order -- is
declared in catalog.py (torch-free, read by `gv --help`); :func:`register` attaches the function
that computes a declared metric, and every declared metric must get one.

Standard errors (``<key>_se``) come from stats.py: bootstrap resamples of the generated set.

Every metric runs under its own seeded RNG (fork_rng), so its value does not depend on which other
metrics ran before it, and evaluation never consumes the caller's (the trainer's) random numbers.
"""

from __future__ import annotations

import contextlib
import io
import math
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import torch

from ..errors import GVError
from ..losses import reconstruction_nll
from . import realism as texture
from . import stats
from .cas import classification_accuracy_score
from .catalog import CATALOG, MetricInfo
from .features import Evaluator, PrecomputedFeatures, Reference
from .memorization import neighbours

# KID as Binkowski et al. 2018 / torchmetrics defaults: 100 subsets of (at most) 1,000 images.
KID_SUBSETS = 100
KID_SUBSET_SIZE = 1000
# k of the k-NN balls: Naeem et al. 2020 recommend 5 for all four k-NN metrics (prdc's usage).
PRDC_K = 5
# Inception-Score convention: the mean and std over 10 splits.
SCORE_SPLITS = 10
# A class counts as covered when it gets at least this share of its frequency in the data: a
# classifier with 2-3% error scatters a few samples into every class, so "any sample" would call a
# one-digit generator fully covering.
COVERED_SHARE = 0.25
# Importance samples per image for iw_nll (Burda et al. 2016 report k = 5000; 100 is within ~1 nat).
IW_SAMPLES = 100
# Fewest images any metric here can score (Inception-Score splits, k-NN balls, covariances).
MIN_IMAGES = 10


@dataclass
class Context:
    """One image set to score, and what the metrics need besides it."""

    images: torch.Tensor  # uint8 (N, C, H, W)
    labels: torch.Tensor | None  # the classes the images were drawn for (conditional), else None
    reference: Reference
    evaluator: Evaluator
    model: Any = None  # the generative model, for nelbo / iw_nll (VAEs)
    test_set: Any = None  # the dataset's test split (ImageDataset), for nelbo / iw_nll / cas / memorization
    train_set: Any = None  # the dataset's training split, for memorization / cas
    dataset: str = ""
    seed: int = 0
    iw_samples: int = IW_SAMPLES
    bootstrap: bool = True  # standard errors (<key>_se); the in-training evaluator skips them

    @cached_property
    def embedded(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(features in the evaluator's space, that network's logits; None for inception)."""
        return self.evaluator.features(self.images)

    @property
    def features(self) -> torch.Tensor:
        return self.embedded[0]

    @cached_property
    def classifier_view(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The ``classifier`` network's (features, logits): the embedding itself in its own space."""
        if self.evaluator.feature_space == "classifier":
            return self.embedded  # type: ignore[return-value]
        return self.evaluator.classifier.embed(self.images)

    @cached_property
    def texture(self) -> torch.Tensor:
        """The images' texture statistics (realism.py), shared by realism and combined."""
        return texture.texture_statistics(self.evaluator.classifier, self.images)

    @cached_property
    def logits(self) -> torch.Tensor:
        """The label reader's logits."""
        return self.evaluator.read(self.images)

    @cached_property
    def predictions(self) -> torch.Tensor:
        return self.logits.argmax(1)

    def rng(self, salt: int = 0) -> torch.Generator:
        return torch.Generator().manual_seed(self.seed * 1000 + salt)

    @cached_property
    def prdc_sets(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The equal-sized (real, fake) feature sets the k-NN metrics compare.

        The papers compare equal-sized sets: the larger side is subsampled (seeded) to the smaller,
        which also bounds the cost (three N x N distance matrices) by the real set's size."""
        real, fake = self.reference.features, self.features
        m = min(len(real), len(fake))
        g = torch.Generator().manual_seed(self.seed)
        real = real[torch.randperm(len(real), generator=g)[:m]] if len(real) > m else real
        fake = fake[torch.randperm(len(fake), generator=g)[:m]] if len(fake) > m else fake
        return real, fake

    @cached_property
    def prdc(self) -> dict[str, float]:
        """Precision, recall, density and coverage from prdc (Naeem et al.'s reference code), and
        their bootstrap standard errors."""
        import prdc

        real, fake = self.prdc_sets
        with contextlib.redirect_stdout(io.StringIO()):  # prdc prints its set sizes: keep stdout clean
            out = {k: float(v) for k, v in prdc.compute_prdc(real.numpy(), fake.numpy(), nearest_k=PRDC_K).items()}
        if self.bootstrap:
            out.update(stats.prdc_se(real, fake, PRDC_K, self.rng(3)))
        return out


@dataclass(frozen=True)
class MetricSpec:
    info: MetricInfo  # its declaration: keys, directions, units, help, needs
    fn: Callable[[Context], dict[str, float]]

    @property
    def name(self) -> str:
        return self.info.name


METRICS: dict[str, MetricSpec] = {}


def register(name: str) -> Callable:
    """Attach the function computing metric ``name``, declared in catalog.CATALOG with its keys."""
    if name not in CATALOG:
        raise LookupError(f"metric {name!r} is not declared: add its MetricInfo to gvcore/evaluation/catalog.py")

    def wrap(fn: Callable[[Context], dict[str, float]]) -> Callable[[Context], dict[str, float]]:
        METRICS[name] = MetricSpec(CATALOG[name], fn)
        return fn

    return wrap


def _quiet_metric(cls: type, **kwargs: Any) -> Any:
    # torchmetrics warns that KID / IS keep every feature in memory: known, and small here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return cls(**kwargs)


# --- distribution distances ---------------------------------------------------------------------


def _fid(real: torch.Tensor, fake: torch.Tensor) -> float:
    from torchmetrics.image.fid import FrechetInceptionDistance

    metric = _quiet_metric(FrechetInceptionDistance, feature=PrecomputedFeatures(fake.shape[1]))
    metric.update(real, real=True)
    metric.update(fake, real=False)
    return float(metric.compute())


@register("fid")
def fid(ctx: Context) -> dict[str, float]:
    out = {"fid": _fid(ctx.reference.features, ctx.features)}
    if ctx.bootstrap:
        out["fid_se"] = stats.fid_se(ctx.reference.features, ctx.features, ctx.rng(1))
    out.update({"fid_images": float(len(ctx.features)), "fid_reference_images": float(len(ctx.reference))})
    return out


@register("fid2")
def fid2(ctx: Context) -> dict[str, float]:
    real = ctx.reference.features_in("classifier2", ctx.evaluator)
    fake = ctx.evaluator.features(ctx.images, "classifier2")[0]
    out = {"fid2": _fid(real, fake)}
    if ctx.bootstrap:
        out["fid2_se"] = stats.fid_se(real, fake, ctx.rng(2))
    return out


@register("realism")
def realism(ctx: Context) -> dict[str, float]:
    real = texture.reference_statistics(ctx.reference, ctx.evaluator)
    out = {"realism": texture.frechet_distance(real, ctx.texture)}
    if ctx.bootstrap:
        out["realism_se"] = stats.fid_se(real, ctx.texture, ctx.rng(6))
    return out


@register("combined")
def combined(ctx: Context) -> dict[str, float]:
    real_texture = texture.reference_statistics(ctx.reference, ctx.evaluator)
    real_classes = ctx.reference.features_in("classifier", ctx.evaluator)
    real, fake = texture.combine((real_texture, real_classes), (ctx.texture, ctx.classifier_view[0]))
    out = {"combined": texture.frechet_distance(real, fake)}
    if ctx.bootstrap:
        out["combined_se"] = stats.fid_se(real, fake, ctx.rng(7))
    return out


@register("kid")
def kid(ctx: Context) -> dict[str, float]:
    from torchmetrics.image.kid import KernelInceptionDistance

    size = min(KID_SUBSET_SIZE, len(ctx.reference), ctx.features.shape[0])
    metric = _quiet_metric(
        KernelInceptionDistance,
        feature=PrecomputedFeatures(ctx.features.shape[1]),
        subsets=KID_SUBSETS,
        subset_size=size,
    )
    metric.update(ctx.reference.features, real=True)
    metric.update(ctx.features, real=False)
    mean, std = metric.compute()
    out = {"kid": float(mean)}
    if ctx.bootstrap:
        out["kid_se"] = stats.kid_se(ctx.reference.features, ctx.features, ctx.rng(4))
    out["kid_std"] = float(std)
    return out


# --- k-NN manifolds -----------------------------------------------------------------------------


def _knn(key: str) -> Callable[[Context], dict[str, float]]:
    # The four share one prdc computation (ctx.prdc); each is still its own registry entry.
    def metric(ctx: Context) -> dict[str, float]:
        return {k: ctx.prdc[k] for k in (key, f"{key}_se") if k in ctx.prdc}

    metric.__name__ = key
    return metric


for _key in ("precision", "recall", "density", "coverage"):
    register(_key)(_knn(_key))


@register("memorization")
def memorization(ctx: Context) -> dict[str, float]:
    near = neighbours(ctx.evaluator.classifier, ctx.train_set.images, ctx.test_set.images)
    copies = near.near_copies(ctx.classifier_view[0])
    out = {"memorization": float(copies.mean())}
    if ctx.bootstrap:
        out["memorization_se"] = stats.mean_se(copies, ctx.rng(5))
    return out


# --- the domain classifier's view ---------------------------------------------------------------


@register("classifier_score")
def classifier_score(ctx: Context) -> dict[str, float]:
    from torchmetrics.image.inception import InceptionScore

    logits = ctx.classifier_view[1]  # the classifier's, not the reader's: it must not forgive blur
    metric = _quiet_metric(
        InceptionScore, feature=PrecomputedFeatures(logits.shape[1]), splits=min(SCORE_SPLITS, logits.shape[0])
    )
    metric.update(logits)
    mean, std = metric.compute()
    return {"classifier_score": float(mean), "classifier_score_std": float(std)}


@register("modes")
def modes(ctx: Context) -> dict[str, float]:
    k = ctx.reference.num_classes
    counts = torch.bincount(ctx.predictions, minlength=k).double()
    share = counts / counts.sum()
    data = ctx.reference.class_distribution()
    present = data > 0
    covered = int(((share >= COVERED_SHARE * data) & present).sum())
    seen = share > 0
    # KL(samples || data) stays finite when the samples miss classes (0 log 0 = 0), unlike the reverse.
    kl = float((share[seen] * (share[seen] / data[seen].clamp_min(1e-12)).log()).sum())
    out = {"classes_covered": float(covered), "class_kl": kl, "mode_collapse": float(covered < int(present.sum()))}
    out.update({f"class_frac/{c}": float(share[c]) for c in range(k)})
    return out


def _labels(ctx: Context) -> torch.Tensor:
    """The labels a label metric scores against (its catalog entry keeps it off unconditional sets)."""
    if ctx.labels is None:
        raise GVError(f"{ctx.dataset}: this metric needs the labels the samples were drawn for; these have none")
    return ctx.labels.cpu()


@register("label_acc")
def label_acc(ctx: Context) -> dict[str, float]:
    return {"label_acc": float((ctx.predictions == _labels(ctx)).double().mean())}


@register("intra_fid")
def intra_fid(ctx: Context) -> dict[str, float]:
    ref_labels = ctx.reference.labels
    if ref_labels is None:
        raise GVError(f"intra_fid needs a labelled reference; {ctx.reference.description} has no labels")
    values = []
    for c in range(ctx.reference.num_classes):
        fake, real = ctx.features[_labels(ctx) == c], ctx.reference.features[ref_labels == c]
        if len(fake) >= 2 and len(real) >= 2:
            values.append(stats.frechet(*stats.mean_and_cov(fake), *stats.mean_and_cov(real)))
    return {"intra_fid": float(sum(values) / len(values)) if values else float("nan")}


@register("cas")
def cas(ctx: Context) -> dict[str, float]:
    return classification_accuracy_score(ctx.images, _labels(ctx), ctx.train_set, ctx.test_set, ctx.dataset, ctx.seed)


# --- likelihood (VAEs) --------------------------------------------------------------------------


def _test_batches(ctx: Context, batch_size: int) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
    device = ctx.model.device
    for start in range(0, len(ctx.test_set), batch_size):
        images = ctx.test_set.images[start : start + batch_size]
        labels = ctx.test_set.labels[start : start + batch_size].to(device) if ctx.model.conditional else None
        yield images.to(device).float().div(127.5).sub(1.0), labels


@register("nelbo")
@torch.no_grad()
def nelbo(ctx: Context) -> dict[str, float]:
    recon_sum = kl_sum = 0.0
    for images, labels in _test_batches(ctx, 500):
        recon, kl = ctx.model.negative_elbo(images, labels)  # the model's own loss code, one z each
        recon_sum += float(recon.double().sum())
        kl_sum += float(kl.double().sum())
    n = len(ctx.test_set)
    return {"nelbo": (recon_sum + kl_sum) / n, "nelbo_recon": recon_sum / n, "nelbo_kl": kl_sum / n}


def _normal_log_prob(z: torch.Tensor, mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    return (-0.5 * (math.log(2 * math.pi) + logvar + (z - mean).pow(2) / logvar.exp())).sum(-1)


@register("iw_nll")
@torch.no_grad()
def iw_nll(ctx: Context) -> dict[str, float]:
    model, k = ctx.model, ctx.iw_samples
    m = model.config.model
    total = 0.0
    for images, labels in _test_batches(ctx, max(1, 20_000 // k)):
        b = images.shape[0]
        mu, logvar = model.encode(images, labels)
        z = mu + torch.exp(0.5 * logvar) * torch.randn(k, *mu.shape, device=mu.device)  # (k, b, d)
        flat_labels = labels.repeat(k) if labels is not None else None
        logits = model.decode_logits(z.flatten(0, 1), flat_labels)
        target = ((images + 1.0) * 0.5).repeat(k, 1, 1, 1)
        log_px = -reconstruction_nll(logits, target, m.reconstruction, m.decoder_std).view(k, b)
        log_w = log_px + _normal_log_prob(z, torch.zeros_like(z), torch.zeros_like(z)) - _normal_log_prob(z, mu, logvar)
        total += float((torch.logsumexp(log_w.double(), 0) - math.log(k)).sum())
    return {"iw_nll": -total / len(ctx.test_set)}


# Every declared metric has its function: a declaration without one would be offered by --help
# and resolve_metrics, then fail in run_metrics.
if METRICS.keys() != CATALOG.keys():
    raise LookupError(
        f"metrics declared in catalog.py without a registered function: "
        f"{', '.join(sorted(CATALOG.keys() - METRICS.keys()))}"
    )


# --- running ------------------------------------------------------------------------------------


@contextlib.contextmanager
def seeded(seed: int, device: torch.device) -> Iterator[None]:
    """The global torch RNG, forked and seeded: restored afterwards, whatever the metric drew."""
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        yield


def run_metrics(ctx: Context, names: Sequence[str]) -> dict[str, float]:
    if ctx.images.shape[0] < MIN_IMAGES:
        raise GVError(f"{ctx.images.shape[0]} images are too few to score: give at least {MIN_IMAGES}")
    device = ctx.model.device if ctx.model is not None else torch.device("cpu")
    out: dict[str, float] = {}
    for name in names:
        with seeded(ctx.seed, device):
            out.update(METRICS[name].fn(ctx))
    return out
