"""Races on known distributions: how often the rule names a false winner, how often it finds a better
family, and what that costs against a fixed design of the same power. No training: each trial's
outcome is drawn from its family's distribution, and the race runs through the very :class:`Race`
(and gvcore/compare/racing.py) that `gv study` runs. Used by tests/test_study_statistics.py and
bench/bench_race.py (the numbers in docs/studies/racing.md).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from ..compare.racing import RaceRule, decide_look
from ..compare.statistics import FAILED
from .race import Race
from .settings import StudySettings


@dataclass(frozen=True)
class Outcomes:
    """A family's trials: oriented scores (lower is better) ~ Normal(mean, sd); a trial fails (the
    worst outcome) with probability ``failure``."""

    mean: float = 0.0
    sd: float = 1.0
    failure: float = 0.0

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        scores = rng.normal(self.mean, self.sd, n)
        return np.where(rng.random(n) < self.failure, FAILED, scores)


@dataclass
class Summary:
    studies: int
    winners: Counter = field(default_factory=Counter)  # family (None: no winner) -> studies
    stops: Counter = field(default_factory=Counter)  # stop reason -> studies
    exits: Counter = field(default_factory=Counter)  # family -> studies in which it left the race
    with_exits: int = 0  # studies in which some family left the race
    trials: list[int] = field(default_factory=list)  # trials each study spent
    fixed: list[int] = field(default_factory=list)  # each study's fixed design (families x longest-raced)

    def share(self, winner: str | None) -> float:
        return self.winners[winner] / self.studies

    def false_winners(self, best: str | None) -> float:
        """The share of studies naming a winner other than ``best`` (None: no family is better)."""
        return sum(n for w, n in self.winners.items() if w is not None and w != best) / self.studies

    @property
    def mean_trials(self) -> float:
        return float(np.mean(self.trials))


def run_race(
    outcomes: dict[str, Outcomes], settings: StudySettings, rng: np.random.Generator, rule: RaceRule | None = None
) -> Race:
    """One race to its stop (a winner, equivalence or the budget); returns it."""
    race = Race(list(outcomes), settings, "min", rule=rule)
    drawn = {family: np.empty(0) for family in outcomes}
    while (current := race.next_round()) is not None:
        for family in current.families:
            drawn[family] = np.concatenate([drawn[family], outcomes[family].draw(rng, current.count)])
        race.record({family: drawn[family] for family in current.families}, intervals=False)
    return race


def simulate(
    outcomes: dict[str, Outcomes], settings: StudySettings, studies: int, seed: int = 0, rule: RaceRule | None = None
) -> Summary:
    """``studies`` independent races."""
    rng = np.random.default_rng(seed)
    summary = Summary(studies)
    for _ in range(studies):
        race = run_race(outcomes, settings, rng, rule)
        verdict = race.verdict()
        summary.winners[verdict["winner"]] += 1
        summary.stops[verdict["outcome"]] += 1
        summary.exits.update(entry["family"] for entry in verdict["out"])
        summary.with_exits += bool(verdict["out"])
        compute = race.compute()
        summary.trials.append(compute["trials_spent"])
        summary.fixed.append(compute["fixed_design_trials"])
    return summary


def fixed_design_power(
    outcomes: dict[str, Outcomes], best: str, n: int, confidence: float, studies: int, seed: int = 0
) -> float:
    """How often a fixed design -- ``n`` trials per family, one look, the same rank tests at the
    single-look level alpha / (F (F - 1)) -- puts every family but ``best`` out."""
    rng = np.random.default_rng(seed)
    rule = RaceRule(confidence, len(outcomes))
    found = 0
    for _ in range(studies):
        scores = {family: o.draw(rng, n) for family, o in outcomes.items()}
        decision = decide_look(scores, 1, rule, level=rule.fixed_level(), intervals=False)
        found += decision.survivors == [best]
    return found / studies


def matching_fixed_design(
    outcomes: dict[str, Outcomes], best: str, power: float, confidence: float, studies: int, seed: int = 0
) -> tuple[int, float]:
    """The fewest trials per family at which the fixed design finds ``best`` at least as often as
    ``power`` (the race's); with its power."""
    n = RaceRule(confidence, len(outcomes)).fewest_trials()
    while True:
        found = fixed_design_power(outcomes, best, n, confidence, studies, seed)
        if found >= power:
            return n, found
        n += 1
