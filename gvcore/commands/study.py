"""`gv study`: which family wins, with the least compute -- the families race in rounds of fresh
trials until one is left, the rest are equivalent, or the budget runs out (gvcore/study/).

Everything a user can get wrong is checked here before Ray is imported, as for `gv sweep` (whose
storage, name, resource and dataset checks this command shares); the rounds run in gvcore/tune/.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from ..errors import GVError
from ..evaluation.axes import AXES
from ..study import STUDY_JSON
from ..study.plan import StudyFlags, load_study
from ..study.settings import check_budget, with_flags
from ..sweep import leaderboard
from ..sweep import storage as store
from .common import console, err_console, table_console
from .sweep import (
    DEFAULT_STORAGE,
    DEFAULT_WANDB_PROJECT,
    _absolute_data_dir,
    _check_local_resources,
    _check_name,
    _storage_root,
)
from .sweep_dataset import dataset_ready
from .sweep_tables import print_leaderboard
from .wandb_mode import resolve_wandb_mode, trial_wandb, wandb_hints

if TYPE_CHECKING:
    from ..study.race import Race

app = typer.Typer()
# numpy / scipy (the race's statistics) are imported inside the command: `gv` starts without them.

# The sweep file a study races from when none is named: all six families, the usual search ranges.
DEFAULT_STUDY = "study-race-mnist-5k"


def _families(text: str | None) -> list[str] | None:
    if text is None:
        return None
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise GVError(f"bad --families '{text}': name families, e.g. --families gan,vae")
    return names


def _latest_study_dir(root: str, name: str) -> str | None:
    if store.is_uri(root) or not Path(root).is_dir():
        return None
    found = [d for d in Path(root).glob(f"{name}-*") if (d / STUDY_JSON).is_file()]
    return str(max(found, key=lambda d: d.stat().st_mtime)) if found else None


def _resumable(sweep: str, root: str, name: str | None) -> str:
    if name is None:
        stem = Path(sweep).stem if sweep.endswith((".yaml", ".yml")) else sweep
        found = _latest_study_dir(root, stem)
        if found is None:
            raise GVError(
                f"nothing to resume: no study directory '{stem}-*' with a {STUDY_JSON} under {root}; "
                "pass --name (and --storage) of the study to continue, or drop --resume"
            )
        return found
    study_dir = store.join(root, name)
    if not store.exists(study_dir, STUDY_JSON):
        raise GVError(
            f"nothing to resume in '{study_dir}': it has no {STUDY_JSON}; check --storage and --name, "
            "or drop --resume to start a new study"
        )
    return study_dir


def _resume_command(sweep: str, run_name: str, storage: str) -> str:
    return f"gv study {sweep} --resume --name {run_name}" + (
        "" if storage == DEFAULT_STORAGE else f" --storage {storage}"
    )


def _plan_line(race: Race, spec, name: str, where: str) -> str:
    settings = race.settings
    budget = " and ".join(
        text
        for text in (
            f"{settings.max_trials} trials" if settings.max_trials else "",
            f"{settings.max_hours:g} h" if settings.max_hours else "",
        )
        if text
    )
    margin = f", equivalent within margin {settings.margin:g}" if settings.margin is not None else ""
    better = "lower" if race.direction == "min" else "higher"
    return (
        f"[bold]study {name}[/]: race {', '.join(race.families)} on {spec.dataset} by {settings.axis} "
        f"({spec.metric}, {better} is better) at {spec.budget_text} a trial; round 1: {race.first_round} trials per "
        f"family, then {settings.trials_per_round} more per family still racing; out when beaten at "
        f"{settings.confidence:g} confidence (anytime-valid){margin}; budget {budget}; {spec.cpu:g} CPU"
        + (f" + {spec.gpu:g} GPU" if spec.gpu else "")
        + f" per trial on {where}"
    )


@app.command("study")
def study_cmd(
    sweep: Annotated[
        str,
        typer.Argument(
            help="A shipped sweep name or a sweep .yaml file: its search space, budget and `study:` section."
        ),
    ] = DEFAULT_STUDY,
    dataset: Annotated[
        str | None, typer.Option("--dataset", help="Race on this dataset (default: the file's).")
    ] = None,
    families: Annotated[
        str | None, typer.Option("--families", help="Families to race, comma-separated (default: the file's).")
    ] = None,
    budget: Annotated[
        float | None, typer.Option("--budget", help="Training FLOPs per trial: equal compute (default: the file's).")
    ] = None,
    max_trials: Annotated[
        int | None, typer.Option("--max-trials", help="Stop before a round would pass this many trials in all.")
    ] = None,
    max_hours: Annotated[
        float | None, typer.Option("--max-hours", help="Stop before a round would pass this many hours.")
    ] = None,
    confidence: Annotated[
        float | None,
        typer.Option("--confidence", help="Every exit and the verdict hold at this confidence, looks included (0.95)."),
    ] = None,
    axis: Annotated[
        str | None, typer.Option("--axis", help=f"What 'wins' means: {' / '.join(AXES)} (overall).")
    ] = None,
    margin: Annotated[
        float | None,
        typer.Option("--margin", help="Stop when the families left are equivalent: P(A beats B) within 0.5 +- margin."),
    ] = None,
    trials_per_round: Annotated[
        int | None, typer.Option("--trials-per-round", help="New trials per family still racing, after round 1 (2).")
    ] = None,
    first_round: Annotated[
        int | None,
        typer.Option("--first-round", help="Trials per family in round 1 (default: the fewest that can decide)."),
    ] = None,
    max_concurrent: Annotated[
        int | None, typer.Option("--max-concurrent", help="At most this many trials at a time.")
    ] = None,
    cpus_per_trial: Annotated[float | None, typer.Option("--cpus-per-trial", help="CPUs per trial.")] = None,
    gpus_per_trial: Annotated[float | None, typer.Option("--gpus-per-trial", help="GPUs per trial.")] = None,
    address: Annotated[
        str | None, typer.Option("--address", help="Ray cluster: auto, HOST:PORT or ray://HOST:10001.")
    ] = None,
    storage: Annotated[
        str, typer.Option("--storage", help="Where study directories go (a path or a URI).")
    ] = DEFAULT_STORAGE,
    name: Annotated[str | None, typer.Option("--name", help="Study directory name (default: SWEEP-DATE-TIME).")] = None,
    wandb_project: Annotated[str, typer.Option("--wandb-project", help="W&B project.")] = DEFAULT_WANDB_PROJECT,
    wandb_entity: Annotated[str | None, typer.Option("--wandb-entity", help="W&B entity.")] = None,
    wandb_mode: Annotated[str, typer.Option("--wandb-mode", help="auto, online, offline or disabled.")] = "auto",
    resume: Annotated[
        bool,
        typer.Option(
            "--resume",
            help="Continue an interrupted study (same --storage / --name); with a larger "
            "--max-trials / --max-hours, race on past the old budget.",
        ),
    ] = False,
    overrides: Annotated[list[str] | None, typer.Option("--set", help="Pin a config key for every trial.")] = None,
) -> None:
    """Race the families in rounds of fresh trials until one is left, the rest are equivalent, or the budget
    runs out; each exit holds at --confidence, adjusted for looking after every round."""
    from ..study import document
    from ..study.race import Race, now

    mode, mode_reason = resolve_wandb_mode(wandb_mode)
    root = _storage_root(storage)
    if name is not None:
        _check_name(name)
    settings_flags: dict[str, Any] = dict(
        axis=axis, confidence=confidence, margin=margin, trials_per_round=trials_per_round, first_round=first_round
    )
    flags = StudyFlags(
        dataset=dataset,
        families=_families(families),
        budget=budget,
        max_concurrent=max_concurrent,
        cpus_per_trial=cpus_per_trial,
        gpus_per_trial=gpus_per_trial,
        sets=overrides or [],
    )
    on_cluster = bool(address or os.environ.get("RAY_ADDRESS"))
    if resume:
        given = {**settings_flags, **vars(flags)}
        changed = [("--set" if k == "sets" else f"--{k.replace('_', '-')}") for k, v in given.items() if v]
        if changed:
            raise GVError(f"{changed[0]} can't change a study on --resume: drop it, or start a new study with --name")
        study_dir = _resumable(sweep, root, name)
        doc = document.read(study_dir)
        if doc is None:
            raise GVError(f"nothing to resume in '{study_dir}': its {STUDY_JSON} is gone")
        race, spec = document.race_of(doc, study_dir), document.spec_of(doc, study_dir)
        race.settings = with_flags(race.settings, max_trials=max_trials, max_hours=max_hours)
        if max_trials is not None or max_hours is not None:
            race.reopen()
        run_name, created, elapsed = str(doc["name"]), str(doc["created"]), float(doc.get("elapsed_s") or 0.0)
        if race.stop is not None and race.running is None:
            console.print(race.verdict()["sentence"], soft_wrap=True)
            more = " (a larger --max-trials / --max-hours races on)" if race.stop["reason"] == "budget" else ""
            console.print(f"study {run_name} has finished: nothing to resume{more}", soft_wrap=True)
            return
    else:
        spec, settings = load_study(sweep, flags, max_trials=max_trials, max_hours=max_hours, **settings_flags)
        _absolute_data_dir(spec)
        race = Race(spec.families, settings, spec.mode)
        check_budget(settings, len(spec.families), race.first_round)
        run_name = name or f"{spec.name}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
        study_dir = store.join(root, run_name)
        if store.exists(study_dir, ""):
            raise GVError(
                f"study dir '{study_dir}' already exists: continue it with --resume --name {run_name}, "
                "or pick another --name"
            )
        if not on_cluster:
            _check_local_resources(spec)
        created, elapsed = now(), 0.0

    from ..tune import StudyRequest, check_address, run_study
    from .study_tables import live_race, race_table

    if on_cluster:
        check_address(address or os.environ["RAY_ADDRESS"])
    settings_w = trial_wandb(mode, wandb_project, wandb_entity, run_name, on_cluster)
    where = address or os.environ.get("RAY_ADDRESS") or "local Ray on this machine"
    console.print(("resuming " if resume else "") + _plan_line(race, spec, run_name, where), soft_wrap=True)
    console.print(f"W&B {mode} ({mode_reason}); study dir {study_dir}", soft_wrap=True)
    before_start = dataset_ready(spec, resume, on_cluster, console)

    interactive = console.is_terminal and not (address or "").startswith("ray://")
    request = StudyRequest(
        spec=spec,
        race=race,
        storage=root,
        name=run_name,
        created=created,
        elapsed_s=elapsed,
        address=address,
        wandb=settings_w,
        console=console,
        interactive=interactive,
        render=live_race(run_name, spec.metric),
        announce=lambda line: console.print(line, soft_wrap=True, markup=False, highlight=False),
        before_start=before_start,
    )
    hint = _resume_command(sweep, run_name, storage)
    try:
        outcome = run_study(request)
    except KeyboardInterrupt:
        err_console.print(f"interrupted twice: study.json kept; continue with `{hint}`", soft_wrap=True)
        raise typer.Exit(130) from None

    if outcome.rows:
        print_leaderboard(leaderboard.read(outcome.study_dir))
    table_console().print(race_table(outcome.race, run_name, spec.metric))
    verdict = outcome.race.verdict()
    console.print(f"[bold]{escape(verdict['sentence'])}[/]", soft_wrap=True)
    compute = document.read(outcome.study_dir) or {}
    spent = compute.get("compute", {})
    if spent.get("fixed_design_trials"):
        console.print(
            f"trials spent {spent['trials_spent']} of the {spent['fixed_design_trials']} a fixed design giving every "
            f"family {max(spent['trials'].values())} would cost: {spent['saved_fraction']:.0%} saved"
            + (
                f" ({spent['saved_flops_fraction']:.0%} of the training FLOPs)"
                if "saved_flops_fraction" in spent
                else ""
            ),
            soft_wrap=True,
        )
    hours = outcome.elapsed_s / 3600
    console.print(
        f"study dir {outcome.study_dir} ({STUDY_JSON}, leaderboard.json; "
        f"`gv report {outcome.study_dir}`); {hours * 60:.0f} min" + (f" ({hours:.1f} h)" if hours >= 1 else ""),
        soft_wrap=True,
    )
    wandb_hints(mode, settings_w, _Hints(outcome.study_dir, outcome.wandb_fallbacks))
    if outcome.interrupted:
        err_console.print(f"interrupted: finished trials are kept; continue with `{hint}`", soft_wrap=True)
        raise typer.Exit(130)


class _Hints:
    """What wandb_hints reads of a sweep outcome, for a study (its runs sit under each round)."""

    def __init__(self, study_dir: str, fallbacks: list[str]) -> None:
        self.sweep_dir = store.join(study_dir, "round-*")
        self.wandb_fallbacks = fallbacks
