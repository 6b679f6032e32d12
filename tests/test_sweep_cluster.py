"""`gv sweep --address` on a 2-node Ray cluster started on this machine (ray.cluster_utils.Cluster):
gv connects to it like to any existing cluster -- by its GCS address (what `--address auto` finds,
and what `ray job submit` hands a job) and through Ray Client (ray://) -- and the trials are placed
on both nodes."""

from __future__ import annotations

import json

import pytest
import sweep_helpers
from sweep_helpers import invoke, leaderboard_rows, write_sweep

pytestmark = pytest.mark.ray

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def two_node_cluster():
    with sweep_helpers.two_node_cluster() as cluster:
        yield cluster


@pytest.mark.parametrize("via", ["gcs", "client"])
def test_trials_are_placed_on_both_nodes_of_an_existing_cluster(two_node_cluster, tmp_path, via):
    address = two_node_cluster.address if via == "gcs" else two_node_cluster.client_address
    sweep_file = write_sweep(tmp_path, "nodes", budget={"steps": 60})
    storage = tmp_path / "store"  # the same path on both "nodes": shared storage, as NFS would be
    result = invoke(
        [
            "sweep",
            str(sweep_file),
            "--address",
            address,
            "--storage",
            str(storage),
            "--name",
            "nodes",
            "--wandb-mode",
            "disabled",
        ]
    )
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    assert address in result.stdout
    rows = list(leaderboard_rows(storage / "nodes").values())
    assert [r["status"] for r in rows] == ["done", "done"]
    cluster_nodes = {node.node_id for node in two_node_cluster.list_all_nodes()}
    assert len(cluster_nodes) == 2
    assert {r["node"] for r in rows} == cluster_nodes
    assert not ray.is_initialized()  # gv disconnected from the cluster it connected to


def test_a_small_study_runs_on_both_nodes(two_node_cluster, tmp_path):
    # gv study on the cluster (its GCS address, what `ray job submit` hands a job): gan races a vae whose
    # every trial diverges, four trials each in round 1, placed on both nodes; the vae leaves, gan wins.
    study_file = write_sweep(
        tmp_path,
        "race",
        base={"eval.num_samples": 200},
        per_family={"vae": {"optim.lr": 1.0e6}},
        budget={"steps": 30},
        eval_every=30,
        study={"max_trials": 8},
    )
    storage = tmp_path / "store"  # shared by both "nodes", as NFS would be
    args = ["study", str(study_file), "--address", two_node_cluster.address, "--storage", str(storage)]
    result = invoke([*args, "--name", "race", "--wandb-mode", "disabled"])
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    study = json.loads((storage / "race" / "study.json").read_text())
    assert study["status"] == "finished" and study["verdict"]["winner"] == "gan"
    assert study["rounds"][0]["out"][0]["family"] == "vae"
    rows = list(leaderboard_rows(storage / "race").values())
    assert len(rows) == 8
    assert {r["node"] for r in rows} == {node.node_id for node in two_node_cluster.list_all_nodes()}
    assert not ray.is_initialized()
