"""The live view: a Tune callback that follows every trial while a sweep runs.

It feeds the live table in the terminal, plain progress lines where there is no terminal, and the
live leaderboard file in the sweep directory (what `gv results` reads from a running sweep). The
driver keeps the instance it made, so at the end it also knows when the first trial started and
which trials fell back to offline W&B.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ray import tune
from rich.console import Console

from ..rundir import last_logged
from ..sweep import leaderboard, storage, trial_dirname
from .results import error_text, restores

# How often the live leaderboard in the sweep directory is rewritten while trials run (seconds).
LIVE_WRITE_EVERY_S = 10.0


class LiveView(tune.Callback):
    """Tracks every trial's reports for the live table and the live leaderboard file.

    Everything it works with comes in through the constructor: the sweep (name, directory, metric,
    mode) and this invocation's display (``render`` builds the table from rows, ``console``,
    ``interactive``). Tune pickles callbacks with the experiment (into tuner.pkl when the Tuner is
    made, and to the cluster under Ray Client): only the sweep is pickled -- a console and a rich
    Live belong to one terminal -- and an unpickled copy prints plain lines, which is right on a
    Ray Client cluster, where the log stream carries them to the user. On ``--resume`` the driver
    runs a new instance in place of the copy restored from tuner.pkl (see ``driver``).

    Pickled by reference into every sweep's tuner.pkl: moving or renaming this class breaks
    ``--resume`` of sweeps saved before.
    """

    def __init__(
        self,
        sweep_name: str,
        sweep_dir: str,
        metric: str,
        mode: str,
        render: Callable[..., Any] | None = None,
        console: Console | None = None,
        interactive: bool = False,
    ) -> None:
        self.sweep_name, self.sweep_dir, self.metric, self.mode = sweep_name, sweep_dir, metric, mode
        self.render, self.console, self.interactive = render, console or Console(), interactive
        self._reset()

    def _reset(self) -> None:
        self.local_storage = not storage.is_uri(self.sweep_dir)
        self.histories: dict[str, list[dict[str, Any]]] = {}
        self.checkpoints: dict[str, dict[int, str]] = {}
        self.statuses: dict[str, str] = {}
        self.configs: dict[str, dict[str, Any]] = {}
        self.errors: dict[str, str] = {}
        self.first_start: float | None = None
        self._live: Any = None  # a rich Live while this invocation paints the table
        self._last_write = 0.0
        self._last_paint = 0.0

    def __getstate__(self) -> dict[str, Any]:
        # The sweep only: no display, no trial state -- those belong to one invocation.
        return {"sweep_name": self.sweep_name, "sweep_dir": self.sweep_dir, "metric": self.metric, "mode": self.mode}

    def __setstate__(self, state: dict[str, Any]) -> None:
        LiveView.__init__(self, **state)

    # -- Tune callback hooks
    def setup(self, **info: Any) -> None:  # type: ignore[override]  # Tune passes its keywords; none are used
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
            self.statuses[trial_id] = {
                "TERMINATED": leaderboard.trial_status(False, last),
                "ERROR": "error",
                "RUNNING": "running",
            }.get(trial.status, "pending")
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
        self.errors[trial_id] = error_text(getattr(trial, "error_file", None))
        self._announce(trial_id)

    def on_trial_recover(self, iteration, trials, trial, **info) -> None:
        trial_id = self._track(trial)
        self.statuses[trial_id] = "retrying"
        if not self.interactive:
            self.console.print(
                f"{trial_dirname(self.configs[trial_id].get('family', '?'), trial_id)} "
                "crashed; retrying from its last checkpoint"
            )

    def on_step_end(self, iteration, trials, **info) -> None:
        for t in trials:
            self._track(t)
        now = time.monotonic()
        paint = self._live is not None and self.render is not None and now - self._last_paint > 0.5
        write = now - self._last_write > LIVE_WRITE_EVERY_S
        rows = self.rows() if paint or write else []  # built once for both
        if paint and self.render is not None:
            self._last_paint = now
            self._live.update(self.render(rows, self.sweep_name, live=True))
        if write:
            self._last_write = now
            self.write_live(rows)

    def on_experiment_end(self, trials, **info) -> None:
        if self._live is not None and self.render is not None:
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
        self.console.print(
            f"{trial_dirname(self.configs[trial_id].get('family', '?'), trial_id)}: "
            f"{self.statuses[trial_id]} at step {last.get('step', 0)} ({self.metric} {shown})"
        )

    def rows(self) -> list[leaderboard.LeaderboardRow]:
        rows = []
        for trial_id, config in self.configs.items():
            history = self.histories.get(trial_id, [])
            row = leaderboard.make_row(
                trial_id=trial_id,
                config=config,
                status=self.statuses.get(trial_id, "pending"),
                metric=self.metric,
                mode=self.mode,
                history=history,
                error=self.errors.get(trial_id),
                restores=restores(history),
            )
            if row.best_step is not None:
                row.best_checkpoint = self.checkpoints.get(trial_id, {}).get(row.best_step)
            row.latest = history[-1] if history else {}
            if row.status == "running" and self.local_storage:
                self._between_reports(row)
            rows.append(row)
        return leaderboard.rank(rows)

    def _between_reports(self, row: leaderboard.LeaderboardRow) -> None:
        """Trials report at evals only (minutes apart for DCGAN on a CPU); between reports the live
        table reads step, losses and images/s from the run's metrics.jsonl, written every
        train.log_every steps -- possible where the sweep dir is a local or shared filesystem."""
        logged = last_logged(Path(self.sweep_dir) / trial_dirname(row.family or "?", row.trial_id) / "run")
        if logged.get("step", 0) > row.step:
            row.step = logged["step"]
            row.latest = {**row.latest, **logged}

    def write_live(self, rows: list[leaderboard.LeaderboardRow]) -> None:
        try:
            leaderboard.write(self.sweep_dir, rows, sweep=self.sweep_name, final=False)
        except OSError:
            # A live snapshot is a convenience (a full or flaky shared disk must not stop the
            # sweep); the final leaderboard is written by the driver at the end.
            return
