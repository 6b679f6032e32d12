"""The report's verdict, from crafted leaderboards with known truths: it claims a winner only when
the intervals support one, per axis, and says "ranking, not an answer" for one trial per family."""

from __future__ import annotations

import numpy as np
from board_helpers import make_row, write_leaderboard

from gvcore.evaluation.axes import AXES
from gvcore.report import tradeoff
from gvcore.report.verdict import axis_verdicts, render, seed_spread, summary, unjudged
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
    assert summary(verdicts) == (
        "The axes disagree: dcgan is the most legible, vae is the most diverse (each at 95% confidence)."
    )
    assert tradeoff.sentence(verdicts) == "dcgan is the most legible; vae is the most diverse."
    assert tradeoff.pareto_front(verdicts) == ["dcgan", "vae"]  # each is better on one axis
    assert "no family wins at 95% confidence" in by_axis["overall"].sentence()
    for verdict in verdicts:
        assert {"medians", "pairs", "tuning"} <= set(verdict.figures)
        assert all((tmp_path / "out" / "figures").joinpath(p).is_file() for p in verdict.figures.values())


def test_one_trial_per_family_is_a_ranking_not_an_answer(tmp_path):
    sweep = write_leaderboard(tmp_path / "sweep", {"gan": [80.0], "dcgan": [10.0], "vae": [40.0]})
    verdicts = axis_verdicts([str(sweep)], tmp_path / "out")
    assert [v.axis for v in verdicts] == ["overall"]  # only FID recorded: no legibility / diversity axis
    # Every other axis is named as not judged, with the metrics it would need (an old sweep says what it lacks).
    assert set(unjudged(verdicts)) == set(AXES) - {"overall"}
    assert unjudged(verdicts)["legibility"] == AXES["legibility"].metrics
    page = render(verdicts, [], "eval/fid", lambda path, alt: "")
    assert "Legibility: not judged" in page and "Diversity: not judged" in page
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


def test_one_trial_per_family_names_the_trade_off_within_each_trials_noise(tmp_path):
    """quick-mnist's case: no intervals, so each axis's leaders are the families within two standard
    errors of its best final value; a family beaten on both axes is off the Pareto front."""
    finals = {
        "dcgan": [
            {"fid": 9.0, "fid_se": 0.2, "precision": 0.95, "precision_se": 0.01, "recall": 0.50, "recall_se": 0.01}
        ],
        "cgan": [
            {"fid": 9.1, "fid_se": 0.2, "precision": 0.94, "precision_se": 0.01, "recall": 0.52, "recall_se": 0.01}
        ],
        "vae": [
            {"fid": 12.0, "fid_se": 0.2, "precision": 0.70, "precision_se": 0.01, "recall": 0.80, "recall_se": 0.01}
        ],
        "gan": [
            {"fid": 15.0, "fid_se": 0.2, "precision": 0.60, "precision_se": 0.01, "recall": 0.40, "recall_se": 0.01}
        ],
    }
    sweep = write_leaderboard(tmp_path / "sweep", {f: [v[0]["fid"]] for f, v in finals.items()}, final=finals)
    verdicts = axis_verdicts([str(sweep)], tmp_path / "out")
    assert [tradeoff.leaders(v) for v in verdicts] == [["dcgan", "cgan"], ["dcgan", "cgan"], ["vae"]]
    assert tradeoff.sentence(verdicts) == (
        "dcgan and cgan are the most legible; vae is the most diverse (a ranking from one trial each)."
    )
    assert tradeoff.pareto_front(verdicts) == ["dcgan", "cgan", "vae"]  # gan is beaten on both


def test_the_overall_axis_falls_back_to_fid_on_a_sweep_made_before_realism(tmp_path):
    from gvcore.compare import axis_metric, read_sweeps

    rng = np.random.default_rng(2)
    old = write_leaderboard(tmp_path / "old", {"gan": [30.0, 31.0], "vae": [40.0, 41.0]})
    finals = {f: [{"combined": v + rng.normal(0, 0.01), "realism": v} for v in (0.3, 0.4)] for f in ("gan", "vae")}
    new = write_leaderboard(
        tmp_path / "new", {"gan": [0.3, 0.4], "vae": [0.3, 0.4]}, metric="eval/combined", final=finals
    )
    old_sweeps, _ = read_sweeps([str(old)], False)
    new_sweeps, _ = read_sweeps([str(new)], False)
    # The report's default metric and the overall verdict: the validated one where recorded, else FID.
    assert AXES["overall"].metrics[0] == "eval/combined"
    assert axis_metric(old_sweeps, "overall") == "eval/fid" and axis_metric(new_sweeps, "overall") == "eval/combined"
    verdicts = axis_verdicts(old_sweeps, tmp_path / "out")
    assert [v.metric for v in verdicts if v.axis == "overall"] == ["eval/fid"]
    assert "realism" in unjudged(verdicts)  # an old sweep says what it lacks


def test_the_report_picks_best_checkpoints_by_the_sweeps_own_metric(tmp_path):
    from gvcore.compare import ranking_metric, read_sweeps

    finals = {"vae": [{"fid": 40.0}, {"fid": 41.0}]}  # each best checkpoint's final evaluation
    nelbo = write_leaderboard(tmp_path / "vae", {"vae": [90.0, 95.0]}, metric="eval/nelbo", final=finals)
    fid = write_leaderboard(tmp_path / "gan", {"gan": [30.0, 31.0]})
    # One sweep: what it ranked and kept checkpoints by; sweeps that disagree: the overall axis's.
    assert ranking_metric(read_sweeps([str(nelbo)], False)[0]) == "eval/nelbo"
    assert ranking_metric(read_sweeps([str(nelbo), str(fid)], False)[0]) == "eval/fid"
