"""`gv evaluator validate`: do gv's metrics order real gv models the way independent judges do?

Registered on `gv evaluator` by commands/evaluate.py; the work is in evaluation/validate_pool.py
(the pool: rebuilt from its recipe, then scored) and evaluation/validate.py (the agreement tables).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ..errors import GVError
from .common import console, err_console, table_console


def validate_cmd(
    dataset: Annotated[
        str, typer.Option("--dataset", "-d", help="Dataset whose metrics to validate: a built-in name or a folder.")
    ] = "mnist-5k",
    pool: Annotated[
        str,
        typer.Option(
            help="Which pool recipe: 'standard' (six families x four budgets x two seeds, 48 models: about 45 "
            "minutes on 2 CPU cores) or 'small' (two families, two tiny budgets: minutes)."
        ),
    ] = "standard",
    workdir: Annotated[
        Path | None,
        typer.Option(
            help="Folder for the pool's runs, samples, judges and scores (default: ./gv-validate-DATASET-POOL); "
            "a rerun keeps what is there and builds only what is missing."
        ),
    ] = None,
    data_dir: Annotated[
        str | None, typer.Option(help="Dataset folder (default $GV_DATA_DIR or ~/.cache/gv/data).")
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the results as one JSON object on stdout.")] = False,
) -> None:
    """Train a pool of real gv models (every family, several budgets and seeds), score their samples
    with every distance and with independent judges that share nothing with gv's networks (a fresh
    two-sample classifier, an autoencoder, a contrastive net), and print each metric's rank agreement
    (Spearman, 95% bootstrap interval) with each judge, over the whole pool and over the well-trained
    models. Exit 1 when the realism or the overall metric misses its goals."""
    from ..data import label, resolve_name
    from ..evaluation.axes import AXES
    from ..evaluation.references import REALISM_JUDGES
    from ..evaluation.validate import POOL_METRICS, WHOLE_POOL_GOAL, validate
    from ..evaluation.validate_pool import build_pool, get_pool, score_pool
    from ..rundir import write_json

    recipe = get_pool(pool)
    dataset = resolve_name(dataset)
    out = workdir or Path(f"gv-validate-{label(dataset)}-{pool}")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise GVError(f"bad --workdir '{out}': {exc.strerror or exc}; give a folder gv can create or write") from None

    def log(message: str) -> None:
        err_console.print(message, highlight=False)

    sets = build_pool(recipe, dataset, out, data_dir or "", log=log)
    scores, judge_scores = score_pool(
        sets, dataset, out, POOL_METRICS, data_dir or "", log=log, judge_images=recipe.judge_images
    )
    overall = next(m.removeprefix("eval/") for m in AXES["overall"].metrics)
    judged = {"realism": "realism", "overall": overall}
    result = validate(
        scores, judge_scores, {s.name for s in sets if s.well_trained}, judged, {"realism": REALISM_JUDGES}
    )
    doc = {"dataset": dataset, "pool": pool, "sets": [s.to_dict() for s in sets], **result.to_dict()}
    write_json(out / "validate.json", doc)
    if json_out:
        typer.echo(json.dumps(doc))
    else:
        trained = sum(s.well_trained for s in sets)
        for title, rows, count in (
            ("whole pool", result.whole, len(sets)),
            ("well-trained models", result.trained, trained),
        ):
            table = Table(
                title=f"gv evaluator validate: {dataset}, pool '{pool}', {title} ({count} sets)",
                caption="Spearman's rho with each judge [95% bootstrap interval]; judges (last rows) with each other",
            )
            table.add_column("metric")
            for judge in result.judges:
                table.add_column(judge, justify="right")
            for name, cells in rows.items():
                table.add_row(name, *[cells[j].text() if j in cells else "" for j in result.judges])
            table_console().print(table)
        for role, metric in judged.items():
            judges = result.judges_of(role)
            console.print(
                f"{role} ({metric}): goals rho >= {WHOLE_POOL_GOAL} with {', '.join(judges)} over the whole pool, "
                f">= {result.judges_agree(judges):+.2f} (those judges' own agreement) among the well-trained"
            )
        for failure in result.failures:
            console.print(f"  missed: {failure}", highlight=False)
        console.print(("passed" if result.passed else "FAILED") + f"; tables: {out / 'validate.json'}")
    if not result.passed:
        raise typer.Exit(1)
