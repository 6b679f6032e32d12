"""The sweep tables: the live one while trials run and the leaderboard after (`gv sweep`, `gv results`)."""

from __future__ import annotations

import json
import math
from typing import Any

from rich.table import Table

from ..sweep import leaderboard, trial_dirname
from ..sweep.leaderboard import Leaderboard, LeaderboardRow
from ..sweep.values import BEST_REPORT, FINAL, trial_value, value_source
from .common import console, table_console

_SHORT = {
    "loss/discriminator": "D",
    "loss/generator": "G",
    "loss/total": "loss",
    "loss/reconstruction": "rec",
    "loss/kl": "KL",
}
_STATUS_STYLE = {
    "done": "green",
    "running": "cyan",
    "pending": "dim",
    "retrying": "yellow",
    "stopped": "yellow",
    "diverged": "red",
    "error": "bold red",
}


def _number(value: Any, digits: int = 4) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return f"{value:.{digits}g}"
    return "-"


def _losses(values: dict[str, Any]) -> str:
    return "  ".join(
        f"{short} {values[key]:.3f}" for key, short in _SHORT.items() if isinstance(values.get(key), (int, float))
    )


def _short_value(value: Any) -> str:
    return _number(value, 3) if isinstance(value, float) else str(value)


def live_table(rows: list[LeaderboardRow], sweep_name: str, live: bool = True) -> Table:
    """The table shown while a sweep runs (rows from gvcore.tune.live.LiveView)."""
    metric = rows[0].metric if rows else "metric"
    counts: dict[str, int] = {}
    for row in rows:
        counts[row.status] = counts.get(row.status, 0) + 1
    summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    table = Table(title=f"sweep {sweep_name}: {summary or 'starting'}", title_justify="left")
    for column in ("trial", "family", "status", "step", f"{metric}", "best", "losses", "img/s"):
        table.add_column(column, overflow="fold")
    for row in rows:
        latest = row.latest
        total = row.total_steps or latest.get("total_steps")
        status = row.status
        table.add_row(
            trial_dirname(row.family or "?", row.trial_id),
            row.family or "-",
            f"[{_STATUS_STYLE.get(status, 'white')}]{status}[/]",
            f"{row.step}/{total}" if total else str(row.step or "-"),
            _number(latest.get(metric)),
            _number(row.best_metric),
            _losses(latest),
            _number(latest.get("images_per_s"), 5),
        )
    return table


def leaderboard_table(doc: Leaderboard, keys: list[str] | None = None) -> Table:
    """The final (or live, for `gv results` on a running sweep) leaderboard."""
    rows = doc.rows
    metric, mode = doc.metric or "metric", doc.mode or "min"
    if keys is None:
        varying = {k for r in rows for k in r.config if len({json.dumps(x.config.get(k)) for x in rows}) > 1}
        keys = [k for k in (rows[0].config if rows else {}) if k in varying and k != "family"]
    state = "final" if doc.final else "live, sweep still running or interrupted"
    table = Table(title=f"leaderboard {doc.sweep or ''} ({state}): best {metric} ({mode})", title_justify="left")
    # Each trial's value (gvcore/sweep/values.py: the final evaluation of its best checkpoint where
    # the trials have one) ranks the table; beside it the best value seen in training and the final
    # evaluation's precision / recall, which say *why* a FID is what it is.
    source = value_source(rows, metric)
    values = [trial_value(row, metric, source)[0] for row in rows]
    final_keys = [k for k in ("precision", "recall") if any(k in (r.final or {}) for r in rows)]
    # Compute used, where rows record it (a FLOP budget's equal-compute comparison).
    flops = any(getattr(r, "flops", None) for r in rows)
    for column in (
        "#",
        "trial",
        "family",
        "status",
        f"{metric} ({'final evaluation' if source == FINAL else 'best in training' if source == BEST_REPORT else 'mixed'})",
        "best in training",
        "at step",
        "steps",
        "wall s",
        "img/s",
        *(["FLOPs"] if flops else []),
        *(f"final {k}" for k in final_keys),
        *keys,
        "restores",
    ):
        table.add_column(column, overflow="fold")
    for row, value in zip(rows, values):
        status = row.status
        total = row.total_steps
        table.add_row(
            str(row.rank),
            trial_dirname(row.family or "?", row.trial_id),
            row.family or "-",
            f"[{_STATUS_STYLE.get(status, 'white')}]{status}[/]",
            _number(value),
            _number(row.best_metric),
            str(row.best_step if row.best_step is not None else "-"),
            f"{row.step}/{total}" if total else str(row.step),
            _number(row.wall_time_s, 4),
            _number(row.images_per_s, 5),
            *([_number(row.flops, 3)] if flops else []),
            *(_number((row.final or {}).get(k)) for k in final_keys),
            *(_short_value(row.config.get(k, "-")) for k in keys),
            str(row.restores),
        )
    return table


def print_leaderboard(doc: Leaderboard, keys: list[str] | None = None) -> None:
    table_console().print(leaderboard_table(doc, keys))
    note = leaderboard.objective_note(doc.metric or "", doc.rows)
    if note:
        console.print(f"[yellow]{note}[/]")
    for row in doc.rows:
        if row.failed and row.error:
            console.print(f"  {row.trial_id} ({row.family}) {row.status}: {row.error}")
    best = next((r for r in doc.rows if r.best_checkpoint), None)
    if best:
        console.print(f"best checkpoint: {best.best_checkpoint}", soft_wrap=True)
