"""docs/cluster.md's "On an existing cluster" path, for real: a Ray head started with `ray start --head`
(job server on, token authentication on, as docs/cluster.md sets it up), a tiny sweep submitted to it with
the real `ray job submit --working-dir <repo> -- gv sweep ... --address auto` from gv's own
environment, and the leaderboard the job wrote read back with `gv results --json`.

Everything runs as separate processes from this test's venv (the `ray` and `gv` next to
sys.executable), with its own ports, its own Ray temp dir and its own HOME: the test never touches
the user's ~/.ray/auth_token nor any other Ray cluster on the machine. The head's processes are ours
by construction (a unique marker in their environment) and are the only ones stopped.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest
from sweep_helpers import REPO, files_containing, free_ports, write_sweep

pytestmark = pytest.mark.ray

BIN = Path(sys.executable).parent  # gv's own environment: its `ray` CLI and `gv` entry point
# Generous hang guards, never assertions on time.
HEAD_START_TIMEOUT_S = 300
JOB_TIMEOUT_S = 540
# Environment variables that would make the test depend on the machine it runs on.
FOREIGN_ENV = (
    "RAY_ADDRESS",
    "RAY_API_SERVER_ADDRESS",
    "RAY_AUTH_MODE",
    "RAY_AUTH_TOKEN",
    "RAY_AUTH_TOKEN_PATH",
    "RAY_RUNTIME_ENV_IGNORE_GITIGNORE",
    "RAY_OVERRIDE_RUNTIME_ENV_DEFAULT_EXCLUDES",
    "WANDB_API_KEY",
    "PYTHONPATH",
)
MARKER = "GV_TEST_RAY_HEAD"  # set in the head's environment: every process of that cluster inherits it


def _base_env(home: Path, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in FOREIGN_ENV}
    env.update(
        HOME=str(home),
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        RAY_USAGE_STATS_ENABLED="0",
        WANDB_MODE="offline",
        WANDB_SILENT="true",
        WANDB_DIR=str(tmp_path / "wandb"),
        GV_OFFLINE="1",
        # the session's evaluator cache (tests/conftest.py), never the user's ~/.cache
        GV_CACHE_DIR=os.environ["GV_CACHE_DIR"],
        MPLCONFIGDIR=str(tmp_path / "mpl"),
    )
    return env


def _marked_pids(value: str) -> list[int]:
    """Processes whose environment carries MARKER=value: this test's cluster, and nothing else."""
    needle = f"{MARKER}={value}".encode()
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            environ = Path("/proc", entry, "environ").read_bytes()
        except OSError:
            continue
        if needle in environ.split(b"\0"):
            pids.append(int(entry))
    return pids


@dataclass
class Head:
    dashboard: str  # the job server's address, what `ray job submit --address` takes
    temp_dir: Path
    token: str
    log: Path


def _wait_until_started(proc: subprocess.Popen, log: Path) -> bool:
    """Copy the head's output to ``log``; True once `ray start` says the runtime started, False if it
    exited first. The reader thread keeps draining the pipe afterwards."""
    started = threading.Event()

    def pump() -> None:
        with log.open("w") as out:
            for line in proc.stdout:
                out.write(line)
                out.flush()
                if "Ray runtime started" in line:
                    started.set()
        started.set()  # EOF: the head exited

    threading.Thread(target=pump, daemon=True).start()
    started.wait(HEAD_START_TIMEOUT_S)
    return started.is_set() and proc.poll() is None


@pytest.fixture
def ray_head(tmp_path):
    """A head node as docs/cluster.md starts it: a token made with `ray get-auth-token --generate`, then
    `RAY_AUTH_MODE=token ray start --head`, with the dashboard (job server) on."""
    # Short and under /tmp: Ray's Unix sockets live below the temp dir (path length limit ~107).
    temp_dir = Path(tempfile.mkdtemp(prefix="gvrj", dir="/tmp"))
    home = tmp_path / "head-home"
    home.mkdir()
    env = _base_env(home, tmp_path)
    env[MARKER] = temp_dir.name
    made = subprocess.run(
        [str(BIN / "ray"), "get-auth-token", "--generate"], env=env, capture_output=True, text=True, timeout=120
    )
    assert made.returncode == 0, made.stderr
    token_file = home / ".ray" / "auth_token"
    token = token_file.read_text()
    assert token and made.stdout == token  # printed once, for piping to a client

    gcs, dashboard, client, agent_http, agent_grpc, runtime_env, metrics = free_ports(7)
    head_env = {**env, "RAY_AUTH_MODE": "token", "RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S": "0"}
    log = tmp_path / "head.log"
    proc = subprocess.Popen(
        [
            str(BIN / "ray"),
            "start",
            "--head",
            "--block",
            "--temp-dir",
            str(temp_dir),
            "--num-cpus",
            "2",
            "--port",
            str(gcs),
            "--include-dashboard",
            "true",
            "--dashboard-host",
            "127.0.0.1",
            "--dashboard-port",
            str(dashboard),
            "--ray-client-server-port",
            str(client),
            "--dashboard-agent-listen-port",
            str(agent_http),
            "--dashboard-agent-grpc-port",
            str(agent_grpc),
            "--runtime-env-agent-port",
            str(runtime_env),
            "--metrics-export-port",
            str(metrics),
            "--disable-usage-stats",
        ],
        env=head_env,
        cwd=str(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )  # a Ctrl-C of pytest stops it through the finalizer below
    try:
        assert _wait_until_started(proc, log), f"ray start --head failed:\n{log.read_text()[-4000:]}"
        yield Head(dashboard=f"http://127.0.0.1:{dashboard}", temp_dir=temp_dir, token=token, log=log)
    finally:
        # `ray start --block` stops the processes it started when it gets SIGTERM (without the drain
        # wait: RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S=0); then whatever still carries the marker (the
        # job's entrypoint runs in a session of its own; a worker may outlive its raylet briefly).
        proc.terminate()
        try:
            proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=60)
        for pid in _marked_pids(temp_dir.name):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        shutil.rmtree(temp_dir, ignore_errors=True)


def _client_env(head: Head, tmp_path: Path, auth_mode: str | None = "token") -> dict[str, str]:
    """A client on "another machine": its own HOME, the head's token copied to ~/.ray/auth_token
    (what `ray get-auth-token` on the head prints), RAY_AUTH_MODE=token."""
    home = tmp_path / "client-home"
    (home / ".ray").mkdir(parents=True, exist_ok=True)
    (home / ".ray" / "auth_token").write_text(head.token)
    env = _base_env(home, tmp_path)
    if auth_mode:
        env["RAY_AUTH_MODE"] = auth_mode
    return env


def test_ray_job_submit_runs_a_sweep_on_a_token_authenticated_head(ray_head, tmp_path):
    # The head enforces its token: a client that doesn't send it (no RAY_AUTH_MODE=token) is refused.
    refused = subprocess.run(
        [str(BIN / "ray"), "job", "list", "--address", ray_head.dashboard],
        env=_client_env(ray_head, tmp_path, auth_mode=None),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert refused.returncode != 0 and "Authentication required" in refused.stdout + refused.stderr, refused

    sweep_file = write_sweep(
        tmp_path, "rayjob", families=["gan"], budget={"steps": 30}, eval_every=10, resources={"cpu": 1, "gpu": 0}
    )
    storage = tmp_path / "store"
    # docs/cluster.md's command, with this test's paths and port.
    command = [
        str(BIN / "ray"),
        "job",
        "submit",
        "--address",
        ray_head.dashboard,
        "--working-dir",
        str(REPO),
        "--",
        "gv",
        "sweep",
        str(sweep_file),
        "--address",
        "auto",
        "--storage",
        str(storage),
    ]
    job = subprocess.run(
        command,
        env=_client_env(ray_head, tmp_path),
        cwd=str(tmp_path),
        capture_output=True,
        text=True,
        timeout=JOB_TIMEOUT_S,
    )
    output = job.stdout + job.stderr
    (tmp_path / "job.log").write_text(output)
    assert job.returncode == 0, f"{output[-6000:]}\n--- head ---\n{ray_head.log.read_text()[-3000:]}"
    assert "succeeded" in output

    # The leaderboard the job wrote, read back as a user would.
    sweep_dirs = [p for p in storage.iterdir() if p.is_dir()]
    assert len(sweep_dirs) == 1 and sweep_dirs[0].name.startswith("rayjob-"), sweep_dirs
    results = subprocess.run(
        [str(BIN / "gv"), "results", str(sweep_dirs[0]), "--json"],
        env=_client_env(ray_head, tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert results.returncode == 0, results.stderr
    rows = json.loads(results.stdout)["rows"]
    assert len(rows) == 1
    for row in rows:
        assert row["status"] == "done" and row["family"] == "gan", row
        assert row["step"] == 30 and row["metric"] == "loss/objective"
        assert isinstance(row["best_metric"], float) and math.isfinite(row["best_metric"]), row
        assert Path(row["best_checkpoint"]).is_relative_to(storage), row
    assert list((tmp_path / "wandb").rglob("offline-run-*")), "no W&B offline run"  # WANDB_MODE=offline

    # What `--working-dir .` uploaded: the code, not the venv, runs, W&B files or git history.
    # (.gitignore covers .venv/, runs/, wandb/, *.egg-info/; .rayignore covers .git.)
    packages = list(ray_head.temp_dir.glob("session_latest/runtime_resources/working_dir_files/_ray_pkg_*"))
    packages = [p for p in packages if p.is_dir()]
    assert len(packages) == 1, packages
    uploaded = {p.name for p in packages[0].iterdir()}
    assert {"cli.py", "gvcore", "sweeps", "pyproject.toml"} <= uploaded, uploaded
    for excluded in (".venv", "runs", "wandb", ".git", "gv.egg-info", ".pytest_cache", "test-artifacts"):
        assert excluded not in uploaded, f"{excluded} was uploaded with --working-dir"

    # The token is a secret: nothing gv wrote (sweep dir, W&B files, the job's output) holds it.
    assert ray_head.token not in output
    assert files_containing(ray_head.token, storage, tmp_path / "wandb") == []
