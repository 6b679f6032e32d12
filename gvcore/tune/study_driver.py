"""Running a study's rounds on Ray Tune: each round is a sweep (``driver.run_sweep``) in
STUDY_DIR/round-NN, all on one Ray connection (local, ``--address`` or the cluster a `ray job submit`
job runs on).

After each round the round's leaderboard is written (final), every round's rows are merged into
STUDY_DIR/leaderboard.json -- what `gv results`, `gv compare` and `gv report` read, as for any sweep
-- and the race (gvcore/study/race.py) decides who leaves; study.json is rewritten at every step, so
a study interrupted anywhere resumes from there: a finished round is never rerun, an interrupted one
continues its unfinished trials from their checkpoints (Tune's restore, as `gv sweep --resume`).
"""

from __future__ import annotations

import dataclasses
import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import ray

from ..errors import GVError
from ..study import document
from ..study.plan import round_trials
from ..study.race import Race, RoundRecord, scores_from_rows
from ..sweep import SweepSpec, leaderboard, storage
from ..sweep.leaderboard import LeaderboardRow
from .cluster import check_resources, connect
from .driver import SweepRequest, run_sweep
from .live import LIVE_WRITE_EVERY_S
from .wandb_logger import WandbSettings

EXPERIMENT_STATE = "tuner.pkl"
ROUND_INFO = "sweep.json"


@dataclass
class StudyRequest:
    spec: SweepSpec  # ranked by the study's metric; every round's trials are drawn from it
    race: Race  # new, or as study.json left it
    storage: str  # absolute local path or a URI: the study directory's parent
    name: str
    created: str
    elapsed_s: float  # run time of earlier invocations (--resume)
    address: str | None
    wandb: WandbSettings
    console: Any
    interactive: bool
    # The live display of a round: (race, the round, its trials' live rows) -> a rich renderable.
    render: Callable[[Race, RoundRecord, list[LeaderboardRow]], Any]
    # One line for the log: a round planned, who left, why the study stopped.
    announce: Callable[[str], None]
    # Runs once Ray is connected and the resources checked, before any trial.
    before_start: Callable[[], None] = lambda: None

    @property
    def study_dir(self) -> str:
        return storage.join(self.storage, self.name)


@dataclass
class StudyOutcome:
    race: Race
    rows: list[LeaderboardRow]
    interrupted: bool
    study_dir: str
    elapsed_s: float
    wandb_fallbacks: list[str] = field(default_factory=list)


def _finished_rows(round_dir: str, expected: int) -> list[LeaderboardRow] | None:
    """A round's rows when its leaderboard is final and holds every trial; None when it must (re)run."""
    if storage.read_text(round_dir, leaderboard.LEADERBOARD_JSON) is None:
        return None
    doc = leaderboard.read(round_dir)
    return doc.rows if doc.final and len(doc.rows) == expected else None


def _round_spec(spec: SweepSpec, study: str, record: RoundRecord) -> SweepSpec:
    return dataclasses.replace(spec, name=f"{study}-{record.directory}")


class _Study:
    """One invocation of a study: the rows so far, study.json and the merged leaderboard."""

    def __init__(self, request: StudyRequest) -> None:
        self.request = request
        self.race = request.race
        self.started = time.monotonic()
        self.rows: list[LeaderboardRow] = []
        self.fallbacks: list[str] = []

    def elapsed(self) -> float:
        return self.request.elapsed_s + time.monotonic() - self.started

    def save(self, status: str) -> None:
        flops: dict[str, list[float]] = {}
        for row in self.rows:
            flops.setdefault(row.family or "?", []).append(row.flops or 0.0)
        request = self.request
        doc = document.document(
            self.race,
            name=request.name,
            spec=request.spec,
            status=status,
            created=request.created,
            elapsed_s=self.elapsed(),
            compute=self.race.compute(flops),
        )
        document.write(request.study_dir, doc)

    def write_leaderboard(self, final: bool, unfinished: list[LeaderboardRow] | None = None) -> None:
        """Every looked-at round's rows (and ``unfinished``: an interrupted round's) in the study's leaderboard."""
        rows = self.rows + list(unfinished or [])
        if rows:
            leaderboard.write(
                self.request.study_dir,
                rows,
                sweep=self.request.name,
                final=final,
                extra={"study": True, "rounds": len(self.race.done), "wall_time_s": round(self.elapsed(), 1)},
            )

    def run_round(self, record: RoundRecord) -> tuple[list[LeaderboardRow], bool, float]:
        """The round's rows, whether it was interrupted, and its run time here."""
        request = self.request
        round_dir = storage.join(request.study_dir, record.directory)
        done = _finished_rows(round_dir, record.new_trials)
        if done is not None:
            return done, False, 0.0
        resume = storage.exists(round_dir, EXPERIMENT_STATE)
        spec = _round_spec(request.spec, request.name, record)
        info = {"spec": spec.to_dict(), "name": record.directory, "trials": record.new_trials, "study": request.name}

        def before_start() -> None:
            if not resume:
                storage.write_text(round_dir, ROUND_INFO, json.dumps(info, indent=2) + "\n")

        def render(rows: list[LeaderboardRow], name: str, live: bool = True) -> Any:
            return request.render(self.race, record, rows)

        mirror = _LiveMirror(self, round_dir)
        try:
            outcome = run_sweep(
                SweepRequest(
                    spec=spec,
                    trials=[] if resume else round_trials(spec, record.families, record.first, record.count),
                    storage=request.study_dir,
                    name=record.directory,
                    resume=resume,
                    address=request.address,
                    wandb=request.wandb,
                    render=render,
                    console=request.console,
                    interactive=request.interactive,
                    before_start=before_start,
                )
            )
        finally:
            mirror.stop()
        self.fallbacks += outcome.wandb_fallbacks
        leaderboard.write(
            round_dir,
            outcome.rows,
            sweep=f"{request.name}/{record.directory}",
            final=not outcome.interrupted,
            extra={"interrupted": outcome.interrupted, "wall_time_s": round(outcome.elapsed_s, 1)},
        )
        return outcome.rows, outcome.interrupted, outcome.elapsed_s

    def previous_rows(self) -> None:
        """The rows of the rounds looked at before this invocation (their final leaderboards)."""
        for record in self.race.done:
            round_dir = storage.join(self.request.study_dir, record.directory)
            rows = _finished_rows(round_dir, record.new_trials)
            if rows is None:
                raise GVError(
                    f"'{round_dir}' has no final leaderboard with its {record.new_trials} trials, yet study.json "
                    "records the round as done: the study directory is damaged; start a new study"
                )
            self.rows += rows

    def run(self) -> bool:
        """Race until a stop; True when interrupted."""
        race, request = self.race, self.request
        self.previous_rows()
        while (record := race.next_round(self.elapsed())) is not None:
            self.save("running")
            request.announce(
                f"round {record.round}: {', '.join(record.families)} race on, {record.count} new trials each "
                f"(trials {record.first}-{record.first + record.count - 1}); "
                f"{race.spent()} trials planned so far"
            )
            rows, interrupted, wall = self.run_round(record)
            if interrupted:
                self.write_leaderboard(final=False, unfinished=rows)  # study.json counts looked-at rounds only
                self.save("interrupted")
                return True
            self.rows += rows
            scores = scores_from_rows(self.rows, record.families, request.spec.metric, race.direction)
            race.record(scores, wall_time_s=wall)
            for entry in record.out:
                request.announce(f"round {record.round}: {entry['family']} leaves the race, {entry['reason']}")
            self.write_leaderboard(final=race.stop is not None)
            self.save("running")
        self.write_leaderboard(final=True)
        self.save("finished")
        return False


class _LiveMirror:
    """While a round runs, the study's leaderboard.json holds the rounds before it and the round's live
    rows (what its live view writes into the round's directory), so `gv results STUDY_DIR` follows
    the whole study. A thread that copies every LIVE_WRITE_EVERY_S; a failed copy waits for the next."""

    def __init__(self, study: _Study, round_dir: str) -> None:
        self.study, self.round_dir = study, round_dir
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stopped.wait(LIVE_WRITE_EVERY_S):
            try:
                if storage.read_text(self.round_dir, leaderboard.LEADERBOARD_JSON) is None:
                    continue
                live = leaderboard.read(self.round_dir).rows
                rows = self.study.rows + live
                leaderboard.write(
                    self.study.request.study_dir,
                    rows,
                    sweep=self.study.request.name,
                    final=False,
                    extra={"study": True, "rounds": len(self.study.race.done), "round_running": True},
                )
            except (OSError, GVError):
                continue  # a convenience: the leaderboard is written for good after the round

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join()


def run_study(request: StudyRequest) -> StudyOutcome:
    """Run (or resume) a study to its stop, or until interrupted (Ctrl-C: the running round is
    stopped as `gv sweep` stops, and study.json says where to continue)."""
    owned = connect(request.address)
    embedded = owned and request.address is None and not os.environ.get("RAY_ADDRESS")
    study = _Study(request)
    try:
        check_resources(request.spec, embedded)
        request.before_start()
        interrupted = study.run()
    except KeyboardInterrupt:
        study.save("interrupted")
        raise
    finally:
        if owned:
            ray.shutdown()
    return StudyOutcome(
        race=study.race,
        rows=study.rows,
        interrupted=interrupted,
        study_dir=request.study_dir,
        elapsed_s=study.elapsed(),
        wandb_fallbacks=study.fallbacks,
    )
