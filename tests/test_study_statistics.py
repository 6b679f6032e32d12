"""The race's statistics (gvcore/compare/racing.py) and its validity, by simulation: thousands of races
on known distributions through the very Race that `gv study` runs (gvcore/study/simulate.py), some
of them through crafted leaderboard rows (gv compare's pooling: failed trials the worst outcome).
No training, no Ray; the whole module runs in well under a minute."""

from __future__ import annotations

import math

import numpy as np
import pytest
from board_helpers import make_row
from scipy import stats

from gvcore.compare import statistics as st
from gvcore.compare.racing import RaceRule, decide_look, null_survival, pair_tests, separation_p
from gvcore.study.race import Race, scores_from_rows
from gvcore.study.settings import StudySettings
from gvcore.study.simulate import Outcomes, matching_fixed_design, run_race, simulate
from gvcore.sweep.leaderboard import LeaderboardRow

SIX = ["gan", "lsgan", "dcgan", "cgan", "vae", "cvae"]
FAILED = st.FAILED


class RepeatedFixedTest(RaceRule):
    """What the race must not be: gv compare's fixed-sample rank test (one-sided, 0.025) repeated after
    every round, with nothing spent across the looks or split over the pairs."""

    def level(self, look: int) -> float:
        return (1 - self.confidence) / 2


# --- the rule ------------------------------------------------------------------------------------


def test_exact_p_values_are_scipys_and_p_is_gv_compares():
    rng = np.random.default_rng(0)
    for _ in range(300):
        n_a, n_b = rng.integers(1, 13, size=2)
        a = np.round(rng.normal(size=n_a), 1)  # rounded: ties between finished trials too
        b = np.round(rng.normal(rng.normal(), 1, size=n_b), 1)
        a[rng.random(n_a) < 0.2] = FAILED
        b[rng.random(n_b) < 0.2] = FAILED
        p, forward, backward = pair_tests(a[None], b[None])
        assert forward[0] == pytest.approx(stats.mannwhitneyu(a, b, alternative="less", method="exact").pvalue)
        assert backward[0] == pytest.approx(stats.mannwhitneyu(a, b, alternative="greater", method="exact").pvalue)
        distinct, codes = np.unique(np.concatenate([a, b]), return_inverse=True)
        assert p[0] == pytest.approx(st.win_probability(codes[:n_a], codes[n_a:], len(distinct)))
    # The tabulated null law is a distribution, symmetric around n_a n_b / 2.
    survival = null_survival(5, 8)
    pmf = survival - np.append(survival[1:], 0.0)
    assert survival[0] == 1.0 and pmf.sum() == pytest.approx(1.0) and np.allclose(pmf, pmf[::-1])


def test_levels_spend_alpha_across_the_looks_and_the_pairs():
    rule = RaceRule(0.95, 6)
    assert rule.directions == 30
    spent = sum(rule.level(j) * rule.directions for j in range(1, 200_000))
    assert spent <= rule.alpha and spent > 0.9999 * rule.alpha
    # The first round is the fewest trials whose complete separation can reach the first look's level.
    n = rule.fewest_trials()
    assert separation_p(n, n) <= rule.level(1) < separation_p(n - 1, n - 1)
    assert n == 7 and RaceRule(0.95, 2).fewest_trials() == 4
    complete = stats.mannwhitneyu(np.arange(n), np.arange(n) + n, alternative="less", method="exact").pvalue
    assert complete == pytest.approx(separation_p(n, n))


def test_a_beaten_family_leaves_failures_are_the_worst_and_ties_stay():
    rule = RaceRule(0.95, 3)
    n = rule.fewest_trials()
    scores = {
        "vae": np.arange(n, dtype=float),  # every trial better than every gan trial
        "gan": np.arange(n, dtype=float) + 100,
        "dcgan": np.full(n, FAILED),  # diverged every time: beaten by both
    }
    decision = decide_look(scores, 1, rule, intervals=False)
    assert decision.order == ["vae", "gan", "dcgan"]
    assert set(decision.exits) == {"gan", "dcgan"} and decision.survivors == ["vae"]
    assert decision.exits["dcgan"].beaten_by_all == ["vae", "gan"]
    assert decision.exits["gan"].pair.a == "vae" and decision.exits["gan"].pair.p == 1.0
    # One trial fewer and the same complete separation can't decide at this look's level.
    smaller = decide_look({f: s[:-1] for f, s in scores.items()}, 1, rule, intervals=False)
    assert smaller.exits == {} and smaller.survivors == ["vae", "gan", "dcgan"]
    # Identical families: nobody leaves, P is 1/2 and its anytime interval holds 1/2.
    same = decide_look({"a": np.arange(9.0), "b": np.arange(9.0)}, 1, rule, intervals=True)
    (pair,) = same.pairs
    assert same.exits == {} and pair.p == 0.5 and pair.bound[0] < 0.5 < pair.bound[1] and pair.ci is not None


# --- validity by simulation -----------------------------------------------------------------------


def test_six_equal_families_name_a_false_winner_at_most_alpha_of_the_time():
    summary = simulate({f: Outcomes() for f in SIX}, StudySettings(max_trials=120), studies=2000, seed=1)
    assert summary.false_winners(None) <= 0.05
    # Stronger: a family was put out at all (every exit is an error here) in at most 5% of races.
    assert summary.with_exits / summary.studies <= 0.05
    assert summary.stops["budget"] == summary.studies  # no false equivalence at margin 0.1 either


def test_a_fixed_sample_test_repeated_every_round_is_not_valid_and_the_race_is():
    # The harness can tell: on two equal families (a false winner = a false exit), gv compare's
    # 95% rank test repeated after every round names a winner far more often than 5%.
    equal = {"gan": Outcomes(), "vae": Outcomes()}
    settings = StudySettings(max_trials=60)
    race = simulate(equal, settings, studies=600, seed=2)
    naive = simulate(equal, settings, studies=600, seed=2, rule=RepeatedFixedTest(0.95, 2))
    assert race.false_winners(None) <= 0.05
    assert naive.false_winners(None) > 0.10


def test_a_better_family_is_found_for_less_than_a_fixed_design_of_the_same_power():
    outcomes = {f: Outcomes() for f in SIX} | {"vae": Outcomes(mean=-2.0)}  # P(vae beats another) = 0.92
    summary = simulate(outcomes, StudySettings(max_trials=240), studies=400, seed=3)
    power = summary.share("vae")
    assert power >= 0.9 and summary.false_winners("vae") <= 0.05
    n, fixed_power = matching_fixed_design(outcomes, "vae", power, 0.95, studies=400, seed=4)
    assert fixed_power >= power
    # The race spends less than a fixed design finding vae as often (and than its own fixed design).
    assert summary.mean_trials < 0.8 * n * len(SIX)
    assert np.mean(summary.trials) < np.mean(summary.fixed)


def test_failed_trials_are_the_worst_outcome():
    # Six equal families that fail alike (failures tie at the worst): still no false winner.
    failing = {f: Outcomes(failure=0.3) for f in SIX}
    summary = simulate(failing, StudySettings(max_trials=120), studies=600, seed=5)
    assert summary.false_winners(None) <= 0.05
    # dcgan's finished trials are the best of all, but 90% of its trials diverge: it is beaten (were
    # failures left out, it would win), and never wins.
    fragile = {f: Outcomes() for f in SIX} | {"dcgan": Outcomes(mean=-2.0, failure=0.9)}
    summary = simulate(fragile, StudySettings(max_trials=120), studies=300, seed=6)
    assert summary.winners["dcgan"] == 0 and summary.exits["dcgan"] / summary.studies >= 0.75


def _rows(drawn: dict[str, np.ndarray], statuses: dict[str, list[str]]) -> list[LeaderboardRow]:
    """Leaderboard rows holding the drawn scores (FID, lower better); failures diverged or errored."""
    rows: list[LeaderboardRow] = []
    for family, scores in drawn.items():
        for i, score in enumerate(scores):
            outcome = statuses[family][i] if score == FAILED else 50.0 + float(score)
            raw = make_row(len(rows), family, outcome, metric="eval/fid", mode="min")
            rows.append(LeaderboardRow.from_dict(raw, "crafted"))
    return rows


def test_races_through_crafted_leaderboards_decide_as_on_the_scores():
    # The study's own path: leaderboard rows -> gv compare's pool -> scores. Diverged and errored
    # trials (and a finished trial that never recorded the metric) count as the worst outcome.
    outcomes = {"gan": Outcomes(failure=0.2), "lsgan": Outcomes(mean=0.3), "vae": Outcomes(mean=-1.5, failure=0.1)}
    settings = StudySettings(max_trials=60)
    for seed in range(40):
        direct = run_race(outcomes, settings, np.random.default_rng(seed))
        rng = np.random.default_rng(seed)
        race = Race(list(outcomes), settings, "min")
        drawn = {f: np.empty(0) for f in outcomes}
        statuses: dict[str, list[str]] = {f: [] for f in outcomes}
        while (current := race.next_round()) is not None:
            for family in current.families:
                drawn[family] = np.concatenate([drawn[family], outcomes[family].draw(rng, current.count)])
                statuses[family] += [("diverged", "error")[i % 2] for i in range(current.count)]
            scores = scores_from_rows(_rows(drawn, statuses), current.families, "eval/fid", "min")
            race.record(scores, intervals=False)
        assert race.verdict() == direct.verdict() and race.compute() == direct.compute()
    no_value = make_row(0, "gan", 1.0, metric="eval/fid", mode="min") | {"best_metric": None, "metrics": {}}
    valued = make_row(1, "vae", 3.0, metric="eval/fid", mode="min")
    rows = [LeaderboardRow.from_dict(raw, "crafted") for raw in (no_value, valued)]
    scores = scores_from_rows(rows, ["gan", "vae"], "eval/fid", "min")
    assert list(scores["gan"]) == [FAILED] and list(scores["vae"]) == [3.0]


def test_equivalence_within_a_margin_is_declared_only_when_true():
    # Distribution-free at tiny levels, so a wide margin: P(A beats B) within 0.5 +- 0.35.
    settings = StudySettings(margin=0.35, max_trials=300)
    equal = simulate({"gan": Outcomes(), "vae": Outcomes()}, settings, studies=60, seed=7)
    assert equal.stops["equivalent"] >= 54 and equal.false_winners(None) <= 0.05
    # P(vae beats gan) = 0.92, outside 0.5 +- 0.35: never declared equivalent; vae found.
    apart = simulate({"gan": Outcomes(), "vae": Outcomes(mean=-2.0)}, settings, studies=60, seed=8)
    assert apart.stops["equivalent"] == 0 and apart.share("vae") >= 0.95


def test_budgets_stop_and_reopen_and_the_compute_is_counted():
    settings = StudySettings(max_trials=7 * 6 + 9)
    race = Race(SIX, settings, "min")
    first = race.next_round()
    assert first is not None and (first.first, first.count, first.families) == (0, 7, SIX)
    assert race.next_round() is first  # the unfinished round comes back until it is looked at
    scores = {f: np.arange(7.0) for f in SIX} | {"dcgan": np.full(7, FAILED)}
    race.record(scores, wall_time_s=60.0, intervals=False)
    assert [o["family"] for o in race.verdict()["out"]] == ["dcgan"]
    second = race.next_round()
    assert second is None and race.stop is not None and race.stop["reason"] == "budget"  # 42 + 5 x 2 > 51
    race.settings.max_trials = 100
    race.reopen()
    second = race.next_round()
    assert second is not None and (second.first, second.count) == (7, 2) and "dcgan" not in second.families
    race.record({f: np.arange(9.0) for f in second.families}, wall_time_s=30.0, intervals=False)
    compute = race.compute({f: [1e12] * race.trials[f] for f in SIX})
    assert compute["trials"]["dcgan"] == 7 and compute["trials_spent"] == 7 + 5 * 9
    assert compute["fixed_design_trials"] == 6 * 9 and compute["saved_trials"] == 2
    assert compute["saved_flops_fraction"] == pytest.approx(2 / 54, abs=1e-4)
    # A time budget: at the last round's pace (30 s for 10 trials) the next 10 take 30 s.
    race.settings.max_trials, race.settings.max_hours = None, (100 + 29) / 3600
    assert race.next_round(elapsed_s=100) is None and race.stop["reason"] == "budget"
    race.settings.max_hours = (100 + 31) / 3600
    race.reopen()
    assert race.next_round(elapsed_s=100) is not None
    assert math.isclose(race.rule.level(2), 0.05 * 6 / math.pi**2 / 4 / 30)
