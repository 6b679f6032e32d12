"""The race: rounds, who is in, who left and why, when it stops -- as plain state, no Ray.

:class:`Race` plans each round (the families still in, the trial indices each gets), takes the
round's scores and asks gvcore/compare/racing.py who leaves. The study driver feeds it scores from
the study's leaderboard (:func:`scores_from_rows`), the validity simulations (gvcore/study/simulate.py)
from known distributions: one decision path for both.

It stops when one family is left (the winner), when the families left are equivalent within the
margin, or when the next round would pass the budget (trials, or hours at the last round's pace);
a budget raised on --resume reopens a budget stop (the rule is anytime-valid: looking again is fine).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from ..compare import statistics as st
from ..compare.racing import LookDecision, PairLook, RaceRule, decide_look
from ..errors import GVError
from .settings import StudySettings

WINNER, EQUIVALENT, BUDGET = "winner", "equivalent", "budget"


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass
class RoundRecord:
    """One round: planned (status "running") or looked at (status "done")."""

    round: int
    families: list[str]  # in the race this round: each gets trials first .. first + count - 1
    first: int
    count: int
    status: str = "running"
    started: str = ""
    wall_time_s: float | None = None
    level: float | None = None  # the rank-test level of this look, per ordered pair
    trials: dict[str, int] = field(default_factory=dict)  # family -> its trials after this round
    medians: dict[str, float | None] = field(default_factory=dict)  # metric units; None: failures decide
    pairs: list[dict[str, Any]] = field(default_factory=list)
    out: list[dict[str, Any]] = field(default_factory=list)
    equivalent: bool = False
    cycle: bool = False

    @property
    def directory(self) -> str:
        return f"round-{self.round:02d}"

    @property
    def new_trials(self) -> int:
        return len(self.families) * self.count

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__} | {"dir": self.directory}


def _value(score: float, direction: str) -> float | None:
    """An oriented score in the metric's units; None where a failure decides it."""
    if st.is_failed(score):
        return None
    return float(score) if direction == "min" else -float(score)


def pair_dict(pair: PairLook) -> dict[str, Any]:
    return {
        "a": pair.a,
        "b": pair.b,
        "p": pair.p,
        "ci": list(pair.ci) if pair.ci is not None else None,
        "rank_p": pair.rank_p,
        "rank_p_reverse": pair.rank_p_reverse,
        "bound": list(pair.bound),
    }


def describe_pair(pair: dict[str, Any], level: float | None = None) -> str:
    """'vae vs dcgan: P = 0.98 [95% CI 0.93, 1.00], rank test p = 2.9e-04 (level 1.0e-03)'."""
    ci = f" [95% CI {pair['ci'][0]:.2f}, {pair['ci'][1]:.2f}]" if pair.get("ci") else ""
    at = f" (level {level:.1e})" if level is not None else ""
    return f"{pair['a']} vs {pair['b']}: P = {pair['p']:.2f}{ci}, rank test p = {pair['rank_p']:.1e}{at}"


class Race:
    """A study's race. ``families`` in the order they started; ``direction``: the metric's better side."""

    def __init__(
        self,
        families: list[str],
        settings: StudySettings,
        direction: str,
        rounds: list[RoundRecord] | None = None,
        stop: dict[str, str] | None = None,
        rule: RaceRule | None = None,
    ) -> None:
        self.families = list(families)
        self.settings = settings
        self.direction = direction
        self.rule = rule or RaceRule(settings.confidence, len(self.families), settings.margin)
        fewest = self.rule.fewest_trials()
        if settings.first_round is not None and settings.first_round < fewest:
            raise GVError(
                f"bad first round of {settings.first_round} trials per family: below {fewest} no rank test can put a "
                f"family out at confidence {settings.confidence:g} among {len(self.families)} families (the fewest "
                f"trials whose exact p-value can reach {self.rule.level(1):.1e}); use {fewest} or more, or leave it unset"
            )
        self.first_round = settings.first_round or fewest
        self.rounds = list(rounds or [])
        self.stop = stop  # {"reason": WINNER | EQUIVALENT | BUDGET, "text": ...} once stopped

    # --- where the race stands ----------------------------------------------------------------
    @property
    def done(self) -> list[RoundRecord]:
        return [r for r in self.rounds if r.status == "done"]

    @property
    def running(self) -> RoundRecord | None:
        return self.rounds[-1] if self.rounds and self.rounds[-1].status == "running" else None

    def exit_round(self) -> dict[str, int]:
        """family -> the round it left the race in."""
        return {entry["family"]: r.round for r in self.done for entry in r.out}

    @property
    def survivors(self) -> list[str]:
        """The families still racing, in the last look's order (best median first)."""
        if not self.done:
            return list(self.families)
        gone = self.exit_round()
        return [f for f in sorted(self.done[-1].families, key=self._rank) if f not in gone]

    def _rank(self, family: str) -> tuple[int, float, str]:
        median = self.done[-1].medians.get(family)
        if median is None:
            return (1, 0.0, family)
        return (0, median if self.direction == "min" else -median, family)

    @property
    def trials(self) -> dict[str, int]:
        """family -> trials it has run (looked-at rounds only)."""
        counts = {f: 0 for f in self.families}
        for r in self.done:
            for family in r.families:
                counts[family] += r.count
        return counts

    def spent(self) -> int:
        return sum(r.new_trials for r in self.rounds)

    # --- rounds ---------------------------------------------------------------------------------
    def next_round(self, elapsed_s: float = 0.0) -> RoundRecord | None:
        """The round to run now: the unfinished one, or a new one; None once the race has stopped
        (``stop`` says why)."""
        if self.running is not None:
            return self.running
        if self.stop is not None:
            return None
        families = self.survivors
        count = self.trials_per_round()
        first = self.trials[families[0]] if self.done else 0
        needed = len(families) * count
        settings = self.settings
        if settings.max_trials is not None and self.spent() + needed > settings.max_trials:
            self._stop_for_budget(
                f"the next round ({len(families)} families x {count} trials) would pass --max-trials "
                f"{settings.max_trials} ({self.spent()} spent)"
            )
            return None
        if settings.max_hours is not None and self.done:
            last = self.done[-1]
            pace = (last.wall_time_s or 0.0) / last.new_trials
            if elapsed_s + pace * needed > settings.max_hours * 3600:
                self._stop_for_budget(
                    f"the next round ({needed} trials, about {pace * needed / 60:.0f} min at the last round's pace) "
                    f"would pass --max-hours {settings.max_hours:g} ({elapsed_s / 3600:.2f} h spent)"
                )
                return None
        record = RoundRecord(len(self.rounds) + 1, families, first, count, started=now())
        self.rounds.append(record)
        return record

    def trials_per_round(self) -> int:
        return self.first_round if not self.done else self.settings.trials_per_round

    def _stop_for_budget(self, why: str) -> None:
        self.stop = {"reason": BUDGET, "text": why}

    def reopen(self) -> None:
        """After a budget was raised (--resume): a budget stop no longer holds."""
        if self.stop is not None and self.stop["reason"] == BUDGET:
            self.stop = None

    def record(
        self, scores: dict[str, np.ndarray], wall_time_s: float | None = None, intervals: bool = True
    ) -> LookDecision:
        """Look at the running round's results: ``scores`` holds every trial so far of each family in
        it (oriented, failures as ``statistics.FAILED``)."""
        current = self.running
        if current is None:
            raise AssertionError("no round is running")
        expected = current.first + current.count
        for family in current.families:
            have = len(scores.get(family, ()))
            if have != expected:
                raise GVError(
                    f"round {current.round}: {family} has {have} trials on record, not {expected}: the study's "
                    "leaderboards are incomplete or damaged; resume it (--resume) or start a new study"
                )
        decision = decide_look({f: scores[f] for f in current.families}, current.round, self.rule, intervals=intervals)
        current.status = "done"
        current.wall_time_s = None if wall_time_s is None else round(wall_time_s, 1)
        current.level = decision.level
        current.trials = {f: expected for f in current.families}
        current.medians = {f: _value(decision.medians[f], self.direction) for f in decision.order}
        current.pairs = [pair_dict(pair) for pair in decision.pairs]
        current.out = [
            {
                "family": family,
                "beaten_by": found.beaten_by,
                "beaten_by_all": found.beaten_by_all,
                "pair": pair_dict(found.pair),
                "reason": f"beaten by {found.beaten_by}: {describe_pair(pair_dict(found.pair), decision.level)}",
            }
            for family, found in decision.exits.items()
        ]
        current.equivalent, current.cycle = decision.equivalent, decision.cycle
        if len(decision.survivors) == 1:
            (winner,) = decision.survivors
            self.stop = {
                "reason": WINNER,
                "text": f"{winner} is the only family left: every other was beaten at {self.rule.confidence:.0%} confidence",
            }
        elif decision.equivalent:
            margin = self.rule.margin or 0.0
            self.stop = {
                "reason": EQUIVALENT,
                "text": f"{', '.join(decision.survivors)} are equivalent: P(A beats B) within "
                f"[{0.5 - margin:.2f}, {0.5 + margin:.2f}] for every pair at {self.rule.confidence:.0%} confidence",
            }
        return decision

    # --- the outcome ----------------------------------------------------------------------------
    def closest(self) -> str | None:
        """The closest call among the families still racing at the last look."""
        if not self.done:
            return None
        last = self.done[-1]
        inside = set(self.survivors)
        pairs = [p for p in last.pairs if p["a"] in inside and p["b"] in inside]
        if not pairs:
            return None
        nearest = min(pairs, key=lambda p: min(p["rank_p"], p["rank_p_reverse"]))
        if nearest["rank_p_reverse"] < nearest["rank_p"]:
            ci = nearest["ci"]
            nearest = nearest | {
                "a": nearest["b"],
                "b": nearest["a"],
                "p": 1 - nearest["p"],
                "ci": [1 - ci[1], 1 - ci[0]] if ci else None,
                "rank_p": nearest["rank_p_reverse"],
            }
        return describe_pair(nearest, last.level)

    def verdict(self) -> dict[str, Any]:
        leaders = self.survivors
        confidence = f"{self.rule.confidence:.0%}"
        out = [
            {"family": entry["family"], "round": r.round, "beaten_by": entry["beaten_by"], "reason": entry["reason"]}
            for r in self.done
            for entry in r.out
        ]
        reason = self.stop["reason"] if self.stop else None
        left = f"; {', '.join(o['family'] for o in out)} left the race" if out else ""
        if reason == WINNER:
            sentence = (
                f"{leaders[0]} wins: every other family left the race, each beaten at {confidence} confidence "
                f"(anytime-valid over {len(self.done)} look{'s' if len(self.done) > 1 else ''})."
            )
        elif reason == EQUIVALENT:
            sentence = f"No winner: {self.stop['text'] if self.stop else ''}{left}."
        elif reason == BUDGET:
            sentence = (
                f"No single winner within the budget: leading group {', '.join(leaders)} -- no family beat them at "
                f"{confidence} confidence{left}; closest: {self.closest()}."
            )
        else:
            sentence = f"Still racing: {', '.join(leaders)} in{left}."
        return {
            "outcome": reason or "running",
            "winner": leaders[0] if reason == WINNER else None,
            "leaders": leaders,
            "equivalent": leaders if reason == EQUIVALENT else [],
            "out": out,
            "closest": None if reason == WINNER else self.closest(),
            "sentence": sentence,
        }

    def compute(self, flops: dict[str, list[float]] | None = None) -> dict[str, Any]:
        """Trials (and training FLOPs, from the trials' records) spent, against a fixed design that
        gives every family as many trials as the longest-raced one."""
        trials = self.trials
        longest = max(trials.values(), default=0)
        spent, fixed = sum(trials.values()), longest * len(self.families)
        out: dict[str, Any] = {
            "trials": trials,
            "trials_spent": spent,
            "fixed_design_trials": fixed,
            "saved_trials": fixed - spent,
            "saved_fraction": round(1 - spent / fixed, 4) if fixed else 0.0,
        }
        recorded = {f: [x for x in (flops or {}).get(f, []) if x] for f in self.families}
        if all(recorded[f] for f in self.families if trials[f]):
            spent_flops = sum(sum(xs) for xs in recorded.values())
            fixed_flops = sum(longest * float(np.mean(xs)) for xs in recorded.values() if xs)
            out |= {
                "flops_spent": spent_flops,
                "fixed_design_flops": fixed_flops,
                "saved_flops_fraction": round(1 - spent_flops / fixed_flops, 4) if fixed_flops else 0.0,
            }
        return out


def scores_from_rows(rows: list[Any], families: list[str], metric: str, direction: str) -> dict[str, np.ndarray]:
    """Each family's oriented scores from leaderboard rows, by gv compare's rules (gvcore/compare/pool.py:
    a trial's value by gvcore/sweep/values.py; failed trials the worst outcome). A trial that finished
    without a value counts as failed too: the race's sample sizes are planned, so nobody drops out."""
    from ..compare.pool import Sweep, load_pool

    pool = load_pool(
        [Sweep(directory="study", name="study", metric=metric, mode=direction, final=True, trials=rows)], metric=metric
    )
    scores = {}
    for family in families:
        found = pool.families.get(family)
        if found is None:
            count = sum(1 for row in rows if row.family == family)
            scores[family] = st.oriented([], count, direction)
        else:
            scores[family] = st.oriented(found.values, found.failed + found.excluded, direction)
    return scores
