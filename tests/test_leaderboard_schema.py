"""leaderboard.json stays readable: a file gv 0.1.0 wrote (schema 1, checked in as a real sweep's
output: done, diverged and final-evaluation rows) reads into today's typed rows, and damaged or
newer files are one-line errors."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest
from sweep_helpers import invoke

from gvcore.errors import GVError
from gvcore.sweep import leaderboard
from gvcore.sweep.leaderboard import LeaderboardRow

SCHEMA_1 = Path(__file__).resolve().parent / "data" / "leaderboard-schema1"


def test_a_schema_1_leaderboard_reads_into_typed_rows():
    doc = leaderboard.read(SCHEMA_1)
    assert doc.schema == 1 and doc.sweep == "layout-v1" and doc.final and (doc.metric, doc.mode) == ("eval/fid", "min")
    assert doc.extra == {"interrupted": False, "wall_time_s": 53.3}
    assert all(isinstance(r, LeaderboardRow) for r in doc.rows) and len(doc.rows) == 4
    by_status = {r.status: r for r in doc.rows}
    done, diverged = by_status["done"], by_status["diverged"]
    assert math.isfinite(done.best_metric) and done.final["fid"] > 0 and done.final_samples == 200
    assert done.config["family"] == done.family and "eval/fid" in done.metrics
    assert diverged.failed and diverged.best_metric is None and diverged.final is None
    assert "non-finite loss" in diverged.error
    assert {r.sweep for r in doc.rows} == {"layout-v1"} and {r.sweep_dir for r in doc.rows} == {str(SCHEMA_1)}
    # written back, each row is what schema 1 held, plus nothing lost
    original = json.loads((SCHEMA_1 / "leaderboard.json").read_text())["rows"]
    assert [r.to_dict() for r in doc.rows] == original


def test_gv_results_shows_a_schema_1_leaderboard():
    result = invoke(["results", str(SCHEMA_1)])
    assert result.exit_code == 0, result.stderr
    assert "layout-v1" in result.stdout and "diverged" in result.stdout and "non-finite loss" in result.stdout
    as_json = json.loads(invoke(["results", str(SCHEMA_1), "--json"]).stdout)
    assert as_json["schema"] == 1 and len(as_json["rows"]) == 4


@pytest.mark.parametrize(
    "damage,fragment",
    [
        (lambda doc: doc.update(schema=leaderboard.SCHEMA + 1), "written by a newer gv"),
        (lambda doc: doc.update(schema="two"), "bad schema number"),
        (lambda doc: doc["rows"].append(["not", "a", "row"]), "a row is not an object"),
        (lambda doc: doc["rows"][0].pop("status"), "a row has no status"),
        (lambda doc: doc["rows"][0].update(config="lr=1"), "config is not an object"),
    ],
)
def test_a_damaged_or_newer_leaderboard_is_a_one_line_error(tmp_path, damage, fragment):
    doc = json.loads((SCHEMA_1 / "leaderboard.json").read_text())
    damage(doc)
    (tmp_path / "leaderboard.json").write_text(json.dumps(doc))
    with pytest.raises(GVError, match=fragment):
        leaderboard.read(tmp_path)
    result = invoke(["results", str(tmp_path)])
    assert result.exit_code == 2 and len(result.stderr.strip().splitlines()) == 1 and fragment in result.stderr


def test_a_binary_leaderboard_is_refused(tmp_path):
    shutil.copy(SCHEMA_1 / "leaderboard.json", tmp_path / "leaderboard.json")
    (tmp_path / "leaderboard.json").write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(GVError, match="is not text"):
        leaderboard.read(tmp_path)


def test_a_schema_2_leaderboard_reads_without_flops_and_new_rows_carry_them(tmp_path):
    # Schema 2 (the layout before FLOP budgets) is schema 1 plus the "schema" key.
    doc = json.loads((SCHEMA_1 / "leaderboard.json").read_text())
    doc["schema"] = 2
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "leaderboard.json").write_text(json.dumps(doc))
    old = leaderboard.read(tmp_path / "old")
    assert old.schema == 2 and all(r.flops is None and r.flops_per_step is None for r in old.rows)
    assert [r.to_dict() for r in old.rows] == doc["rows"]  # nothing invented on the way back
    assert invoke(["results", str(tmp_path / "old")]).exit_code == 0

    # A row built from a trial's reports records the FLOPs it used and those of one step; the
    # written file carries them (schema 3) and reads back the same.
    history = [
        {"step": 10, "flops": 10 * 9.6e8, "flops_per_step": 9.6e8, "eval/fid": 80.0},
        {"step": 20, "flops": 20 * 9.6e8, "flops_per_step": 9.6e8, "eval/fid": 60.0},
    ]
    row = leaderboard.make_row(
        trial_id="t1", config={"family": "gan"}, status="done", metric="eval/fid", mode="min", history=history
    )
    assert (row.flops, row.flops_per_step) == (20 * 9.6e8, 9.6e8)
    leaderboard.write(tmp_path / "new", [row], sweep="new", final=True)
    written = json.loads((tmp_path / "new" / "leaderboard.json").read_text())
    assert written["schema"] == leaderboard.SCHEMA == 3 and written["rows"][0]["flops"] == 20 * 9.6e8
    assert leaderboard.read(tmp_path / "new").rows[0].flops_per_step == 9.6e8
    header = (tmp_path / "new" / "leaderboard.csv").read_text().splitlines()[0].split(",")
    assert header[header.index("images_per_s") + 1 : header.index("images_per_s") + 3] == ["flops", "flops_per_step"]
