"""The report's race section, for a study directory (`gv study`): the race as a picture -- trials per
family over the rounds, each exit marked -- with the race's own verdict, its rounds and the compute
it saved against a fixed design (from study.json, gvcore/study/document.py).

The verdict section above it pools the study's trials as if they were a fixed design; the race's
verdict is the one that accounts for looking after every round, so this section says which is which.
"""

from __future__ import annotations

import html
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .figures import FAMILY_COLORS, pyplot, save_figure


def read_studies(directories: list[str]) -> list[dict[str, Any]]:
    """The study.json of every directory that has one (checked: a damaged one is a one-line error)."""
    from ..study import document

    return [doc for directory in directories if (doc := document.read(directory)) is not None]


def lanes(study: dict[str, Any]) -> list[tuple[str, list[tuple[int, int]], dict[str, Any] | None]]:
    """One lane per family, leaders first then by how long each lasted: (family, [(round, trials it
    got in that round)], its exit or None)."""
    verdict = study.get("verdict") or {}
    exits = {entry["family"]: entry for entry in verdict.get("out", [])}
    segments: dict[str, list[tuple[int, int]]] = {family: [] for family in study["families"]}
    for entry in study["rounds"]:
        if entry["status"] == "done":
            for family in entry["families"]:
                segments[family].append((entry["round"], entry["count"]))
    leaders = [f for f in verdict.get("leaders", []) if f in segments]
    rest = sorted((f for f in segments if f not in leaders), key=lambda f: -sum(n for _, n in segments[f]))
    return [(family, segments[family], exits.get(family)) for family in leaders + rest]


def race_figure(study: dict[str, Any], path: Path) -> Path:
    """The race as lanes: each family's trials, one segment per round it raced in; an exit is marked
    x with the round and who beat it; grey hatching up to the longest lane is what a fixed design
    giving every family as many trials would have spent on top."""
    plt = pyplot()
    verdict = study.get("verdict") or {}
    rows = lanes(study)
    rounds = max((entry["round"] for entry in study["rounds"] if entry["status"] == "done"), default=1)
    longest = max((sum(n for _, n in segments) for _, segments, _ in rows), default=0)
    shades = plt.get_cmap("Blues")
    fig, ax = plt.subplots(figsize=(7.5, 0.55 * len(rows) + 1.6), dpi=110)
    for y, (family, segments, exit_) in enumerate(rows):
        ax.barh(y, longest, color="none", edgecolor="#bbbbbb", hatch="///", linewidth=0.0)
        left = 0
        for number, count in segments:
            depth = 0.35 + 0.6 * (number - 1) / max(1, rounds - 1)
            ax.barh(y, count, left=left, color=shades(depth), edgecolor="white")
            if count >= 2:
                ink = "white" if depth > 0.65 else "black"
                ax.text(left + count / 2, y, str(number), ha="center", va="center", fontsize=7, color=ink)
            left += count
        if exit_ is not None:
            ax.plot([left], [y], marker="x", markersize=10, mew=2.5, color="#c00000")
            label = f"out in round {segments[-1][0]}, beaten by {exit_['beaten_by']}"
        else:
            ax.plot([left], [y], marker="o", markersize=7, color=FAMILY_COLORS.get(family, "black"))
            label = "winner" if family == verdict.get("winner") else "still in"
        ax.annotate(label, (left, y), textcoords="offset points", xytext=(8, -3), fontsize=7)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([family for family, _, _ in rows], fontsize=9)
    ax.invert_yaxis()
    ax.set_xlim(0, longest * 1.6 + 1)
    ax.set_xlabel("trials (segments: the round that ran them; hatched: a fixed design's extra trials)")
    stop = (study.get("stop") or {}).get("reason") or study.get("status", "")
    ax.set_title(f"The race on {study['metric']}: {rounds} rounds, stopped: {stop}", fontsize=9)
    ax.grid(axis="x", alpha=0.3)
    return Path(save_figure(plt, fig, path))


def _rounds_table(study: dict[str, Any]) -> str:
    e = html.escape
    rows = [
        "<table><tr><th>round</th><th class='name'>families in</th><th>new trials each</th>"
        "<th>level (per pair)</th><th class='name'>left the race</th></tr>"
    ]
    for entry in study["rounds"]:
        if entry["status"] != "done":
            continue
        out = "<br>".join(f"{e(o['family'])}: {e(o['reason'])}" for o in entry["out"]) or "–"
        rows.append(
            f"<tr><td>{entry['round']}</td><td class='name'>{e(', '.join(entry['families']))}</td>"
            f"<td>{entry['count']}</td><td>{entry['level']:.1e}</td><td class='name'>{out}</td></tr>"
        )
    rows.append("</table>")
    return "".join(rows)


def compute_text(compute: dict[str, Any]) -> str:
    if not compute.get("fixed_design_trials"):
        return "No round has been looked at yet."
    longest = max(compute["trials"].values())
    text = (
        f"{compute['trials_spent']} trials spent; a fixed design giving every family {longest} trials (the "
        f"longest-raced family's) would have cost {compute['fixed_design_trials']}: "
        f"{compute['saved_fraction']:.0%} saved"
    )
    if "saved_flops_fraction" in compute:
        text += f" ({compute['saved_flops_fraction']:.0%} of the training FLOPs)"
    return text + "."


def render(studies: list[tuple[dict[str, Any], str]], image: Callable[[str, str], str]) -> str:
    """The race section of report.html for (study, figure path) pairs; '' without a study."""
    if not studies:
        return ""
    e = html.escape
    parts = ["<h2 id='race'>Race</h2>"]
    for study, figure in studies:
        verdict = study.get("verdict") or {}
        settings = study.get("settings") or {}
        parts.append(f"<p class='verdict'><b>{e(verdict.get('sentence', ''))}</b></p>")
        parts.append(f"<p class='meta'>{e(compute_text(study.get('compute') or {}))}</p>")
        parts.append(f"<div class='strip'>{image(figure, 'trials per family over the rounds')}</div>")
        parts.append(_rounds_table(study))
        parts.append(
            "<p class='meta'>"
            + e(
                f"Study {study['name']} on the {study.get('axis', '?')} axis ({study['metric']}): each round gives every "
                "family still racing fresh trials (new hyperparameter draws and seeds); a family leaves when another "
                "beats it -- P(a random trial of the other beats one of it) above 1/2 by an exact one-sided rank test "
                f"at the look's level, which spends 1 - {settings.get('confidence', 0.95)} across the looks and the "
                "pairs (docs/studies/racing.md). The Verdict section above pools these trials as if they were a fixed "
                "design (it does not account for the looks, and the families ran different numbers of trials); the "
                "race's verdict is this one."
            )
            + "</p>"
        )
    return "\n".join(parts)


def race_section(directories: list[str], out: Path, image: Callable[[str, str], str]) -> tuple[str, list[Any]]:
    """The section's HTML and its report.json entries for the studies among ``directories``."""
    studies = read_studies(directories)
    drawn = []
    for i, study in enumerate(studies):
        figure = race_figure(study, out / "figures" / f"race-{i + 1}.png")
        drawn.append((study, str(figure)))
    entries = [
        {
            "study": study["name"],
            "verdict": study.get("verdict"),
            "compute": study.get("compute"),
            "rounds": len([r for r in study["rounds"] if r["status"] == "done"]),
            "figure": os.path.relpath(figure, out),
        }
        for study, figure in drawn
    ]
    return render(drawn, image), entries
