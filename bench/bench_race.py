"""What racing (`gv study`) costs and promises, by simulation: races on known distributions through the
very code `gv study` runs (gvcore/study/simulate.py), against (a) gv compare's fixed-sample rank test
repeated after every round -- what the race must not be -- and (b) a fixed design of the same power.

1. Equal families: how often a false winner is named, and how often any family is put out (every exit is
   an error there). Target: the race at or below 1 - confidence on both.
2. One family better by a known effect: how often the race finds it, the trials it spends, and the fixed
   design (n trials per family, one look, the same tests at alpha / (F (F - 1))) that finds it as often.
3. The shipped study's shape: five close families and one clearly worse, at its budget (84 trials).

Prints numbers and ratios side by side, asserts nothing:
`python bench/bench_race.py [--studies 2000] [--seed 0]`.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

SIX = ["gan", "lsgan", "dcgan", "cgan", "vae", "cvae"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", type=int, default=2000, help="races per scenario (a quarter for the costly ones)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from gvcore.compare.racing import RaceRule
    from gvcore.study.settings import StudySettings
    from gvcore.study.simulate import Outcomes, matching_fixed_design, simulate

    class RepeatedFixedTest(RaceRule):
        def level(self, look: int) -> float:
            return (1 - self.confidence) / 2

    started = time.perf_counter()
    n = args.studies
    print("1. equal families: false winners (and any family put out), race vs a 95% test repeated every round")
    for families, budget, failure in ((SIX, 120, 0.0), (SIX, 120, 0.3), (["gan", "vae"], 60, 0.0)):
        outcomes = {f: Outcomes(failure=failure) for f in families}
        settings = StudySettings(max_trials=budget)
        race = simulate(outcomes, settings, n, args.seed)
        naive = simulate(outcomes, settings, n, args.seed, rule=RepeatedFixedTest(0.95, len(families)))
        print(
            f"   {len(families)} families, {failure:.0%} of trials failing, budget {budget} trials, {n} races: "
            f"false winner: race {race.false_winners(None):.1%}, repeated test {naive.false_winners(None):.1%}; "
            f"some family put out: race {race.with_exits / n:.1%}, repeated test {naive.with_exits / n:.1%}"
        )

    print("2. one family better by a known effect (normal scores, sd 1): the race vs a fixed design of the same power")
    for delta in (1.0, 1.5, 2.0):
        outcomes = {f: Outcomes() for f in SIX} | {"vae": Outcomes(mean=-delta)}
        settings = StudySettings(max_trials=360)
        race = simulate(outcomes, settings, n // 4, args.seed + 1)
        power = race.share("vae")
        per_family, fixed_power = matching_fixed_design(outcomes, "vae", power, 0.95, n // 4, args.seed + 2)
        from scipy.stats import norm

        p_beats = norm.cdf(delta / 2**0.5)
        print(
            f"   vae better by {delta} sd (P(vae beats another) = {p_beats:.2f}), {n // 4} races, budget 360: found "
            f"{power:.1%}, false winner {race.false_winners('vae'):.1%}, mean {race.mean_trials:.1f} trials; fixed "
            f"design of the same power {per_family} a family = {per_family * 6} trials (power {fixed_power:.1%}): "
            f"race / fixed = {race.mean_trials / (per_family * 6):.2f}"
        )

    print("3. the shipped study's shape: five close families, dcgan clearly worse, budget 84 trials")
    shape = {f: Outcomes(mean=m) for f, m in zip(SIX, (0.0, 0.2, 1.5, -0.1, -0.1, -0.2))}
    race = simulate(shape, StudySettings(max_trials=84), n // 4, args.seed + 3)
    saved = 1 - sum(race.trials) / sum(race.fixed)
    print(
        f"   {n // 4} races: dcgan out in {race.exits['dcgan'] / (n // 4):.1%}, others out "
        f"{(race.exits.total() - race.exits['dcgan']) / (n // 4):.3f} a race; stops {dict(race.stops)}; mean "
        f"{race.mean_trials:.1f} trials against {sum(race.fixed) / len(race.fixed):.1f} for the fixed design giving "
        f"every family the longest-raced one's: {saved:.1%} saved"
    )
    print(f"({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
