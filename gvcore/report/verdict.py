"""The report's opening: which family wins, with what confidence, on which axis -- from every trial
of every family (hyperparameter draws and seeds), never from the best trial alone.

Each axis (gvcore/evaluation/axes.py) is judged on the first of its metrics the sweeps recorded,
with `gv compare`'s statistics (gvcore/compare: medians with bootstrap CIs, P(a random trial of A
beats one of B), the expected best of k trials, failed trials as the worst outcome), from the sweeps
as the report read them once (gvcore.compare.read_sweeps).

The sentences claim only what the intervals support: a winner beats every other family with its
95% lower bound above 0.5; otherwise the closest call is named. When the axes' winners differ, both
are said ("vae is more diverse, dcgan is more legible").
"""

from __future__ import annotations

import html
import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import GVError
from ..sweep.leaderboard import LeaderboardRow
from ..sweep.values import finite_number
from . import tradeoff
from .figures import pyplot, save_figure


@dataclass
class AxisVerdict:
    axis: str
    metric: str
    doc: dict[str, Any]  # gv compare's document for this metric
    figures: dict[str, str] = field(default_factory=dict)
    # family -> the standard error of its value, for families of one trial (their final evaluation's
    # <key>_se): how the report tells single trials apart (gvcore/report/tradeoff.py).
    noise: dict[str, float] = field(default_factory=dict)

    @property
    def winner(self) -> str | None:
        return self.doc["winner"]

    @property
    def leaders(self) -> list[str]:
        """The families no other beats at 95% -- only when that is fewer than all of them."""
        leaders = self.doc.get("leaders") or []
        return leaders if 0 < len(leaders) < len(self.doc["families"]) else []

    def lead(self) -> str:
        """'cvae and vae lead: ... each beats dcgan, gan' -- what the leading group is known to beat."""
        beats = self.doc.get("beats") or {}
        common = [
            f["family"]
            for f in self.doc["families"]
            if all(f["family"] in beats.get(leader, []) for leader in self.leaders)
        ]
        names = " and ".join(
            [", ".join(self.leaders[:-1]), self.leaders[-1]] if len(self.leaders) > 1 else self.leaders
        )
        verb = "leads" if len(self.leaders) == 1 else "lead"
        text = f"{names} {verb}: no other family beats {'it' if len(self.leaders) == 1 else 'them'} at 95% confidence"
        if common:
            text += f", and {'it beats' if len(self.leaders) == 1 else 'each beats'} {', '.join(common)}"
        return text

    def sentence(self) -> str:
        metric = self.metric.removeprefix("eval/")
        if self.winner:
            return (
                f"{self.axis.capitalize()} ({metric}): {self.winner} wins -- a random trial of it beats a "
                f"random trial of every other family, each at 95% confidence."
            )
        if self.leaders:
            return (
                f"{self.axis.capitalize()} ({metric}): no single winner; {self.lead()} "
                f"(closest: {self.doc['closest']})."
            )
        return f"{self.axis.capitalize()} ({metric}): no family wins at 95% confidence ({self.doc['reason']})."


def axis_verdicts(sweeps: list[Any], out: Path) -> list[AxisVerdict]:
    """A verdict per axis whose metric the sweeps (read once: gvcore.compare.read_sweeps) recorded,
    with its figures written into ``out``."""
    from ..compare import compare, expected_best_figure, load_pool
    from ..evaluation.axes import AXES

    verdicts: list[AxisVerdict] = []
    for axis in AXES:
        try:
            pool = load_pool(sweeps, axis=axis)
        except GVError:
            continue  # none of the axis's metrics was recorded by these sweeps
        doc = compare(pool)
        verdict = AxisVerdict(axis, doc["metric"], doc, noise=_single_trial_noise(pool))
        name = verdict.metric.removeprefix("eval/")
        figures = out / "figures"
        verdict.figures["medians"] = str(medians_figure(doc, figures / f"verdict-medians-{name}.png"))
        # With one trial per family a win matrix and a best-of-k curve would only redraw the
        # ranking as if it were evidence: they need some family with repeated trials.
        if max(f["n"] for f in doc["families"]) > 1:
            if len(doc["families"]) > 1:
                verdict.figures["pairs"] = str(pairs_figure(doc, figures / f"verdict-pairs-{name}.png"))
            verdict.figures["tuning"] = str(expected_best_figure(doc, figures / f"verdict-tuning-{name}.png"))
        verdicts.append(verdict)
    return verdicts


def unjudged(verdicts: list[AxisVerdict]) -> dict[str, tuple[str, ...]]:
    """axis -> its metrics, for the axes none of whose metrics the sweeps recorded (older sweeps made
    before gv measured realism, or sweep files whose `metrics:` leave an axis's metric out)."""
    from ..evaluation.axes import AXES

    judged = {v.axis for v in verdicts}
    return {name: axis.metrics for name, axis in AXES.items() if name not in judged}


def _single_trial_noise(pool: Any) -> dict[str, float]:
    """family -> the standard error of its one trial's final value (families with one trial only)."""
    key = f"{pool.metric.removeprefix('eval/')}_se"
    trials: dict[str, list[Any]] = {}
    for sweep in pool.sweeps:
        for row in sweep.trials:
            if row.family and not row.failed:
                trials.setdefault(row.family, []).append(row)
    noise = {}
    for family, rows in trials.items():
        if len(rows) == 1 and (se := finite_number((rows[0].final or {}).get(key))) is not None:
            noise[family] = se
    return noise


def summary(verdicts: list[AxisVerdict]) -> str:
    """The verdict paragraph's first sentence: what can be claimed overall."""
    by_axis = {v.axis: v for v in verdicts}
    if not verdicts:
        return "No axis can be judged: the sweeps recorded none of the axes' metrics (docs/metrics.md)."
    sizes = [f["n"] for f in verdicts[0].doc["families"]]
    if sizes and max(sizes) <= 1:
        return (
            "One trial per family: the table below is a ranking, not an answer -- no difference can be told "
            "from seed-to-seed noise. Run several seeds and draws per family (e.g. `gv sweep study-mnist-5k`)."
        )
    seen = [by_axis[axis] for axis in tradeoff.SEEN if axis in by_axis and by_axis[axis].winner]
    if len({v.winner for v in seen}) > 1:
        named = ", ".join(f"{v.winner} is the most {tradeoff.ADJECTIVE[v.axis]}" for v in seen)
        return f"The axes disagree: {named} (each at 95% confidence)."
    winners = {v.winner for v in verdicts if v.winner}
    if len(winners) == 1 and all(v.winner for v in verdicts):
        return f"{winners.pop()} wins on every axis judged, at 95% confidence."
    if winners:
        return "Some axes have a winner at 95% confidence, others none: read them one by one below."
    led = [v for v in verdicts if v.leaders]
    if led:
        return (
            "No single family wins at 95% confidence, but some are told apart: "
            + "; ".join(f"{v.axis} ({v.metric.removeprefix('eval/')}): {v.lead()}" for v in led)
            + "."
        )
    return "No family wins on any axis at 95% confidence: the differences are within trial-to-trial variation."


def seed_spread(rows: list[LeaderboardRow], metric: str) -> list[dict[str, Any]]:
    """Trials that differ only in their seed: the metric's spread at fixed hyperparameters."""
    from ..compare.pool import setting_text
    from ..sweep.values import values_of

    # The keys whose values differ between trials (besides family and seed) name each setting.
    varying = sorted(
        k
        for k in {k for row in rows for k in row.config} - {"family", "train.seed"}
        if len({repr(row.config.get(k)) for row in rows}) > 1
    )
    groups: dict[tuple[str, str], list[float]] = {}
    labels: dict[tuple[str, str], str] = {}
    for row, value in zip(rows, values_of(rows, metric)):
        if value is None or row.failed or "train.seed" not in row.config:
            continue
        settings = {k: v for k, v in row.config.items() if k != "train.seed"}
        key = (row.family or "?", repr(sorted(settings.items(), key=lambda kv: kv[0])))
        groups.setdefault(key, []).append(value)
        labels.setdefault(key, " ".join(setting_text(k, row.config.get(k)) for k in varying if k in row.config))
    out = []
    for key, values in groups.items():
        if len(values) < 2:
            continue
        out.append(
            {
                "family": key[0],
                "setting": labels[key],
                "seeds": len(values),
                "min": min(values),
                "max": max(values),
                "std": statistics.stdev(values),
            }
        )
    return sorted(out, key=lambda g: (g["family"], -g["seeds"]))


# --- figures ------------------------------------------------------------------------------------


def medians_figure(doc: dict[str, Any], path: Path) -> Path:
    """Each family's median with its 95% bootstrap CI; failed trials counted, their share marked."""
    plt = pyplot()
    families = doc["families"]
    fig, ax = plt.subplots(figsize=(6.5, 0.55 * len(families) + 1.4), dpi=110)
    finite = [v for f in families for v in [f["median"], *(f["ci"] or [])] if v is not None]
    edge = (max(finite) if doc["direction"] == "min" else min(finite)) if finite else 0.0
    for y, family in enumerate(families):
        median = family["median"] if family["median"] is not None else edge
        low, high = family["ci"] or [median, median]
        low, high = (edge if low is None else low), (edge if high is None else high)
        ax.errorbar(
            [median],
            [y],
            xerr=[[max(0.0, median - low)], [max(0.0, high - median)]],
            fmt="o",
            color="black" if family["median"] is not None else "red",
            capsize=4,
        )
    ax.set_yticks(range(len(families)))
    ax.set_yticklabels([f"{f['family']} (n = {f['n']}, {f['failed']} failed)" for f in families], fontsize=8)
    ax.invert_yaxis()
    better = "lower" if doc["direction"] == "min" else "higher"
    ax.set_xlabel(f"median {doc['metric']} over all trials, 95% bootstrap CI ({better} is better)")
    ax.set_title("Per-family medians (red: failed trials decide the median)", fontsize=9)
    ax.grid(axis="x", alpha=0.3)
    return Path(save_figure(plt, fig, path))


def pairs_figure(doc: dict[str, Any], path: Path) -> Path:
    """P(a random trial of the row's family beats one of the column's), with its 95% CI."""
    plt = pyplot()
    names = [f["family"] for f in doc["families"]]
    index = {name: i for i, name in enumerate(names)}
    matrix = [[math.nan] * len(names) for _ in names]
    labels = [[""] * len(names) for _ in names]
    for pair in doc["pairs"]:
        a, b, p, ci = index[pair["a"]], index[pair["b"]], pair["p"], pair["ci"]
        matrix[a][b], matrix[b][a] = p, 1 - p
        interval = f"\n[{ci[0]:.2f}, {ci[1]:.2f}]" if ci else ""
        back = f"\n[{1 - ci[1]:.2f}, {1 - ci[0]:.2f}]" if ci else ""
        labels[a][b], labels[b][a] = f"{p:.2f}{interval}", f"{1 - p:.2f}{back}"
    size = 1.1 * len(names) + 2
    fig, ax = plt.subplots(figsize=(size, size * 0.85), dpi=110)
    image = ax.imshow(matrix, cmap="RdBu", vmin=0, vmax=1)
    for i in range(len(names)):
        for j in range(len(names)):
            ax.text(j, i, labels[i][j] or "-", ha="center", va="center", fontsize=7)
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, fontsize=8)
    ax.set_yticks(range(len(names)))
    ax.set_yticklabels(names, fontsize=8)
    ax.set_title(f"P(row beats column) on {doc['metric']}, 95% CI", fontsize=9)
    fig.colorbar(image, ax=ax, fraction=0.046)
    return Path(save_figure(plt, fig, path))


# --- HTML ---------------------------------------------------------------------------------------


def render(verdicts: list[AxisVerdict], spread: list[dict[str, Any]], metric: str, image) -> str:
    """The verdict section of report.html; ``image(path, alt)`` embeds a figure."""
    e = html.escape
    parts = ["<h2 id='verdict'>Verdict</h2>", f"<p class='verdict'><b>{e(summary(verdicts))}</b></p><ul>"]
    parts += [f"<li>{e(v.sentence())}</li>" for v in verdicts]
    trade = tradeoff.sentence(verdicts)
    if trade:
        parts.append(f"<li><b>{e(trade)}</b></li>")
    front = tradeoff.pareto_front(verdicts)
    if front:
        parts.append(
            f"<li>Pareto front over realism, legibility and diversity (no other family is better on all of "
            f"them): {e(', '.join(front))}.</li>"
        )
    for axis, metrics in unjudged(verdicts).items():
        parts.append(
            f"<li>{e(axis.capitalize())}: not judged -- these sweeps recorded none of {e(', '.join(metrics))} "
            "(they were run before gv measured it, or their <code>metrics:</code> leave it out); run them again "
            "with this gv to judge it.</li>"
        )
    budgets = verdicts[0].doc.get("budgets", []) if verdicts else []
    if len(budgets) > 1:
        parts.append(
            f"<li><b>Trials at different budgets are pooled ({e('; '.join(budgets))}): the families did not "
            "get equal compute, so these verdicts do not compare them at equal cost.</b></li>"
        )
    parts.append(
        "</ul><p class='meta'>Every trial of every family counts (hyperparameter draws and seeds); diverged "
        "and errored trials count as the worst outcome. Medians with 95% bootstrap intervals; P(A beats "
        "B) is the chance that a random trial of A scores better than a random trial of B; a winner also passes "
        "an exact one-sided rank test against every other family (`gv compare`)."
        "</p>"
    )
    for verdict in verdicts:
        parts.append(f"<h3>{e(verdict.axis.capitalize())}: {e(verdict.metric)}</h3><div class='cards'>")
        captions = {
            "medians": "per-family median and 95% CI",
            "pairs": "P(row beats column)",
            "tuning": "how hard to tune: expected best of k random trials",
        }
        for key in ("medians", "pairs", "tuning"):
            if key in verdict.figures:
                parts.append(
                    f"<div class='card'>{image(verdict.figures[key], captions[key])}<p>{e(captions[key])}</p></div>"
                )
        parts.append("</div>")
    if spread:
        parts.append(
            f"<h3>Seed-to-seed spread at fixed hyperparameters ({e(metric)})</h3><table><tr>"
            "<th class='name'>family</th><th class='name'>setting</th><th>seeds</th><th>min</th><th>max</th>"
            "<th>std</th></tr>"
        )
        for group in spread:
            parts.append(
                f"<tr><td class='name'>{e(group['family'])}</td><td class='name'>{e(group['setting'])}</td>"
                f"<td>{group['seeds']}</td>"
                + "".join(f"<td>{group[k]:.4g}</td>" for k in ("min", "max", "std"))
                + "</tr>"
            )
        parts.append("</table>")
    else:
        parts.append(
            "<p class='meta'>No trials repeat a seed at fixed hyperparameters: seed-to-seed spread "
            "can't be shown (set <code>repeats</code> in the sweep file).</p>"
        )
    return "\n".join(parts)


def to_json(verdicts: list[AxisVerdict], spread: list[dict[str, Any]], out: Path) -> dict[str, Any]:
    import os

    return {
        "summary": summary(verdicts),
        "axes": {
            v.axis: {
                "metric": v.metric,
                "winner": v.winner,
                "reason": v.doc["reason"],
                "sentence": v.sentence(),
                "families": v.doc["families"],
                "pairs": v.doc["pairs"],
                "figures": {k: os.path.relpath(p, out) for k, p in v.figures.items()},
            }
            for v in verdicts
        },
        "unjudged": {axis: list(metrics) for axis, metrics in unjudged(verdicts).items()},
        "seed_spread": spread,
        "tradeoff": tradeoff.sentence(verdicts),
        "pareto_front": tradeoff.pareto_front(verdicts),
        # More than one only with --allow-mixed-budgets: the families did not get equal compute.
        "budgets": verdicts[0].doc.get("budgets", []) if verdicts else [],
    }
