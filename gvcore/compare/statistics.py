"""The statistics of `gv compare`, on plain numbers (no leaderboards, no CLI).

Scores are *oriented*: lower is better (a max metric is negated), and a failed trial scores the
worst possible outcome -- +inf, which loses to every finished trial and ties with other failures.
Inside the arithmetic +inf is stood in for by ``FAILED`` = 1e300, a finite number: numpy's
percentiles interpolate ``a + (inf - a) * t`` into nan, while 1e300 keeps every statistic a number;
any result above ``FAILED_ABOVE`` was decided (at least in part) by a failed trial and is reported
as failed (+inf), which is what the same statistic on +inf would be.

Per family (one sample of n oriented scores):
    median, iqm (scipy.stats.trim_mean, 25% cut at each end), a bootstrap CI of the median, and
    expected_best[k-1]: the expected best of k trials drawn at random without replacement,
        E_k = sum_i s_(i) * C(n - i, k - 1) / C(n, k)      (s_(1) <= ... <= s_(n))
    -- the exact order-statistics estimator (Dodge et al. 2019's expected validation performance,
    in its unbiased without-replacement form: Tang et al. 2020, Dodge et al. 2021). E_1 is the
    mean, E_n the best value. With f failures, E_k is failed exactly for k <= f (all k draws can
    fail), so no tiny weight on a failure can be lost to rounding.
Per pair of families: P(a random trial of A beats a random trial of B), ties counting half -- the
Mann-Whitney U of the pair divided by n_A n_B -- with a bootstrap CI (A and B resampled
independently).

Bootstraps are scipy.stats.bootstrap, method="percentile" (BCa's jackknife acceleration is
meaningless with the failures' stand-in value and degenerate with many ties), 9,999 resamples, 95%, vectorized; each call gets its own
generator seeded from SEED and the family names, so a family's numbers don't depend on which other
families are compared, and the same input gives the same output.
"""

from __future__ import annotations

import functools
import zlib
from typing import TypedDict

import numpy as np
from scipy import special, stats

SEED = 0
CONFIDENCE = 0.95
N_RESAMPLES = 9999
METHOD = "percentile"
FAILED = 1e300
FAILED_ABOVE = 1e250


def oriented(values: list[float], failed: int, direction: str) -> np.ndarray:
    """The scores of a family's finished trials (lower = better) followed by its failures."""
    sign = 1.0 if direction == "min" else -1.0
    return np.concatenate([sign * np.asarray(values, dtype=float), np.full(failed, FAILED)])


def is_failed(score: float) -> bool:
    return bool(score > FAILED_ABOVE)


def _failures_allowed() -> np.errstate:
    """bootstrap() also computes a standard error, whose squares of FAILED overflow to inf; the
    standard error is not used, the intervals are unaffected."""
    return np.errstate(over="ignore")


def generator(*names: str) -> np.random.Generator:
    """A generator of its own per family / pair: stable across runs (crc32, not hash())."""
    return np.random.default_rng([SEED, *(zlib.crc32(name.encode()) for name in names)])


# --- expected best of k -------------------------------------------------------------------------


@functools.lru_cache(maxsize=32)
def best_of_k_weights(n: int) -> np.ndarray:
    """(n, n): row k-1 holds P(the best of k random draws without replacement is the i-th smallest)."""
    i = np.arange(1, n + 1)[None, :]
    k = np.arange(1, n + 1)[:, None]
    possible = n - i >= k - 1

    def log_comb(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return special.gammaln(a + 1) - special.gammaln(b + 1) - special.gammaln(a - b + 1)

    log_weight = log_comb(np.where(possible, n - i, 0), np.where(possible, k - 1, 0)) - log_comb(
        np.asarray(n), np.asarray(k)
    )
    weights = np.where(possible, np.exp(log_weight), 0.0)
    weights /= weights.sum(axis=1, keepdims=True)  # each row sums to 1 despite exp/log rounding
    weights.setflags(write=False)
    return weights


def expected_best(scores: np.ndarray, *, ordered: bool = False) -> np.ndarray:
    """Expected best of k = 1..n draws along the last axis (oriented scores, FAILED for failures)."""
    ordered_scores = scores if ordered else np.sort(scores, axis=-1)
    n = ordered_scores.shape[-1]
    # Failures sort last and get weight exactly 0 for k > failures (see the module docstring).
    expected = ordered_scores @ best_of_k_weights(n).T
    failures = np.sum(ordered_scores > FAILED_ABOVE, axis=-1, keepdims=True)
    return np.where(np.arange(1, n + 1) <= failures, FAILED, expected)


def _median_and_expected_best(scores: np.ndarray, axis: int = -1) -> np.ndarray:
    """The bootstrapped statistic of a family: [median, E_1, ..., E_n] along axis 0, resamples last.
    One sort serves both (np.median would partition the resamples again)."""
    ordered = np.sort(np.moveaxis(scores, axis, -1), axis=-1)
    n = ordered.shape[-1]
    median = 0.5 * (ordered[..., (n - 1) // 2] + ordered[..., n // 2])
    together = np.concatenate([median[..., None], expected_best(ordered, ordered=True)], axis=-1)
    return np.moveaxis(together, -1, 0)


class FamilyStatistics(TypedDict):
    median: float
    iqm: float
    expected_best: np.ndarray  # k = 1..n
    median_ci: tuple[float, float] | None  # None with one trial
    expected_best_band: tuple[np.ndarray, np.ndarray] | None  # (low, high) for k = 1..n


def family_statistics(scores: np.ndarray, name: str) -> FamilyStatistics:
    """Point estimates and bootstrap intervals of one family (oriented scores)."""
    out: FamilyStatistics = {
        "median": float(np.median(scores)),
        "iqm": float(stats.trim_mean(scores, 0.25)),
        "expected_best": expected_best(scores),
        "median_ci": None,
        "expected_best_band": None,
    }
    if len(scores) >= 2:
        with _failures_allowed():
            result = stats.bootstrap(
                (scores,),
                _median_and_expected_best,
                n_resamples=N_RESAMPLES,
                vectorized=True,
                axis=-1,
                confidence_level=CONFIDENCE,
                method=METHOD,
                rng=generator(name),
            )
        low, high = result.confidence_interval
        out["median_ci"] = (float(low[0]), float(high[0]))
        out["expected_best_band"] = (low[1:], high[1:])
    return out


# --- pairs --------------------------------------------------------------------------------------


def win_probability(codes_a: np.ndarray, codes_b: np.ndarray, levels: int, axis: int = -1) -> np.ndarray:
    """P(a random A beats a random B), ties half, along ``axis``: U / (n_A n_B), with U the
    Mann-Whitney statistic. Scores arrive as integer codes 0..levels-1 (their rank among the pair's
    distinct scores, so order and ties are kept); counting each code per resample makes a 9,999-
    resample bootstrap a few milliseconds (scipy.stats.mannwhitneyu ranks: about 40x slower)."""
    a = np.moveaxis(codes_a, axis, -1)
    b = np.moveaxis(codes_b, axis, -1)
    batch = a.shape[:-1]
    a, b = a.reshape(-1, a.shape[-1]), b.reshape(-1, b.shape[-1])
    rows = len(a)
    offsets = (np.arange(rows) * levels)[:, None]
    count_a = np.bincount((a + offsets).ravel(), minlength=rows * levels).reshape(rows, levels)
    count_b = np.bincount((b + offsets).ravel(), minlength=rows * levels).reshape(rows, levels)
    # A beats B when its code is lower: each B at code c is beaten by the A's below c and tied (half)
    # by those at c, i.e. by (A's at or below c) - half the A's at c.
    wins = np.einsum("ij,ij->i", count_b, np.cumsum(count_a, axis=-1)) - 0.5 * np.einsum("ij,ij->i", count_b, count_a)
    return (wins / (a.shape[-1] * b.shape[-1])).reshape(batch)


def rank_test(scores_a: np.ndarray, scores_b: np.ndarray) -> tuple[float, float]:
    """One-sided Mann-Whitney p-values for "A beats B" and "B beats A" (exact for small samples
    without ties). The percentile bootstrap of P is overconfident on a handful of trials -- two
    trials each that happen not to overlap give P = 1 [1, 1] -- while the exact test knows that 2
    against 2 can't reject chance (p >= 1/6): a winner needs both."""
    with _failures_allowed():
        a_beats_b = stats.mannwhitneyu(scores_a, scores_b, alternative="less").pvalue
        b_beats_a = stats.mannwhitneyu(scores_a, scores_b, alternative="greater").pvalue
    return float(a_beats_b), float(b_beats_a)


def pair_statistics(
    scores_a: np.ndarray, scores_b: np.ndarray, name_a: str, name_b: str
) -> tuple[float, tuple[float, float] | None]:
    """P(A beats B) and its bootstrap CI (None when either family has fewer than 2 trials)."""
    distinct, codes = np.unique(np.concatenate([scores_a, scores_b]), return_inverse=True)
    codes_a, codes_b = codes[: len(scores_a)], codes[len(scores_a) :]
    levels = len(distinct)
    p = float(win_probability(codes_a, codes_b, levels))
    if len(scores_a) < 2 or len(scores_b) < 2:
        return p, None
    with _failures_allowed():
        result = stats.bootstrap(
            (codes_a, codes_b),
            functools.partial(win_probability, levels=levels),
            n_resamples=N_RESAMPLES,
            vectorized=True,
            paired=False,
            axis=-1,
            confidence_level=CONFIDENCE,
            method=METHOD,
            rng=generator(name_a, name_b),
        )
    low, high = result.confidence_interval
    return p, (float(low), float(high))
