"""Reading what Tune recorded back into gv's terms: leaderboard rows, error lines, restore counts.

Apart from the driver because both the live view (while trials run) and the driver (from the
final ResultGrid and the saved experiment state) describe trials the same way: one place decides
what an error line, a restore or a checkpoint location is.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from ray import tune

from ..sweep import SweepSpec, leaderboard, storage
from ..sweep.leaderboard import RESTORED_KEY, STATUS_KEY


def error_text(error_file: str | None) -> str:
    """The last line of a trial's error file: usually 'SomeError: message'."""
    if not error_file:
        return "trial failed (no error file)"
    try:
        lines = [ln.strip() for ln in Path(error_file).read_text().splitlines() if ln.strip()]
    except OSError:
        return f"trial failed (see {error_file})"
    return (lines[-1] if lines else "trial failed")[:300]


def restores(history: list[dict[str, Any]]) -> int:
    """How many times a trial continued from a checkpoint (crash retries, resumes, PBT exploits)."""
    return len({h.get(RESTORED_KEY) for h in history if h.get(RESTORED_KEY)})


def checkpoint_location(storage_root: str, path: str) -> str:
    """Tune gives checkpoint paths without the URI scheme; put it back for cloud storage."""
    if storage.is_uri(storage_root) and "://" not in path:
        return f"{urlparse(storage_root).scheme}://{path}"
    return path


def rows_from_results(results, spec: SweepSpec, storage_root: str) -> list[leaderboard.LeaderboardRow]:
    """Final leaderboard rows from Tune's ResultGrid (works for resumed and remote sweeps too)."""
    rows = []
    for result in results:
        config = dict(result.config.get("trial", {})) if result.config else {}
        frame = result.metrics_dataframe
        history = []
        if frame is not None:
            for record in frame.to_dict("records"):
                history.append(
                    {
                        k: v
                        for k, v in record.items()
                        if not (isinstance(v, float) and math.isnan(v)) or k == spec.metric
                    }
                )
        last = result.metrics or {}
        if last and (
            not history
            or history[-1].get("step") != last.get("step")
            or history[-1].get(STATUS_KEY) != last.get(STATUS_KEY)
        ):
            history.append(dict(last))
        errored = result.error is not None
        best_checkpoint = None
        if result.best_checkpoints:
            try:
                best = result.get_best_checkpoint(spec.metric, spec.mode)
            except (RuntimeError, ValueError, KeyError):
                best = None
            best_checkpoint = checkpoint_location(storage_root, best.path) if best is not None else None
        trial_id = last.get("trial_id") or Path(result.path).name.split("_", 1)[-1]
        error = None
        if errored:
            error = (
                str(result.error).strip().splitlines()[-1][:300]
                if str(result.error).strip()
                else type(result.error).__name__
            )
        rows.append(
            leaderboard.make_row(
                trial_id=trial_id,
                config=config,
                status=leaderboard.trial_status(errored, last),
                metric=spec.metric,
                mode=spec.mode,
                history=history,
                best_checkpoint=best_checkpoint,
                error=error,
                restores=restores(history),
            )
        )
    return leaderboard.rank(rows)


def unfinished_trials(sweep_dir: str, rows: list[leaderboard.LeaderboardRow]) -> int:
    """Trials the saved experiment state holds as neither finished nor errored: an interrupted sweep.

    Read back from the state Tune saved (in-memory trials are all stopped by the time fit()
    returns). If it can't be read (a Ray Client run whose storage is only on the cluster), rows
    stopped without a final status stand in.
    """
    try:
        trials = tune.ExperimentAnalysis(sweep_dir).trials
    except Exception:
        return sum(1 for r in rows if r.status == "stopped")
    return sum(1 for t in trials if t.status not in ("TERMINATED", "ERROR"))
