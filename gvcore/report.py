"""`gv report`: the best checkpoint of every family, side by side.

Fairness first: every family is drawn from the same noise (same seed; families with the same
latent size get the very same latent vectors), interpolated between the same endpoints, and
asked to reach the same two real test images. Then the numbers: every metric of the evaluation
registry, parameters, wall time and steps to best, and the spread of the metric over all trials
of each family (how hard it is to tune; Lucic et al. 2018).

Outputs in ``--out``: ``report.html`` (self-contained: every image embedded, every name escaped),
the PNG figures beside it, and ``report.json``.
"""

from __future__ import annotations

import base64
import html
import json
import math
import os
import statistics
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

from .config import Config
from .errors import GVError
from .families import FAMILIES, GenerativeModel
from .images import grid_labels, save_grid
from .interpolation import class_interpolation, find_endpoints, latent_interpolation, random_latent_error, real_interpolation

REPORT_SEED = 0
GRID_SIDE = 8
INTERPOLATION_STEPS = 10
# Class pairs for the conditional families' class-to-class rows.
CLASS_PAIRS = ((1, 7), (3, 8), (4, 9), (0, 6))
# The label a conditional family is held at for its latent interpolation row.
LATENT_ROW_LABEL = 3


@dataclass
class Entry:
    """The best trial of one family."""

    family: str
    sweep: str
    row: dict[str, Any]
    value: float | None
    model: GenerativeModel
    config: Config
    checkpoint: Path
    metrics: dict[str, float] = field(default_factory=dict)
    figures: dict[str, str] = field(default_factory=dict)
    notes: dict[str, Any] = field(default_factory=dict)


# --- collecting the trials ----------------------------------------------------------------------


def load_sweep(directory: Path) -> dict[str, Any]:
    """A sweep's leaderboard document, each row tagged with its sweep's name and folder."""
    from .leaderboard import read

    doc = read(directory)
    doc["rows"] = [dict(row, sweep=doc.get("sweep") or Path(directory).name, sweep_dir=str(directory))
                   for row in doc["rows"]]
    return doc


def metric_mode(metric: str) -> str:
    """'min' or 'max' for a leaderboard metric (eval/<key> from the registry; losses: min)."""
    from .metrics import DIRECTION

    key = metric.split("/", 1)[1] if metric.startswith("eval/") else metric
    mode = DIRECTION.get(key, "min" if not metric.startswith("eval/") else None)
    if mode is None:
        raise GVError(f"metric '{metric}' has no better side to rank by: use e.g. eval/fid, eval/kid or eval/precision")
    return mode


def row_value(row: dict[str, Any], metric: str) -> float | None:
    """A trial's value of ``metric``: its best value when it is the sweep metric, else the value
    recorded with its best checkpoint (the final full evaluation included)."""
    value = row.get("best_metric") if row.get("metric") == metric else (row.get("metrics") or {}).get(metric)
    if value is None and metric.startswith("eval/"):
        value = (row.get("final") or {}).get(metric.removeprefix("eval/"))
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def checkpoint_file(row: dict[str, Any]) -> Path | None:
    """The trial's best checkpoint on disk -- never its latest one, which the metrics don't describe.
    A sweep dir that was moved or copied still works: the checkpoint is looked for under it too."""
    from .checkpoint import CHECKPOINT_NAME

    best = row.get("best_checkpoint")
    if best and best.startswith("file://"):
        best = best[len("file://"):]
    if not best or "://" in best:
        return None  # in cloud storage (s3://, gs://): sync the sweep dir to disk and report on that
    candidates = [Path(best)]
    if row.get("sweep_dir"):
        candidates.append(Path(row["sweep_dir"]) / Path(best).parent.name / Path(best).name)
    for path in candidates:
        if (path / CHECKPOINT_NAME).is_file():
            return path / CHECKPOINT_NAME
    return None


def pick_best(rows: list[dict[str, Any]], metric: str, mode: str) -> dict[str, dict[str, Any]]:
    """family -> the row with the best value of ``metric`` that still has a checkpoint on disk."""
    best: dict[str, dict[str, Any]] = {}
    for row in rows:
        value = row_value(row, metric)
        if value is None or row.get("status") in ("diverged", "error") or checkpoint_file(row) is None:
            continue
        current = best.get(row["family"])
        if current is None or (value < row_value(current, metric) if mode == "min" else value > row_value(current, metric)):
            best[row["family"]] = row
    return dict(sorted(best.items(), key=lambda kv: list(FAMILIES).index(kv[0]) if kv[0] in FAMILIES else 99))


# --- figures ------------------------------------------------------------------------------------


def _seeded(dim: int, n: int, offset: int) -> torch.Tensor:
    # Drawn on the CPU from a fixed seed: every family of latent size `dim` gets these exact vectors.
    return torch.randn(n, dim, generator=torch.Generator().manual_seed(REPORT_SEED + offset))


@torch.no_grad()
def sample_grid(model: GenerativeModel) -> torch.Tensor:
    """8x8 from the shared noise; conditional families: one row per class, the same noise per column."""
    model.eval()
    if model.conditional:
        z = _seeded(model.latent_dim, GRID_SIDE, 0).repeat(model.num_classes, 1)
        labels = grid_labels(model.num_classes, GRID_SIDE)
        return model.generate(z.to(model.device), labels.to(model.device))
    return model.generate(_seeded(model.latent_dim, GRID_SIDE * GRID_SIDE, 0).to(model.device))


def shared_real_pair(config: Config) -> tuple[torch.Tensor, torch.Tensor]:
    """Two held-out real images every family must reach: the first test images of two classes."""
    from .data import load_dataset, to_unit_range

    test = load_dataset(config.data.name, "test", config.data.data_dir, config.data.image_size)
    first = [int(torch.nonzero(test.labels == c)[0]) for c in (0, 8) if bool((test.labels == c).any())]
    index = first if len(first) == 2 else [0, len(test) - 1]
    return to_unit_range(test.images[index]), test.labels[index]


def make_figures(entry: Entry, out: Path) -> None:
    model, name = entry.model, entry.family
    figures = out / "figures"
    entry.figures["samples"] = str(save_grid(sample_grid(model), figures / f"samples-{name}.png", GRID_SIDE))

    z0, z1 = _seeded(model.latent_dim, 2, 1)
    row = latent_interpolation(model, z0, z1, INTERPOLATION_STEPS, LATENT_ROW_LABEL if model.conditional else None)
    entry.figures["latent"] = str(save_grid(row, figures / f"latent-{name}.png", INTERPOLATION_STEPS))
    entry.notes["latent"] = f"slerp between the shared latent seeds (size {model.latent_dim})" + (
        f", label {LATENT_ROW_LABEL}" if model.conditional else "")

    if model.conditional:
        z = _seeded(model.latent_dim, 1, 2)[0]
        rows = [class_interpolation(model, z, a, b, INTERPOLATION_STEPS) for a, b in CLASS_PAIRS]
        entry.figures["classes"] = str(save_grid(torch.cat(rows), figures / f"classes-{name}.png", INTERPOLATION_STEPS))
        entry.notes["classes"] = ", ".join(f"{a}->{b}" for a, b in CLASS_PAIRS)

    x, y = shared_real_pair(entry.config)
    endpoints = find_endpoints(model, x, y, generator=torch.Generator().manual_seed(REPORT_SEED))
    path = real_interpolation(model, endpoints, y, INTERPOLATION_STEPS)
    strip = torch.cat([x[:1].to(path.device), path, x[1:].to(path.device)])
    entry.figures["real"] = str(save_grid(strip, figures / f"real-{name}.png", INTERPOLATION_STEPS + 2))
    baseline = random_latent_error(model, x, y, torch.Generator().manual_seed(REPORT_SEED))
    entry.notes["real"] = {
        "method": endpoints.method,
        "endpoint_mse": [round(float(e), 5) for e in endpoints.errors],
        "random_latent_mse": [round(float(e), 5) for e in baseline],
    }


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


FAMILY_COLORS = {"gan": "#1f77b4", "lsgan": "#ff7f0e", "dcgan": "#2ca02c", "cgan": "#d62728",
                 "vae": "#9467bd", "cvae": "#8c564b"}


def sensitivity_figure(rows: list[dict[str, Any]], metric: str, mode: str, path: Path) -> dict[str, Any]:
    """Box + strip plot of the metric over every trial of each family; diverged trials counted.

    Returns per-family statistics for report.json."""
    plt = _pyplot()
    families = [f for f in FAMILIES if any(r["family"] == f for r in rows)]
    stats: dict[str, Any] = {}
    values = []
    for family in families:
        mine = [r for r in rows if r["family"] == family]
        vals = [v for v in (row_value(r, metric) for r in mine) if v is not None]
        failed = sum(r.get("status") in ("diverged", "error") for r in mine)
        values.append(vals)
        stats[family] = {
            "trials": len(mine), "scored": len(vals), "diverged_or_error": failed,
            "best": (min(vals) if mode == "min" else max(vals)) if vals else None,
            "median": statistics.median(vals) if vals else None,
            "worst": (max(vals) if mode == "min" else min(vals)) if vals else None,
        }
    fig, ax = plt.subplots(figsize=(max(5.0, 1.4 * len(families) + 2), 4.2), dpi=110)
    positions = range(1, len(families) + 1)
    if any(values):
        ax.boxplot([v if v else [float("nan")] for v in values], positions=list(positions), widths=0.5,
                   showfliers=False, medianprops={"color": "black"})
    jitter = torch.Generator().manual_seed(0)
    for pos, family, vals in zip(positions, families, values):
        xs = pos + (torch.rand(len(vals), generator=jitter) - 0.5) * 0.3
        ax.scatter(xs.tolist(), vals, s=22, alpha=0.8, color=FAMILY_COLORS.get(family, "gray"), zorder=3)
    labels = [f"{f}\n{stats[f]['scored']} scored" + (f", {stats[f]['diverged_or_error']} failed"
                                                   if stats[f]["diverged_or_error"] else "") for f in families]
    ax.set_xticks(list(positions))
    ax.set_xticklabels(labels, fontsize=8)
    ax.set_ylabel(f"{metric} ({'lower' if mode == 'min' else 'higher'} is better)")
    ax.set_title("Hyperparameter sensitivity: the metric over all trials of each family")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return stats


def _history(entry: Entry) -> list[dict[str, Any]]:
    run_dir = entry.row.get("run_dir")
    file = Path(run_dir) / "metrics.jsonl" if run_dir else None
    if file is None or not file.is_file():
        return []
    lines = []
    for text in file.read_text().splitlines():
        try:
            lines.append(json.loads(text))
        except ValueError:
            continue
    return lines


def curves_figures(entries: list[Entry], metric: str, out: Path) -> dict[str, str]:
    """Loss curves (one panel per family: GAN and VAE losses don't share a scale) and the metric
    over training for every best trial on one axis."""
    plt = _pyplot()
    paths: dict[str, str] = {}
    histories = {e.family: _history(e) for e in entries}
    with_losses = [e for e in entries if any(k.startswith("loss/") for line in histories[e.family] for k in line)]
    if with_losses:
        cols = min(3, len(with_losses))
        rows = math.ceil(len(with_losses) / cols)
        fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.0 * rows), dpi=110, squeeze=False)
        for ax in axes.flat[len(with_losses):]:
            ax.axis("off")
        for ax, entry in zip(axes.flat, with_losses):
            lines = [ln for ln in histories[entry.family] if any(k.startswith("loss/") for k in ln)]
            for key in sorted({k for ln in lines for k in ln if k.startswith("loss/")}):
                pts = [(ln["step"], ln[key]) for ln in lines if isinstance(ln.get(key), (int, float))]
                ax.plot([p[0] for p in pts], [p[1] for p in pts], label=key.split("/", 1)[1], linewidth=1.2)
            ax.set_title(entry.family, fontsize=10)
            ax.set_xlabel("step", fontsize=8)
            ax.legend(fontsize=7)
            ax.grid(alpha=0.3)
        fig.suptitle("Training losses of the best trials")
        fig.tight_layout()
        path = out / "figures" / "losses.png"
        fig.savefig(path)
        plt.close(fig)
        paths["losses"] = str(path)
    series = {e.family: [(ln["step"], ln[metric]) for ln in histories[e.family]
                         if isinstance(ln.get(metric), (int, float)) and math.isfinite(ln[metric])] for e in entries}
    if any(series.values()):
        fig, ax = plt.subplots(figsize=(6.5, 4.0), dpi=110)
        for family, pts in series.items():
            if pts:
                ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", markersize=3, label=family,
                        color=FAMILY_COLORS.get(family))
        ax.set_xlabel("step")
        ax.set_ylabel(metric)
        ax.set_title(f"{metric} during training (best trial of each family)")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
        fig.tight_layout()
        path = out / "figures" / "metric.png"
        fig.savefig(path)
        plt.close(fig)
        paths["metric"] = str(path)
    return paths


# --- the table ----------------------------------------------------------------------------------


# The metrics table's column order: quality first, then diversity, then the family-specific ones.
TABLE_ORDER = ("fid", "kid", "precision", "recall", "density", "coverage", "classifier_score", "classes_covered",
               "class_kl", "mode_collapse", "label_acc", "nelbo", "nelbo_recon", "nelbo_kl", "iw_nll")


def table_columns(entries: list[Entry]) -> list[str]:
    keys = {k.split("/", 1)[1] for e in entries for k in e.metrics if k.startswith("eval/")}
    # Spreads (kid_std, ...) are shown inside their metric's cell; per-class shares
    # (class_frac/<c>) stay in report.json: ten columns would drown the table.
    shown = [k for k in TABLE_ORDER if k in keys]
    shown += sorted(k for k in keys if k not in TABLE_ORDER and "/" not in k and not k.endswith("_std"))
    return [f"eval/{k}" for k in shown]


def best_in_column(entries: list[Entry], column: str) -> set[str]:
    """Families holding the best value of a column (ties included); none for directionless columns."""
    from .metrics import DIRECTION

    mode = DIRECTION.get(column.split("/", 1)[1]) if column.startswith("eval/") else \
        {"parameters": None, "wall_time_s": "min", "steps_to_best": "min"}.get(column)
    values = {e.family: e.metrics.get(column) for e in entries}
    finite = {f: v for f, v in values.items() if isinstance(v, (int, float)) and math.isfinite(v)}
    if mode is None or len(finite) < 2:
        return set()
    target = min(finite.values()) if mode == "min" else max(finite.values())
    return {f for f, v in finite.items() if v == target}


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        if value == int(value) and abs(value) >= 1000:
            return f"{int(value):,}"
        return f"{value:.4g}"
    return str(value)


# --- HTML ---------------------------------------------------------------------------------------

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px auto;max-width:1400px;color:#1d1d1f;padding:0 16px}
h1{margin-bottom:4px} h2{margin-top:36px;border-bottom:1px solid #ddd;padding-bottom:4px}
.meta{color:#666;font-size:14px}
table{border-collapse:collapse;font-size:13px;margin-top:8px}
th,td{border:1px solid #ddd;padding:4px 8px;text-align:right} th{background:#f4f4f6}
td.name,th.name{text-align:left}
td.best{background:#d9f2d9;font-weight:700}
td.trial{white-space:nowrap} .sd{color:#777;font-size:11px;font-weight:400;white-space:nowrap}
th{max-width:90px}
.scroll{overflow-x:auto}
.cards{display:flex;flex-wrap:wrap;gap:18px}
.card{border:1px solid #e2e2e2;border-radius:8px;padding:10px;background:#fafafa}
.card h3{margin:0 0 6px 0;font-size:15px}
.card p{margin:6px 0 0 0;font-size:12px;color:#555;max-width:420px}
img.pixel{image-rendering:pixelated}
.strip{margin:8px 0 14px 0}
.strip .label{font-size:13px;font-weight:600}
"""


def _img(path: str, alt: str, width: int | None = None, pixel: bool = True) -> str:
    data = base64.b64encode(Path(path).read_bytes()).decode()
    size = f' width="{width}"' if width else ""
    cls = ' class="pixel"' if pixel else ""
    return f'<img{cls} src="data:image/png;base64,{data}" alt="{html.escape(alt)}"{size}>'


def render_html(title: str, sweeps: list[str], metric: str, mode: str, entries: list[Entry], columns: list[str],
                sensitivity_png: str | None, sensitivity: dict[str, Any], curves: dict[str, str]) -> str:
    e = html.escape
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{e(title)}</title>"
             f"<style>{CSS}</style></head><body>"]
    parts.append(f"<h1>{e(title)}</h1><p class='meta'>sweeps: {e(', '.join(sweeps))} &middot; best checkpoint of each "
                 f"family by <b>{e(metric)}</b> ({'lower' if mode == 'min' else 'higher'} is better) &middot; "
                 f"generated {e(datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC'))} by gv</p>")

    # Metrics table, best per column highlighted.
    extra = ["parameters", "wall_time_s", "steps_to_best"]
    best = {c: best_in_column(entries, c) for c in columns + extra}
    parts.append("<h2 id='metrics'>Metrics</h2><div class='scroll'><table><tr><th class='name'>family</th><th class='name'>trial</th>"
                 # Spaces instead of underscores let long names wrap; the title keeps the metric's key.
                 + "".join(f"<th title='{e(c)}'>{e(c.split('/', 1)[-1].replace('_', ' '))}</th>" for c in columns)
                 + "<th>parameters</th><th>wall time (s)</th><th>steps to best</th></tr>")
    for entry in entries:
        cells = [f"<td class='name'><b>{e(entry.family)}</b></td>",
                 f"<td class='name trial'>{e(str(entry.row.get('trial_id', '')))}"
                 # Which sweep, when there is more than one (else the heading already says it).
                 + (f"<br><span class='sd'>{e(entry.sweep)}</span>" if len(sweeps) > 1 else "") + "</td>"]
        for column in columns + extra:
            cls = " class='best'" if entry.family in best[column] else ""
            value = entry.metrics.get(column)
            text = _fmt(bool(value) if column == "eval/mode_collapse" and value is not None else value)
            spread = entry.metrics.get(f"{column}_std")
            text = e(text)
            if isinstance(spread, float) and math.isfinite(spread) and value is not None:
                text += f"<br><span class='sd'>± {e(_fmt(spread))}</span>"
            cells.append(f"<td{cls}>{text}</td>")
        parts.append("<tr>" + "".join(cells) + "</tr>")
    parts.append("</table></div><p class='meta'>Sample metrics on generated images in the domain classifier's feature "
                 "space (see `gv eval`); green: best in its column.</p>")

    def cards(kind: str, heading: str, anchor: str, blurb: str, width: int | None = None) -> None:
        shown = [en for en in entries if kind in en.figures]
        if not shown:
            return
        parts.append(f"<h2 id='{anchor}'>{e(heading)}</h2><p class='meta'>{e(blurb)}</p><div class='cards'>")
        for en in shown:
            note = en.notes.get(kind)
            if isinstance(note, dict):
                note = (f"endpoints by {note['method']}; endpoint MSE "
                        + ", ".join(f"{v:.4f}" for v in note["endpoint_mse"])
                        + " (random latent: " + ", ".join(f"{v:.4f}" for v in note["random_latent_mse"]) + ")")
            parts.append(f"<div class='card'><h3>{e(en.family)}</h3>{_img(en.figures[kind], f'{en.family} {heading}', width)}"
                         + (f"<p>{e(str(note))}</p>" if note else "") + "</div>")
        parts.append("</div>")

    cards("samples", "Samples", "samples", "8x8 samples from one shared noise seed (conditional families: one row "
          "per class, the same noise in every column).", 300)
    cards("latent", "Latent interpolation", "latent", "Spherical interpolation between the same two latent points "
          "for every family of the same latent size, 10 steps.", 420)
    cards("classes", "Class-to-class interpolation", "classes", "Fixed noise, the one-hot label blended from one "
          "class to another.", 420)
    cards("real", "Real image to real image", "real", "The same two held-out real images (first and last column) "
          "for every family: VAE endpoints from the encoder, GAN endpoints by latent optimisation (GAN "
          "inversion). The endpoint error shows how well each family reaches real data.", 500)

    if sensitivity_png:
        parts.append("<h2 id='sensitivity'>Hyperparameter sensitivity</h2><p class='meta'>The metric over all trials "
                     "of each family: a wide box means the family is hard to tune (Lucic et al. 2018).</p>"
                     + _img(sensitivity_png, "sensitivity plot", None, pixel=False))
        parts.append("<table><tr><th class='name'>family</th><th>trials</th><th>scored</th><th>diverged / error</th>"
                     "<th>best</th><th>median</th><th>worst</th></tr>")
        for family, s in sensitivity.items():
            parts.append(f"<tr><td class='name'>{e(family)}</td>" + "".join(
                f"<td>{e(_fmt(s[k]))}</td>" for k in ("trials", "scored", "diverged_or_error", "best", "median", "worst"))
                + "</tr>")
        parts.append("</table>")
    if curves:
        parts.append("<h2 id='curves'>Training curves</h2>")
        for key in ("metric", "losses"):
            if key in curves:
                parts.append(f"<div class='strip'>{_img(curves[key], f'{key} curves', None, pixel=False)}</div>")
    parts.append("</body></html>")
    return "\n".join(parts)


# --- the whole report ---------------------------------------------------------------------------


def build_report(sweep_dirs: list[Path], out: Path, metric: str = "eval/fid", eval_samples: int = 10_000,
                 device: str = "cpu", progress=None) -> dict[str, Any]:
    """Write report.html, report.json and the figures into ``out``; returns the report.json data."""
    from .trainer import load_model

    mode = metric_mode(metric)
    docs = [load_sweep(Path(d)) for d in sweep_dirs]
    rows = [row for doc in docs for row in doc["rows"]]
    if not rows:
        raise GVError(f"the sweeps {', '.join(map(str, sweep_dirs))} have no trials yet")
    best_rows = pick_best(rows, metric, mode)
    if not best_rows:
        raise GVError(f"no trial in {', '.join(map(str, sweep_dirs))} has a finite {metric} and a checkpoint on disk: "
                      "pick another --metric (see `gv results`) or let the sweep finish")
    step = progress or (lambda text: None)
    entries: list[Entry] = []
    for family, row in best_rows.items():
        step(f"{family}: loading the best checkpoint")
        file = checkpoint_file(row)
        assert file is not None
        model, cfg, _ = load_model(file, device)
        entry = Entry(family, row["sweep"], row, row_value(row, metric), model, cfg, file)
        # Every metric, from the sweep's final evaluation of this checkpoint when it ran, else now.
        full = row.get("final") or {}
        if not full:
            step(f"{family}: evaluating {eval_samples} samples with every metric")
            from .metrics import evaluate_model

            full = evaluate_model(model, cfg, eval_samples)
            entry.notes["evaluated_samples"] = eval_samples
        else:
            entry.notes["evaluated_samples"] = row.get("final_samples")
        entry.metrics = {f"eval/{k}": v for k, v in full.items()}
        entry.metrics["parameters"] = sum(model.parameter_counts().values())
        entry.metrics["wall_time_s"] = row.get("wall_time_s")
        entry.metrics["steps_to_best"] = row.get("best_step")
        step(f"{family}: samples and interpolations")
        make_figures(entry, out)
        entries.append(entry)

    step("sensitivity and training curves")
    sensitivity_png = out / "figures" / "sensitivity.png"
    sensitivity = sensitivity_figure(rows, metric, mode, sensitivity_png)
    curves = curves_figures(entries, metric, out)
    columns = table_columns(entries)
    sweeps = [doc.get("sweep") or Path(d).name for doc, d in zip(docs, sweep_dirs)]
    title = f"gv report: {', '.join(sweeps)}"
    page = render_html(title, sweeps, metric, mode, entries, columns, str(sensitivity_png), sensitivity, curves)
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.html").write_text(page)
    data = {
        "title": title, "sweeps": sweeps, "sweep_dirs": [str(d) for d in sweep_dirs], "metric": metric, "mode": mode,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "families": {
            e.family: {"sweep": e.sweep, "trial_id": e.row.get("trial_id"), "checkpoint": str(e.checkpoint),
                       "value": e.value, "config": e.row.get("config"), "metrics": e.metrics,
                       "figures": {k: os.path.relpath(v, out) for k, v in e.figures.items()}, "notes": e.notes}
            for e in entries
        },
        "sensitivity": sensitivity,
        "figures": {"sensitivity": os.path.relpath(sensitivity_png, out),
                    **{k: os.path.relpath(v, out) for k, v in curves.items()}},
    }
    (out / "report.json").write_text(json.dumps(data, indent=2, default=str) + "\n")
    return data
