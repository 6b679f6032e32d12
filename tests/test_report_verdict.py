"""The report's verdict, from crafted leaderboards with known truths: it claims a winner only when
the intervals support one, per axis, and says "ranking, not an answer" for one trial per family."""

from __future__ import annotations

import numpy as np
from board_helpers import make_row, write_leaderboard

from gvcore.report.verdict import axis_verdicts, seed_spread, summary
from gvcore.sweep.leaderboard import LeaderboardRow


def _finals(rng: np.random.Generator, n: int, fid: float, precision: float, recall: float) -> list[dict[str, float]]:
    return [
        {
            "fid": fid + rng.normal(0, 1),
            "precision": precision + rng.normal(0, 0.01),
            "recall": recall + rng.normal(0, 0.01),
        }
        for _ in range(n)
    ]


def test_sharper_and_more_diverse_families_are_named_on_their_own_axes(tmp_path):
    rng = np.random.default_rng(0)
    finals = {"dcgan": _finals(rng, 12, 20.0, 0.90, 0.40), "vae": _finals(rng, 12, 20.5, 0.60, 0.80)}
    sweep = write_leaderboard(tmp_path / "sweep", {f: [v["fid"] for v in finals[f]] for f in finals}, final=finals)
    verdicts = axis_verdicts([str(sweep)], tmp_path / "out")
    by_axis = {v.axis: v for v in verdicts}
    assert [v.axis for v in verdicts] == ["overall", "legibility", "diversity"]
    assert by_axis["overall"].winner is None  # FIDs 20 vs 20.5 with noise 1: not told apart
    assert by_axis["legibility"].winner == "dcgan" and by_axis["diversity"].winner == "vae"
    assert summary(verdicts) == "vae is more diverse, dcgan is more legible (both at 95% confidence)."
    assert "no family wins at 95% confidence" in by_axis["overall"].sentence()
    for verdict in verdicts:
        assert {"medians", "pairs", "tuning"} <= set(verdict.figures)
        assert all((tmp_path / "out" / "figures").joinpath(p).is_file() for p in verdict.figures.values())


def test_one_trial_per_family_is_a_ranking_not_an_answer(tmp_path):
    sweep = write_leaderboard(tmp_path / "sweep", {"gan": [80.0], "dcgan": [10.0], "vae": [40.0]})
    verdicts = axis_verdicts([str(sweep)], tmp_path / "out")
    assert [v.axis for v in verdicts] == ["overall"]  # only FID recorded: no legibility / diversity axis
    assert verdicts[0].winner is None and "no confidence possible" in verdicts[0].doc["reason"]
    assert summary(verdicts).startswith("One trial per family: the table below is a ranking, not an answer")
    assert set(verdicts[0].figures) == {"medians"}  # no win matrix, no best-of-k curve from single trials


def test_families_told_apart_without_a_single_winner_are_named_as_the_leading_group(tmp_path):
    rng = np.random.default_rng(1)
    tied = [20.0 + rng.normal(0, 2) for _ in range(24)]
    sweep = write_leaderboard(
        tmp_path / "sweep", {"vae": tied[:12], "cvae": tied[12:], "gan": [90.0 + rng.normal(0, 5) for _ in range(12)]}
    )
    (overall,) = axis_verdicts([str(sweep)], tmp_path / "out")
    assert overall.winner is None and sorted(overall.leaders) == ["cvae", "vae"]
    assert "no single winner" in overall.sentence() and "each beats gan" in overall.sentence()
    assert summary([overall]).startswith(
        "No single family wins at 95% confidence, but some are told apart: overall (fid): "
    )


def test_diverged_trials_count_against_their_family(tmp_path):
    sweep = write_leaderboard(
        tmp_path / "sweep",
        {"lsgan": [5.0, 5.5, 6.0, "diverged", "diverged", "diverged"], "dcgan": [9.0, 9.5, 10.0, 10.5, 11.0, 11.5]},
    )
    overall = axis_verdicts([str(sweep)], tmp_path / "out")[0]
    assert overall.winner is None  # half of lsgan's trials failed: its good ones don't make it a winner


def test_seed_spread_groups_trials_that_differ_only_in_their_seed():
    def row(trial: str, family: str, lr: float, seed: int, fid: float | None, status: str = "done") -> LeaderboardRow:
        data = make_row(0, family, fid if status == "done" else status, metric="eval/fid", mode="min")
        data.update(trial_id=trial, config={"family": family, "optim.lr": lr, "train.seed": seed})
        return LeaderboardRow.from_dict(data, "test")

    rows = [
        row("a", "gan", 1e-3, 0, 10.0),
        row("b", "gan", 1e-3, 1, 14.0),
        row("c", "gan", 2e-3, 0, 30.0),
        row("d", "vae", 1e-3, 0, 50.0),
        row("e", "vae", 1e-3, 1, None, "diverged"),
    ]
    assert seed_spread(rows, "eval/fid") == [
        {
            "family": "gan",
            "setting": "lr=0.001",
            "seeds": 2,
            "min": 10.0,
            "max": 14.0,
            "std": float(np.std([10.0, 14.0], ddof=1)),
        }
    ]
