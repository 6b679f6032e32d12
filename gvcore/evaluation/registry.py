"""The metric registry: small functions, each taking a :class:`Context` and returning named floats.

A context holds one set of images to score (generated, or read from an .npz) and everything a
metric may need; the expensive parts -- the images' features and logits, the k-NN manifolds --
are computed on first use and shared, so asking for fid and kid embeds the images once.

What each metric returns -- its keys, which way each is better, units, help, display order -- is
declared in catalog.py (torch-free, read by `gv --help`); :func:`register` attaches the function
that computes a declared metric, and every declared metric must get one.

Every metric runs under its own seeded RNG (fork_rng), so its value does not depend on which other
metrics ran before it, and evaluation never consumes the caller's (the trainer's) random numbers.
"""

from __future__ import annotations

import contextlib
import io
import math
import warnings
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Callable, Iterator, Sequence

import torch

from ..errors import GVError
from ..losses import reconstruction_nll
from .catalog import CATALOG, MetricInfo
from .classifier import DomainClassifier
from .features import PrecomputedFeatures, Reference, embed

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
    classifier: DomainClassifier
    model: Any = None  # the generative model, for nelbo / iw_nll (VAEs)
    test_set: Any = None  # the dataset's test split (ImageDataset), for nelbo / iw_nll
    seed: int = 0
    iw_samples: int = IW_SAMPLES

    @cached_property
    def embedded(self) -> tuple[torch.Tensor, torch.Tensor]:
        return embed(self.images, self.classifier, self.reference.feature_space)

    @property
    def features(self) -> torch.Tensor:
        return self.embedded[0]

    @property
    def logits(self) -> torch.Tensor:
        return self.embedded[1]

    @cached_property
    def predictions(self) -> torch.Tensor:
        return self.logits.argmax(1)

    @cached_property
    def prdc(self) -> dict[str, float]:
        """Precision, recall, density and coverage from prdc (Naeem et al.'s reference code).

        The papers compare equal-sized sets: the larger side is subsampled (seeded) to the smaller,
        which also bounds the cost (three N x N distance matrices) by the real set's size.
        """
        import prdc

        real, fake = self.reference.features, self.features
        m = min(len(real), len(fake))
        g = torch.Generator().manual_seed(self.seed)
        real = real[torch.randperm(len(real), generator=g)[:m]] if len(real) > m else real
        fake = fake[torch.randperm(len(fake), generator=g)[:m]] if len(fake) > m else fake
        with contextlib.redirect_stdout(io.StringIO()):  # prdc prints its set sizes: keep stdout clean
            out = prdc.compute_prdc(real.numpy(), fake.numpy(), nearest_k=PRDC_K)
        return {k: float(v) for k, v in out.items()}


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


@register("fid")
def fid(ctx: Context) -> dict[str, float]:
    from torchmetrics.image.fid import FrechetInceptionDistance

    metric = _quiet_metric(FrechetInceptionDistance, feature=PrecomputedFeatures(ctx.features.shape[1]))
    metric.update(ctx.reference.features, real=True)
    metric.update(ctx.features, real=False)
    return {"fid": float(metric.compute())}


@register("kid")
def kid(ctx: Context) -> dict[str, float]:
    from torchmetrics.image.kid import KernelInceptionDistance

    size = min(KID_SUBSET_SIZE, len(ctx.reference), ctx.features.shape[0])
    metric = _quiet_metric(KernelInceptionDistance, feature=PrecomputedFeatures(ctx.features.shape[1]),
                           subsets=KID_SUBSETS, subset_size=size)
    metric.update(ctx.reference.features, real=True)
    metric.update(ctx.features, real=False)
    mean, std = metric.compute()
    return {"kid": float(mean), "kid_std": float(std)}


# --- k-NN manifolds -----------------------------------------------------------------------------


def _knn(key: str) -> Callable[[Context], dict[str, float]]:
    # The four share one prdc computation (ctx.prdc); each is still its own registry entry.
    def metric(ctx: Context) -> dict[str, float]:
        return {key: ctx.prdc[key]}

    metric.__name__ = key
    return metric


for _key in ("precision", "recall", "density", "coverage"):
    register(_key)(_knn(_key))


# --- the domain classifier's view ---------------------------------------------------------------


@register("classifier_score")
def classifier_score(ctx: Context) -> dict[str, float]:
    from torchmetrics.image.inception import InceptionScore

    metric = _quiet_metric(InceptionScore, feature=PrecomputedFeatures(ctx.logits.shape[1]),
                           splits=min(SCORE_SPLITS, ctx.logits.shape[0]))
    metric.update(ctx.logits)
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


@register("label_acc")
def label_acc(ctx: Context) -> dict[str, float]:
    return {"label_acc": float((ctx.predictions == ctx.labels.cpu()).double().mean())}


# --- likelihood (VAEs) --------------------------------------------------------------------------


def _test_batches(ctx: Context, batch_size: int) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
    device = ctx.model.device
    for start in range(0, len(ctx.test_set), batch_size):
        images = ctx.test_set.images[start:start + batch_size]
        labels = ctx.test_set.labels[start:start + batch_size].to(device) if ctx.model.conditional else None
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
    raise LookupError(f"metrics declared in catalog.py without a registered function: "
                      f"{', '.join(sorted(CATALOG.keys() - METRICS.keys()))}")


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
