"""`gv compare`: the families of one or more sweeps compared as distributions over all their trials.

Reads leaderboard.json files only. numpy / scipy / matplotlib are imported inside the command, so
`gv` itself starts as fast as before.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ..errors import GVError
from ..evaluation.axes import AXES
from ..rundir import check_creatable
from .common import console, table_console

app = typer.Typer()

COMPARE_JSON = "compare.json"
EXPECTED_BEST_PNG = "expected_best.png"


def _check_out(out: str) -> Path:
    """--out must be a local directory gv can create or write into (checked before any work)."""
    if "://" in out:
        raise GVError(f"bad --out '{out}': pass a local directory; copy it to storage afterwards")
    return check_creatable(out, "--out").resolve()


@app.command("compare")
def compare_cmd(
    sweep_dirs: Annotated[
        list[str],
        typer.Argument(
            help="Sweep directories (STORAGE/NAME, as `gv sweep` printed); their trials are pooled by family.",
            show_default=False,
        ),
    ],
    metric: Annotated[
        str | None,
        typer.Option(
            "--metric", help="Compare on this metric (default: the sweeps' own), e.g. eval/fid or eval/precision."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the comparison document as JSON.")] = False,
    by: Annotated[
        str | None,
        typer.Option(
            "--by",
            help="Compare settings instead of families: pool trials by family and these config keys (comma-separated, e.g. optim.lr,model.dropout), seeds together. How the defaults study picks defaults.",
        ),
    ] = None,
    axis: Annotated[
        str | None,
        typer.Option(
            "--axis",
            help=f"Compare on one axis of the verdict instead of a metric: {' / '.join(AXES)} "
            "(each names its metric; see docs/metrics.md).",
        ),
    ] = None,
    allow_mixed_budgets: Annotated[
        bool,
        typer.Option(
            "--allow-mixed-budgets",
            help="Pool trials trained at different budgets (refused otherwise: families compare at equal compute); "
            "the verdict then says so.",
        ),
    ] = False,
    out: Annotated[
        str | None,
        typer.Option(
            "--out",
            help=f"Also write {COMPARE_JSON} and {EXPECTED_BEST_PNG} (expected best of k trials, with bands) into this directory.",
        ),
    ] = None,
) -> None:
    """Which family works best on this data, and how hard is each to tune: median, IQM, expected best of k trials,
    P(a random trial of A beats one of B) with bootstrap CIs, over every trial -- failed ones count as the worst."""
    out_dir = _check_out(out) if out is not None else None
    from ..compare import compare, expected_best_figure, load_pool, print_comparison
    from ..rundir import write_text

    keys = [key.strip() for key in by.split(",") if key.strip()] if by is not None else None
    if keys is not None and not keys:
        raise GVError(f"bad --by '{by}': name config keys, e.g. --by optim.lr,model.dropout")
    doc = compare(load_pool(sweep_dirs, metric, keys, allow_mixed_budgets=allow_mixed_budgets, axis=axis))
    text = json.dumps(doc, indent=2, allow_nan=False) + "\n"
    if out_dir is not None:
        write_text(out_dir / COMPARE_JSON, text)
        expected_best_figure(doc, out_dir / EXPECTED_BEST_PNG)
    if as_json:
        typer.echo(text, nl=False)
        return
    print_comparison(doc, table_console())
    if out_dir is not None:
        console.print(f"wrote {out_dir / COMPARE_JSON} and {out_dir / EXPECTED_BEST_PNG}", soft_wrap=True)
