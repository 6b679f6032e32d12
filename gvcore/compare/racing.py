"""The statistics of a race (`gv study`): after each round, which families leave -- on plain numbers
(oriented scores as in statistics.py: lower is better, a failed trial is ``FAILED``, the worst
outcome), with no leaderboards, no Ray and no torch.

The rule (docs/studies/racing.md has the argument and the references):

* A look happens after every round; at look ``j`` every family still in the race has the same,
  planned number of trials ``n_j`` (the first round's size, then ``trials_per_round`` more a round).
* Family B leaves when some family A still in the race *beats* it: P(a random A trial beats a
  random B trial) > 1/2 and the exact one-sided Mann-Whitney test of "A beats B" (gv compare's rank
  test, here with its exact null distribution at every size) has p <= ``level(j)``.
* ``level(j) = alpha * 6 / (pi^2 j^2) / (F (F - 1))``: the error rate alpha = 1 - confidence is
  spent across the looks (sum over j of 6 / (pi^2 j^2) is 1) and split over the F (F - 1) ordered
  pairs of the F families that started (a union bound, as in successive elimination: Even-Dar,
  Mannor & Mansour 2006). Whatever the looks show and whenever the race stops -- a winner, a budget
  raised on --resume and raced on -- the chance that any family is ever put out by one that is not
  better is at most alpha. A fixed-sample test repeated every round would not keep that promise
  (tests/test_study_statistics.py measures both).
* Equivalence (``--margin``): every pair still racing has P(A beats B) inside [1/2 - margin,
  1/2 + margin] with its interval at the same level: Hoeffding's bound for a two-sample U-statistic
  (Hoeffding 1963, section 5), P(|P_hat - P| >= t) <= 2 exp(-2 min(n_A, n_B) t^2), distribution-free
  at any n. For each ordered pair only one of its two claims (beats / within the margin above) can
  be wrong, so both kinds of claim share the one alpha.

The exact null distribution of U (no ties) is the Gaussian binomial coefficient [n_A + n_B choose
n_A]_q, tabulated once per pair of sizes; p-values are scipy.stats.mannwhitneyu's with method="exact"
(ties among failures: the statistic's floor against the untied distribution, as scipy does), and a
test checks that they agree. Tabulated because the validity simulations run thousands of races.
"""

from __future__ import annotations

import functools
import itertools
import math
from dataclasses import dataclass, field

import numpy as np

from . import statistics as st

# sum over j >= 1 of 1 / j^2 = pi^2 / 6: look j gets this share of alpha over j^2.
SPENDING_SHARE = 6.0 / math.pi**2
# The largest first round looked for: a rule needing more trials per family before any family could
# leave is a configuration error (a confidence too close to 1 for this many families).
MOST_TRIALS_TO_DECIDE = 200


@dataclass(frozen=True)
class RaceRule:
    """The study's confidence and the families it started with: every look's level follows."""

    confidence: float
    families: int  # families at the start: the union bound covers every ordered pair of them
    margin: float | None = None  # equivalence margin on P(A beats B) around 1/2; None: never declared

    @property
    def alpha(self) -> float:
        return 1.0 - self.confidence

    @property
    def directions(self) -> int:
        """Ordered pairs (A beats B and B beats A are two claims)."""
        return self.families * (self.families - 1)

    def look_alpha(self, look: int) -> float:
        """The share of alpha spent at look ``look`` (1, 2, ...)."""
        return self.alpha * SPENDING_SHARE / look**2

    def level(self, look: int) -> float:
        """The p-value a rank test must reach at this look for one ordered pair."""
        return self.look_alpha(look) / self.directions

    def fixed_level(self) -> float:
        """The level of the same rule with a single look (a fixed design: nothing to spend over)."""
        return self.alpha / self.directions

    def fewest_trials(self) -> int:
        """The fewest trials per family at which the first look can put a family out: a complete
        separation of n against n has the exact p-value 1 / C(2n, n)."""
        for n in range(1, MOST_TRIALS_TO_DECIDE + 1):
            if separation_p(n, n) <= self.level(1):
                return n
        raise ValueError(f"no first round up to {MOST_TRIALS_TO_DECIDE} trials can decide at this confidence")


def separation_p(n_a: int, n_b: int) -> float:
    """The exact one-sided rank-test p-value when every A trial beats every B trial."""
    return 1.0 / math.comb(n_a + n_b, n_a)


@functools.lru_cache(maxsize=512)
def null_survival(n_a: int, n_b: int) -> np.ndarray:
    """P(U >= k) for k = 0..n_a n_b, U the Mann-Whitney count of wins of n_a against n_b exchangeable
    trials without ties: the coefficients of the Gaussian binomial [n_a + n_b choose n_a]_q, in
    exact integers (prod_{i=1..n_a} (1 - q^(n_b + i)) / (1 - q^i))."""
    counts = [1] + [0] * (n_a * n_b + n_a)  # room for the degree before each division
    top = 0
    for i in range(1, n_a + 1):
        k = n_b + i
        for u in range(top + k, k - 1, -1):  # times (1 - q^k)
            counts[u] -= counts[u - k]
        top += k
        for u in range(i, top + 1):  # divided by (1 - q^i): a running sum with stride i
            counts[u] += counts[u - i]
        top -= i
    total = math.comb(n_a + n_b, n_a)
    tail = list(itertools.accumulate(reversed(counts[: n_a * n_b + 1])))[::-1]  # tail[k] = #{U >= k}, exact
    survival = np.array([t / total for t in tail])
    survival.setflags(write=False)
    return survival


def pair_tests(scores_a: np.ndarray, scores_b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For stacked pairs (rows of ``scores_a`` against the same rows of ``scores_b``): P(A beats B)
    with ties half, and the exact one-sided rank-test p-values of "A beats B" and "B beats A"."""
    n_a, n_b = scores_a.shape[-1], scores_b.shape[-1]
    below = (scores_a[..., :, None] < scores_b[..., None, :]).sum(axis=(-2, -1))
    tied = (scores_a[..., :, None] == scores_b[..., None, :]).sum(axis=(-2, -1))
    wins_a = below + 0.5 * tied
    wins_b = n_a * n_b - wins_a
    survival = null_survival(min(n_a, n_b), max(n_a, n_b))  # U's null law is symmetric in the sizes
    return (
        wins_a / (n_a * n_b),
        survival[np.floor(wins_a).astype(np.int64)],
        survival[np.floor(wins_b).astype(np.int64)],
    )


def anytime_radius(n_a: int, n_b: int, level: float) -> float:
    """Hoeffding's one-sided radius for P(A beats B) at ``level``: sqrt(ln(1/level) / (2 min n))."""
    return math.sqrt(math.log(1.0 / level) / (2 * min(n_a, n_b)))


@dataclass
class PairLook:
    a: str
    b: str
    p: float  # P(a random a trial beats a random b trial), ties half
    rank_p: float  # exact one-sided rank test of "a beats b"
    rank_p_reverse: float  # ... of "b beats a"
    bound: tuple[float, float]  # P's interval at this look's level (distribution-free, anytime-valid)
    ci: tuple[float, float] | None = None  # gv compare's 95% bootstrap interval: for reading, not deciding


@dataclass
class Exit:
    family: str
    beaten_by: str  # the family that beats it most surely (smallest rank-test p)
    pair: PairLook  # that pair, oriented so that ``pair.a`` is the winner
    beaten_by_all: list[str] = field(default_factory=list)  # every family that beats it at this look


@dataclass
class LookDecision:
    look: int
    level: float
    order: list[str]  # the families looked at, best median first
    sizes: dict[str, int]
    medians: dict[str, float]  # oriented (lower is better), FAILED where failures decide it
    pairs: list[PairLook]
    exits: dict[str, Exit]
    survivors: list[str]  # in ``order``
    equivalent: bool  # every surviving pair within the margin at this level (two or more survivors)
    cycle: bool  # every family was beaten by another (wins go round): none is put out


def _oriented_pair(pair: PairLook, winner: str) -> PairLook:
    if pair.a == winner:
        return pair
    flipped_ci = (1.0 - pair.ci[1], 1.0 - pair.ci[0]) if pair.ci is not None else None
    low, high = pair.bound
    return PairLook(pair.b, pair.a, 1.0 - pair.p, pair.rank_p_reverse, pair.rank_p, (1 - high, 1 - low), flipped_ci)


def decide_look(
    scores: dict[str, np.ndarray], look: int, rule: RaceRule, level: float | None = None, intervals: bool = True
) -> LookDecision:
    """Who leaves at this look. ``scores``: family -> oriented scores of all its trials so far
    (failures as ``statistics.FAILED``); ``level`` defaults to the rule's for this look (a fixed
    design passes ``rule.fixed_level()``). ``intervals`` adds gv compare's bootstrap CI to each
    pair (for reading; the decision never uses it)."""
    if len(scores) < 2:
        raise ValueError("a look needs two families or more")
    level = rule.level(look) if level is None else level
    medians = {f: float(np.median(s)) for f, s in scores.items()}
    order = sorted(scores, key=lambda f: (medians[f], f))
    pairs: list[PairLook] = []
    by_shape: dict[tuple[int, int], list[tuple[str, str]]] = {}
    for a, b in itertools.combinations(order, 2):
        by_shape.setdefault((len(scores[a]), len(scores[b])), []).append((a, b))
    for (n_a, n_b), names in by_shape.items():
        p, forward, backward = pair_tests(
            np.stack([scores[a] for a, _ in names]), np.stack([scores[b] for _, b in names])
        )
        radius = anytime_radius(n_a, n_b, level)
        for i, (a, b) in enumerate(names):
            ci = None
            if intervals and min(n_a, n_b) >= 2:
                ci = st.pair_statistics(scores[a], scores[b], a, b)[1]
            pairs.append(
                PairLook(
                    a,
                    b,
                    float(p[i]),
                    float(forward[i]),
                    float(backward[i]),
                    (max(0.0, float(p[i]) - radius), min(1.0, float(p[i]) + radius)),
                    ci,
                )
            )
    position = {f: i for i, f in enumerate(order)}
    pairs.sort(key=lambda pair: (position[pair.a], position[pair.b]))

    beaten: dict[str, list[PairLook]] = {}
    for pair in pairs:
        for winner, loser in ((pair.a, pair.b), (pair.b, pair.a)):
            oriented = _oriented_pair(pair, winner)
            if oriented.p > 0.5 and oriented.rank_p <= level:
                beaten.setdefault(loser, []).append(oriented)
    cycle = len(beaten) == len(order)
    exits: dict[str, Exit] = {}
    if not cycle:
        for loser, wins in beaten.items():
            wins.sort(key=lambda w: (w.rank_p, -w.p, position[w.a]))
            exits[loser] = Exit(loser, wins[0].a, wins[0], [w.a for w in wins])
    survivors = [f for f in order if f not in exits]
    inside = set(survivors)
    equivalent = (
        rule.margin is not None
        and len(survivors) >= 2
        and all(
            0.5 - rule.margin <= pair.bound[0] and pair.bound[1] <= 0.5 + rule.margin
            for pair in pairs
            if pair.a in inside and pair.b in inside
        )
    )
    return LookDecision(
        look=look,
        level=level,
        order=order,
        sizes={f: len(scores[f]) for f in order},
        medians=medians,
        pairs=pairs,
        exits=exits,
        survivors=survivors,
        equivalent=bool(equivalent),
        cycle=cycle,
    )


def trials_for_margin(rule: RaceRule, look: int, p_hat: float = 0.5) -> int | None:
    """Trials per family at which a pair whose P is ``p_hat`` would fit the margin at look ``look``
    (the level shrinks with later looks, so this is a lower bound on what equivalence will take)."""
    if rule.margin is None or abs(p_hat - 0.5) >= rule.margin:
        return None
    room = rule.margin - abs(p_hat - 0.5)
    return math.ceil(math.log(1.0 / rule.level(look)) / (2 * room**2))


def oriented_scores(values: list[float], failed: int, direction: str) -> np.ndarray:
    """A family's scores for the race: its values (lower is better) and its failures as the worst."""
    return st.oriented(values, failed, direction)
