"""How `gv compare` shows a comparison document: rich tables for the terminal, a PNG of the
expected-best-of-k curves for `--out` (and for the report, later)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .pool import BEST_REPORT, FINAL

FAILED_TEXT = "failed"


def _number(value: float | None) -> str:
    return FAILED_TEXT if value is None else f"{value:.4g}"


def _with_interval(value: float | None, interval: list[float | None] | None) -> str:
    if interval is None:
        return f"{_number(value)} (no CI: 1 trial)"
    return f"{_number(value)} [{_number(interval[0])}, {_number(interval[1])}]"


def values_description(doc: dict[str, Any]) -> str:
    counts = doc["value_counts"]
    if doc["values"] == FINAL:
        return "the final evaluation of each trial's best checkpoint"
    if doc["values"] == BEST_REPORT:
        return "each trial's best report"
    return f"the final evaluation ({counts[FINAL]} trials) or, without one, the best report ({counts[BEST_REPORT]})"


def common_budget(doc: dict[str, Any]) -> int | None:
    """The k every family reaches (its smallest n), when it says more than k = 1 and k = n."""
    sizes = [f["n"] for f in doc["families"]]
    k = min(sizes)
    return k if 1 < k < max(sizes) else None


def _expected_best(family: dict[str, Any], k: int) -> str:
    """E[best of k]; when failed, with the chance that all k random trials fail (what makes it so)."""
    value = family["expected_best"][k - 1]
    if value is not None:
        return _number(value)
    chance = math.comb(family["failed"], k) / math.comb(family["n"], k)
    return f"{FAILED_TEXT} ({chance:.0%} chance all fail)"


def summary_table(doc: dict[str, Any]) -> Table:
    better = "lower" if doc["direction"] == "min" else "higher"
    trials = sum(f["n"] for f in doc["families"])
    sweeps = len(doc["sweeps"])
    on = f" on {doc['dataset']}" if doc["dataset"] else ""
    title = (
        f"gv compare: {doc['metric']} ({better} is better){on}, {trials} trials from {sweeps} "
        f"sweep{'s' if sweeps > 1 else ''}; values: {values_description(doc)}"
    )
    table = Table(title=escape(title), title_justify="left")
    k = common_budget(doc)
    columns = [
        " ".join(["family", *doc.get("by", [])]),
        "n",
        "failed",
        f"median [{doc['statistics']['confidence']:.0%} CI]",
        "IQM",
        "E[best of 1]",
        *([f"E[best of {k}] [band]"] if k else []),
        "best (k = n)",
    ]
    for column in columns:
        table.add_column(escape(column), overflow="fold")
    for family in doc["families"]:
        at_k = []
        if k:
            band = (
                None
                if family["expected_best_lower"] is None
                else [family["expected_best_lower"][k - 1], family["expected_best_upper"][k - 1]]
            )
            at_k = [
                f"{_expected_best(family, k)} [{_number(band[0])}, {_number(band[1])}]"
                if band
                else _expected_best(family, k)
            ]
        failed = family["failed"]
        table.add_row(
            family["family"],
            str(family["n"]),
            f"[red]{failed}[/]" if failed else "0",
            escape(_with_interval(family["median"], family["ci"])),
            _number(family["iqm"]),
            _expected_best(family, 1),
            *map(escape, at_k),
            _expected_best(family, family["n"]),
        )
    return table


def pairs_table(doc: dict[str, Any]) -> Table:
    order = [f["family"] for f in doc["families"]]
    cells: dict[tuple[str, str], str] = {}
    for pair in doc["pairs"]:
        p, ci = pair["p"], pair["ci"]
        for a, b, value, interval in (
            (pair["a"], pair["b"], p, ci),
            (pair["b"], pair["a"], 1 - p, None if ci is None else [1 - ci[1], 1 - ci[0]]),
        ):
            text = f"{value:.2f}" + ("" if interval is None else f" [{interval[0]:.2f}, {interval[1]:.2f}]")
            style = "" if interval is None else "green" if interval[0] > 0.5 else "red" if interval[1] < 0.5 else ""
            cells[a, b] = f"[{style}]{escape(text)}[/]" if style else escape(text)
    table = Table(
        title="P(a random trial of the row's family beats one of the column's), ties half, "
        f"{doc['statistics']['confidence']:.0%} CI",
        title_justify="left",
    )
    table.add_column("")
    for name in order:
        table.add_column(name, overflow="fold")
    for a in order:
        table.add_row(a, *("-" if a == b else cells[a, b] for b in order))
    return table


def print_comparison(doc: dict[str, Any], console: Console) -> None:
    console.print(summary_table(doc))
    if len(doc["families"]) > 1:
        console.print(pairs_table(doc))
    if doc["winner"]:
        console.print(f"[bold green]winner: {doc['winner']}[/] -- {escape(doc['reason'])}", soft_wrap=True)
    else:
        console.print(f"[bold yellow]no winner[/]: {escape(doc['reason'])}", soft_wrap=True)
    for family, setting in (doc.get("picks") or {}).items():
        console.print(
            f"pick for {escape(family)}: [bold]{escape(setting)}[/] (the best median among its settings "
            "that no other setting of it beats at 95% confidence)",
            soft_wrap=True,
        )
    for note in doc["notes"]:
        console.print(f"[yellow]note: {escape(note)}[/]", soft_wrap=True)


def expected_best_figure(doc: dict[str, Any], path: Path) -> Path:
    """Expected best of k random trials against k, one curve and bootstrap band per family."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    from ..rundir import atomic_path

    def points(values: list[float | None] | None) -> list[float]:
        return [math.nan if v is None else v for v in values or []]

    fig, ax = plt.subplots(figsize=(7.0, 4.5), dpi=110)
    for index, family in enumerate(doc["families"]):
        color = plt.get_cmap("tab10")(index % 10)
        ks = list(range(1, family["n"] + 1))
        ax.plot(
            ks,
            points(family["expected_best"]),
            color=color,
            marker="o" if family["n"] < 20 else None,
            markersize=3,
            label=f"{family['family']} (n = {family['n']}, {family['failed']} failed)",
        )
        if family["expected_best_lower"] is not None:
            ax.fill_between(
                ks,
                points(family["expected_best_lower"]),
                points(family["expected_best_upper"]),
                color=color,
                alpha=0.2,
                linewidth=0,
            )
    better = "lower" if doc["direction"] == "min" else "higher"
    ax.set_xlabel("k: trials of random hyperparameters")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # k counts trials
    ax.set_ylabel(f"expected best {doc['metric']} ({better} is better)")
    ax.set_title(
        f"How hard to tune: expected best of k trials, {doc['statistics']['confidence']:.0%} bootstrap band"
        "\n(gaps: a failed trial decides the value)",
        fontsize=9,
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return path
