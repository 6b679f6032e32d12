"""`gv sweep`, `gv sweeps`, `gv results`: parallel sweeps on Ray Tune and their leaderboards.

Everything a user can get wrong (the sweep file, the flags, the storage directory, the dataset) is
checked here before Ray is imported; the Ray side lives in gvcore/tune/.
"""

from __future__ import annotations

import json
import math
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlparse

import typer
from rich.table import Table

from .. import __version__
from ..errors import GVError
from ..rundir import check_creatable
from ..sweep import (
    SweepSpec,
    apply_overrides,
    expand_trials,
    leaderboard,
    load_sweep,
    searched_keys,
    shipped_sweeps,
    spec_from_saved,
)
from ..sweep import storage as store
from .common import console, err_console, table_console
from .sweep_dataset import dataset_ready
from .sweep_tables import live_table, print_leaderboard
from .wandb_mode import resolve_wandb_mode, trial_wandb, wandb_hints

app = typer.Typer()

DEFAULT_STORAGE = "runs/sweeps"
DEFAULT_WANDB_PROJECT = "gv"
SWEEP_INFO = "sweep.json"
EXPERIMENT_STATE = "tuner.pkl"  # Ray Tune's marker of an experiment directory it can restore


# --- sweep directories --------------------------------------------------------------------------


# URI schemes Ray Tune's storage layer (pyarrow.fs) can write sweep directories to.
STORAGE_SCHEMES = ("file", "s3", "gs", "gcs", "hdfs", "viewfs", "abfs", "abfss")


def _storage_root(storage: str) -> str:
    """The --storage root, checked before Ray starts: a scheme gv can write, or a local directory
    (existing or creatable) that is not a file."""
    if store.is_uri(storage):
        scheme = urlparse(storage).scheme.lower()
        if scheme not in STORAGE_SCHEMES:
            raise GVError(
                f"bad --storage '{storage}': gv can't write sweeps to '{scheme}://'; use a local or shared "
                f"path, or a URI with one of {', '.join(s + '://' for s in STORAGE_SCHEMES)}"
            )
        if scheme != "file":
            return storage.rstrip("/")
        check_creatable(urlparse(storage).path, "--storage")
        return storage.rstrip("/")
    return str(check_creatable(storage, "--storage").resolve())


def _latest_sweep_dir(root: str, sweep_name: str) -> str | None:
    if store.is_uri(root) or not Path(root).is_dir():
        return None
    candidates = [d for d in Path(root).glob(f"{sweep_name}-*") if (d / EXPERIMENT_STATE).is_file()]
    return str(max(candidates, key=lambda d: d.stat().st_mtime)) if candidates else None


def _check_name(name: str) -> str:
    if not name or name in (".", "..") or "/" in name or "\\" in name or name.strip() != name:
        raise GVError(f"bad --name '{name}': use a plain directory name such as my-sweep")
    return name


# --- commands -----------------------------------------------------------------------------------


@app.command("sweeps")
def sweeps_cmd() -> None:
    """List the shipped sweeps with their families, dataset, trial count and description."""
    table = Table(title="shipped sweeps (run one with `gv sweep NAME`)")
    for column in ("name", "dataset", "families", "trials", "budget", "scheduler", "description"):
        table.add_column(column, overflow="fold")
    for name, path in shipped_sweeps().items():
        spec = load_sweep(str(path))
        table.add_row(
            name,
            spec.dataset,
            ", ".join(spec.families),
            str(spec.num_trials()),
            spec.budget_text,
            spec.scheduler.type,
            spec.description,
        )
    table_console().print(table)


@app.command("results")
def results_cmd(
    sweep_dir: Annotated[str, typer.Argument(help="A sweep directory (STORAGE/NAME, as `gv sweep` printed).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the leaderboard document as JSON.")] = False,
) -> None:
    """Print the leaderboard of a finished or running sweep."""
    from ..sweep.values import trial_value, value_source

    directory = sweep_dir if store.is_uri(sweep_dir) else str(Path(sweep_dir).expanduser())
    doc = leaderboard.read(directory)
    doc.rows = leaderboard.rank(doc.rows)  # by today's rule, whatever gv wrote the file
    if as_json:
        data = doc.to_dict()
        # Each trial's value of the sweep metric as gv report and gv compare read it (gvcore/sweep/values.py).
        source = value_source(doc.rows, doc.metric or "")
        for row, out in zip(doc.rows, data["rows"]):
            out["value"], out["value_source"] = trial_value(row, row.metric, source)
        typer.echo(json.dumps(data, indent=2))
        return
    print_leaderboard(doc)


@app.command("sweep")
def sweep_cmd(
    sweep: Annotated[
        str, typer.Argument(help="A shipped sweep name (see `gv sweeps`) or a path to a sweep .yaml file.")
    ],
    num_samples: Annotated[
        int | None,
        typer.Option(
            "--num-samples", help="Random draws of the searched keys (each runs for every family, grid point and seed)."
        ),
    ] = None,
    max_concurrent: Annotated[
        int | None,
        typer.Option(
            "--max-concurrent", help="At most this many trials at a time (default: as many as the resources allow)."
        ),
    ] = None,
    cpus_per_trial: Annotated[
        float | None,
        typer.Option(
            "--cpus-per-trial",
            help="CPUs per trial; also its torch thread count (default from the sweep file, usually 1).",
        ),
    ] = None,
    gpus_per_trial: Annotated[
        float | None,
        typer.Option("--gpus-per-trial", help="GPUs per trial; fractions pack several trials on one GPU (e.g. 0.25)."),
    ] = None,
    address: Annotated[
        str | None,
        typer.Option(
            "--address",
            help="Ray cluster to use: auto, HOST:PORT or ray://HOST:10001 (default: start Ray on this machine).",
        ),
    ] = None,
    storage: Annotated[
        str,
        typer.Option(
            "--storage",
            help="Where sweep directories go: a path (shared, e.g. NFS, on a multi-node cluster) or a URI such as s3://bucket/gv.",
        ),
    ] = DEFAULT_STORAGE,
    name: Annotated[
        str | None,
        typer.Option(
            "--name",
            help="Sweep directory name under --storage (default: SWEEP-DATE-TIME; with --resume: the latest one).",
        ),
    ] = None,
    wandb_project: Annotated[str, typer.Option("--wandb-project", help="W&B project.")] = DEFAULT_WANDB_PROJECT,
    wandb_entity: Annotated[str | None, typer.Option("--wandb-entity", help="W&B entity (user or team).")] = None,
    wandb_mode: Annotated[
        str,
        typer.Option("--wandb-mode", help="auto (online when logged in, else offline), online, offline or disabled."),
    ] = "auto",
    max_trials: Annotated[
        int | None,
        typer.Option(
            "--max-trials",
            help="Refuse sweeps that expand to more trials than this (default from the sweep file, else 10,000).",
        ),
    ] = None,
    resume: Annotated[
        bool,
        typer.Option(
            "--resume",
            help="Finish an interrupted sweep (same --storage / --name): unfinished trials continue from their checkpoints.",
        ),
    ] = False,
    overrides: Annotated[
        list[str] | None,
        typer.Option(
            "--set", help="Pin a config key for every trial: --set optim.lr=1e-3 (repeatable; see `gv config`)."
        ),
    ] = None,
    dataset: Annotated[
        str | None,
        typer.Option("--dataset", "-d", help="Instead of the file's: a built-in dataset or a folder of images."),
    ] = None,
) -> None:
    """Run a sweep of trials in parallel on Ray Tune, with W&B logging, best checkpoints and a leaderboard."""
    mode, mode_reason = resolve_wandb_mode(wandb_mode)
    root = _storage_root(storage)
    if name is not None:
        _check_name(name)
    if resume:
        changed = [
            flag
            for flag, value in (
                ("--num-samples", num_samples),
                ("--max-concurrent", max_concurrent),
                ("--cpus-per-trial", cpus_per_trial),
                ("--gpus-per-trial", gpus_per_trial),
                ("--max-trials", max_trials),
                ("--set", overrides),
                ("--dataset", dataset),
            )
            if value
        ]
        if changed:
            raise GVError(f"{changed[0]} can't change a sweep on --resume: drop it, or start a new sweep with --name")
        spec, sweep_dir = _resumable(sweep, root, name)
        trials: list[dict[str, Any]] = []
        run_name = Path(sweep_dir).name if not store.is_uri(sweep_dir) else sweep_dir.rsplit("/", 1)[-1]
    else:
        on_this_machine = address is None and not os.environ.get("RAY_ADDRESS")
        spec, trials, run_name, sweep_dir = _new_sweep(
            sweep,
            root,
            name,
            on_this_machine,
            num_samples=num_samples,
            max_concurrent=max_concurrent,
            cpus_per_trial=cpus_per_trial,
            gpus_per_trial=gpus_per_trial,
            max_trials=max_trials,
            sets=overrides or [],
            dataset=dataset,
        )
    from ..tune import SweepRequest, check_address, run_sweep

    on_cluster = bool(address or os.environ.get("RAY_ADDRESS"))
    if on_cluster:
        check_address(address or os.environ["RAY_ADDRESS"])
    settings = trial_wandb(mode, wandb_project, wandb_entity, run_name, on_cluster)
    _print_plan(spec, resume, address or os.environ.get("RAY_ADDRESS") or "local Ray on this machine")
    console.print(
        f"metric {spec.metric} ({spec.mode}), scheduler {spec.scheduler.type}; W&B {mode} ({mode_reason}); "
        f"sweep dir {sweep_dir}",
        soft_wrap=True,
    )
    info = (
        json.dumps(
            {
                "spec": spec.to_dict(),
                "name": run_name,
                "trials": spec.num_trials(),
                "gv_version": __version__,
                "created": datetime.now(UTC).isoformat(timespec="seconds"),
                "wandb": {"project": wandb_project, "entity": wandb_entity},
            },
            indent=2,
        )
        + "\n"
    )

    # The dataset is loaded (downloaded if need be) once here, not by every trial at once, while Ray
    # starts: a missing dataset stops the sweep before any trial, and costs no start-up time.
    dataset_check = dataset_ready(spec, resume, on_cluster, console)

    def write_info() -> None:
        # Called once Ray is up: a sweep that could not start leaves no directory behind.
        dataset_check()
        if not resume:
            store.write_text(sweep_dir, SWEEP_INFO, info)

    request = SweepRequest(
        spec=spec,
        trials=trials,
        storage=root,
        name=run_name,
        resume=resume,
        address=address,
        wandb=settings,
        render=live_table,
        console=console,
        before_start=write_info,
        interactive=console.is_terminal and not (address or "").startswith("ray://"),
    )
    try:
        outcome = run_sweep(request)
    except KeyboardInterrupt:
        # A second Ctrl-C skips Tune's last save; what was saved before still resumes.
        err_console.print(
            "interrupted twice: stopped without a final leaderboard; continue with "
            f"`{_resume_command(sweep, run_name, storage)}`",
            soft_wrap=True,
        )
        raise typer.Exit(130) from None

    doc_extra = {"interrupted": outcome.interrupted, "wall_time_s": round(outcome.elapsed_s, 1)}
    json_path, csv_path = leaderboard.write(
        outcome.sweep_dir, outcome.rows, sweep=run_name, final=not outcome.interrupted, extra=doc_extra
    )
    print_leaderboard(leaderboard.read(outcome.sweep_dir), keys=searched_keys(spec))
    console.print(f"leaderboard: {json_path} and {csv_path}", soft_wrap=True)
    startup = f"{outcome.startup_s:.1f}s" if math.isfinite(outcome.startup_s) else "n/a: the Tuner ran on the cluster"
    console.print(f"sweep time {outcome.elapsed_s:.0f}s (Ray start-up until the first trial: {startup})")
    wandb_hints(mode, settings, outcome)
    if outcome.interrupted:
        err_console.print(
            "interrupted: finished trials are kept; continue the others with "
            f"`{_resume_command(sweep, run_name, storage)}`",
            soft_wrap=True,
        )
        raise typer.Exit(130)


def _new_sweep(
    sweep: str, root: str, name: str | None, on_this_machine: bool, **overrides: Any
) -> tuple[SweepSpec, list[dict[str, Any]], str, str]:
    """Spec, trials, run name and directory of a new sweep; every check that needs no Ray."""
    spec = apply_overrides(load_sweep(sweep), **overrides)
    _absolute_data_dir(spec)
    trials = expand_trials(spec)
    run_name = name or f"{spec.name}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
    sweep_dir = store.join(root, run_name)
    if store.exists(sweep_dir, ""):
        raise GVError(
            f"sweep dir '{sweep_dir}' already exists: continue it with --resume --name {run_name}, "
            "or pick another --name"
        )
    if on_this_machine:
        _check_local_resources(spec)
    return spec, trials, run_name, sweep_dir


def _print_plan(spec: SweepSpec, resume: bool, where: str) -> None:
    seeds = len(spec.seeds)
    grid = spec.grid_size() // (len(spec.families) * seeds)
    factors = [f"{len(spec.families)} {'family' if len(spec.families) == 1 else 'families'}"]
    factors += [
        f"{n} {what}" for n, what in ((grid, "grid points"), (seeds, "seeds"), (spec.num_samples, "draws")) if n > 1
    ]
    resources = f"{spec.cpu:g} CPU" + (f" + {spec.gpu:g} GPU" if spec.gpu else "")
    console.print(
        f"[bold]{'resuming ' if resume else ''}sweep {spec.name}[/]: {spec.num_trials()} trials "
        f"({' x '.join(factors)}) on {spec.dataset}, {spec.budget_text} each; "
        f"{resources} per trial on {where}"
    )
    from ..data import get_spec, is_folder

    if is_folder(spec.dataset) and not resume:  # what gv made of the folder: split, classes, colour, side
        console.print(f"dataset: {get_spec(spec.dataset).description}", soft_wrap=True)


def _resume_command(sweep: str, run_name: str, storage: str) -> str:
    return f"gv sweep {sweep} --resume --name {run_name}" + (
        "" if storage == DEFAULT_STORAGE else f" --storage {storage}"
    )


def _resumable(sweep: str, root: str, name: str | None) -> tuple[SweepSpec, str]:
    """The spec and directory of the sweep to resume, from its own sweep.json (not today's file)."""
    if name is None:
        sweep_name = Path(sweep).stem if sweep.endswith((".yaml", ".yml")) else sweep
        found = _latest_sweep_dir(root, sweep_name)
        if found is None:
            raise GVError(
                f"nothing to resume: no sweep directory '{sweep_name}-*' with Ray Tune state under {root}; "
                "pass --name (and --storage) of the sweep to continue, or drop --resume"
            )
        sweep_dir = found
    else:
        sweep_dir = store.join(root, name)
    if not store.exists(sweep_dir, EXPERIMENT_STATE):
        raise GVError(
            f"nothing to resume in '{sweep_dir}': it has no Ray Tune state ({EXPERIMENT_STATE}); "
            "check --storage and --name, or drop --resume to start a new sweep"
        )
    text = store.read_text(sweep_dir, SWEEP_INFO)
    if text is None:
        raise GVError(f"'{sweep_dir}' has no {SWEEP_INFO}: it was not made by `gv sweep`")
    try:
        return spec_from_saved(json.loads(text)["spec"]), sweep_dir
    except (ValueError, KeyError, TypeError, AttributeError):
        raise GVError(
            f"'{sweep_dir}/{SWEEP_INFO}' is damaged or from another gv version: start a new sweep (drop --resume)"
        ) from None


def _absolute_data_dir(spec: SweepSpec) -> None:
    # Trials run in their own working directories: a relative data dir would point elsewhere there.
    data_dir = spec.base.get("data.data_dir")
    if data_dir:
        spec.base["data.data_dir"] = str(Path(data_dir).expanduser().resolve())


def _check_local_resources(spec: SweepSpec) -> None:
    """On this machine a trial bigger than the machine would wait forever: refuse it before Ray starts."""
    import torch

    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if spec.cpu > cpus:
        raise GVError(
            f"trials ask for {spec.cpu:g} CPUs (--cpus-per-trial / resources.cpu) but this machine has "
            f"{cpus}: pass --cpus-per-trial {cpus} or less"
        )
    gpus = torch.cuda.device_count()
    if spec.gpu > gpus:
        raise GVError(
            f"trials ask for {spec.gpu:g} GPUs (--gpus-per-trial / resources.gpu) but this machine has "
            f"{gpus}: " + ("pass --gpus-per-trial 0 to train on CPU" if gpus == 0 else f"pass at most {gpus}")
        )
