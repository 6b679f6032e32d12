"""The race as tables: live while a round runs (above the round's trial table) and at the end."""

from __future__ import annotations

import math
from typing import Any

from rich.console import Group
from rich.markup import escape
from rich.table import Table

from ..study.race import Race, RoundRecord
from ..sweep.leaderboard import LeaderboardRow
from .sweep_tables import live_table


def _number(value: Any) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return f"{value:.4g}"
    return "failed" if value is None else "-"


def race_table(race: Race, name: str, metric: str, current: RoundRecord | None = None, rows=None) -> Table:
    """Families in or out, trials per family, the round; ``rows``: the running round's live trials."""
    settings = race.settings
    budget = f"{race.spent()}/{settings.max_trials} trials" if settings.max_trials else f"{race.spent()} trials"
    if settings.max_hours:
        budget += f", at most {settings.max_hours:g} h"
    looked = len(race.done)
    if current is not None and current.status == "running":
        where = (
            f"round {current.round} running (at its look a pair's rank test must reach p <= "
            f"{race.rule.level(current.round):.1e})"
        )
    elif race.stop is not None:
        where = f"stopped after round {looked}: {race.stop['reason']}"
    else:
        where = f"{looked} rounds looked at"
    title = f"study {name}: {where}; {len(race.survivors)} of {len(race.families)} families in; {budget}"
    table = Table(title=escape(title), title_justify="left")
    for column in ("family", "race", "trials", f"median {metric}", "left because"):
        table.add_column(escape(column), overflow="fold")
    gone = {entry["family"]: (r.round, entry) for r in race.done for entry in r.out}
    medians: dict[str, float | None] = {}  # each family's at the last look it was in
    for record in race.done:
        medians.update(record.medians)
    finished: dict[str, int] = {}
    for row in rows or []:
        if row.status not in ("running", "pending", "retrying"):
            finished[row.family or "?"] = finished.get(row.family or "?", 0) + 1
    order = race.survivors + [f for f in race.families if f in gone]
    winner = race.stop is not None and race.stop["reason"] == "winner"
    for family in order:
        if family in gone:
            status, reason = f"[red]out in round {gone[family][0]}[/]", gone[family][1]["reason"]
        else:
            status, reason = ("[bold green]winner[/]" if winner else "[green]in[/]"), ""
        trials = str(race.trials[family])
        if current is not None and current.status == "running" and family in current.families:
            trials += f" + {finished.get(family, 0)}/{current.count}"
        median = _number(medians[family]) if family in medians else "-"
        table.add_row(family, status, trials, median, escape(reason))
    return table


def live_race(name: str, metric: str):
    """The render function of a study's rounds: the race above the running round's trial table."""

    def render(race: Race, current: RoundRecord, rows: list[LeaderboardRow]) -> Any:
        return Group(race_table(race, name, metric, current, rows), live_table(rows, f"{name}/{current.directory}"))

    return render
