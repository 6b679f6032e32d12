"""`gv compare`: families compared as distributions over their trials, from leaderboard.json files.

Leaderboards are crafted with known truths and written into tmp_path as real leaderboard.json files
(the documented row format; one test writes its leaderboard with gvcore.leaderboard's own writer).
No Ray, no training."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from board_helpers import write_leaderboard
from helpers import assert_one_line_error
from scipy import stats
from sweep_helpers import REPO, invoke

from gvcore.compare import statistics as st
from gvcore.compare.verdict import decide, picks

FAILED = ("diverged", "error")


def compare_json(*args: str) -> dict[str, Any]:
    result = invoke(["compare", *args, "--json"])
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return json.loads(result.stdout)


def family(doc: dict[str, Any], name: str) -> dict[str, Any]:
    return next(f for f in doc["families"] if f["family"] == name)


def pair(doc: dict[str, Any], a: str, b: str) -> tuple[float, list[float] | None]:
    """P(a beats b) and its CI, whichever way round the document lists the pair."""
    for p in doc["pairs"]:
        if (p["a"], p["b"]) == (a, b):
            return p["p"], p["ci"]
        if (p["a"], p["b"]) == (b, a):
            return 1 - p["p"], None if p["ci"] is None else [1 - p["ci"][1], 1 - p["ci"][0]]
    raise KeyError((a, b))


def normal(seed: int, mean: float, scale: float, n: int) -> list[float]:
    return np.random.default_rng(seed).normal(mean, scale, n).round(3).tolist()


# --- verdicts -----------------------------------------------------------------------------------


def test_two_families_from_the_same_distribution_have_no_winner(tmp_path):
    values = normal(1, 30.0, 5.0, 80)
    sweep = write_leaderboard(tmp_path / "same", {"gan": values[:40], "lsgan": values[40:]})
    doc = compare_json(str(sweep))
    assert doc["winner"] is None
    assert doc["reason"].startswith("no family beats every other at 95% confidence; closest: ")
    p, ci = pair(doc, "gan", "lsgan")
    assert ci[0] < 0.5 < ci[1] and ci[0] <= p <= ci[1]
    assert "P = " in doc["reason"] and "[" in doc["reason"]
    assert doc["closest"].startswith(("gan vs lsgan: P = ", "lsgan vs gan: P = "))
    assert doc["reason"].endswith("closest: " + doc["closest"])


def test_clearly_separated_families_on_a_min_metric_crown_the_lowest(tmp_path):
    sweep = write_leaderboard(
        tmp_path / "fid",
        {"vae": normal(2, 60.0, 3.0, 12), "dcgan": normal(3, 10.0, 2.0, 12), "gan": normal(4, 30.0, 3.0, 12)},
    )
    doc = compare_json(str(sweep))
    assert doc["metric"] == "eval/fid" and doc["direction"] == "min"
    assert doc["winner"] == "dcgan"
    assert doc["reason"].startswith("a random dcgan trial beats a random trial of every other family")
    assert [f["family"] for f in doc["families"]] == ["dcgan", "gan", "vae"]
    for other in ("gan", "vae"):
        assert pair(doc, "dcgan", other) == (1.0, [1.0, 1.0])
    assert doc["leaders"] == ["dcgan"] and doc["beats"] == {"dcgan": ["gan", "vae"], "gan": ["vae"], "vae": []}
    dcgan = family(doc, "dcgan")
    values = normal(3, 10.0, 2.0, 12)
    assert dcgan["median"] == pytest.approx(float(np.median(values)))
    assert dcgan["iqm"] == pytest.approx(float(stats.trim_mean(values, 0.25)))
    low, high = dcgan["ci"]
    assert min(values) <= low <= dcgan["median"] <= high <= max(values)


def test_two_equal_families_ahead_of_a_third_form_the_leading_group_without_a_winner(tmp_path):
    values = normal(8, 20.0, 2.0, 24)
    sweep = write_leaderboard(
        tmp_path / "group", {"vae": values[:12], "cvae": values[12:], "gan": normal(9, 90.0, 5.0, 12)}
    )
    doc = compare_json(str(sweep))
    assert doc["winner"] is None
    assert sorted(doc["leaders"]) == ["cvae", "vae"]
    assert doc["beats"]["vae"] == ["gan"] and doc["beats"]["cvae"] == ["gan"] and doc["beats"]["gan"] == []
    assert "leading group" in doc["reason"] and "each of gan is beaten by one" in doc["reason"]


def test_clearly_separated_families_on_a_max_metric_crown_the_highest(tmp_path):
    trials = {"vae": normal(5, 0.30, 0.03, 10), "cgan": normal(6, 0.80, 0.03, 10), "gan": normal(7, 0.55, 0.03, 10)}
    sweep = write_leaderboard(tmp_path / "precision", trials, metric="eval/precision", mode="max")
    doc = compare_json(str(sweep))
    assert doc["direction"] == "max" and doc["winner"] == "cgan"
    assert [f["family"] for f in doc["families"]] == ["cgan", "gan", "vae"]
    cgan = family(doc, "cgan")
    low, high = cgan["ci"]
    assert low <= cgan["median"] <= high  # the interval stays [low, high] in the metric's own units
    best = cgan["expected_best"]
    assert np.all(np.diff(best) >= -1e-12)  # more trials never lower the expected best of a max metric
    assert best[-1] == pytest.approx(max(trials["cgan"])) and best[0] == pytest.approx(np.mean(trials["cgan"]))
    assert all(lo <= e <= hi for lo, e, hi in zip(cgan["expected_best_lower"], best, cgan["expected_best_upper"]))


def test_good_trials_offset_by_as_many_diverged_ones_do_not_win(tmp_path):
    # dcgan: 10 trials better than any gan trial and 10 that diverged -> P(dcgan beats gan) = 1/2 exactly.
    trials = {"dcgan": normal(8, 5.0, 1.0, 10) + ["diverged"] * 6 + ["error"] * 4, "gan": normal(9, 30.0, 2.0, 20)}
    doc = compare_json(str(write_leaderboard(tmp_path / "offset", trials)))
    assert doc["winner"] is None
    p, ci = pair(doc, "dcgan", "gan")
    assert p == 0.5 and ci[0] < 0.5 < ci[1]
    dcgan = family(doc, "dcgan")
    assert (dcgan["n"], dcgan["failed"]) == (20, 10)
    # The median of 10 values and 10 failures averages the 10th value with a failure: failed.
    assert dcgan["median"] is None and dcgan["median_failed"] is True
    assert dcgan["iqm"] is None and dcgan["iqm_failed"] is True
    assert dcgan["ci"][1] is None  # the worse end of the interval is a failure too
    # All k draws can be failures for k <= 10, never for k > 10.
    assert dcgan["expected_best"][:10] == [None] * 10 and None not in dcgan["expected_best"][10:]
    assert dcgan["expected_best"][-1] == pytest.approx(min(trials["dcgan"][:10]))
    assert family(doc, "gan")["median_failed"] is False


def test_one_trial_per_family_gives_no_winner_and_says_why(tmp_path):
    doc = compare_json(str(write_leaderboard(tmp_path / "single", {"gan": [40.0], "dcgan": [10.0], "vae": [70.0]})))
    assert doc["winner"] is None and doc["reason"] == "1 trial per family: no confidence possible"
    dcgan = family(doc, "dcgan")
    assert dcgan["ci"] is None and dcgan["expected_best_lower"] is None and dcgan["expected_best"] == [10.0]
    assert pair(doc, "dcgan", "gan") == (1.0, None)


def test_a_single_family_with_one_trial_blocks_the_verdict():
    sizes = {"dcgan": 10, "gan": 1}
    verdict = decide(sizes, [{"a": "dcgan", "b": "gan", "p": 1.0, "ci": None}])
    assert verdict.winner is None and verdict.reason.startswith("gan has 1 trial: no confidence possible")
    assert verdict.closest is None and verdict.leaders == ["dcgan", "gan"]
    single = decide({"vae": 5}, [])
    assert (single.winner, single.reason) == (None, "only one family (vae): nothing to compare it with")


def test_failed_trials_count_in_n_and_failed_and_running_ones_are_left_out(tmp_path):
    trials = {"gan": [20.0, 21.0, "diverged", "error", "running", 22.0], "vae": [30.0, 31.0, "pending"]}
    doc = compare_json(str(write_leaderboard(tmp_path / "live", trials)))
    gan, vae = family(doc, "gan"), family(doc, "vae")
    assert (gan["n"], gan["failed"], gan["excluded"]) == (5, 2, 1)
    assert (vae["n"], vae["failed"], vae["excluded"]) == (2, 0, 1)
    assert any("2 trials still running or pending are left out" in note for note in doc["notes"])
    # gan's failures lose to every vae trial: P(gan beats vae) = 3/5.
    assert pair(doc, "gan", "vae")[0] == pytest.approx(3 / 5)


# --- expected best of k -------------------------------------------------------------------------


def brute_force_expected_best(scores: list[float], k: int) -> float:
    """The mean, over every k-subset of the trials, of its best (lowest) score."""
    subsets = list(itertools.combinations(scores, k))
    return float(np.mean([min(s) for s in subsets])) if all(min(s) < np.inf for s in subsets) else np.inf


def test_expected_best_is_the_mean_over_every_subset_with_ties_and_failures():
    scores = [3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0]
    failures = 2
    oriented = st.oriented(scores, failures, "min")
    found = st.expected_best(oriented)
    truth = [brute_force_expected_best(scores + [np.inf] * failures, k) for k in range(1, len(oriented) + 1)]
    for k, (got, want) in enumerate(zip(found, truth), 1):
        if k <= failures:
            assert st.is_failed(got) and want == np.inf
        else:
            assert got == pytest.approx(want, rel=1e-12), k
    # Many failures: the chance that all k = 150 draws of 400 fail is 1 / C(400, 150) ~ 1e-110, a
    # weight that rounding would lose; it is still failed, and k = 151 is not.
    many = st.expected_best(st.oriented(list(np.linspace(1.0, 2.0, 250)), 150, "min"))
    assert st.is_failed(many[149]) and not st.is_failed(many[150]) and many[-1] == 1.0
    plain = st.expected_best(np.asarray(scores))
    assert plain[0] == pytest.approx(np.mean(scores)) and plain[-1] == min(scores)
    assert np.all(np.diff(plain) <= 1e-12)


def test_expected_best_in_the_document_is_monotone_and_ends_at_the_best(tmp_path):
    values = normal(10, 25.0, 6.0, 40)
    doc = compare_json(str(write_leaderboard(tmp_path / "curve", {"lsgan": values, "gan": normal(11, 30.0, 6.0, 30)})))
    curve = family(doc, "lsgan")["expected_best"]
    assert len(curve) == 40
    assert np.all(np.diff(curve) <= 1e-12)  # a min metric: more trials, lower expected best
    assert curve[0] == pytest.approx(np.mean(values)) and curve[-1] == pytest.approx(min(values))


# --- pairs --------------------------------------------------------------------------------------


def test_win_probability_is_mann_whitney_u_over_the_pair_count():
    rng = np.random.default_rng(12)
    a = np.concatenate([rng.integers(0, 6, 25).astype(float), np.full(3, st.FAILED)])
    b = np.concatenate([rng.integers(2, 8, 31).astype(float), np.full(5, st.FAILED)])
    p, ci = st.pair_statistics(a, b, "a", "b")
    # U of b over a counts the pairs where b is higher (worse) than a, ties half: A beating B.
    assert p == pytest.approx(stats.mannwhitneyu(b, a).statistic / (len(a) * len(b)), abs=1e-15)
    assert ci[0] <= p <= ci[1]
    p_reverse, _ = st.pair_statistics(b, a, "b", "a")
    assert p_reverse == pytest.approx(1 - p)


def test_the_same_input_gives_the_same_output(tmp_path):
    sweep = write_leaderboard(tmp_path / "again", {"gan": normal(13, 30.0, 5.0, 15), "vae": normal(14, 32.0, 5.0, 15)})
    first, second = invoke(["compare", str(sweep), "--json"]), invoke(["compare", str(sweep), "--json"])
    assert first.exit_code == 0 and first.stdout == second.stdout


# --- inputs -------------------------------------------------------------------------------------


def test_pooled_sweeps_equal_one_leaderboard_holding_every_trial(tmp_path):
    gan, vae = normal(15, 30.0, 5.0, 20), normal(16, 40.0, 5.0, 20)
    one = write_leaderboard(tmp_path / "one", {"gan": gan[:12], "vae": vae[:5] + ["diverged"]})
    two = write_leaderboard(tmp_path / "two", {"gan": gan[12:], "vae": vae[5:]})
    everything = write_leaderboard(tmp_path / "all", {"gan": gan, "vae": vae[:5] + ["diverged"] + vae[5:]})
    pooled, single = compare_json(str(one), str(two)), compare_json(str(everything))
    assert [s["sweep"] for s in pooled["sweeps"]] == ["one", "two"]
    assert (family(pooled, "gan")["n"], family(pooled, "vae")["n"], family(pooled, "vae")["failed"]) == (20, 21, 1)
    assert pooled["families"] == single["families"] and pooled["pairs"] == single["pairs"]


def test_the_final_evaluation_is_preferred_when_every_trial_has_one(tmp_path):
    finals = {
        "gan": [{"fid": 50.0 + i, "precision": 0.2} for i in range(4)],
        "dcgan": [{"fid": 10.0 + i, "precision": 0.9} for i in range(4)],
    }
    sweep = write_leaderboard(
        tmp_path / "final", {"gan": [1.0, 2.0, 3.0, 4.0], "dcgan": [5.0, 6.0, 7.0, 8.0]}, final=finals
    )
    doc = compare_json(str(sweep))
    assert doc["values"] == "final" and doc["value_counts"] == {"final": 8, "best_report": 0}
    assert family(doc, "dcgan")["expected_best"][-1] == 10.0 and doc["families"][0]["family"] == "dcgan"
    # A metric the sweep did not rank by, recorded only by the final evaluation.
    precision = compare_json(str(sweep), "--metric", "eval/precision")
    assert precision["direction"] == "max" and family(precision, "dcgan")["median"] == 0.9
    # One trial without a final evaluation: every trial falls back to its best report, and says so.
    finals["gan"][0] = None
    doc = compare_json(
        str(
            write_leaderboard(
                tmp_path / "partial", {"gan": [1.0, 2.0, 3.0, 4.0], "dcgan": [5.0, 6.0, 7.0, 8.0]}, final=finals
            )
        )
    )
    assert doc["values"] == "best_report" and family(doc, "gan")["expected_best"][-1] == 1.0
    assert any("final evaluation is missing for 1 trials" in note for note in doc["notes"])


def test_a_loss_compares_families_of_one_kind(tmp_path):
    sweep = write_leaderboard(
        tmp_path / "losses", {"gan": [0.9, 1.0, 1.1], "dcgan": [0.7, 0.8, 0.75]}, metric="loss/generator"
    )
    doc = compare_json(str(sweep))
    assert doc["direction"] == "min" and doc["families"][0]["family"] == "dcgan"


def test_a_leaderboard_written_by_gvs_own_writer_compares(tmp_path):
    from gvcore.sweep import leaderboard

    rows = []
    for i, (name, value) in enumerate([("gan", 31.0), ("gan", 29.0), ("vae", 41.0), ("vae", 44.0)]):
        history = [{"step": 50, "eval/fid": value + 5}, {"step": 100, "eval/fid": value}]
        rows.append(
            leaderboard.make_row(
                trial_id=f"t{i}",
                config={"family": name, "data.name": "mnist-5k"},
                status="done",
                metric="eval/fid",
                mode="min",
                history=history,
            )
        )
    leaderboard.write(tmp_path / "written", rows, sweep="written", final=True)
    doc = compare_json(str(tmp_path / "written"))
    assert family(doc, "gan")["expected_best"] == [30.0, 29.0] and doc["dataset"] == "mnist-5k"


def test_terminal_output_shows_the_tables_and_the_verdict(tmp_path):
    trials = {"dcgan": normal(17, 10.0, 1.0, 8) + ["diverged"] * 8, "vae": normal(18, 40.0, 1.0, 8)}
    result = invoke(["compare", str(write_leaderboard(tmp_path / "show", trials))])
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "median [95% CI]" in out and "E[best of 1]" in out and "P(a random trial of the row" in out
    assert "failed" in out  # dcgan's median: 8 values and 8 failures
    assert "no winner: no family beats every other at 95% confidence; closest: " in " ".join(out.split())


def test_out_writes_the_json_document_and_the_expected_best_figure(tmp_path):
    sweep = write_leaderboard(tmp_path / "sweep", {"gan": normal(19, 30.0, 5.0, 6), "vae": normal(20, 35.0, 5.0, 6)})
    result = invoke(["compare", str(sweep), "--json", "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.stderr
    assert json.loads((tmp_path / "out" / "compare.json").read_text()) == json.loads(result.stdout)
    assert (tmp_path / "out" / "expected_best.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_gv_compare_runs_without_ray(tmp_path):
    sweep = write_leaderboard(tmp_path / "s", {"gan": [1.0, 2.0], "vae": [3.0, 4.0]})
    code = (
        "import json, sys; from typer.testing import CliRunner; from gvcore import cli; "
        f"r = CliRunner().invoke(cli.app, ['compare', {str(sweep)!r}, '--json']); "
        "assert r.exit_code == 0, r.stderr; "
        "print(json.dumps(sorted(m for m in ('ray', 'wandb') if m in sys.modules)))"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []


# --- bad input: one line, exit 2, nothing written -----------------------------------------------


def assert_refused(tmp_path: Path, args: list[str], *fragments: str) -> None:
    out = tmp_path / "should-not-exist"
    result = invoke(["compare", *args, "--out", str(out)])
    assert_one_line_error(result, *fragments)
    assert not out.exists()


def test_a_folder_without_a_leaderboard_is_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    assert_refused(tmp_path, [str(tmp_path / "empty")], "has no leaderboard.json yet")
    assert_refused(tmp_path, [str(tmp_path / "missing")], "does not exist")


def test_sweeps_ranked_by_different_metrics_need_metric(tmp_path):
    fid = write_leaderboard(tmp_path / "fid", {"gan": [30.0, 31.0]})
    kid = write_leaderboard(tmp_path / "kid", {"vae": [0.1, 0.2]}, metric="eval/kid")
    assert_refused(
        tmp_path, [str(fid), str(kid)], "rank by different metrics", "fid: eval/fid", "kid: eval/kid", "pass --metric"
    )


def test_sweeps_on_different_datasets_are_refused(tmp_path):
    mnist = write_leaderboard(tmp_path / "a", {"gan": [30.0, 31.0]})
    fashion = write_leaderboard(tmp_path / "b", {"vae": [40.0, 41.0]}, dataset="fashion")
    assert_refused(tmp_path, [str(mnist), str(fashion)], "different datasets", "a: mnist-5k", "b: fashion")


def test_a_metric_the_sweeps_did_not_record_is_refused(tmp_path):
    sweep = write_leaderboard(tmp_path / "s", {"gan": [30.0, 31.0], "vae": [40.0, 41.0]})
    assert_refused(
        tmp_path,
        [str(sweep), "--metric", "eval/precision"],
        "bad --metric 'eval/precision'",
        "did not record it",
        "eval/fid",
    )


def test_a_loss_across_gans_and_vaes_is_refused(tmp_path):
    sweep = write_leaderboard(tmp_path / "s", {"gan": [1.0, 1.2], "vae": [90.0, 95.0]}, metric="loss/objective")
    assert_refused(tmp_path, [str(sweep)], "loss/objective", "GANs (gan) and VAEs (vae)", "eval/fid")


def test_a_metric_without_a_better_side_is_refused(tmp_path):
    sweep = write_leaderboard(
        tmp_path / "s", {"gan": [1.0, 1.2], "vae": [0.9, 0.95]}, metric="eval/density", mode="max"
    )
    assert_refused(tmp_path, [str(sweep)], "'eval/density' has no better side")


def test_the_same_sweep_twice_and_a_file_as_out_are_refused(tmp_path):
    sweep = write_leaderboard(tmp_path / "s", {"gan": [30.0, 31.0], "vae": [40.0, 41.0]})
    assert_refused(tmp_path, [str(sweep), str(tmp_path / "s" / ".." / "s")], "is given twice")
    (tmp_path / "file").write_text("x")
    result = invoke(["compare", str(sweep), "--out", str(tmp_path / "file")])
    assert_one_line_error(result, "bad --out", "is a file")
    assert (tmp_path / "file").read_text() == "x"


def test_two_trials_each_never_make_a_winner_however_far_apart(tmp_path):
    """The percentile bootstrap says P = 1 [1, 1] for 2 vs 2 trials that don't overlap; the exact rank
    test knows 2 against 2 can't reject chance (p >= 1/6), so no winner is claimed. With 5 each it can."""
    doc = compare_json(str(write_leaderboard(tmp_path / "two", {"dcgan": [10.0, 11.0], "gan": [90.0, 95.0]})))
    (pair_entry,) = doc["pairs"]
    assert pair_entry["ci"] == [1.0, 1.0] and pair_entry["rank_p"] > 0.025
    assert doc["winner"] is None and "rank test p = 0.167" in doc["reason"]
    five = compare_json(
        str(
            write_leaderboard(
                tmp_path / "five", {"dcgan": [10.0, 11.0, 12.0, 13.0, 14.0], "gan": [90.0, 91.0, 92.0, 93.0, 95.0]}
            )
        )
    )
    assert five["winner"] == "dcgan" and five["pairs"][0]["rank_p"] < 0.025


# --- settings within a family (--by): how the defaults study picks defaults ----------------------


def test_by_pools_seeds_of_one_setting_and_crowns_the_best_setting(tmp_path):
    good, bad = normal(5, 100.0, 1.0, 6), normal(6, 120.0, 1.0, 6)
    sweep = write_leaderboard(tmp_path / "defaults", {"vae": good + bad}, metric="eval/nelbo")
    board = sweep / "leaderboard.json"
    doc = json.loads(board.read_text())
    for i, row in enumerate(doc["rows"]):  # six seeds of each learning rate
        row["config"].update({"optim.lr": 5e-4 if i < 6 else 1e-3, "train.seed": i % 6, "model.dropout": 0.0})
    board.write_text(json.dumps(doc))
    by_setting = compare_json(str(sweep), "--by", "optim.lr,model.dropout")
    assert by_setting["by"] == ["optim.lr", "model.dropout"]
    assert {f["family"]: f["n"] for f in by_setting["families"]} == {
        "vae lr=0.0005 dropout=0.0": 6,
        "vae lr=0.001 dropout=0.0": 6,
    }
    assert by_setting["winner"] == "vae lr=0.0005 dropout=0.0"
    assert by_setting["picks"] == {"vae": "vae lr=0.0005 dropout=0.0"}
    assert family(by_setting, "vae lr=0.0005 dropout=0.0")["median"] == pytest.approx(float(np.median(good)))
    # Without --by the twelve trials are one family: nothing to compare.
    plain = compare_json(str(sweep))
    assert plain["by"] == [] and [f["n"] for f in plain["families"]] == [12] and plain["winner"] is None
    assert "picks" not in plain


def test_by_picks_a_setting_for_each_family_against_its_own_settings_only(tmp_path):
    # Every gan setting is far worse than every vae one, yet gan still gets its own best setting:
    # defaults are per family. gan's two settings can't be told apart, so the better median is picked.
    trials = {
        "vae": normal(11, 100.0, 1.0, 5) + normal(12, 120.0, 1.0, 5),
        "gan": normal(13, 300.0, 5.0, 5) + normal(14, 302.0, 5.0, 5),
    }
    sweep = write_leaderboard(tmp_path / "two", trials)
    board = sweep / "leaderboard.json"
    doc = json.loads(board.read_text())
    seen: dict[str, int] = {}
    for row in doc["rows"]:  # rows come family by family: the first five of each are lr 5e-4
        index = seen[row["family"]] = seen.get(row["family"], -1) + 1
        row["config"].update({"optim.lr": 5e-4 if index < 5 else 1e-3, "train.seed": index % 5})
    board.write_text(json.dumps(doc))
    by_setting = compare_json(str(sweep), "--by", "optim.lr")
    medians = {f["family"]: f["median"] for f in by_setting["families"]}
    best_gan = min(("gan lr=0.0005", "gan lr=0.001"), key=medians.get)
    assert by_setting["picks"] == {"vae": "vae lr=0.0005", "gan": best_gan}
    assert by_setting["beats"]["vae lr=0.0005"] == [g for g in medians if g != "vae lr=0.0005"]
    assert by_setting["beats"]["gan lr=0.0005"] == by_setting["beats"]["gan lr=0.001"] == []
    text = invoke(["compare", str(sweep), "--by", "optim.lr"])
    assert text.exit_code == 0 and f"pick for gan: {best_gan}" in " ".join(text.stdout.split())


def test_a_family_pick_is_a_setting_no_other_of_that_family_beats_not_merely_the_best_median():
    # gan A has the better median, but gan B beats it at 95% (say A's trials spread widely); a vae
    # setting beats both, which must not matter. A setting with one trial can't be weighed.
    sizes = {"vae x": 6, "gan A": 6, "gan B": 6, "gan C": 1}
    order = list(sizes)
    won = {"p": 0.9, "ci": [0.7, 1.0], "rank_p": 0.001, "rank_p_reverse": 0.999}
    pairs = [
        {"a": "vae x", "b": "gan A", **won},
        {"a": "vae x", "b": "gan B", **won},
        {"a": "vae x", "b": "gan C", **won},
        {"a": "gan B", "b": "gan A", **won},
        {"a": "gan C", "b": "gan A", **won},
        {"a": "gan C", "b": "gan B", **won},
    ]
    family_of = {g: g.split()[0] for g in order}
    chosen, notes = picks(order, pairs, sizes, family_of)
    assert chosen == {"vae": "vae x", "gan": "gan B"}
    assert notes == ["gan's pick leaves out the settings with a single trial: gan C"]
    # Every setting of a family with one trial each: no confidence possible, the best median is picked.
    chosen, _ = picks(order, pairs, {**sizes, "gan A": 1, "gan B": 1}, family_of)
    assert chosen["gan"] == "gan A"


def test_by_keeps_close_values_apart_and_names_unrecorded_ones_default(tmp_path):
    sweep = write_leaderboard(tmp_path / "close", {"gan": [30.0, 31.0, 32.0]})
    board = sweep / "leaderboard.json"
    doc = json.loads(board.read_text())
    doc["rows"][0]["config"]["optim.lr"] = 0.00123456789
    doc["rows"][1]["config"]["optim.lr"] = 0.00123456781  # equal to 8 digits: still another setting
    del doc["rows"][2]["config"]["optim.lr"]  # an older row that ran with the family's default
    board.write_text(json.dumps(doc))
    groups = sorted(f["family"] for f in compare_json(str(sweep), "--by", "optim.lr")["families"])
    assert groups == ["gan lr=0.00123456781", "gan lr=0.00123456789", "gan lr=default"]


def test_by_refuses_keys_that_are_not_config_keys_or_not_recorded(tmp_path):
    sweep = write_leaderboard(tmp_path / "s", {"gan": [30.0, 31.0], "vae": [40.0, 41.0]})
    assert_refused(
        tmp_path, [str(sweep), "--by", "optim.learning_rate"], "bad --by 'optim.learning_rate'", "not a config key"
    )
    assert_refused(tmp_path, [str(sweep), "--by", "model.kl_warmup"], "bad --by 'model.kl_warmup'", "record no value")
    assert_refused(tmp_path, [str(sweep), "--by", ","], "bad --by", "name config keys")
