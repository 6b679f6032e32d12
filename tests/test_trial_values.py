"""One rule for a trial's value (gvcore/sweep/values.py), and one set of pooling checks: `gv results`,
`gv compare` and `gv report` agree on every trial, and refuse to pool what doesn't pool."""

from __future__ import annotations

import json
import shutil
import statistics
from pathlib import Path

from board_helpers import write_leaderboard
from helpers import assert_one_line_error, run_cli

from gvcore.report.best_trials import pick_best
from gvcore.report.figures import sensitivity_figure
from gvcore.report.verdict import seed_spread
from gvcore.sweep.leaderboard import read

# In training (2,000 samples) gan's trials rank 0 < 1 < 2; their final evaluations (10,000 samples)
# rank them the other way round, as vae's do.
IN_TRAINING = {"gan": [5.0, 6.0, 7.0], "vae": [8.0, 9.0, 10.0]}
FINAL = {"gan": [12.0, 11.0, 10.0], "vae": [15.0, 14.0, 13.0]}


def _sweep(tmp_path: Path) -> Path:
    finals = {f: [{"fid": v, "precision": 0.5, "recall": 0.5} for v in values] for f, values in FINAL.items()}
    sweep = write_leaderboard(tmp_path / "sweep", IN_TRAINING, final=finals)
    doc = json.loads((sweep / "leaderboard.json").read_text())
    for row in doc["rows"]:  # a checkpoint on disk for each trial (the report picks among those), seeds repeat
        folder = sweep / f"ckpt-{row['trial_id']}"
        folder.mkdir()
        (folder / "checkpoint.pt").write_bytes(b"")
        row["best_checkpoint"] = str(folder)
        row["config"]["train.seed"] = int(row["trial_id"].rsplit("_", 1)[1]) % 3
        row["config"]["optim.lr"] = 1e-3
    (sweep / "leaderboard.json").write_text(json.dumps(doc))
    return sweep


def test_results_compare_and_report_agree_on_every_trials_value(tmp_path):
    sweep = _sweep(tmp_path)
    final_of = {}  # trial id -> its final FID
    for row in read(sweep).rows:
        final_of[row.trial_id] = row.final["fid"]

    results = run_cli("results", sweep, "--json")
    assert results.exit_code == 0, results.output
    rows = json.loads(results.output)["rows"]
    assert {r["trial_id"]: r["value"] for r in rows} == final_of
    assert {r["value_source"] for r in rows} == {"final"}
    assert [r["value"] for r in rows] == sorted(final_of.values())  # ranked by the final value, not the best report

    compared = run_cli("compare", sweep, "--json")
    assert compared.exit_code == 0, compared.output
    doc = json.loads(compared.output)
    assert doc["values"] == "final"
    assert {f["family"]: f["median"] for f in doc["families"]} == {f: statistics.median(v) for f, v in FINAL.items()}

    board = read(sweep).rows
    best = pick_best(board, "eval/fid", "min")
    assert {family: row.final["fid"] for family, row in best.items()} == {f: min(v) for f, v in FINAL.items()}
    spread = seed_spread(board, "eval/fid")  # each family's trials differ only in their seed
    assert {(g["family"], g["min"], g["max"]) for g in spread} == {(f, min(v), max(v)) for f, v in FINAL.items()}
    stats = sensitivity_figure(board, "eval/fid", "min", tmp_path / "sensitivity.png")
    assert {f: s["median"] for f, s in stats.items()} == {f: statistics.median(v) for f, v in FINAL.items()}


def test_without_every_final_evaluation_every_trial_is_read_from_its_best_report(tmp_path):
    sweep = _sweep(tmp_path)
    doc = json.loads((sweep / "leaderboard.json").read_text())
    del doc["rows"][0]["final"]  # its final evaluation failed
    (sweep / "leaderboard.json").write_text(json.dumps(doc))
    rows = json.loads(run_cli("results", sweep, "--json").output)["rows"]
    assert {r["value_source"] for r in rows} == {"best_report"}
    assert sorted(r["value"] for r in rows) == sorted(v for values in IN_TRAINING.values() for v in values)
    compared = json.loads(run_cli("compare", sweep, "--json").output)
    assert compared["values"] == "best_report"
    assert any("final evaluation is missing for 1 trials" in note for note in compared["notes"])


def test_compare_and_report_refuse_sweeps_of_different_datasets(tmp_path):
    a = write_leaderboard(tmp_path / "digits", {"gan": [1.0, 2.0]})
    b = write_leaderboard(tmp_path / "fashion", {"gan": [3.0, 4.0]}, dataset="fashion-mnist")
    for command in ("compare", "report"):
        line = assert_one_line_error(run_cli(command, a, b), "different datasets", "mnist-5k", "fashion-mnist")
        assert str(a) in line and str(b) in line


def test_compare_and_report_refuse_a_sweep_beside_its_copy(tmp_path):
    a = write_leaderboard(tmp_path / "sweep", {"gan": [1.0, 2.0], "vae": [3.0, 4.0]})
    copy = tmp_path / "copy"
    shutil.copytree(a, copy)
    for command in ("compare", "report"):
        line = assert_one_line_error(run_cli(command, a, copy), "is in both", "copy")
        assert str(a) in line and str(copy) in line


def _with_budget(directory: Path, flops: float) -> Path:
    doc = json.loads((directory / "leaderboard.json").read_text())
    for row in doc["rows"]:
        row["config"]["train.flops"] = flops
    (directory / "leaderboard.json").write_text(json.dumps(doc))
    return directory


def test_mixed_budgets_pool_only_when_asked_and_the_verdict_says_so(tmp_path):
    a = _with_budget(write_leaderboard(tmp_path / "small", {"gan": [5.0, 6.0], "vae": [7.0, 8.0]}), 1e12)
    b = _with_budget(write_leaderboard(tmp_path / "large", {"gan": [3.0, 4.0], "vae": [5.0, 6.0]}), 4e12)
    for command in ("compare", "report"):
        assert_one_line_error(
            run_cli(command, a, b), "different budgets", "flops 1e+12", "flops 4e+12", "--allow-mixed-budgets"
        )
    allowed = run_cli("compare", a, b, "--allow-mixed-budgets", "--json")
    assert allowed.exit_code == 0, allowed.output
    doc = json.loads(allowed.output)
    assert doc["budgets"] == ["flops 1e+12", "flops 4e+12"]
    assert any("different budgets are pooled" in note for note in doc["notes"])
    shown = run_cli("compare", a, b, "--allow-mixed-budgets")
    assert "different budgets are pooled" in shown.output
