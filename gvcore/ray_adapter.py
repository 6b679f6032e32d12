"""Ray Tune adapter: the only module that imports Ray, and wandb through Ray's own integration.

* :func:`run_trial` -- the function trainable: the plain trainer with hooks that ``tune.report``
  every eval (metrics + a checkpoint), log losses and sample grids to W&B, and resume from
  ``tune.get_checkpoint()`` when Tune restarts a trial (a crash, a resumed sweep, a PBT exploit).
* :func:`run_sweep` -- the driver: connect to (or start) Ray, run or restore the Tuner with a live
  table, and turn the results into leaderboard rows.
"""

from __future__ import annotations

import logging
import math
import os
import signal
import socket
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlparse

import ray
from ray import tune
from ray.tune.schedulers import ASHAScheduler, PopulationBasedTraining

from . import leaderboard, trial
from .errors import GVError
from .families import resolve_config
from .leaderboard import RESTORED_KEY, STATUS_KEY
from .rundir import last_logged
from .sweep import Dimension, SweepSpec, trial_config, trial_dirname

# How often the live leaderboard in the sweep directory is rewritten while trials run (seconds).
LIVE_WRITE_EVERY_S = 10.0
# A trial that crashes (its worker killed, a node lost) is retried from its last checkpoint this often.
MAX_FAILURES = 2
# Checkpoints kept per trial: the best ones by the sweep metric (the latest is always kept too).
CHECKPOINTS_KEPT = 2
# Tune settings for a driver whose terminal belongs to gv's live table: the classic reporter (the
# new one prints an experiment banner even at verbose=0) and no experiment-snapshot warnings.
QUIET_TUNE = {"RAY_AIR_NEW_OUTPUT": "0", "TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S": "0"}
# Bounds every W&B call that may wait on the network: wandb.init and run.finish.
WANDB_INIT_TIMEOUT_S = 20.0
# Ray Client connections tried before giving up (see connect()).
CLIENT_CONNECT_ATTEMPTS = 3
# An offline init waits on nothing but the local wandb service starting, which on a loaded 2-core
# machine (every trial starting at once) can take longer than a network timeout: give it room.
WANDB_OFFLINE_INIT_TIMEOUT_S = 120.0
WANDB_FINISH_TIMEOUT_S = 30.0
WANDB_FLAG_KEY = "gv/wandb"


# --- what the CLI hands over --------------------------------------------------------------------


@dataclass
class WandbSettings:
    mode: str  # online | offline | disabled
    project: str
    entity: str | None
    group: str
    # Where the trials' W&B run folders go: None = each trial's own directory (next to its run/
    # folder), so `wandb sync` finds them all under the sweep dir; else this directory ($WANDB_DIR).
    dir: str | None = None
    # Only for cluster workers, whose environment is not the driver's: carried in memory (Ray's
    # object store via tune.with_parameters), never in a config, a log or a file; never printed.
    api_key: str | None = field(default=None, repr=False)


@dataclass
class TrialContext:
    """What every trial needs besides its config (passed through tune.with_parameters)."""

    sweep_name: str
    sweep_dir: str
    local_storage: bool
    metric: str
    cpu: float
    gpu: float
    wandb: WandbSettings


@dataclass
class SweepRequest:
    spec: SweepSpec
    trials: list[dict[str, Any]]
    storage: str  # absolute local path or a URI
    name: str
    resume: bool
    address: str | None
    wandb: WandbSettings
    # Builds the live table from leaderboard rows (gvcore.commands.sweep.live_table).
    render: Callable[..., Any]
    console: Any
    interactive: bool
    # Runs once Ray is connected and the resources checked, before any trial (writes sweep.json).
    before_start: Callable[[], None] = lambda: None

    @property
    def sweep_dir(self) -> str:
        return f"{self.storage.rstrip('/')}/{self.name}" if leaderboard.is_uri(self.storage) else str(Path(self.storage) / self.name)


@dataclass
class SweepOutcome:
    rows: list[dict[str, Any]]
    interrupted: bool
    sweep_dir: str
    startup_s: float  # connecting / starting Ray until the first trial started
    elapsed_s: float
    wandb_fallbacks: list[str] = field(default_factory=list)  # trials whose online W&B init failed


# --- the trainable ------------------------------------------------------------------------------


class WandbLogger:
    """One W&B run per trial through Ray's setup_wandb. W&B trouble never fails a trial: an
    unreachable server makes the run offline (kept for `wandb sync`), any later error turns
    logging off for the rest of the trial."""

    def __init__(self, settings: WandbSettings, cfg, trial_dir: Path, gpu: float, tags: list[str]):
        self.run = None
        self.fell_back = False
        if settings.mode == "disabled":
            return
        # Imported here, in the trial: the driver never needs wandb (and the import costs ~1 s).
        import wandb  # for Image, Settings and teardown; the run itself comes from Ray's setup_wandb
        from ray.air.integrations.wandb import setup_wandb

        self._wandb = wandb
        init_timeout = float(os.environ.get("WANDB_INIT_TIMEOUT", WANDB_INIT_TIMEOUT_S))
        kwargs: dict[str, Any] = dict(
            config=resolve_config(cfg).to_dict(), project=settings.project, group=settings.group, tags=tags,
            resume="allow", reinit="finish_previous",
        )
        if settings.entity:
            kwargs["entity"] = settings.entity
        directory = Path(settings.dir) if settings.dir else trial_dir
        directory.mkdir(parents=True, exist_ok=True)
        kwargs["dir"] = str(directory)
        if settings.api_key:
            kwargs["api_key"] = settings.api_key
        # A wandb service token inherited from whatever started Ray (a driver that used wandb in
        # process, a job's environment) points at a service this worker doesn't own and that may be
        # gone: connecting to it hangs init. Each trial starts (and tears down) its own.
        os.environ.pop("WANDB_SERVICE", None)
        modes = [settings.mode] + (["offline"] if settings.mode == "online" else [])
        for mode in modes:
            # Ray's integration reads WANDB_MODE to decide whether it needs an API key at all.
            os.environ["WANDB_MODE"] = mode
            timeout = init_timeout if mode == "online" else max(init_timeout, WANDB_OFFLINE_INIT_TIMEOUT_S)
            # No console capture (the worker's stdout is not the user's) and no system-stats
            # sampler on CPU-only trials, where it would compete with training for the cores.
            kwargs["settings"] = wandb.Settings(console="off", silent=True, x_disable_stats=gpu == 0,
                                                init_timeout=timeout)
            try:
                self.run = setup_wandb(mode=mode, **kwargs)
                break
            except Exception as exc:  # network errors, auth errors, timeouts: all the same here
                print(f"gv: W&B {mode} init failed ({type(exc).__name__}: {str(exc)[:200]})", flush=True)
                # The failed attempt keeps its run id registered with the wandb service.
                wandb.teardown()
        self.fell_back = self.run is not None and mode != settings.mode
        if self.run is not None:
            self.run.define_metric("*", step_metric="step")

    def log(self, values: dict[str, Any], image: Path | None = None, step: int | None = None) -> None:
        if self.run is None:
            return
        try:
            payload = dict(values)
            if image is not None:
                payload["samples"] = self._wandb.Image(str(image), caption=f"step {step}")
            self.run.log(payload)
        except Exception as exc:
            print(f"gv: W&B logging turned off for this trial ({type(exc).__name__}: {exc})", flush=True)
            self.run = None

    def finish(self, exit_code: int = 0) -> None:
        if self.run is None:
            return
        run, self.run = self.run, None

        def close() -> None:
            run.finish(exit_code=exit_code)
            # Stop the wandb service now: its exit hook would otherwise run while Ray tears the
            # worker down and print a lost-connection traceback.
            self._wandb.teardown()

        # finish() waits for uploads; an unreachable server must not hold the trial open.
        closer = threading.Thread(target=close, daemon=True)
        closer.start()
        closer.join(WANDB_FINISH_TIMEOUT_S)


def run_trial(config: dict[str, Any], context: TrialContext) -> None:
    """One trial: the plain trainer, reporting to Tune at every eval."""
    import torch

    from .metrics import make_evaluator
    from .trainer import Hooks, train

    cfg = trial_config(config["trial"])
    # Each trial gets its CPU share as torch threads, so parallel trials don't oversubscribe cores.
    threads = max(1, int(context.cpu))
    cfg.train.threads = threads
    torch.set_num_threads(threads)

    tune_context = tune.get_context()
    trial_id = tune_context.get_trial_id()
    if context.local_storage:
        # Local or shared (NFS) storage: write straight into the trial's directory in the sweep dir.
        trial_dir = Path(context.sweep_dir) / trial_dirname(cfg.family, trial_id)
    else:
        # Cloud storage: the trial's working directory, which Tune uploads as trial artifacts.
        trial_dir = Path(tune_context.get_trial_dir())
    run_dir = trial_dir / "run"

    checkpoint = tune.get_checkpoint()
    if checkpoint is None:
        restored_from = trial.prepare_run_dir(run_dir, None, cfg)
    else:
        with checkpoint.as_directory() as directory:
            restored_from = trial.prepare_run_dir(run_dir, Path(directory), cfg)
    node = ray.get_runtime_context().get_node_id()

    wandb_run = WandbLogger(context.wandb, cfg, trial_dir, context.gpu, [cfg.family, cfg.data.name])
    last: dict[str, Any] = {}

    def on_progress(p) -> None:
        wandb_run.log({"step": p.step, "epoch": p.epoch, "images_per_s": p.images_per_s, **p.losses,
                       "loss/objective": trial.objective(cfg, p.losses)})

    def on_eval(event) -> None:
        result = trial.eval_result(event, cfg, run_dir, restored_from, node)
        if wandb_run.fell_back:
            result[WANDB_FLAG_KEY] = "offline after online init failed"
        wandb_run.log({"step": event.step, **event.metrics}, image=event.samples, step=event.step)
        last.clear()
        last.update(result)
        tune.report(result, checkpoint=tune.Checkpoint.from_directory(str(event.checkpoint.parent)))

    try:
        result = train(cfg, run_dir, Hooks(on_progress=on_progress, on_eval=on_eval),
                       evaluator=make_evaluator(cfg), resume=True)
    except BaseException:
        wandb_run.finish(exit_code=1)
        raise
    if result.status == "stopped":
        # Interrupted inside the worker (Ctrl-C reaches the whole process group): not finished, so
        # Tune must keep it resumable rather than record it as complete.
        wandb_run.finish(exit_code=1)
        raise RuntimeError(f"trial interrupted at step {result.step}: it continues from its last checkpoint on resume")
    if result.status != "done" or not last:
        tune.report(trial.final_result(result, last, context.metric, run_dir, restored_from, node))
    wandb_run.finish(exit_code=0 if result.status == "done" else 1)


# --- schedulers ---------------------------------------------------------------------------------


def _domain(dim: Dimension):
    name, args = dim.tune_spec()
    return getattr(tune, name)(*args)


class ClampToBounds:
    """PBT perturbs by x0.8 / x1.2, which can leave a key's declared range (beta1 past 1); pull
    every mutated value back inside it. A class, not a closure, so Tune can pickle it."""

    def __init__(self, bounds: dict[str, tuple[float, float]]):
        self.bounds = bounds

    def __call__(self, config: dict[str, Any]) -> dict[str, Any]:
        values = config["trial"]
        for key, (low, high) in self.bounds.items():
            if key in values:
                values[key] = min(max(values[key], low), high)
        return config


def build_scheduler(spec: SweepSpec):
    """The Tune scheduler a sweep asks for (None = FIFO), counting time in the budget's unit."""
    s = spec.scheduler
    if s.type == "asha":
        return ASHAScheduler(time_attr=spec.time_attr, max_t=spec.budget, grace_period=s.grace_period,
                             reduction_factor=s.reduction_factor)
    if s.type == "pbt":
        bounds = {k: d.bounds() for k, d in s.mutations.items() if d.bounds() is not None}
        return PopulationBasedTraining(
            time_attr=spec.time_attr, perturbation_interval=s.perturbation_interval,
            hyperparam_mutations={"trial": {k: _domain(d) for k, d in s.mutations.items()}},
            quantile_fraction=s.quantile_fraction, resample_probability=s.resample_probability,
            custom_explore_fn=ClampToBounds(bounds))
    return None


# --- connecting ---------------------------------------------------------------------------------


def _probe(host: str, port: int, address: str, timeout: float = 5.0) -> None:
    """Fail fast with one line when a cluster address doesn't answer (ray.init would wait a minute)."""
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as exc:
        raise GVError(f"Ray cluster at --address {address} is unreachable ({host}:{port}: {exc.strerror or exc}); "
                      "check the address and that the cluster is up (`ray status` on the head node), "
                      "or drop --address to run on this machine") from None


def _cluster_endpoint(address: str) -> tuple[str, int] | None:
    """host, port to probe for an --address, or None when there is nothing to probe."""
    if address.startswith("ray://"):
        parsed = urlparse(address)
        return (parsed.hostname or "127.0.0.1", parsed.port or 10001)
    try:
        from ray._private.services import canonicalize_bootstrap_address

        resolved = canonicalize_bootstrap_address(address)
    except ConnectionError:
        raise GVError(f"no running Ray cluster found for --address {address}: start one with `ray start --head`, "
                      "pass its address, or drop --address to run on this machine") from None
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
    quiet = dict(logging_level=logging.ERROR, logging_config=ray.LoggingConfig(log_level="WARNING"))
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
            kwargs = dict(address=address, log_to_driver=client,
                          runtime_env={"env_vars": dict(QUIET_TUNE)} if client else None, **quiet)
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
            raise GVError(f"bad {flag} {want:g}: {where} has {available:g} {name}s; ask for at most {available:g}"
                          + (" (or 0 to train on CPU)" if name == "GPU" else ""))


# --- the live view ------------------------------------------------------------------------------


class LiveView(tune.Callback):
    """Tracks every trial's reports for the live table and the live leaderboard file.

    Runs wherever the Tuner runs: in the driver, or on the cluster under Ray Client. Tune pickles
    its callbacks with the experiment and, on `--resume`, runs the unpickled copy instead of a new
    one; so only the sweep's description is pickled, and the display of the current invocation
    (console, rich Live, renderer) is attached in setup() from ``LiveView.request``, which
    run_sweep sets in the driver. The instance that ran is published as ``LiveView.active``.
    """

    request: SweepRequest | None = None
    active: "LiveView | None" = None

    def __init__(self, request: SweepRequest) -> None:
        self.info = {"sweep_name": request.name, "sweep_dir": request.sweep_dir, "metric": request.spec.metric,
                     "mode": request.spec.mode}
        self._reset()

    def _reset(self) -> None:
        self.histories: dict[str, list[dict[str, Any]]] = {}
        self.checkpoints: dict[str, dict[int, str]] = {}
        self.statuses: dict[str, str] = {}
        self.configs: dict[str, dict[str, Any]] = {}
        self.errors: dict[str, str] = {}
        self.first_start: float | None = None
        self._live = None
        self._last_write = 0.0
        self._last_paint = 0.0

    def __getstate__(self) -> dict[str, Any]:
        return {"info": self.info}  # no display, no trial state: those belong to one invocation

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.info = state["info"]
        self._reset()

    # -- Tune callback hooks
    def setup(self, **info) -> None:
        request = LiveView.request
        if request is not None:  # in the driver: this invocation's sweep and display
            self.info.update(sweep_name=request.name, sweep_dir=request.sweep_dir)
            self.render, self.console, self.interactive = request.render, request.console, request.interactive
        else:  # on a Ray Client cluster: plain lines, which the log stream carries to the client
            from rich.console import Console

            self.render, self.console, self.interactive = None, Console(), False
        self.sweep_name, self.sweep_dir = self.info["sweep_name"], self.info["sweep_dir"]
        self.local_storage = not leaderboard.is_uri(self.sweep_dir)
        self.metric, self.mode = self.info["metric"], self.info["mode"]
        LiveView.active = self
        if self.interactive:
            from rich.live import Live

            self._live = Live(console=self.console, refresh_per_second=2, transient=False)
            self._live.start()

    def stop_display(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    def _track(self, trial) -> str:
        """Register a trial on first sight -- on --resume, finished ones arrive with their last result."""
        trial_id = trial.trial_id
        if trial_id not in self.configs:
            last = dict(trial.last_result or {})
            self.configs[trial_id] = dict(trial.config.get("trial", {}))
            self.histories[trial_id] = [last] if last else []
            self.checkpoints[trial_id] = {}
            self.statuses[trial_id] = {"TERMINATED": leaderboard.trial_status(False, last),
                                       "ERROR": "error", "RUNNING": "running"}.get(trial.status, "pending")
        return trial_id

    def on_trial_start(self, iteration, trials, trial, **info) -> None:
        trial_id = self._track(trial)
        self.first_start = self.first_start or time.monotonic()
        self.statuses[trial_id] = "running"
        if not self.interactive:
            self.console.print(f"started {trial_dirname(self.configs[trial_id].get('family', '?'), trial_id)}")

    def on_trial_result(self, iteration, trials, trial, result, **info) -> None:
        trial_id = self._track(trial)
        keep = {k: v for k, v in result.items() if isinstance(v, (int, float, str)) and not isinstance(v, bool)}
        self.histories[trial_id].append(keep)

    def on_checkpoint(self, iteration, trials, trial, checkpoint, **info) -> None:
        trial_id = self._track(trial)
        step = trial.last_result.get("step")
        if step is not None and checkpoint is not None:
            self.checkpoints[trial_id][int(step)] = checkpoint.path

    def on_trial_complete(self, iteration, trials, trial, **info) -> None:
        trial_id = self._track(trial)
        last = self.histories[trial_id][-1] if self.histories[trial_id] else trial.last_result or {}
        self.statuses[trial_id] = leaderboard.trial_status(False, last)
        self._announce(trial_id)

    def on_trial_error(self, iteration, trials, trial, **info) -> None:
        trial_id = self._track(trial)
        self.statuses[trial_id] = "error"
        self.errors[trial_id] = _error_text(getattr(trial, "error_file", None))
        self._announce(trial_id)

    def on_trial_recover(self, iteration, trials, trial, **info) -> None:
        trial_id = self._track(trial)
        self.statuses[trial_id] = "retrying"
        if not self.interactive:
            self.console.print(f"{trial_dirname(self.configs[trial_id].get('family', '?'), trial_id)} "
                               "crashed; retrying from its last checkpoint")

    def on_step_end(self, iteration, trials, **info) -> None:
        for t in trials:
            self._track(t)
        now = time.monotonic()
        if self._live is not None and now - self._last_paint > 0.5:
            self._last_paint = now
            self._live.update(self.render(self.rows(), self.sweep_name, live=True))
        if now - self._last_write > LIVE_WRITE_EVERY_S:
            self._last_write = now
            self.write_live()

    def on_experiment_end(self, trials, **info) -> None:
        if self._live is not None:
            self._live.update(self.render(self.rows(), self.sweep_name, live=True))
        self.stop_display()

    # -- helpers
    def _announce(self, trial_id: str) -> None:
        if self.interactive:
            return
        history = self.histories.get(trial_id) or [{}]
        last = history[-1]
        value = last.get(self.metric)
        shown = f"{value:.4g}" if isinstance(value, float) and math.isfinite(value) else "-"
        self.console.print(f"{trial_dirname(self.configs[trial_id].get('family', '?'), trial_id)}: "
                           f"{self.statuses[trial_id]} at step {last.get('step', 0)} ({self.metric} {shown})")

    def rows(self) -> list[dict[str, Any]]:
        rows = []
        for trial_id, config in self.configs.items():
            history = self.histories.get(trial_id, [])
            row = leaderboard.make_row(trial_id=trial_id, config=config, status=self.statuses.get(trial_id, "pending"),
                                       metric=self.metric, mode=self.mode, history=history,
                                       error=self.errors.get(trial_id), restores=_restores(history))
            if row["best_step"] is not None:
                row["best_checkpoint"] = self.checkpoints.get(trial_id, {}).get(row["best_step"])
            row["latest"] = history[-1] if history else {}
            if row["status"] == "running" and self.local_storage:
                self._between_reports(row)
            rows.append(row)
        return leaderboard.rank(rows)

    def _between_reports(self, row: dict[str, Any]) -> None:
        """Trials report at evals only (minutes apart for DCGAN on a CPU); between reports the live
        table reads step, losses and images/s from the run's metrics.jsonl, written every
        train.log_every steps -- possible where the sweep dir is a local or shared filesystem."""
        logged = last_logged(Path(self.sweep_dir) / trial_dirname(row["family"], row["trial_id"]) / "run")
        if logged.get("step", 0) > row["step"]:
            row["step"] = logged["step"]
            row["latest"] = {**row["latest"], **logged}

    def write_live(self) -> None:
        try:
            rows = self.rows()
            for row in rows:
                row.pop("latest", None)
            leaderboard.write(self.sweep_dir, rows, sweep=self.sweep_name, final=False)
        except OSError:
            # A live snapshot is a convenience (a full or flaky shared disk must not stop the
            # sweep); the final leaderboard is written by the driver at the end.
            return


def _error_text(error_file: str | None) -> str:
    """The last line of a trial's error file: usually 'SomeError: message'."""
    if not error_file:
        return "trial failed (no error file)"
    try:
        lines = [ln.strip() for ln in Path(error_file).read_text().splitlines() if ln.strip()]
    except OSError:
        return f"trial failed (see {error_file})"
    return (lines[-1] if lines else "trial failed")[:300]


def _restores(history: list[dict[str, Any]]) -> int:
    """How many times a trial continued from a checkpoint (crash retries, resumes, PBT exploits)."""
    return len({h.get(RESTORED_KEY) for h in history if h.get(RESTORED_KEY)})


# --- results ------------------------------------------------------------------------------------


def _checkpoint_location(storage: str, path: str) -> str:
    """Tune gives checkpoint paths without the URI scheme; put it back for cloud storage."""
    if leaderboard.is_uri(storage) and "://" not in path:
        return f"{urlparse(storage).scheme}://{path}"
    return path


def rows_from_results(results, spec: SweepSpec, storage: str) -> list[dict[str, Any]]:
    """Final leaderboard rows from Tune's ResultGrid (works for resumed and remote sweeps too)."""
    rows = []
    for result in results:
        config = dict(result.config.get("trial", {})) if result.config else {}
        frame = result.metrics_dataframe
        history = []
        if frame is not None:
            for record in frame.to_dict("records"):
                history.append({k: v for k, v in record.items() if not (isinstance(v, float) and math.isnan(v))
                                or k == spec.metric})
        last = result.metrics or {}
        if last and (not history or history[-1].get("step") != last.get("step")
                     or history[-1].get(STATUS_KEY) != last.get(STATUS_KEY)):
            history.append(dict(last))
        errored = result.error is not None
        best_checkpoint = None
        if result.best_checkpoints:
            try:
                best = result.get_best_checkpoint(spec.metric, spec.mode)
            except (RuntimeError, ValueError, KeyError):
                best = None
            best_checkpoint = _checkpoint_location(storage, best.path) if best is not None else None
        trial_id = last.get("trial_id") or Path(result.path).name.split("_", 1)[-1]
        error = None
        if errored:
            error = str(result.error).strip().splitlines()[-1][:300] if str(result.error).strip() else type(result.error).__name__
        rows.append(leaderboard.make_row(trial_id=trial_id, config=config, status=leaderboard.trial_status(errored, last),
                                         metric=spec.metric, mode=spec.mode, history=history,
                                         best_checkpoint=best_checkpoint, error=error, restores=_restores(history)))
    return leaderboard.rank(rows)


# --- final evaluation ---------------------------------------------------------------------------


@ray.remote
def _evaluate_best(checkpoint: str, samples: int, threads: int, device: str) -> dict[str, float]:
    """Every metric on ``samples`` images of one trial's best checkpoint (a Ray task, so the
    evaluations run in parallel on the trials' resources, on a cluster too)."""
    import torch

    from .checkpoint import CHECKPOINT_NAME
    from .metrics import evaluate_checkpoint

    torch.set_num_threads(threads)
    with tune.Checkpoint(checkpoint).as_directory() as directory:  # downloads s3:// checkpoints
        return evaluate_checkpoint(Path(directory) / CHECKPOINT_NAME, samples, device=device)


def final_evaluation(rows: list[dict[str, Any]], spec: SweepSpec, console: Any, interactive: bool) -> None:
    """The full evaluation of every finished (or early-stopped) trial's best checkpoint, into its
    leaderboard row as ``final`` (metric name -> value); a failure is recorded, never raised."""
    todo = [row for row in rows if row.get("best_checkpoint") and row["status"] in ("done", "stopped")]
    if not todo:
        return
    device = "cuda" if spec.gpu > 0 else "cpu"
    task = _evaluate_best.options(num_cpus=spec.cpu, num_gpus=spec.gpu)
    pending = {task.remote(row["best_checkpoint"], spec.final_eval_samples, max(1, int(spec.cpu)), device): row
               for row in todo}
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = [TextColumn("final evaluation of the best checkpoints"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn()]
    with Progress(*columns, console=console, disable=not interactive) as progress:
        bar = progress.add_task("final", total=len(pending))
        if not interactive:
            console.print(f"final evaluation of {len(pending)} best checkpoints ({spec.final_eval_samples} samples "
                          "each, every metric)")
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                row = pending.pop(ref)
                try:
                    row["final"] = ray.get(ref)
                    row["final_samples"] = spec.final_eval_samples
                except Exception as exc:  # one bad checkpoint must not cost the others' numbers
                    row["final_error"] = (str(exc).strip().splitlines() or [type(exc).__name__])[-1][:300]
                progress.advance(bar)


# --- the driver ---------------------------------------------------------------------------------


def _unfinished_trials(sweep_dir: str, rows: list[dict[str, Any]]) -> int:
    """Trials the saved experiment state holds as neither finished nor errored: an interrupted sweep.

    Read back from the state Tune saved (in-memory trials are all stopped by the time fit()
    returns). If it can't be read (a Ray Client run whose storage is only on the cluster), rows
    stopped without a final status stand in.
    """
    try:
        trials = tune.ExperimentAnalysis(sweep_dir).trials
    except Exception:
        return sum(1 for r in rows if r["status"] == "stopped")
    return sum(1 for t in trials if t.status not in ("TERMINATED", "ERROR"))



def _trial_name(trial) -> str:
    return trial_dirname(trial.config["trial"]["family"], trial.trial_id)


def run_sweep(request: SweepRequest) -> SweepOutcome:
    """Run (or resume) a sweep on Ray Tune and return its final leaderboard rows."""
    spec = request.spec
    started = time.monotonic()
    owned = connect(request.address)
    embedded = owned and request.address is None and not os.environ.get("RAY_ADDRESS")
    noisy = [logging.getLogger(name) for name in ("ray.tune", "ray.train", "ray.air")]
    levels = [log.level for log in noisy]
    # Signal handlers belong to the main thread (a test may run a sweep from another one).
    in_main_thread = threading.current_thread() is threading.main_thread()
    sigint = signal.getsignal(signal.SIGINT) if in_main_thread else None
    LiveView.request, LiveView.active = request, None
    try:
        check_resources(spec, embedded)
        request.before_start()
        context = TrialContext(sweep_name=request.name, sweep_dir=request.sweep_dir,
                               local_storage=not leaderboard.is_uri(request.storage), metric=spec.metric,
                               cpu=spec.cpu, gpu=spec.gpu, wandb=request.wandb)
        trainable = tune.with_resources(tune.with_parameters(run_trial, context=context),
                                        {"cpu": spec.cpu, "gpu": spec.gpu})
        # Trial failures are shown in the table and the leaderboard; Tune's own tracebacks would
        # tear the live display apart.
        for log in noisy:
            log.setLevel(logging.CRITICAL)
        warnings.filterwarnings("ignore", module=r"ray(\.|$)")
        if request.resume:
            tuner = tune.Tuner.restore(request.sweep_dir, trainable=trainable, resume_unfinished=True,
                                       resume_errored=True)
        else:
            tuner = tune.Tuner(
                trainable,
                param_space={"trial": tune.grid_search(request.trials)},
                tune_config=tune.TuneConfig(
                    metric=spec.metric, mode=spec.mode, scheduler=build_scheduler(spec), num_samples=1,
                    max_concurrent_trials=spec.max_concurrent, trial_name_creator=_trial_name,
                    trial_dirname_creator=_trial_name,
                    # A finished trial's worker (Python, torch and the dataset already loaded) runs
                    # the next trial: ~5 s less per trial on a laptop. Not under PBT, whose pauses
                    # and restarts lose reports when actors are reused (seen with Ray 2.60).
                    reuse_actors=spec.scheduler.type != "pbt"),
                run_config=tune.RunConfig(
                    name=request.name, storage_path=request.storage, verbose=0, callbacks=[LiveView(request)],
                    # PBT hands a donor's checkpoint to another trial some time after choosing it:
                    # deleting non-best checkpoints meanwhile would pull it away, so PBT keeps all.
                    checkpoint_config=tune.CheckpointConfig(num_to_keep=None if spec.scheduler.type == "pbt"
                                                            else CHECKPOINTS_KEPT,
                                                            checkpoint_score_attribute=spec.metric,
                                                            checkpoint_score_order=spec.mode),
                    failure_config=tune.FailureConfig(max_failures=MAX_FAILURES),
                    # Cloud storage: upload each trial's run/ folder (samples, metrics) with its checkpoints.
                    sync_config=tune.SyncConfig(sync_artifacts=leaderboard.is_uri(request.storage))),
            )
        results = tuner.fit()
        rows = rows_from_results(results, spec, request.storage)
        interrupted = _unfinished_trials(request.sweep_dir, rows) > 0
        if LiveView.active is not None:
            LiveView.active.stop_display()
        if spec.final_eval_samples and not interrupted:
            # The leaderboard as trained, first: an interrupted final evaluation loses nothing else.
            leaderboard.write(request.sweep_dir, rows, sweep=request.name, final=False)
            final_evaluation(rows, spec, request.console, request.interactive)
    finally:
        for log, level in zip(noisy, levels):
            log.setLevel(level)
        # Tune leaves its own SIGINT handler installed after a run that wasn't interrupted.
        if in_main_thread:
            signal.signal(signal.SIGINT, sigint)
        if LiveView.active is not None:
            LiveView.active.stop_display()
        if owned:
            ray.shutdown()
    view = LiveView.active
    histories = view.histories if view is not None else {}
    fallbacks = [r["trial_id"] for r in rows if any(WANDB_FLAG_KEY in h for h in histories.get(r["trial_id"], []))]
    startup = (view.first_start - started) if view is not None and view.first_start else float("nan")
    return SweepOutcome(rows=rows, interrupted=interrupted, sweep_dir=request.sweep_dir, startup_s=startup,
                        elapsed_s=time.monotonic() - started, wandb_fallbacks=fallbacks)

