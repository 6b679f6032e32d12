"""`gv sweep` on real Ray Tune with real wandb (offline), CPU only, tiny budgets.

One embedded Ray instance is shared by the module; `gv sweep` runs in this process (typer's
CliRunner) and reuses it. The interrupted-sweep test runs gv as its own process, so that Ctrl-C
(SIGINT to its process group) hits a real driver with its own Ray.
"""

from __future__ import annotations

import json
import os
import re
import signal
import threading
from pathlib import Path

import pytest
from helpers import assert_one_line_error
from sweep_helpers import (
    FAKE_WANDB_KEY,
    files_containing,
    gv_subprocess,
    invoke,
    leaderboard_rows,
    trial_reports,
    wandb_runs,
    write_sweep,
)

from gvcore.config import TRAINING_DEFAULTS
from gvcore.families import FAMILIES

ray = pytest.importorskip("ray")

from trial_events import TrialEventPipe  # noqa: E402  (imports Ray)

pytestmark = pytest.mark.ray

# Set before Ray starts, so its workers inherit them as they would from a user's shell: a W&B
# directory of the test's own, a fake API key (it must not leak anywhere) and a W&B server that
# can't be reached (port 9: nothing listens), with a short init timeout.
WORKER_ENV = {
    "WANDB_BASE_URL": "http://127.0.0.1:9",
    "WANDB_API_KEY": FAKE_WANDB_KEY,
    "WANDB_INIT_TIMEOUT": "5",
    "RAY_USAGE_STATS_ENABLED": "0",
    "WANDB_SILENT": "true",
}


@pytest.fixture(scope="module")
def shared_ray(tmp_path_factory):
    if ray.is_initialized():
        ray.shutdown()
    saved = dict(os.environ)
    wandb_dir = tmp_path_factory.mktemp("wandb")
    os.environ.update(WORKER_ENV, WANDB_DIR=str(wandb_dir), NETRC=str(wandb_dir / "no-netrc"))
    os.environ.pop("WANDB_MODE", None)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    session_dir = Path(ray._private.worker._global_node.get_session_dir_path())
    try:
        yield {"wandb_dir": wandb_dir, "session_dir": session_dir}
    finally:
        ray.shutdown()
        os.environ.clear()
        os.environ.update(saved)


def run_gv(args):
    result = invoke(args)
    assert result.exit_code == 0, (result.exit_code, result.stdout, result.stderr, result.exception)
    return result


def test_two_trial_sweep_leaderboard_checkpoints_and_offline_wandb(shared_ray, tmp_path):
    sweep_file = write_sweep(tmp_path, "two")
    storage = tmp_path / "store"
    result = run_gv(
        [
            "sweep",
            str(sweep_file),
            "--storage",
            str(storage),
            "--name",
            "two",
            "--wandb-mode",
            "offline",
            "--wandb-project",
            "gv-tests",
        ]
    )
    sweep_dir = storage / "two"
    rows = leaderboard_rows(sweep_dir)
    assert len(rows) == 2
    assert sorted(r["family"] for r in rows.values()) == ["gan", "vae"]
    for trial_id, row in rows.items():
        assert row["status"] == "done" and row["step"] == 40 and row["total_steps"] == 40
        assert row["metric"] == "loss/objective" and row["best_metric"] is not None
        assert row["best_step"] in (20, 40) and row["wall_time_s"] > 0 and row["images_per_s"] > 0
        assert (Path(row["best_checkpoint"]) / "checkpoint.pt").is_file()
        run_dir = Path(row["run_dir"])
        assert run_dir == sweep_dir / f"{row['family']}_{trial_id}" / "run"
        assert sorted(p.name for p in (run_dir / "samples").glob("*.png")) == ["step-0000020.png", "step-0000040.png"]
        # each trial ran with its CPU share (1) as torch threads
        assert json.loads((run_dir / "config.json").read_text())["config"]["train"]["threads"] == 1
        assert row["config"]["family"] == row["family"] and row["config"]["train.steps"] == 40
        assert "loss/objective" in row["metrics"]
    csv_lines = (sweep_dir / "leaderboard.csv").read_text().strip().splitlines()
    assert len(csv_lines) == 3 and csv_lines[0].startswith("rank,trial_id,family,status")
    assert json.loads((sweep_dir / "leaderboard.json").read_text())["final"] is True
    assert "leaderboard" in result.stdout and "wandb sync" in result.stdout

    # One offline W&B run per trial, in the sweep's group, tagged with family and dataset, holding
    # the loss history every log interval and a sample grid at every eval.
    runs = wandb_runs(shared_ray["wandb_dir"])
    for trial_id, row in rows.items():
        run = runs[trial_id]
        assert run["group"] == "two" and set(run["tags"]) >= {row["family"], "mnist-5k"}
        kind = FAMILIES[row["family"]].kind
        assert run["config"]["family"] == row["family"]
        assert run["config"]["optim"]["lr"] == TRAINING_DEFAULTS[kind]["optim.lr"]  # the family's default, filled in
        loss_key = "loss/generator" if row["family"] == "gan" else "loss/total"
        loss_steps = [h["step"] for h in run["history"] if loss_key in h]
        assert loss_steps == [10, 20, 30, 40]
        image_steps = [h["step"] for h in run["history"] if h.get("samples/_type") == "image-file"]
        assert image_steps == [20, 40]
        # Training FLOPs beside every eval, so W&B plots quality against compute.
        assert [h["flops"] for h in run["history"] if "flops" in h] == [
            20 * row["flops_per_step"],
            40 * row["flops_per_step"],
        ]
        assert len(run["images"]) == 2 and all(Path(p).stat().st_size > 0 for p in run["images"])

    # `gv results` reads the same leaderboard back
    again = run_gv(["results", str(sweep_dir)])
    assert all(trial_id in again.stdout for trial_id in rows)


def test_diverging_trial_is_marked_and_unreachable_wandb_never_fails_a_trial(shared_ray, tmp_path):
    # lr 1e6 makes the VAE's loss NaN within 10 steps, before its first eval.
    sweep_file = write_sweep(tmp_path, "div", families=["vae"], search={"optim.lr": {"grid": [1e-3, 1e6]}})
    storage = tmp_path / "store"
    result = run_gv(["sweep", str(sweep_file), "--storage", str(storage), "--name", "div", "--wandb-mode", "online"])
    rows = list(leaderboard_rows(storage / "div").values())
    by_lr = {r["config"]["optim.lr"]: r for r in rows}
    assert by_lr[1e-3]["status"] == "done" and by_lr[1e-3]["step"] == 40
    diverged = by_lr[1e6]
    assert diverged["status"] == "diverged" and diverged["best_metric"] is None
    assert "non-finite" in diverged["error"] and diverged["step"] == 10
    assert "diverged" in result.stdout
    # W&B was asked to be online but its server is unreachable: the trials carried on, their runs
    # kept offline for `wandb sync`, and gv said so.
    assert "unreachable" in result.stdout and "wandb sync" in result.stdout
    runs = wandb_runs(shared_ray["wandb_dir"])
    done_id = by_lr[1e-3]["trial_id"]
    assert [h["step"] for h in runs[done_id]["history"] if "loss/total" in h] == [10, 20, 30, 40]
    # (A server that never answers must not hold the sweep: WANDB_INIT_TIMEOUT bounds that, and
    # the suite's pytest-timeout guards against a hang. How long the fallback takes is bench work.)

    # The API key was in every worker's environment: it must not be in anything written since.
    leaks = files_containing(FAKE_WANDB_KEY, tmp_path, shared_ray["wandb_dir"], shared_ray["session_dir"])
    assert leaks == []


def _run_in_thread(args, events: TrialEventPipe):
    """`gv sweep` in a thread of this process (its Tuner reports to ``events``)."""
    box = {}

    def target():
        try:
            box["result"] = invoke(args)
        finally:
            events.close_writer()  # the sweep is over: the test's reads end here

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, box


def _first_checkpoint(events):
    return events[-1] if events[-1]["event"] == "saved" else None


def test_killed_trial_worker_is_retried_from_its_checkpoint(shared_ray, tmp_path, monkeypatch):
    sweep_file = write_sweep(
        tmp_path, "kill", families=["gan"], budget={"steps": 300}, eval_every=50, base={"train.log_every": 25}
    )
    storage = tmp_path / "store"
    events = TrialEventPipe()
    for name, value in events.env().items():
        monkeypatch.setenv(name, value)
    thread, box = _run_in_thread(
        ["sweep", str(sweep_file), "--storage", str(storage), "--name", "kill", "--wandb-mode", "offline"], events
    )
    report = events.wait_for(_first_checkpoint, "the trial's first checkpoint")
    assert report["step"] == 50
    killed = report["gv/pid"]
    os.kill(killed, signal.SIGKILL)
    thread.join(180)  # a guard against a hang, not a measurement
    assert not thread.is_alive()
    events.close()
    assert box["result"].exit_code == 0, (box["result"].stdout, box["result"].stderr)

    (row,) = leaderboard_rows(storage / "kill").values()
    assert row["status"] == "done" and row["step"] == 300 and row["restores"] == 1
    trial_dir = Path(row["run_dir"]).parent
    reports = trial_reports(trial_dir)
    restored = {r["gv/restored_from_step"] for r in reports}
    assert restored - {0} and min(restored - {0}) >= 50  # continued from a checkpoint, not from scratch
    # The rest ran in a new worker process. (The killed worker's own reports may be missing here:
    # Tune restores a trial's result.json from its last sync to storage when it restarts the trial.)
    continued_in = {r["gv/pid"] for r in reports if r["gv/restored_from_step"]}
    assert continued_in and killed not in continued_in
    assert (trial_dir / "error.txt").is_file()  # Tune recorded the crash it recovered from
    logged = [
        json.loads(ln)["step"]
        for ln in (Path(row["run_dir"]) / "metrics.jsonl").read_text().splitlines()
        if "loss/generator" in ln
    ]
    assert logged == list(range(25, 301, 25))  # one history, no repeated or missing steps


def test_interrupted_sweep_resumes_unfinished_trials_only(shared_ray, tmp_path):
    sweep_file = write_sweep(
        tmp_path, "intr", budget={"steps": 240}, eval_every=40, max_concurrent=1, base={"train.log_every": 20}
    )
    storage = tmp_path / "store"
    events = TrialEventPipe()
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"} | events.env()
    log = tmp_path / "first.log"
    process = gv_subprocess(
        ["sweep", str(sweep_file), "--storage", str(storage), "--name", "intr", "--wandb-mode", "offline"],
        env,
        log,
        start_new_session=True,
        pass_fds=(events.write_fd,),
    )
    events.close_writer()  # the child holds the write end: its exit ends the reads
    sweep_dir = storage / "intr"

    def one_done_one_running(seen):
        # By the status of each trial's latest checkpoint (a trial resumes from its checkpoint).
        last = {e["trial_id"]: e["gv/status"] for e in seen if e["event"] == "saved"}
        done = [t for t, status in last.items() if status == "done"]
        running = [t for t, status in last.items() if status == "running"]
        return (done[0], running[0]) if done and running else None

    try:
        finished_id, resumed_id = events.wait_for(
            one_done_one_running, "one finished trial and a checkpoint of the next"
        )
        (finished_dir,) = sweep_dir.glob(f"*_{finished_id}")
        (running_dir,) = sweep_dir.glob(f"*_{resumed_id}")
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
    partial = json.loads((sweep_dir / "leaderboard.json").read_text())
    assert partial["final"] is False and partial["interrupted"] is True

    result = run_gv(
        ["sweep", str(sweep_file), "--storage", str(storage), "--name", "intr", "--resume", "--wandb-mode", "offline"]
    )
    assert "resuming sweep intr" in result.stdout
    # The live view that ran the resumed Tuner is this invocation's (not the copy Tune restored
    # from tuner.pkl): the driver read the first trial's start from it.
    assert re.search(r"until the first trial: [0-9.]+s", result.stdout), result.stdout
    rows = leaderboard_rows(sweep_dir)
    assert len(rows) == 2 and all(r["status"] == "done" and r["step"] == 240 for r in rows.values())
    assert rows[finished_id]["restores"] == 0
    assert (finished_dir / "run" / "result.json").stat().st_mtime_ns == finished_result  # not rerun
    assert rows[resumed_id]["restores"] == 1
    restored = {r["gv/restored_from_step"] for r in trial_reports(running_dir)} - {0}
    assert restored and min(restored) >= 40
    assert json.loads((sweep_dir / "leaderboard.json").read_text())["final"] is True


def test_cloud_style_storage_uri_keeps_trial_artifacts_and_leaderboard(shared_ray, tmp_path):
    # file:// goes through the same pyarrow filesystem layer as s3:// or gs://: trials write to their
    # working directories and Tune uploads run/ (samples, metrics) with the checkpoints.
    sweep_file = write_sweep(tmp_path, "uri", families=["vae"])
    storage = f"file://{tmp_path / 'bucket'}"
    run_gv(["sweep", str(sweep_file), "--storage", storage, "--name", "uri", "--wandb-mode", "disabled"])
    result = run_gv(["results", f"{storage}/uri", "--json"])
    (row,) = json.loads(result.stdout)["rows"]
    assert row["status"] == "done" and row["best_checkpoint"].startswith(f"{storage}/uri/vae_")
    trial_dir = tmp_path / "bucket" / "uri" / f"vae_{row['trial_id']}"
    assert (trial_dir / "run" / "samples" / "step-0000040.png").is_file()
    assert (Path(row["best_checkpoint"][len("file://") :]) / "checkpoint.pt").is_file()


def test_resuming_a_sweep_saved_with_other_module_paths_is_a_one_line_error(shared_ray, tmp_path):
    # Tune pickles gv's classes into tuner.pkl by module path; a sweep saved while they lived
    # elsewhere (gvcore.ray_adapter, before gvcore/tune/) can't be unpickled, so it can't resume.
    from gvcore.sweep import load_sweep

    sweep_file = write_sweep(tmp_path, "old")
    sweep_dir = tmp_path / "store" / "old"
    sweep_dir.mkdir(parents=True)
    (sweep_dir / "sweep.json").write_text(json.dumps({"spec": load_sweep(str(sweep_file)).to_dict(), "name": "old"}))
    (sweep_dir / "tuner.pkl").write_bytes(b"cgvcore.ray_adapter\nLiveView\n.")  # a pickled reference, as Tune's holds
    result = invoke(
        [
            "sweep",
            str(sweep_file),
            "--storage",
            str(tmp_path / "store"),
            "--name",
            "old",
            "--resume",
            "--wandb-mode",
            "disabled",
        ]
    )
    assert_one_line_error(result, str(sweep_dir), "another gv version", "drop --resume")


def test_flop_budget_sweep_gives_the_cheaper_family_proportionally_more_steps(shared_ray, tmp_path):
    # Equal compute: DCGAN's step costs ~10 MLP GAN steps, so the MLP GAN trains ~10x the steps.
    # Batch 16 keeps it tiny: DCGAN ~2.5e9 FLOPs a step (8 steps), the MLP GAN ~2.4e8 (~83 steps).
    budget = 2.0e10
    sweep_file = write_sweep(
        tmp_path,
        "flops",
        families=["gan", "dcgan"],
        budget={"flops": budget},
        eval_every=0,
        base={"train.batch_size": 16},
    )
    storage = tmp_path / "store"
    run_gv(["sweep", str(sweep_file), "--storage", str(storage), "--name", "flops", "--wandb-mode", "disabled"])
    rows = {row["family"]: row for row in leaderboard_rows(storage / "flops").values()}
    assert set(rows) == {"gan", "dcgan"}
    for family, row in rows.items():
        per_step = row["flops_per_step"]
        assert row["status"] == "done" and per_step > 0
        # whole steps that fit the budget: no room left for one more
        assert row["step"] == row["total_steps"] == int(budget // per_step), family
        assert row["flops"] == row["step"] * per_step <= budget < row["flops"] + per_step
        result = json.loads((Path(row["run_dir"]) / "result.json").read_text())
        assert (result["flops"], result["flops_per_step"]) == (row["flops"], per_step)
        # evaluated at the same fractions of the compute: a quarter of the run apart
        reports = trial_reports(Path(row["run_dir"]).parent)
        interval = -(-row["step"] // 4)
        assert [r["step"] for r in reports] == sorted({*range(interval, row["step"], interval), row["step"]})
    gan, dcgan = rows["gan"], rows["dcgan"]
    assert 8 < dcgan["flops_per_step"] / gan["flops_per_step"] < 12
    # steps ratio == inverse FLOPs-a-step ratio, up to the rounding down of each count to whole steps
    inverse = dcgan["flops_per_step"] / gan["flops_per_step"]
    assert (gan["step"]) / (dcgan["step"] + 1) < inverse < (gan["step"] + 1) / dcgan["step"]
    assert gan["step"] >= 8 * dcgan["step"]


def test_seconds_budget_sweep_ends_each_trial_with_a_final_report(shared_ray, tmp_path):
    # A microsecond of training: every trial trains one step (any step takes longer), then reports
    # its final eval and checkpoint, and Tune records it as done.
    sweep_file = write_sweep(tmp_path, "secs", budget={"seconds": 1e-6}, eval_every=0)
    storage = tmp_path / "store"
    run_gv(["sweep", str(sweep_file), "--storage", str(storage), "--name", "secs", "--wandb-mode", "disabled"])
    for row in leaderboard_rows(storage / "secs").values():
        assert row["status"] == "done" and row["step"] == row["total_steps"] == 1
        assert row["flops"] == row["flops_per_step"] > 0 and row["best_step"] == 1
        assert (Path(row["best_checkpoint"]) / "checkpoint.pt").is_file()
