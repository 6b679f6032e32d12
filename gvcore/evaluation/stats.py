"""Each number with its noise: bootstrap standard errors, resampling the generated set.

Every function resamples the *generated* images (the real reference is fixed: it is the same for
every model compared) ``BOOTSTRAP`` times with replacement, under a seeded generator, and returns
the standard deviation of the statistic over the resamples. Nothing is re-embedded: a resample is a
vector of counts over the generated features, and each statistic is recomputed from what is
already at hand --

* FID: the generated set's weighted mean and covariance (one float32 matrix product a resample)
  against the real mean and covariance, whose square root is taken once;
* KID: the polynomial-kernel matrices of up to ``KID_BOOT_SIZE`` generated features, computed
  once; a resample is a quadratic form in its counts (the standard error is then scaled from that
  many images to all of them, as MMD's variance falls as 1/n);
* precision, density, memorisation: means of one number per generated image (is it inside the
  real manifold, how many real k-NN balls hold it, is it a near-copy);
* recall, coverage: which real images a resample still reaches, from incidence matrices
  (real image j is in generated image i's k-NN ball / j's ball holds i). Recall keeps each
  generated image's k-NN radius from the full set: a resample's duplicates would shrink it to 0.
"""

from __future__ import annotations

import math

import torch

BOOTSTRAP = 50  # resamples; the standard error of a standard error is then ~10%
KID_BOOT_SIZE = 2000
PRDC_BOOT_SIZE = 4000  # larger k-NN sets are bootstrapped on a subsample of this many a side


def resample_counts(n: int, generator: torch.Generator, boots: int = BOOTSTRAP) -> torch.Tensor:
    """(boots, n) counts: how often each of n items is drawn in each resample of size n."""
    idx = torch.randint(0, n, (boots, n), generator=generator)
    counts = torch.zeros(boots, n)
    counts.scatter_add_(1, idx, torch.ones(boots, n))
    return counts


def mean_and_cov(x: torch.Tensor, weights: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and (unbiased) covariance of features, float64; ``weights``: counts of a resample."""
    x = x.double()
    if weights is None:
        mu = x.mean(0)
        centred = x - mu
        return mu, centred.T @ centred / max(1, x.shape[0] - 1)
    w = weights.double()
    n = float(w.sum())
    mu = w @ x / n
    centred = x - mu
    return mu, (centred * w[:, None]).T @ centred / max(1.0, n - 1)


def _sqrt_psd(cov: torch.Tensor) -> torch.Tensor:
    values, vectors = torch.linalg.eigh(cov)
    return (vectors * values.clamp_min(0).sqrt()) @ vectors.T


def frechet(
    mu1: torch.Tensor, cov1: torch.Tensor, mu2: torch.Tensor, cov2: torch.Tensor, sqrt2: torch.Tensor | None = None
) -> float:
    """The Frechet distance of two Gaussians (the FID formula). tr sqrt(cov1 cov2) is taken as
    tr sqrt(A cov1 A) with A = sqrt(cov2): a symmetric eigenproblem (same value as torchmetrics'
    eigenvalues of cov1 @ cov2, faster and stable); ``sqrt2``: A, when it is at hand."""
    a = _sqrt_psd(cov2) if sqrt2 is None else sqrt2
    trace_sqrt = torch.linalg.eigvalsh(a @ cov1 @ a).clamp_min(0).sqrt().sum()
    return float((mu1 - mu2).square().sum() + cov1.trace() + cov2.trace() - 2 * trace_sqrt)


def fid_se(real: torch.Tensor, fake: torch.Tensor, generator: torch.Generator) -> float:
    """Bootstrap SE of fid. Each resample's covariance is one float32 matrix product of the
    (once-centred) features weighted by the resample's counts."""
    mu_r, cov_r = mean_and_cov(real)
    sqrt_r = _sqrt_psd(cov_r)
    n = fake.shape[0]
    centre = fake.double().mean(0)
    x = (fake.double() - centre).float()
    values = []
    for w in resample_counts(n, generator):
        m = (w @ x).double() / n  # the resample's mean, relative to centre
        second = ((x * w[:, None]).T @ x).double()
        cov = (second - n * torch.outer(m, m)) / (n - 1)
        values.append(frechet(m + centre, cov, mu_r, cov_r, sqrt_r))
    return float(torch.tensor(values).std())


def _poly_kernel(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a.double() @ b.double().T / a.shape[1] + 1) ** 3  # KID's kernel (Binkowski et al. 2018)


def kid_se(real: torch.Tensor, fake: torch.Tensor, generator: torch.Generator) -> float:
    n = fake.shape[0]
    m = min(n, KID_BOOT_SIZE)
    fake = fake[torch.randperm(n, generator=generator)[:m]]
    real = real[torch.randperm(real.shape[0], generator=generator)[:KID_BOOT_SIZE]]
    k_ff, k_fr = _poly_kernel(fake, fake), _poly_kernel(fake, real)
    k_rr = _poly_kernel(real, real)
    r = real.shape[0]
    rr = float((k_rr.sum() - k_rr.trace()) / (r * (r - 1)))
    w = resample_counts(m, generator).double()  # (B, m)
    # Unbiased MMD^2 of each resample: its pairs of distinct draws (a point drawn twice pairs with itself).
    ff = ((w @ k_ff) * w).sum(1) - w @ k_ff.diagonal()
    values = ff / (m * (m - 1)) + rr - 2 * (w @ k_fr.sum(1)) / (m * r)
    return float(values.std()) * math.sqrt(m / n)


def mean_se(per_item: torch.Tensor, generator: torch.Generator) -> float:
    """Bootstrap SE of a mean of one number per generated image."""
    counts = resample_counts(per_item.shape[0], generator)
    return float((counts @ per_item.float() / per_item.shape[0]).std())


def knn_radii(x: torch.Tensor, k: int) -> torch.Tensor:
    """Distance from each row to its k-th nearest other row (prdc's radii)."""
    d = torch.cdist(x.float(), x.float())
    return d.kthvalue(k + 1, dim=1).values  # +1: the point itself, at distance 0


def prdc_se(real: torch.Tensor, fake: torch.Tensor, k: int, generator: torch.Generator) -> dict[str, float]:
    """Standard errors of precision, recall, density and coverage (the sets prdc scored). Sets
    larger than PRDC_BOOT_SIZE are subsampled to it (seeded) and the errors scaled by sqrt(m / n),
    as the errors of these shares fall as 1/sqrt(n): three n x n matrices of 10,000 a side would
    cost more than the rest of the evaluation."""
    scale = 1.0
    if min(len(real), len(fake)) > PRDC_BOOT_SIZE:
        scale = math.sqrt(PRDC_BOOT_SIZE / min(len(real), len(fake)))
        real = real[torch.randperm(len(real), generator=generator)[:PRDC_BOOT_SIZE]]
        fake = fake[torch.randperm(len(fake), generator=generator)[:PRDC_BOOT_SIZE]]
    r_real, r_fake = knn_radii(real, k), knn_radii(fake, k)
    d = torch.cdist(fake.float(), real.float())  # (fake, real)
    inside = d <= r_real[None, :]  # fake i inside real j's ball
    reached = d <= r_fake[:, None]  # real j inside fake i's ball
    precision = inside.any(1).float()
    density = inside.float().sum(1) / k
    counts = resample_counts(fake.shape[0], generator)
    drawn = (counts > 0).float()
    recall = ((drawn @ reached.float()) > 0).float().mean(1)
    coverage = ((drawn @ inside.float()) > 0).float().mean(1)  # real j's ball holds a drawn fake
    return {
        "precision_se": scale * float((counts @ precision / fake.shape[0]).std()),
        "recall_se": scale * float(recall.std()),
        "density_se": scale * float((counts @ density / fake.shape[0]).std()),
        "coverage_se": scale * float(coverage.std()),
    }
