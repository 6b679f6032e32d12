"""`gv study` end to end on real Ray Tune, CPU only, tiny trials scored by the overall axis's real metric.

A study of gan against a vae whose learning rate (1e6) makes every trial diverge: the vae is the
worst outcome every time, so it leaves at the first look and gan wins -- with four trials each, the
fewest at which two families can be told apart at 95% (exact p = 1/70 against the level 0.0152).
One embedded Ray instance is shared by the module; the interrupted study runs gv as its own process
so that Ctrl-C (SIGINT to its process group) hits a real driver.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
from helpers import assert_one_line_error
from sweep_helpers import gv_subprocess, invoke, leaderboard_rows, trial_reports, write_sweep

from gvcore.evaluation.axes import get_axis

ray = pytest.importorskip("ray")

from trial_events import TrialEventPipe  # noqa: E402  (imports Ray)

pytestmark = [pytest.mark.ray, pytest.mark.slow]


def write_study(directory: Path, name: str, **fields) -> Path:
    """A sweep file for a tiny study: gan against an always-diverging vae, 30 steps a trial, one
    eval (on 200 samples) at the end, no final evaluation."""
    fields.setdefault("per_family", {"vae": {"optim.lr": 1.0e6}})
    fields.setdefault("search", {"optim.beta1": {"choice": [0.5, 0.9]}})
    fields.setdefault("budget", {"steps": 30})
    fields.setdefault("eval_every", 30)
    return write_sweep(directory, name, base={"eval.num_samples": 200, **fields.pop("base", {})}, **fields)


@pytest.fixture(scope="module")
def shared_ray():
    if ray.is_initialized():
        ray.shutdown()
    saved = dict(os.environ)
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    try:
        yield
    finally:
        ray.shutdown()
        os.environ.clear()
        os.environ.update(saved)


def run_gv(args):
    result = invoke([str(a) for a in args])
    assert result.exit_code == 0, (result.exit_code, result.stdout, result.stderr, result.exception)
    return result


def test_a_study_races_to_a_winner_and_its_directory_reads_like_a_sweep(shared_ray, tmp_path):
    study_file = write_study(tmp_path, "race", study={"max_trials": 20})
    storage = tmp_path / "store"
    args = ["study", study_file, "--storage", storage, "--name", "race", "--wandb-mode", "disabled"]
    result = run_gv(args)
    study_dir = storage / "race"
    doc = json.loads((study_dir / "study.json").read_text())
    assert doc["status"] == "finished" and doc["stop"]["reason"] == "winner"
    assert doc["verdict"]["winner"] == "gan" and doc["verdict"]["leaders"] == ["gan"]
    (first,) = doc["rounds"]
    assert first["families"] == ["gan", "vae"] and (first["first"], first["count"]) == (0, 4)
    assert first["level"] == pytest.approx(0.05 * 6 / 3.14159265**2 / 2, rel=1e-6)
    (out,) = first["out"]
    assert out["family"] == "vae" and out["beaten_by"] == "gan"
    assert out["pair"]["p"] == 1.0 and out["pair"]["rank_p"] == pytest.approx(1 / 70)
    assert doc["compute"]["trials"] == {"gan": 4, "vae": 4} and doc["compute"]["flops_spent"] > 0
    assert "gan wins" in result.stdout and "leaves the race" in result.stdout

    # One leaderboard holding every trial, trial i of each family drawn with seed i.
    rows = leaderboard_rows(study_dir)
    assert len(rows) == 8
    seeds = {f: sorted(r["config"]["train.seed"] for r in rows.values() if r["family"] == f) for f in ("gan", "vae")}
    assert seeds == {"gan": [0, 1, 2, 3], "vae": [0, 1, 2, 3]}
    assert {r["status"] for r in rows.values() if r["family"] == "vae"} == {"diverged"}
    assert all(r["status"] == "done" and r["best_metric"] > 0 for r in rows.values() if r["family"] == "gan")
    assert json.loads((study_dir / "round-01" / "leaderboard.json").read_text())["final"] is True

    # gv compare and gv results read the study directory like any sweep's.
    compared = json.loads(run_gv(["compare", study_dir, "--json"]).stdout)
    assert compared["metric"] == doc["metric"] == get_axis("overall").metrics[0]
    assert {f["family"]: f["n"] for f in compared["families"]} == {"gan": 4, "vae": 4}
    assert all(trial_id in run_gv(["results", study_dir]).stdout for trial_id in rows)

    # The report's race section: the race as a picture, the verdict, the compute.
    from gvcore.report.race import race_section

    html, entries = race_section([str(study_dir)], tmp_path / "report", lambda path, alt: f"<img src='{path}'>")
    (entry,) = entries
    assert (tmp_path / "report" / entry["figure"]).stat().st_size > 0
    assert "gan wins" in html and "vae: beaten by gan" in html and entry["verdict"]["winner"] == "gan"

    # A finished study has nothing to resume.
    again = run_gv([*args, "--resume"])
    assert "nothing to resume" in again.stdout and len(leaderboard_rows(study_dir)) == 8


def test_at_the_budget_the_leading_group_is_reported_and_a_raised_budget_races_on(shared_ray, tmp_path):
    # Two healthy families: nothing can be told apart in round 1, and round 2 (2 more each) would pass 8.
    study_file = write_study(tmp_path, "tie", families=["gan", "lsgan"], per_family={})
    storage = tmp_path / "store"
    args = ["study", study_file, "--storage", storage, "--name", "tie", "--wandb-mode", "disabled"]
    run_gv([*args, "--max-trials", "8"])
    doc = json.loads((storage / "tie" / "study.json").read_text())
    assert doc["stop"]["reason"] == "budget" and "--max-trials 8" in doc["stop"]["text"]
    assert doc["verdict"]["outcome"] == "budget" and sorted(doc["verdict"]["leaders"]) == ["gan", "lsgan"]
    assert "leading group" in doc["verdict"]["sentence"]

    # The rule is anytime-valid: a larger budget on --resume looks again, after 2 more trials each.
    result = run_gv([*args, "--resume", "--max-trials", "12"])
    assert "resuming study tie" in result.stdout
    doc = json.loads((storage / "tie" / "study.json").read_text())
    assert [(r["round"], r["first"], r["count"]) for r in doc["rounds"]] == [(1, 0, 4), (2, 4, 2)]
    assert doc["compute"]["trials"] == {"gan": 6, "lsgan": 6} and len(leaderboard_rows(storage / "tie")) == 12
    seeds = sorted(
        r["config"]["train.seed"] for r in leaderboard_rows(storage / "tie").values() if r["family"] == "gan"
    )
    assert seeds == [0, 1, 2, 3, 4, 5]


def test_bad_study_input_is_one_line_before_anything_runs(shared_ray, tmp_path):
    storage = tmp_path / "store"
    study_file = write_study(tmp_path, "bad")
    common = ["--storage", str(storage), "--wandb-mode", "disabled"]
    cases = [
        (["--max-trials", "6"], ["--max-trials 6", "2 families x 4 trials"]),
        ([], ["needs a budget", "--max-trials"]),
        (["--max-trials", "20", "--confidence", "1.5"], ["--confidence", "1.5"]),
        (["--max-trials", "20", "--families", "gan"], ["two families or more"]),
        (["--max-trials", "20", "--set", "train.seed=3"], ["train.seed"]),
        (["--max-trials", "20", "--first-round", "2"], ["first round of 2", "use 4 or more"]),
        (["--max-trials", "20", "--axis", "beauty"], ["beauty", "overall"]),
        (["--resume", "--name", "none"], ["nothing to resume"]),
        (["--resume", "--name", "none", "--margin", "0.2"], ["--margin can't change a study on --resume"]),
        (["--resume", "--set", "optim.lr=1e-3"], ["--set can't change a study on --resume"]),
    ]
    for flags, needles in cases:
        assert_one_line_error(invoke(["study", str(study_file), *common, *flags]), *needles)
    grid = write_study(tmp_path, "grid", search={"optim.beta1": {"grid": [0.5, 0.9]}}, study={"max_trials": 20})
    assert_one_line_error(invoke(["study", str(grid), *common]), "search.optim.beta1", "use choice")
    asha = write_study(tmp_path, "asha", scheduler={"type": "asha"}, study={"max_trials": 20})
    assert_one_line_error(invoke(["study", str(asha), *common]), "fifo")
    unknown = write_study(tmp_path, "unknown", study={"max_trials": 20, "rounds": 3})
    assert_one_line_error(invoke(["study", str(unknown), *common]), "study.rounds", "unknown key")
    assert not storage.exists()  # nothing half-written


def test_an_interrupted_study_resumes_without_losing_trials(shared_ray, tmp_path):
    study_file = write_study(
        tmp_path, "intr", budget={"steps": 60}, eval_every=20, base={"train.log_every": 10}, study={"max_trials": 8}
    )
    storage = tmp_path / "store"
    args = ["study", str(study_file), "--storage", str(storage), "--name", "intr", "--wandb-mode", "disabled"]
    events = TrialEventPipe()
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"} | events.env()
    log = tmp_path / "first.log"
    process = gv_subprocess(
        [*args, "--max-concurrent", "1"], env, log, start_new_session=True, pass_fds=(events.write_fd,)
    )
    events.close_writer()  # the child holds the write end: its exit ends the reads

    def one_done_one_running(seen):
        last = {e["trial_id"]: e["gv/status"] for e in seen if e["event"] == "saved"}
        done = [t for t, status in last.items() if status == "done"]
        running = [t for t, status in last.items() if status == "running"]
        return (done[0], running[0]) if done and running else None

    round_dir = storage / "intr" / "round-01"
    try:
        finished_id, resumed_id = events.wait_for(one_done_one_running, "a finished trial and a checkpoint of the next")
        (finished_dir,) = round_dir.glob(f"*_{finished_id}")
        (running_dir,) = round_dir.glob(f"*_{resumed_id}")
        finished_result = (finished_dir / "run" / "result.json").stat().st_mtime_ns
        os.killpg(process.pid, signal.SIGINT)  # Ctrl-C in a terminal reaches the whole process group
        code = process.wait(120)  # a guard against a hang, not a measurement
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        events.close()
    output = log.read_text()
    assert code == 130, output
    assert "--resume --name intr" in output
    doc = json.loads((storage / "intr" / "study.json").read_text())
    assert doc["status"] == "interrupted" and doc["rounds"][0]["status"] == "running"

    result = run_gv([*args, "--resume"])
    assert "resuming study intr" in result.stdout
    doc = json.loads((storage / "intr" / "study.json").read_text())
    assert doc["status"] == "finished" and doc["verdict"]["winner"] == "gan"
    rows = leaderboard_rows(storage / "intr")
    assert len(rows) == 8 == sum(doc["compute"]["trials"].values())  # every planned trial, once
    assert sorted(r["config"]["train.seed"] for r in rows.values() if r["family"] == "gan") == [0, 1, 2, 3]
    assert rows[finished_id]["restores"] == 0
    assert (finished_dir / "run" / "result.json").stat().st_mtime_ns == finished_result  # not rerun
    assert rows[resumed_id]["restores"] == 1 and rows[resumed_id]["step"] == 60
    restored = {r["gv/restored_from_step"] for r in trial_reports(running_dir)} - {0}
    assert restored and min(restored) >= 20  # continued from its checkpoint, not from scratch
