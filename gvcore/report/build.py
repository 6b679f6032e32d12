"""`gv report`: the best checkpoint of every family, side by side -> report.html, report.json and
the PNG figures in ``--out``."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..errors import GVError
from ..rundir import write_json, write_text
from ..sweep.values import values_of
from .best_trials import Entry, checkpoint_file, metric_mode, pick_best
from .figures import curves_figures, make_figures, sensitivity_figure
from .page import embed_image, render_html, table_columns
from .race import race_section
from .trust import evaluator_status, memorization_flags, nearest_neighbour_figure, rank_agreement
from .verdict import axis_verdicts, seed_spread
from .verdict import render as render_verdict
from .verdict import to_json as verdict_json


def build_report(
    sweep_dirs: list[Path],
    out: Path,
    metric: str | None = None,
    eval_samples: int = 10_000,
    device: str = "cpu",
    progress=None,
    allow_mixed_budgets: bool = False,
) -> dict[str, Any]:
    """Write report.html, report.json and the figures into ``out``; returns the report.json data.

    The sweeps are read once, and checked as `gv compare` checks them (one dataset, no trial twice,
    one budget unless ``allow_mixed_budgets``); every table, figure and verdict uses those rows."""
    from ..compare import ranking_metric, read_sweeps
    from ..trainer import load_model

    sweeps, _ = read_sweeps([str(d) for d in sweep_dirs], allow_mixed_budgets)
    # By default each family's best checkpoint is the one its sweep kept: by the sweep's own metric.
    metric = metric or ranking_metric(sweeps)
    mode = metric_mode(metric)
    rows = [row for sweep in sweeps for row in sweep.trials]
    best_rows = pick_best(rows, metric, mode)
    if not best_rows:
        raise GVError(
            f"no trial in {', '.join(map(str, sweep_dirs))} has a finite {metric} and a checkpoint on disk: "
            "pick another --metric (see `gv results`) or let the sweep finish"
        )
    value_of = {id(row): value for row, value in zip(rows, values_of(rows, metric))}
    step = progress or (lambda text: None)
    entries: list[Entry] = []
    for family, row in best_rows.items():
        step(f"{family}: loading the best checkpoint")
        file = checkpoint_file(row)
        assert file is not None
        model, cfg, _ = load_model(file, device)
        entry = Entry(family, row.sweep or "", row, value_of[id(row)], model, cfg, file)
        # Every metric, from the sweep's final evaluation of this checkpoint when it ran, else now.
        full = row.final or {}
        if not full:
            step(f"{family}: evaluating {eval_samples} samples with every metric")
            from ..evaluation.api import evaluate_model

            full = evaluate_model(model, cfg, eval_samples)
            entry.notes["evaluated_samples"] = eval_samples
        else:
            entry.notes["evaluated_samples"] = row.final_samples
        entry.metrics = {f"eval/{k}": v for k, v in full.items()}
        entry.metrics["parameters"] = sum(model.parameter_counts().values())
        entry.metrics["wall_time_s"] = float("nan") if row.wall_time_s is None else row.wall_time_s
        entry.metrics["steps_to_best"] = float("nan") if row.best_step is None else row.best_step
        step(f"{family}: samples, interpolations and nearest training images")
        make_figures(entry, out)
        nearest_neighbour_figure(entry, out)
        entries.append(entry)

    step("the verdict: every trial of every family, per axis")
    verdicts = axis_verdicts(sweeps, out)
    spread = seed_spread(rows, metric)
    lead = render_verdict(verdicts, spread, metric, lambda path, alt: embed_image(path, alt, 440, pixel=False))
    # A study directory (`gv study`) adds the race: its own verdict, rounds and compute saved.
    race_html, races = race_section(
        [sweep.directory for sweep in sweeps], out, lambda path, alt: embed_image(path, alt, 620, pixel=False)
    )
    lead += race_html

    step("sensitivity and training curves")
    sensitivity_png = out / "figures" / "sensitivity.png"
    sensitivity = sensitivity_figure(rows, metric, mode, sensitivity_png)
    curves = curves_figures(entries, metric, out)
    columns = table_columns(entries)
    names = [sweep.name for sweep in sweeps]
    title = f"gv report: {', '.join(names)}"
    trust = {
        "evaluator": evaluator_status(entries),
        "agreement": rank_agreement(entries),
        "memorization_flags": memorization_flags(entries),
    }
    page = render_html(
        title, names, metric, mode, entries, columns, str(sensitivity_png), sensitivity, curves, trust, lead=lead
    )
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / "report.html", page)
    data = {
        "title": title,
        "sweeps": names,
        "sweep_dirs": [sweep.directory for sweep in sweeps],
        "metric": metric,
        "mode": mode,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "families": {
            e.family: {
                "sweep": e.sweep,
                "trial_id": e.row.trial_id,
                "checkpoint": str(e.checkpoint),
                "value": e.value,
                "config": e.row.config,
                "metrics": e.metrics,
                "figures": {k: os.path.relpath(v, out) for k, v in e.figures.items()},
                "notes": e.notes,
            }
            for e in entries
        },
        "verdict": verdict_json(verdicts, spread, out),
        "race": races,
        "sensitivity": sensitivity,
        "trust": trust,
        "figures": {
            "sensitivity": os.path.relpath(sensitivity_png, out),
            **{k: os.path.relpath(v, out) for k, v in curves.items()},
        },
    }
    write_json(out / "report.json", data)
    return data
