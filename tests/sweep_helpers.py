"""Shared pieces of the sweep tests: tiny sweep files, running `gv`, reading W&B offline runs back."""

from __future__ import annotations

import contextlib
import glob
import json
import os
import socket
import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
# A fake key: tests check it never lands in anything gv (or wandb, or Ray) writes.
FAKE_WANDB_KEY = "gvtestkey" + "0123456789abcdef" * 2 + "0000000"


def write_sweep(directory: Path, name: str, **fields: Any) -> Path:
    """A sweep file with tiny defaults (mnist-5k, gan + vae, 40 steps, an eval every 20). The sweep
    mechanics are under test, so no sample-quality metrics are computed (eval.metrics ""): trials
    rank by their loss and the final evaluation is off."""
    base = {"train.log_every": 10, "eval.metrics": "", **fields.pop("base", {})}
    doc: dict[str, Any] = {
        "name": name,
        "dataset": "mnist-5k",
        "families": ["gan", "vae"],
        "base": base,
        "budget": {"steps": 40},
        "eval_every": 20,
        "metric": "loss/objective",
        "final_eval_samples": 0,
    }
    doc.update(fields)
    path = directory / f"{name}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def invoke(args: list[str]):
    """`gv ARGS` in this process (typer's CliRunner on cli.app); returns the click Result."""
    from typer.testing import CliRunner

    from gvcore import cli

    return CliRunner().invoke(cli.app, args)


def gv_subprocess(args: list[str], env: dict[str, str], log: Path, **popen: Any) -> subprocess.Popen:
    """`gv ARGS` as its own process (its own embedded Ray), output to ``log``."""
    return subprocess.Popen(
        [sys.executable, str(REPO / "cli.py"), *args],
        env=env,
        cwd=str(log.parent),
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        **popen,
    )


def leaderboard_rows(sweep_dir: Path) -> dict[str, dict[str, Any]]:
    doc = json.loads((sweep_dir / "leaderboard.json").read_text())
    return {row["trial_id"]: row for row in doc["rows"]}


def trial_reports(trial_dir: Path) -> list[dict[str, Any]]:
    """Every report Tune recorded for a trial (its result.json, one JSON object a line)."""
    path = trial_dir / "result.json"
    if not path.is_file():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            pass  # the line being written right now
    return out


# --- W&B offline runs ---------------------------------------------------------------------------

_BLOCK = 32768  # wandb's transaction log uses LevelDB's log framing: 32 KiB blocks, 7-byte headers
_FULL, _FIRST, _MIDDLE, _LAST = 1, 2, 3, 4


def read_wandb_records(path: Path) -> list[Any]:
    """The protobuf records of a `run-*.wandb` file, decoded with wandb's own Record message."""
    from wandb.proto import wandb_internal_pb2

    data = path.read_bytes()
    assert data[:4] == b":W&B", f"{path} is not a W&B transaction log"
    pos, buffer, records = 7, b"", []
    while pos + 7 <= len(data):
        left = _BLOCK - pos % _BLOCK
        if left < 7:
            pos += left  # block trailer padding
            continue
        _checksum, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        if length == 0 and kind == 0:
            break
        buffer += data[pos + 7 : pos + 7 + length]
        pos += 7 + length
        if kind in (_FULL, _LAST):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(buffer)
            records.append(record)
            buffer = b""
    return records


def wandb_runs(wandb_dir: Path) -> dict[str, dict[str, Any]]:
    """Offline runs under a W&B dir: run id -> {"history": [rows], "config": {...}, "summary": {...},
    "tags", "group", "images": [files]} (a run resumed after a crash has several folders; they are merged)."""
    runs: dict[str, dict[str, Any]] = {}
    for folder in sorted(glob.glob(str(wandb_dir / "**" / "offline-run-*"), recursive=True)):
        for log in Path(folder).glob("run-*.wandb"):
            run = None
            for record in read_wandb_records(log):
                kind = record.WhichOneof("record_type")
                if kind == "run":
                    run = runs.setdefault(record.run.run_id, {"history": [], "config": {}, "images": [], "summary": {}})
                    run["tags"] = list(record.run.tags)
                    run["group"] = record.run.run_group
                    for item in record.run.config.update:
                        run["config"][item.key] = json.loads(item.value_json)
                elif kind == "history" and run is not None:
                    row = {}
                    for item in record.history.item:
                        key = item.key or "/".join(item.nested_key)
                        row[key] = json.loads(item.value_json)
                    run["history"].append(row)
                elif kind == "summary" and run is not None:
                    for item in record.summary.update:
                        run["summary"][item.key or "/".join(item.nested_key)] = json.loads(item.value_json)
            if run is not None:
                run["images"] += sorted(str(p) for p in Path(folder).glob("files/media/images/*.png"))
    return runs


def files_containing(text: str, *roots: Path) -> list[str]:
    """Every file under ``roots`` whose bytes contain ``text``."""
    needle = text.encode()
    hits = []
    for root in roots:
        for dirpath, _, names in os.walk(root):
            for name in names:
                path = Path(dirpath) / name
                try:
                    if needle in path.read_bytes():
                        hits.append(str(path))
                except OSError:
                    pass
    return hits


def free_ports(count: int) -> list[int]:
    """``count`` distinct ports free right now (all held open together while they are picked)."""
    socks = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            socks.append(sock)
        return [sock.getsockname()[1] for sock in socks]
    finally:
        for sock in socks:
            sock.close()


@contextlib.contextmanager
def two_node_cluster(head_dir: Path | None = None, second_dir: Path | None = None) -> Iterator[Any]:
    """A Ray cluster of two 1-CPU nodes on this machine (ray.cluster_utils.Cluster): two 1-CPU
    trials can only run side by side on different nodes. ``client_address`` is its Ray Client
    (ray://) address. Each node's workers run in the folder it was started in (``head_dir``,
    ``second_dir``; default: this one). The environment is restored afterwards."""
    import ray
    from ray.cluster_utils import Cluster

    if ray.is_initialized():
        ray.shutdown()
    saved_env, saved_cwd = dict(os.environ), os.getcwd()
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    _ensure_ray_auth_token()
    (client_port,) = free_ports(1)
    cluster = None
    try:
        try:
            os.chdir(head_dir or saved_cwd)
            cluster = Cluster(
                initialize_head=True,
                connect=False,
                head_node_args={"num_cpus": 1, "include_dashboard": False, "ray_client_server_port": client_port},
            )
            os.chdir(second_dir or saved_cwd)
            cluster.add_node(num_cpus=1)
            cluster.wait_for_nodes()
        finally:
            os.chdir(saved_cwd)
        cluster.client_address = f"ray://127.0.0.1:{client_port}"
        yield cluster
    finally:
        if ray.is_initialized():
            ray.shutdown()
        if cluster is not None:
            cluster.shutdown()  # also when a node failed to start: nothing left running
        os.environ.clear()
        os.environ.update(saved_env)


def _ensure_ray_auth_token() -> None:
    """Token authentication is on (conftest.py). ray.init() makes ~/.ray/auth_token when it is
    missing, a Cluster's nodes don't: without this, the first Ray start of a test run on a fresh
    machine found no token and its GCS server never came up."""
    try:
        from ray._private.authentication.authentication_token_setup import ensure_token_if_auth_enabled
    except ImportError:  # a Ray whose layout differs: its own ray.init() path is all there is
        return
    ensure_token_if_auth_enabled(None, create_token_if_missing=True)
