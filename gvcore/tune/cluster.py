"""Reaching Ray: an existing cluster (``--address``, ``RAY_ADDRESS``) or an embedded one on this machine.

Apart because everything here must turn Ray's slow or noisy failures into a quick one-line GVError
before a sweep starts: an address with nothing behind it, a flaky Ray Client handshake, a trial
asking for more CPUs or GPUs than there are.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from typing import Any
from urllib.parse import urlparse

import ray

from ..errors import GVError
from ..sweep import SweepSpec

# Ray Client connections tried before giving up (see connect()).
CLIENT_CONNECT_ATTEMPTS = 3
# Tune settings for a driver whose terminal belongs to gv's live table: the classic reporter (the
# new one prints an experiment banner even at verbose=0) and no experiment-snapshot warnings.
QUIET_TUNE = {"RAY_AIR_NEW_OUTPUT": "0", "TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S": "0"}


def _probe(host: str, port: int, address: str, timeout: float = 5.0) -> None:
    """Fail fast with one line when a cluster address doesn't answer (ray.init would wait a minute)."""
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as exc:
        raise GVError(
            f"Ray cluster at --address {address} is unreachable ({host}:{port}: {exc.strerror or exc}); "
            "check the address and that the cluster is up (`ray status` on the head node), "
            "or drop --address to run on this machine"
        ) from None


def _cluster_endpoint(address: str) -> tuple[str, int] | None:
    """host, port to probe for an --address, or None when there is nothing to probe."""
    if address.startswith("ray://"):
        parsed = urlparse(address)
        return (parsed.hostname or "127.0.0.1", parsed.port or 10001)
    try:
        from ray._private.services import canonicalize_bootstrap_address

        resolved = canonicalize_bootstrap_address(address)
    except ConnectionError:
        raise GVError(
            f"no running Ray cluster found for --address {address}: start one with `ray start --head`, "
            "pass its address, or drop --address to run on this machine"
        ) from None
    except Exception:
        return None  # an address format Ray itself will judge
    if not resolved:
        return None
    host, _, port = resolved.rpartition(":")
    return (host, int(port)) if port.isdigit() else None


def check_address(address: str) -> None:
    """A one-line GVError, within seconds, when a cluster address has no cluster behind it."""
    endpoint = _cluster_endpoint(address)
    if endpoint:
        _probe(*endpoint, address)


def connect(address: str | None) -> bool:
    """Connect to a cluster or start embedded local Ray; True when this call started the connection."""
    if ray.is_initialized():
        return False  # a host (a test, a notebook) already holds a connection: use it
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no telemetry calls from a laptop offline
    address = address or os.environ.get("RAY_ADDRESS") or None  # `ray job submit` sets RAY_ADDRESS
    for name, value in QUIET_TUNE.items():
        os.environ.setdefault(name, value)
    # Workers log at WARNING: Tune's per-checkpoint INFO lines are noise next to the live table.
    quiet: dict[str, Any] = dict(logging_level=logging.ERROR, logging_config=ray.LoggingConfig(log_level="WARNING"))
    try:
        if address is None:
            # Embedded Ray sized to this machine (Ray would otherwise count every core of the host).
            cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
            # Ray turns token auth on for a cluster it starts itself and warns that it did: right
            # for a laptop, and nothing the user needs to act on. (Setting RAY_AUTH_MODE here
            # instead would come too late: Ray reads it when it is imported.)
            logging.getLogger("ray._private.authentication.authentication_token_setup").setLevel(logging.ERROR)
            ray.init(address="local", num_cpus=cpus, log_to_driver=False, include_dashboard=False, **quiet)
        else:
            check_address(address)
            client = address.startswith("ray://")
            # Through Ray Client the Tuner runs on the cluster: its output only arrives via the log
            # stream, and the quieting settings must travel with the job.
            kwargs: dict[str, Any] = dict(
                address=address,
                log_to_driver=client,
                runtime_env={"env_vars": dict(QUIET_TUNE)} if client else None,
                **quiet,
            )
            for attempt in range(CLIENT_CONNECT_ATTEMPTS if client else 1):
                try:
                    ray.init(**kwargs)
                    break
                except ConnectionError as exc:
                    # The client server forks one server process per connection; on a loaded head
                    # node that process sometimes dies on start ("Initialization failure from
                    # server"). A new connection gets a new one.
                    if attempt + 1 == CLIENT_CONNECT_ATTEMPTS or "Initialization failure" not in str(exc):
                        raise
                    ray.shutdown()  # drop the half-made client connection before the next try
                    time.sleep(2.0 * (attempt + 1))
    except GVError:
        raise
    except (ConnectionError, TimeoutError, ValueError, RuntimeError) as exc:
        where = f"Ray cluster at --address {address}" if address else "local Ray"
        raise GVError(f"could not start or reach {where}: {str(exc).splitlines()[0][:200]}") from None
    return True


def check_resources(spec: SweepSpec, embedded: bool) -> None:
    """A trial that can never fit would wait forever: say so before starting."""
    have = ray.cluster_resources()
    for name, flag, want in (("CPU", "--cpus-per-trial", spec.cpu), ("GPU", "--gpus-per-trial", spec.gpu)):
        available = have.get(name, 0.0)
        if want > available and (embedded or name == "GPU"):
            where = "this machine" if embedded else "the Ray cluster"
            raise GVError(
                f"bad {flag} {want:g}: {where} has {available:g} {name}s; ask for at most {available:g}"
                + (" (or 0 to train on CPU)" if name == "GPU" else "")
            )


# How long every node gets to list a folder (or to copy an s3:// / gs:// one into its cache).
NODE_CHECK_TIMEOUT_S = 900.0


def _scan_on_node(dataset: str) -> tuple[str, int] | str:
    """Run on one node: the folder's content key and image count as this node sees it, or the
    one-line problem (a missing folder, an unreadable file, a URI this node can't reach)."""
    from ..data import scan_key

    try:
        return scan_key(dataset)
    except GVError as exc:
        return str(exc)
    except Exception as exc:  # anything else the node hits is still that node's problem, in one line
        return f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}"


def check_dataset_on_nodes(dataset: str, console=None) -> None:
    """Before any trial on a cluster: every alive node must see the folder a sweep trains on, and
    see the same files as this machine (a Ray task pinned to each node lists it there). A node
    that can't is a one-line GVError naming the node and the path. Built-in datasets pass."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    from ..data import is_folder, scan_key

    if not is_folder(dataset):
        return
    expected, count = scan_key(dataset)
    nodes = [node for node in ray.nodes() if node.get("Alive")]
    if console is not None:
        console.print(f"checking that the {len(nodes)} nodes of the cluster can read {dataset}", soft_wrap=True)
    task = ray.remote(num_cpus=0, max_retries=0)(_scan_on_node)
    pending = {
        task.options(scheduling_strategy=NodeAffinitySchedulingStrategy(node["NodeID"], soft=False)).remote(
            dataset
        ): node
        for node in nodes
    }
    ready, late = ray.wait(list(pending), num_returns=len(pending), timeout=NODE_CHECK_TIMEOUT_S)

    def name(node: dict) -> str:
        return f"node {node.get('NodeManagerAddress', '?')} ({node['NodeID'][:12]})"

    for ref in late:
        raise GVError(
            f"{name(pending[ref])} did not finish reading {dataset} within {NODE_CHECK_TIMEOUT_S:.0f}s: check that "
            "node's mount of the folder (or its access to the URI)"
        )
    for ref in ready:
        answer = ray.get(ref)
        if isinstance(answer, str):
            raise GVError(
                f"{name(pending[ref])} can't read the dataset {dataset}: {answer}; a cluster's nodes must all reach "
                "it: shared storage mounted at the same path on every node (NFS), or an s3:// / gs:// URI"
            )
        if tuple(answer) != (expected, count):
            raise GVError(
                f"{name(pending[ref])} sees other files at {dataset} ({answer[1]:,} images; {count:,} here): every "
                "node must read the same folder (shared storage, not a copy per node that differs)"
            )
