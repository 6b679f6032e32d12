"""What the trials of a running sweep report, told to a test through a pipe: no polling of files.

Ray Tune builds the callbacks named in ``RAY_TUNE_CALLBACKS`` (Ray >= 2.48) in whichever process
runs the Tuner: this one (`gv sweep` through typer's runner) or a `gv sweep` child process. The
callback writes one JSON line per trial event to the file descriptor in ``GV_TEST_TRIAL_EVENTS_FD``;
the test blocks on reading the other end. When the writer is gone (the sweep thread ended, the
child exited) the read ends: a sweep that never reports fails the wait instead of hanging it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from ray import tune
from ray.tune import constants as tune_constants

CALLBACKS_VAR = getattr(tune_constants, "RAY_TUNE_CALLBACKS_ENV_VAR", None)  # "RAY_TUNE_CALLBACKS"
FD_VAR = "GV_TEST_TRIAL_EVENTS_FD"
TESTS = Path(__file__).resolve().parent


class TrialEvents(tune.Callback):
    """Sends each trial's start, results, saved checkpoints, crash recoveries and completion down
    the pipe, with the step and gv's own values ("gv/pid", "gv/status", ...) of its latest result."""

    def _send(self, event: str, trial, result: dict[str, Any] | None = None) -> None:
        fd = os.environ.get(FD_VAR)
        if fd is None:  # a Tuner restored later, in a process without the pipe
            return
        result = trial.last_result if result is None else result
        line = {"event": event, "trial_id": trial.trial_id}
        line.update({k: v for k, v in (result or {}).items() if k == "step" or k.startswith("gv/")})
        try:
            os.write(int(fd), (json.dumps(line) + "\n").encode())
        except BrokenPipeError:
            pass  # the test stopped listening

    def on_trial_start(self, iteration, trials, trial, **info) -> None:
        self._send("start", trial)

    def on_trial_result(self, iteration, trials, trial, result, **info) -> None:
        self._send("result", trial, result)

    def on_trial_save(self, iteration, trials, trial, **info) -> None:
        # After the driver registered the checkpoint of the latest result: a trial that crashes
        # from here on restarts from it. (on_trial_result comes before the save: too early.)
        self._send("saved", trial)

    def on_trial_recover(self, iteration, trials, trial, **info) -> None:
        self._send("recover", trial)

    def on_trial_complete(self, iteration, trials, trial, **info) -> None:
        self._send("complete", trial)


class TrialEventPipe:
    """The test's end: ``env`` goes to the process that runs the sweep, ``wait_for`` reads."""

    def __init__(self) -> None:
        if CALLBACKS_VAR is None:
            pytest.skip("needs Ray >= 2.48 (RAY_TUNE_CALLBACKS) to hear from the trials")
        read_fd, self.write_fd = os.pipe()
        self.reader = os.fdopen(read_fd, "r")
        self.events: list[dict[str, Any]] = []

    def env(self) -> dict[str, str]:
        path = os.pathsep.join(p for p in (str(TESTS), os.environ.get("PYTHONPATH", "")) if p)
        return {CALLBACKS_VAR: f"{__name__}.TrialEvents", FD_VAR: str(self.write_fd), "PYTHONPATH": path}

    def close_writer(self) -> None:
        """This process's copy of the write end: close it once the sweep's process holds its own
        (a child) or the sweep is over (a thread), so that the reads end with it."""
        if self.write_fd is not None:
            os.close(self.write_fd)
            self.write_fd = None

    def wait_for(self, found: Callable[[list[dict[str, Any]]], Any], what: str) -> Any:
        """Read events until ``found(events so far)`` is truthy; return it."""
        for line in self.reader:  # blocks until the sweep writes a line or its writer closes
            self.events.append(json.loads(line))
            value = found(self.events)
            if value:
                return value
        raise AssertionError(f"the sweep ended before {what}; it reported: {self.events}")

    def close(self) -> None:
        self.close_writer()
        self.reader.close()
