"""report.html: one self-contained page (every image embedded, every name escaped) with the metrics
table, the figures and the sensitivity table."""

from __future__ import annotations

import base64
import html
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..evaluation.catalog import MEMORIZATION_FLAG, counts_of, direction, display_order, key_info, spread_key
from ..sweep.values import finite_number
from .best_trials import Entry
from .trust import best_beyond_noise, memorization_flags


# The metrics table: its columns in the evaluation catalog's order (quality, diversity, family-specific).
def table_columns(entries: list[Entry]) -> list[str]:
    keys = {k.split("/", 1)[1] for e in entries for k in e.metrics if k.startswith("eval/")}
    # Spreads (kid_std, ...) are shown inside their metric's cell; per-class shares
    # (class_frac/<c>) stay in report.json: ten columns would drown the table.
    shown = [k for k in display_order() if k in keys]
    # Keys this gv doesn't declare (a leaderboard from another version) go last, as they are.
    shown += sorted(k for k in keys if key_info(k) is None and "/" not in k)
    return [f"eval/{k}" for k in shown]


def best_in_column(entries: list[Entry], column: str) -> set[str]:
    """Families holding the best value of a column; where the column has standard errors
    (``<key>_se``), the families within the noise of the best, and none when no difference is
    larger than the noise. None for directionless columns."""
    key = column.split("/", 1)[1] if column.startswith("eval/") else None
    mode = direction(key) if key else {"parameters": None, "wall_time_s": "min", "steps_to_best": "min"}.get(column)
    finite = {e.family: v for e in entries if (v := finite_number(e.metrics.get(column))) is not None}
    if mode is None or len(finite) < 2:
        return set()
    se_key = f"eval/{key}_se" if key else None
    errors = {e.family: v for e in entries if se_key and (v := finite_number(e.metrics.get(se_key))) is not None}
    if errors:
        return best_beyond_noise(finite, errors, mode)
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


CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px auto;max-width:1400px;color:#1d1d1f;padding:0 16px}
h1{margin-bottom:4px} h2{margin-top:36px;border-bottom:1px solid #ddd;padding-bottom:4px}
.meta{color:#666;font-size:14px}
table{border-collapse:collapse;font-size:13px;margin-top:8px}
th,td{border:1px solid #ddd;padding:4px 8px;text-align:right} th{background:#f4f4f6}
td.name,th.name{text-align:left}
td.best{background:#d9f2d9;font-weight:700}
td.flag{background:#fde2e2} .warn{color:#a40000;font-weight:600}
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
p.verdict{font-size:16px;max-width:1000px}
"""


def embed_image(path: str, alt: str, width: int | None = None, pixel: bool = True) -> str:
    data = base64.b64encode(Path(path).read_bytes()).decode()
    size = f' width="{width}"' if width else ""
    cls = ' class="pixel"' if pixel else ""
    return f'<img{cls} src="data:image/png;base64,{data}" alt="{html.escape(alt)}"{size}>'


def _trust_html(trust: dict[str, Any]) -> list[str]:
    """The evaluator's status and the agreement of the two feature spaces."""
    e = html.escape
    parts = []
    status = trust.get("evaluator")
    if status:
        nets = "; ".join(
            f"{name} ({n['about']}): " + (n.get("quality") or f"held-out accuracy {n['accuracy']:.1%}")
            for name, n in status["networks"].items()
        )
        check = status["check"]
        ladders = (
            f"sanity suite: {check['ladders_passed']}/{check['ladders']} disturbance ladders passed "
            f"({', '.join(check['judged'])} worsen at every step)"
            if check
            else f"sanity suite not run for these networks: gv evaluator check --dataset {status['dataset']}"
        )
        parts.append(f"<h2 id='evaluator'>Evaluator</h2><p class='meta'>{e(nets)}.<br>{e(ladders)}.</p>")
    agree = trust.get("agreement")
    if agree:
        tau = agree["kendall_tau"]
        parts.append(
            "<p class='meta'>Two feature spaces: families by fid "
            + e(" < ".join(agree["order_a"]))
            + ", by fid2 "
            + e(" < ".join(agree["order_b"]))
            + " (rank agreement, Kendall's tau "
            + e("n/a" if tau is None else f"{tau:.2f}")
            + ").</p>"
        )
        if agree["flips"]:
            parts.append(
                "<p class='warn'>"
                + e(
                    "The two feature spaces order these families oppositely: "
                    + ", ".join(agree["flips"])
                    + " -- their fid difference is "
                    "not a robust finding."
                )
                + "</p>"
            )
    return parts


def render_html(
    title: str,
    sweeps: list[str],
    metric: str,
    mode: str,
    entries: list[Entry],
    columns: list[str],
    sensitivity_png: str | None,
    sensitivity: dict[str, Any],
    curves: dict[str, str],
    trust: dict[str, Any] | None = None,
    lead: str = "",
) -> str:
    """The whole page; ``lead`` (the verdict section, already HTML) opens it, before the metrics table."""
    e = html.escape
    parts = [
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{e(title)}</title>"
        f"<style>{CSS}</style></head><body>"
    ]
    parts.append(
        f"<h1>{e(title)}</h1><p class='meta'>sweeps: {e(', '.join(sweeps))} &middot; best checkpoint of each "
        f"family by <b>{e(metric)}</b> ({'lower' if mode == 'min' else 'higher'} is better) &middot; "
        f"generated {e(datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC'))} by gv</p>"
    )
    parts.append(lead)

    # Metrics table, best per column highlighted.
    extra = ["parameters", "wall_time_s", "steps_to_best"]
    best = {c: best_in_column(entries, c) for c in columns + extra}
    # build_report already worked them out for report.json; other callers get them here.
    flagged = trust["memorization_flags"] if trust and "memorization_flags" in trust else memorization_flags(entries)
    parts.append(
        "<h2 id='metrics'>Metrics</h2><div class='scroll'><table><tr><th class='name'>family</th><th class='name'>trial</th>"
        # Spaces instead of underscores let long names wrap; the title keeps the metric's key.
        + "".join(f"<th title='{e(c)}'>{e(c.split('/', 1)[-1].replace('_', ' '))}</th>" for c in columns)
        + "<th>parameters</th><th>wall time (s)</th><th>steps to best</th></tr>"
    )
    for entry in entries:
        cells = [
            f"<td class='name'><b>{e(entry.family)}</b></td>",
            f"<td class='name trial'>{e(entry.row.trial_id)}"
            # Which sweep, when there is more than one (else the heading already says it).
            + (f"<br><span class='sd'>{e(entry.sweep)}</span>" if len(sweeps) > 1 else "")
            + "</td>",
        ]
        for column in columns + extra:
            cls = " class='best'" if entry.family in best[column] else ""
            if column == "eval/memorization" and entry.family in flagged:
                cls = " class='flag' title='near-copies of training images'"
            value = entry.metrics.get(column)
            text = _fmt(bool(value) if column == "eval/mode_collapse" and value is not None else value)
            spread_of = spread_key(column.removeprefix("eval/"))
            spread = entry.metrics.get(f"eval/{spread_of}") if spread_of else None
            text = e(text)
            if isinstance(spread, float) and math.isfinite(spread) and value is not None:
                text += f"<br><span class='sd'>± {e(_fmt(spread))}</span>"
            sizes = [entry.metrics.get(f"eval/{c}") for c in counts_of(column.removeprefix("eval/"))]
            if value is not None and sizes and all(isinstance(n, (int, float)) for n in sizes):
                text += f"<br><span class='sd'>{' vs '.join(f'{n:,.0f}' for n in sizes)} images</span>"
            cells.append(f"<td{cls}>{text}</td>")
        parts.append("<tr>" + "".join(cells) + "</tr>")
    parts.append(
        "</table></div><p class='meta'>Sample metrics on generated images (see `gv eval`): the distances in "
        "the features of the classifier trained on the images as they are, labels read by the blur-robust "
        "reader, fid2 in a second network's features; ± the bootstrap standard error. Green: best in its "
        "column, and only where the difference to the others is larger than the noise (2 standard "
        f"errors); red: memorization above {MEMORIZATION_FLAG:g} (near-copies of training images).</p>"
    )
    if flagged:
        parts.append(
            "<p class='warn'>"
            + e(
                "; ".join(f"{f}: {v:.0%} of its samples are near-copies of training images" for f, v in flagged.items())
            )
            + "</p>"
        )
    parts += _trust_html(trust or {})

    def cards(kind: str, heading: str, anchor: str, blurb: str, width: int | None = None) -> None:
        shown = [en for en in entries if kind in en.figures]
        if not shown:
            return
        parts.append(f"<h2 id='{anchor}'>{e(heading)}</h2><p class='meta'>{e(blurb)}</p><div class='cards'>")
        for en in shown:
            note = en.notes.get(kind)
            if isinstance(note, dict):
                note = (
                    f"endpoints by {note['method']}; endpoint MSE "
                    + ", ".join(f"{v:.4f}" for v in note["endpoint_mse"])
                    + " (random latent: "
                    + ", ".join(f"{v:.4f}" for v in note["random_latent_mse"])
                    + ")"
                )
            parts.append(
                f"<div class='card'><h3>{e(en.family)}</h3>{embed_image(en.figures[kind], f'{en.family} {heading}', width)}"
                + (f"<p>{e(str(note))}</p>" if note else "")
                + "</div>"
            )
        parts.append("</div>")

    cards(
        "samples",
        "Samples",
        "samples",
        "8x8 samples from one shared noise seed (conditional families: one row "
        "per class, the same noise in every column).",
        300,
    )
    cards(
        "neighbours",
        "Nearest training images",
        "neighbours",
        "Samples of each family's best checkpoint (top "
        "row) above their nearest training images in the classifier's features (bottom row): a memorising "
        "model's samples are their neighbours.",
        420,
    )
    cards(
        "latent",
        "Latent interpolation",
        "latent",
        "Spherical interpolation between the same two latent points "
        "for every family of the same latent size, 10 steps.",
        420,
    )
    cards(
        "classes",
        "Class-to-class interpolation",
        "classes",
        "Fixed noise, the one-hot label blended from one class to another.",
        420,
    )
    cards(
        "real",
        "Real image to real image",
        "real",
        "The same two held-out real images (first and last column) "
        "for every family: VAE endpoints from the encoder, GAN endpoints by latent optimisation (GAN "
        "inversion). The endpoint error shows how well each family reaches real data.",
        500,
    )

    if sensitivity_png:
        parts.append(
            "<h2 id='sensitivity'>Hyperparameter sensitivity</h2><p class='meta'>The metric over all trials "
            "of each family: a wide box means the family is hard to tune (Lucic et al. 2018).</p>"
            + embed_image(sensitivity_png, "sensitivity plot", None, pixel=False)
        )
        parts.append(
            "<table><tr><th class='name'>family</th><th>trials</th><th>scored</th><th>diverged / error</th>"
            "<th>best</th><th>median</th><th>worst</th></tr>"
        )
        for family, s in sensitivity.items():
            parts.append(
                f"<tr><td class='name'>{e(family)}</td>"
                + "".join(
                    f"<td>{e(_fmt(s[k]))}</td>"
                    for k in ("trials", "scored", "diverged_or_error", "best", "median", "worst")
                )
                + "</tr>"
            )
        parts.append("</table>")
    if curves:
        parts.append("<h2 id='curves'>Training curves</h2>")
        for key in ("metric", "losses"):
            if key in curves:
                parts.append(f"<div class='strip'>{embed_image(curves[key], f'{key} curves', None, pixel=False)}</div>")
    parts.append("</body></html>")
    return "\n".join(parts)
