"""Where the verdict's axes disagree: which families lead each axis a person sees, the sentence that
names the trade-off ("cvae is the most legible; dcgan and cgan are the most realistic") and the
Pareto front of the families over those axes.

A family leads an axis when it wins it, or is in its leading group (no other family beats it at 95%
confidence while some family is told apart). With one trial per family there are no intervals to
tell families apart: the families within two standard errors (of the final evaluation) of the best
value lead, and the sentence says it is a ranking.
"""

from __future__ import annotations

import math
from typing import Any

# The axes a person sees in a sample grid, in the order the sentence names them; "overall" is one
# number standing for them and takes no part in a trade-off.
SEEN = ("realism", "legibility", "diversity")
ADJECTIVE = {"realism": "realistic", "legibility": "legible", "diversity": "diverse"}
# Two single-trial values differ when they are more than this many combined standard errors apart.
NOISE_Z = 2.0


def _names(families: list[str]) -> str:
    return families[0] if len(families) == 1 else f"{', '.join(families[:-1])} and {families[-1]}"


def leaders(verdict: Any) -> list[str]:
    """The families leading one axis (see the module docstring); [] when none is told apart."""
    if verdict.winner:
        return [verdict.winner]
    if verdict.leaders:
        return list(verdict.leaders)
    families = [f for f in verdict.doc["families"] if f["median"] is not None]
    if not families or max(f["n"] for f in verdict.doc["families"]) > 1:
        return []
    best = families[0]  # the document lists families best median first
    noise = verdict.noise
    tied = [
        f["family"]
        for f in families
        if abs(f["median"] - best["median"])
        <= NOISE_Z * math.hypot(noise.get(best["family"], 0.0), noise.get(f["family"], 0.0))
    ]
    return tied if len(tied) < len(verdict.doc["families"]) else []


def sentence(verdicts: list[Any]) -> str | None:
    """'cvae is the most legible; dcgan and cgan are the most realistic' -- or None when the axes a
    person sees agree (or can't be told apart)."""
    groups = {v.axis: leaders(v) for v in verdicts if v.axis in SEEN}
    groups = {axis: names for axis, names in groups.items() if names}
    if len(groups) < 2 or len({tuple(sorted(names)) for names in groups.values()}) == 1:
        return None
    parts = [
        f"{_names(names)} {'is' if len(names) == 1 else 'are'} the most {ADJECTIVE[axis]}"
        for axis, names in sorted(groups.items(), key=lambda item: SEEN.index(item[0]))
    ]
    single = all(max(f["n"] for f in v.doc["families"]) <= 1 for v in verdicts)
    return "; ".join(parts) + (" (a ranking from one trial each)." if single else ".")


def pareto_front(verdicts: list[Any]) -> list[str]:
    """The families no other family beats on every axis a person sees (by median; a failed median
    is the worst), best median on the first axis first; [] with fewer than two such axes."""
    seen = [v for v in verdicts if v.axis in SEEN]
    if len(seen) < 2:
        return []
    scores: dict[str, list[float]] = {}
    for verdict in seen:
        sign = 1.0 if verdict.doc["direction"] == "min" else -1.0
        for family in verdict.doc["families"]:
            median = family["median"]
            scores.setdefault(family["family"], []).append(math.inf if median is None else sign * median)
    complete = {f: s for f, s in scores.items() if len(s) == len(seen)}

    def dominated(name: str) -> bool:
        mine = complete[name]
        return any(
            all(o <= m for o, m in zip(other, mine)) and any(o < m for o, m in zip(other, mine))
            for f, other in complete.items()
            if f != name
        )

    return sorted((f for f in complete if not dominated(f)), key=lambda f: complete[f][0])
