"""The verdict of `gv compare`: every family's and pair's statistics in one JSON-ready document,
and the winner -- the family whose random trial beats a random trial of every other family with
probability above 0.5 at 95% confidence (the lower bound of each of its pairwise CIs above 0.5).

Requiring *every* pairwise bound is an intersection-union test: the claim "A beats each of the
others" holds at 95% without a multiple-comparison correction, and at most one family can meet it
(P(A beats B) > 0.5 excludes P(B beats A) > 0.5).

The document (values in the metric's own units; ``null`` where a failed trial decides a value --
the worst possible outcome, +inf for a min metric, -inf for a max one -- with ``median_failed`` /
``iqm_failed`` flags for the scalars; a whole ``ci`` / band ``null`` when a family has 1 trial)::

    metric, direction ("min"/"max"), by [config keys groups are split by; [] = by family], values ("final" | "best_report" | "mixed"), value_counts,
    dataset, budgets [the trials' budgets: one, unless pooled with --allow-mixed-budgets],
    sweeps [{dir, sweep, trials, final}], statistics {bootstrap, method, confidence,
    n_resamples, seed},
    families [{family, n, failed, excluded, median, median_failed, ci [low, high], iqm, iqm_failed,
               expected_best [k = 1..n], expected_best_lower, expected_best_upper}]  (best median first),
    pairs [{a, b, p, ci}]  p = P(a random a trial beats a random b trial), ties half; P(b beats a) = 1 - p,
    winner (family or null), reason, closest (the closest call, described; null with a winner or
    when no confidence is possible),
    leaders [the families no other family beats at 95%, best median first: all of them when none is
             told apart, none when wins go round in a cycle],
    beats {family: [the families it beats at 95%]}, notes,
    picks (only with --by: {family: the setting to adopt}, the best median among the family's settings
    that no other setting of that family beats at 95%)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from . import statistics as st
from .pool import FamilyValues, Pool


def _value(score: float, direction: str) -> float | None:
    """An oriented score back in the metric's units; None when a failure decides it."""
    if st.is_failed(score):
        return None
    return float(score) if direction == "min" else -float(score)


def _interval(low: float, high: float, direction: str) -> list[float | None]:
    """An oriented [low, high] as [low, high] in the metric's units (a max metric swaps the ends)."""
    if direction == "min":
        return [_value(low, direction), _value(high, direction)]
    return [_value(high, direction), _value(low, direction)]


def _family_entry(name: str, family: FamilyValues, scores: np.ndarray, direction: str) -> dict[str, Any]:
    found = st.family_statistics(scores, name)
    band = found["expected_best_band"]
    if band is None:
        lower = upper = None
    else:
        ends = [_interval(lo, hi, direction) for lo, hi in zip(*band)]
        lower, upper = [e[0] for e in ends], [e[1] for e in ends]
    ci = found["median_ci"]
    return {
        "family": name,
        "n": len(scores),
        "failed": family.failed,
        "excluded": family.excluded,
        "median": _value(found["median"], direction),
        "median_failed": st.is_failed(found["median"]),
        "ci": _interval(*ci, direction) if ci is not None else None,
        "iqm": _value(found["iqm"], direction),
        "iqm_failed": st.is_failed(found["iqm"]),
        "expected_best": [_value(e, direction) for e in found["expected_best"]],
        "expected_best_lower": lower,
        "expected_best_upper": upper,
        "_order": (found["median"], found["iqm"], name),
    }


# A win must also pass a one-sided rank test at the level matching the two-sided interval.
RANK_TEST_LEVEL = (1 - st.CONFIDENCE) / 2


def _describe(a: str, b: str, p: float, ci: tuple[float, float], rank_p: float) -> str:
    return f"{a} vs {b}: P = {p:.2f} [{ci[0]:.2f}, {ci[1]:.2f}], rank test p = {rank_p:.3g}"


def _wins(p: float, ci: tuple[float, float], rank_p: float) -> bool:
    return ci[0] > 0.5 and rank_p < RANK_TEST_LEVEL


def _beats(pairs: list[dict[str, Any]]) -> dict[tuple[str, str], tuple[float, tuple[float, float], float]]:
    """(a, b) -> (P(a beats b), its CI, one-sided rank-test p), both ways round."""
    beats: dict[tuple[str, str], tuple[float, tuple[float, float], float]] = {}
    for pair in pairs:
        p, (low, high) = pair["p"], pair["ci"]
        beats[pair["a"], pair["b"]] = (p, (low, high), pair["rank_p"])
        beats[pair["b"], pair["a"]] = (1.0 - p, (1.0 - high, 1.0 - low), pair["rank_p_reverse"])
    return beats


def _no_confidence(sizes: dict[str, int]) -> str | None:
    """Why no family can be called better than another, if that is so."""
    order = list(sizes)
    if len(order) == 1:
        return f"only one family ({order[0]}): nothing to compare it with"
    single = [f for f in order if sizes[f] < 2]
    if len(single) == len(order):
        return "1 trial per family: no confidence possible"
    if single:
        return (
            f"{', '.join(single)} {'has' if len(single) == 1 else 'have'} 1 trial: no confidence possible; "
            "run more trials of it"
        )
    return None


@dataclass(frozen=True)
class Verdict:
    """What a comparison's pair table supports, worked out once."""

    winner: str | None  # the family that beats every other at 95% confidence, if one does
    reason: str  # why (or why not), in a sentence
    closest: str | None  # the closest call, described (None with a winner or when no confidence is possible)
    leaders: list[str]  # the families no other beats at 95% (all of them when nothing is told apart)
    beats: dict[str, list[str]]  # family -> the families it beats at 95% confidence, in table order


def picks(
    order: list[str], pairs: list[dict[str, Any]], sizes: dict[str, int], family_of: dict[str, str]
) -> tuple[dict[str, str], list[str]]:
    """With --by, the setting to adopt for each family, and notes: the best median (``order`` is the
    table's, best median first) among that family's leaders -- its settings no other setting *of the
    same family* beats at 95%. A choice, not a win; defaults are per family, so families don't
    compete. Settings with a single trial can't be weighed and are left out while others have more."""
    out: dict[str, str] = {}
    notes: list[str] = []
    for family in dict.fromkeys(family_of[group] for group in order):
        groups = [g for g in order if family_of[g] == family]
        weighed = [g for g in groups if sizes[g] >= 2] or groups
        if len(weighed) < len(groups):
            notes.append(
                f"{family}'s pick leaves out the settings with a single trial: "
                f"{', '.join(g for g in groups if g not in weighed)}"
            )
        leaders = leaders_among(weighed, pairs, sizes)
        out[family] = leaders[0] if leaders else weighed[0]
    return out, notes


def leaders_among(groups: list[str], pairs: list[dict[str, Any]], sizes: dict[str, int]) -> list[str]:
    """The leading group of a sub-table: those of ``groups`` (in table order) that no other of
    ``groups`` beats at 95% confidence -- pairs with an outsider don't count."""
    inside = set(groups)
    return decide({g: sizes[g] for g in groups}, [p for p in pairs if p["a"] in inside and p["b"] in inside]).leaders


def decide(sizes: dict[str, int], pairs: list[dict[str, Any]]) -> Verdict:
    """The verdict of a pair table. ``sizes``: family -> trials, in table order; ``pairs`` as in the
    document. A family beats another when the CI of P(it beats the other) lies above 0.5 and the
    one-sided rank test passes."""
    order = list(sizes)
    why_not = _no_confidence(sizes)
    if why_not:
        return Verdict(None, why_not, None, order, {f: [] for f in order})
    table = _beats(pairs)
    beats = {f: [g for g in order if g != f and _wins(*table[f, g])] for f in order}
    beaten = {g for losers in beats.values() for g in losers}
    leaders = [f for f in order if f not in beaten]
    # Each family's weakest opponent: the one it is least sure to beat (failing the rank test
    # first, then the smallest lower bound).
    weakest = {
        f: min(((g, *table[f, g]) for g in order if g != f), key=lambda t: (_wins(*t[1:]), t[2][0], -t[3], t[1], t[0]))
        for f in order
    }
    winners = [f for f in order if _wins(*weakest[f][1:])]
    if winners:
        winner = winners[0]
        return Verdict(
            winner,
            f"a random {winner} trial beats a random trial of every other family at "
            f"{st.CONFIDENCE:.0%} confidence; weakest: {_describe(winner, *weakest[winner])}",
            None,
            leaders,
            beats,
        )
    closest = max(order, key=lambda f: (_wins(*weakest[f][1:]), weakest[f][2][0], -weakest[f][3], weakest[f][1]))
    closest_call = _describe(closest, *weakest[closest])
    group = ""
    if 0 < len(leaders) < len(order):  # (empty when wins go round in a cycle: nothing to say then)
        group = (
            f"; leading group {', '.join(leaders)}: no family beats them at {st.CONFIDENCE:.0%} confidence, "
            f"and each of {', '.join(f for f in order if f not in leaders)} is beaten by one"
        )
    return Verdict(
        None,
        f"no family beats every other at {st.CONFIDENCE:.0%} confidence{group}; closest: {closest_call}",
        closest_call,
        leaders,
        beats,
    )


def compare(pool: Pool) -> dict[str, Any]:
    """The comparison document of a pool of trials (see the module docstring)."""
    scores = {name: st.oriented(v.values, v.failed, pool.direction) for name, v in pool.families.items()}
    families = sorted(
        (_family_entry(name, pool.families[name], scores[name], pool.direction) for name in scores),
        key=lambda entry: entry["_order"],
    )
    for entry in families:
        del entry["_order"]
    order = [entry["family"] for entry in families]
    pairs = []
    for i, a in enumerate(order):
        for b in order[i + 1 :]:
            p, ci = st.pair_statistics(scores[a], scores[b], a, b)
            rank_p, rank_p_reverse = st.rank_test(scores[a], scores[b])
            pairs.append(
                {
                    "a": a,
                    "b": b,
                    "p": p,
                    "ci": list(ci) if ci is not None else None,
                    "rank_p": rank_p,
                    "rank_p_reverse": rank_p_reverse,
                }
            )
    sizes = {entry["family"]: entry["n"] for entry in families}
    verdict = decide(sizes, pairs)
    chosen: dict[str, str] = {}
    pick_notes: list[str] = []
    if pool.by:
        chosen, pick_notes = picks(order, pairs, sizes, {g: v.family or "?" for g, v in pool.families.items()})
    return {
        "metric": pool.metric,
        "direction": pool.direction,
        "by": list(pool.by),
        "values": pool.value_source,
        "value_counts": pool.value_counts,
        "dataset": pool.dataset,
        # More than one only with --allow-mixed-budgets: then the families did not get equal compute.
        "budgets": list(pool.budgets),
        "sweeps": [
            {"dir": s.directory, "sweep": s.name, "trials": len(s.trials), "final": s.final} for s in pool.sweeps
        ],
        "statistics": {
            "bootstrap": "scipy.stats.bootstrap",
            "method": st.METHOD,
            "confidence": st.CONFIDENCE,
            "n_resamples": st.N_RESAMPLES,
            "seed": st.SEED,
            "rank_test": "scipy.stats.mannwhitneyu, one-sided",
            "rank_test_level": RANK_TEST_LEVEL,
        },
        "families": families,
        "pairs": pairs,
        "winner": verdict.winner,
        "reason": verdict.reason,
        "closest": verdict.closest,
        "leaders": verdict.leaders,
        "beats": verdict.beats,
        "notes": list(pool.notes) + pick_notes,
    } | ({"picks": chosen} if pool.by else {})
