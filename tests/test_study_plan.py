"""`gv study` without Ray: the trials a round gets, study.json (written, read back, refused when damaged),
the live race table and the report's race picture."""

from __future__ import annotations

import json

import numpy as np
import pytest
from rich.console import Console
from sweep_helpers import write_sweep

from gvcore.errors import GVError
from gvcore.evaluation.axes import get_axis
from gvcore.study import document
from gvcore.study.plan import StudyFlags, load_study, round_trials, trial_index
from gvcore.study.race import Race
from gvcore.study.settings import StudySettings, parse_study
from gvcore.study.simulate import Outcomes, run_race

SIX = ["gan", "lsgan", "dcgan", "cgan", "vae", "cvae"]


def test_trial_i_of_a_family_is_the_same_whichever_round_runs_it(tmp_path):
    path = write_sweep(
        tmp_path,
        "plan",
        families=["gan", "vae"],
        search={"optim.lr": {"loguniform": [1e-4, 1e-2]}, "train.batch_size": {"choice": [32, 64]}},
        repeats=3,
        num_samples=5,
        study={"max_trials": 40, "axis": "overall"},
    )
    spec, settings = load_study(str(path), StudyFlags(budget=2e10))
    overall = get_axis("overall").metrics[0]  # a new study races on its axis's first metric
    assert settings.max_trials == 40 and (spec.metric, spec.mode) == (overall, "min")
    assert (spec.budget_unit, spec.budget) == ("flops", 2e10) and spec.seeds == [0]  # the file's repeats don't apply
    whole = round_trials(spec, ["gan", "vae"], 0, 6)
    later = round_trials(spec, ["gan", "vae"], 4, 2)
    assert later == whole[8:]  # trials 4 and 5 of each family, index-major
    assert [trial_index(t) for t in whole] == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    # Every family gets draw i at index i (the same numbers: equal search effort), and draws differ by index.
    assert whole[0]["optim.lr"] == whole[1]["optim.lr"] != whole[2]["optim.lr"]
    assert {t["train.flops"] for t in whole} == {2e10} and all(
        overall.removeprefix("eval/") in t["eval.metrics"] for t in whole
    )


def test_the_study_section_and_its_errors():
    assert parse_study(None, "f.yaml") == StudySettings()
    settings = parse_study({"confidence": 0.99, "margin": None, "max_hours": 2}, "f.yaml")
    assert (settings.confidence, settings.margin, settings.max_hours) == (0.99, None, 2.0)
    for raw, needle in (
        ({"confidence": 1.0}, "study.confidence"),
        ({"margin": 0.5}, "study.margin"),
        ({"trials_per_round": 0}, "study.trials_per_round"),
        ({"max_hours": -1}, "study.max_hours"),
        ({"axis": "beauty"}, "unknown axis"),
        ([1, 2], "expected a mapping"),
    ):
        with pytest.raises(GVError, match=needle):
            parse_study(raw, "f.yaml")


def _finished_race(seed: int = 3) -> Race:
    outcomes = {f: Outcomes() for f in SIX} | {"vae": Outcomes(mean=-1.2), "dcgan": Outcomes(mean=1.5)}
    return run_race(outcomes, StudySettings(max_trials=90), np.random.default_rng(seed))


def _doc(race: Race, spec_path) -> dict:
    spec, _ = load_study(str(spec_path), StudyFlags())
    return document.document(
        race, name="s", spec=spec, status="finished", created="now", elapsed_s=12.0, compute=race.compute()
    )


def test_study_json_round_trips_and_damage_is_refused(tmp_path):
    race = _finished_race()
    spec_path = write_sweep(tmp_path, "doc", families=SIX, study={"max_trials": 90})
    document.write(str(tmp_path), _doc(race, spec_path))
    doc = document.read(str(tmp_path))
    assert doc is not None and doc["verdict"] == race.verdict() and doc["rule"]["pairs"] == 30
    again = document.race_of(doc)
    assert again.verdict() == race.verdict() and again.trials == race.trials and again.stop == race.stop
    assert document.spec_of(doc).families == SIX
    assert document.read(str(tmp_path / "nowhere")) is None
    path = tmp_path / document.STUDY_JSON
    for damage, needle in (
        (lambda d: d | {"schema": 99}, "newer gv"),
        (lambda d: d | {"kind": "other"}, "not a gv study"),
        (lambda d: d | {"rounds": [{"round": "one"}]}, "damaged"),
        (lambda d: d | {"rounds": [d["rounds"][0] | {"pairs": [{"a": "gan"}]}]}, "damaged"),
        (lambda d: d | {"settings": d["settings"] | {"confidence": 7}}, "damaged"),
    ):
        path.write_text(json.dumps(damage(json.loads(json.dumps(doc)))))
        with pytest.raises(GVError, match=needle):
            document.read(str(tmp_path))
    path.write_text("{torn")
    with pytest.raises(GVError, match="not valid JSON"):
        document.read(str(tmp_path))


def test_the_live_race_table_shows_families_in_and_out_trials_and_the_round():
    from gvcore.commands.study_tables import race_table

    race = _finished_race()
    console = Console(width=200, record=True)
    console.print(race_table(race, "s", "eval/fid"))
    text = console.export_text()
    assert "stopped after round" in text and "out in round 1" in text
    for family in SIX:
        assert family in text and str(race.trials[family]) in text
    # While a round runs: its trials finished so far beside each family.
    running = Race(SIX, StudySettings(max_trials=90), "min")
    current = running.next_round()
    console = Console(width=200, record=True)
    console.print(race_table(running, "s", "eval/fid", current, rows=[]))
    text = console.export_text()
    assert "round 1 running" in text and "0 + 0/7" in text and "6 of 6 families in" in text
    # The live display: the race above the round's own trial table.
    from gvcore.commands.study_tables import live_race
    from gvcore.sweep.leaderboard import LeaderboardRow

    rows = [
        LeaderboardRow(trial_id="a_00000", family="gan", status="done", metric="eval/fid", mode="min"),
        LeaderboardRow(trial_id="a_00001", family="vae", status="running", metric="eval/fid", mode="min"),
    ]
    console = Console(width=200, record=True)
    console.print(live_race("s", "eval/fid")(running, current, rows))
    text = console.export_text()
    assert "1 + 0/7" not in text and "0 + 1/7" in text and "sweep s/round-01" in text and "gan_a_00000" in text


def test_the_report_draws_the_race(tmp_path):
    from gvcore.report.race import lanes, race_figure, render

    race = _finished_race()
    spec_path = write_sweep(tmp_path, "doc", families=SIX, study={"max_trials": 90})
    doc = _doc(race, spec_path)
    ordered = lanes(doc)
    assert [family for family, _, _ in ordered][: len(race.survivors)] == race.survivors
    for family, segments, exit_ in ordered:
        assert sum(count for _, count in segments) == race.trials[family]
        assert (exit_ is None) == (family in race.survivors)
    figure = race_figure(doc, tmp_path / "race.png")
    assert figure.stat().st_size > 5000
    html = render([(doc, str(figure))], lambda path, alt: f"<img alt='{alt}'>")
    assert race.verdict()["sentence"].split(":")[0] in html and "saved" in html and "Race</h2>" in html
