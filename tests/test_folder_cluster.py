"""A folder dataset on a 2-node Ray cluster (ray.cluster_utils.Cluster, both nodes on this machine):
trials on both nodes read a folder on shared storage; a folder one node can't see stops the sweep
before any trial, with one line naming that node and the path.

"One node can't see it" without a second machine: every Ray worker runs in the working directory its
node was started in, so ``/proc/self/cwd/images`` names a different folder on each node -- as a
path on a laptop's own disk names nothing on the cluster's machines. The head node is started in a
folder that holds ``images/``, the second node in one that doesn't.
"""

from __future__ import annotations

import pytest
from folder_helpers import write_flat
from helpers import assert_one_line_error
from sweep_helpers import invoke, leaderboard_rows, two_node_cluster, write_sweep

ray = pytest.importorskip("ray")
pytestmark = [pytest.mark.ray, pytest.mark.slow]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    sees, blind = tmp_path_factory.mktemp("head-node"), tmp_path_factory.mktemp("second-node")
    write_flat(sees / "images", count=300)
    with two_node_cluster(head_dir=sees, second_dir=blind) as cluster:
        cluster.head_dir = sees
        yield cluster


def test_trials_on_both_nodes_read_a_folder_on_shared_storage(cluster, tmp_path):
    folder = write_flat(tmp_path / "shared", count=300)  # one path, the same files, on both nodes
    sweep_file = write_sweep(tmp_path, "folder-nodes", dataset=str(folder), budget={"steps": 30}, eval_every=15)
    storage = tmp_path / "store"
    result = invoke(
        ["sweep", str(sweep_file), "--address", cluster.address, "--storage", str(storage), "--name", "folder"]
        + ["--wandb-mode", "disabled"]
    )
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    assert f"can read {folder}" in result.stdout.replace("\n", "")
    rows = list(leaderboard_rows(storage / "folder").values())
    assert [r["status"] for r in rows] == ["done", "done"]
    assert {r["node"] for r in rows} == {node.node_id for node in cluster.list_all_nodes()}
    assert {r["config"]["data.name"] for r in rows} == {str(folder)}


def test_a_folder_one_node_cannot_see_stops_the_sweep_before_any_trial(cluster, tmp_path, monkeypatch):
    monkeypatch.chdir(cluster.head_dir)  # here (and on the head node) /proc/self/cwd/images exists
    path = "/proc/self/cwd/images"
    sweep_file = write_sweep(tmp_path, "blind", dataset=path)
    storage = tmp_path / "store"
    result = invoke(
        ["sweep", str(sweep_file), "--address", cluster.address, "--storage", str(storage), "--name", "blind"]
        + ["--wandb-mode", "disabled"]
    )
    head = cluster.head_node.node_id
    second = next(node.node_id for node in cluster.list_all_nodes() if node.node_id != head)
    line = assert_one_line_error(result, second[:12], path, "does not exist")
    assert head[:12] not in line
    assert not (storage / "blind").exists()  # no sweep directory, no trial
    assert not ray.is_initialized()
