"""A sweep's leaderboard: one typed row per trial, ranked by the sweep metric, written as JSON and CSV.

Rows (:class:`LeaderboardRow`) are built from a trial's reported results (what gvcore/tune hands
over), so `gv results`, `gv report` and `gv compare` read them back without Ray. ``metrics``
holds every loss and eval/ value of the trial's best report; ``final`` the full evaluation of
its best checkpoint that ends a sweep (every metric on ``final_samples`` images;
gvcore.tune.final_evaluation).

``leaderboard.json`` carries a ``schema`` number. Schema 1 is gv 0.1.0's layout (no ``schema``
key); every later gv reads every earlier schema (tests/data holds a real schema-1 file), and a
file from a newer gv is refused with a one-line error rather than misread.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import io
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ..config import RENAMED_KEYS
from ..errors import GVError
from . import storage
from .values import FAILED_STATUSES, finite_number, trial_value, value_source

LEADERBOARD_JSON = "leaderboard.json"
LEADERBOARD_CSV = "leaderboard.csv"
# The layout written now; readers accept 1..SCHEMA. 2 added the "schema" key itself; 3 the rows'
# flops and flops_per_step (written when known).
SCHEMA = 3
CSV_COLUMNS = (
    "rank",
    "trial_id",
    "family",
    "status",
    "metric",
    "best_metric",
    "best_step",
    "step",
    "total_steps",
    "wall_time_s",
    "images_per_s",
    "flops",
    "flops_per_step",
    "best_checkpoint",
    "run_dir",
    "node",
    "restores",
    "error",
    "config",
    "metrics",
    "final",
)

# Result keys the trainable reports besides losses and eval/ metrics.
STATUS_KEY, RUN_DIR_KEY, WALL_KEY, NODE_KEY, PID_KEY, RESTORED_KEY, MESSAGE_KEY = (
    "gv/status",
    "gv/run_dir",
    "gv/wall_time",
    "gv/node",
    "gv/pid",
    "gv/restored_from_step",
    "gv/message",
)
# Training FLOPs so far (step x flops_per_step) and of one step: plain names, since ASHA / PBT count
# in "flops" under a FLOP budget (SweepSpec.time_attr).
FLOPS_KEY, FLOPS_PER_STEP_KEY = "flops", "flops_per_step"


@dataclass
class LeaderboardRow:
    """One trial of a sweep."""

    trial_id: str
    family: str | None
    status: str
    metric: str
    mode: str  # "min" | "max": which way `metric` is better
    best_metric: float | None = None
    best_step: int | None = None
    step: int = 0
    total_steps: int | None = None
    wall_time_s: float | None = None
    images_per_s: float | None = None
    flops: float | None = None  # training FLOPs the trial used (step x flops_per_step); None: not recorded
    flops_per_step: float | None = None  # of one train_step, counted by torch (gvcore/budget.py)
    best_checkpoint: str | None = None  # a directory holding checkpoint.pt (a path, or a URI)
    run_dir: str | None = None
    node: str | None = None
    restores: int = 0  # times the trial continued from a checkpoint (crash retries, resumes, PBT)
    error: str | None = None
    config: dict[str, Any] = field(default_factory=dict)  # dotted key -> value
    metrics: dict[str, float] = field(default_factory=dict)  # name -> value at the best report
    final: dict[str, float] | None = None  # metric key -> value, the full evaluation (None: off or failed)
    final_samples: int | None = None
    final_error: str | None = None
    rank: int | None = None
    # Not written: the newest report of a running trial (the live table) and, for rows read back,
    # the sweep they came from (the report's and gv compare's pooling).
    latest: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    sweep: str | None = field(default=None, compare=False)
    sweep_dir: str | None = field(default=None, compare=False)

    UNWRITTEN = ("latest", "sweep", "sweep_dir")

    @property
    def failed(self) -> bool:
        return self.status in FAILED_STATUSES

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in self.UNWRITTEN}
        out = {"rank": out.pop("rank"), **out}  # rank first, as in the CSV
        for key in ("final", "final_samples", "final_error", "flops", "flops_per_step"):
            if out[key] is None:
                del out[key]  # written only when known: a row read from an older schema is written back as it was
        return out

    @classmethod
    def from_dict(cls, data: Any, where: str) -> LeaderboardRow:
        """A row as written by any schema up to SCHEMA; a damaged one is a GVError naming ``where``."""
        if not isinstance(data, dict):
            raise GVError(f"{where}: a row is not an object: the file is damaged or not a gv leaderboard")
        names = {f.name for f in dataclasses.fields(cls)} - set(cls.UNWRITTEN)
        known = {k: v for k, v in data.items() if k in names}
        for key in ("trial_id", "status", "metric", "mode"):
            if not isinstance(known.get(key), str):
                raise GVError(f"{where}: a row has no {key}: the file is damaged or not a gv leaderboard")
        for key in ("config", "metrics", "final"):
            if key in known and known[key] is not None and not isinstance(known[key], dict):
                raise GVError(f"{where}: trial {known['trial_id']}'s {key} is not an object: the file is damaged")
        known.setdefault("family", None)
        if isinstance(known.get("config"), dict):  # a key renamed since the row was written reads as today's
            known["config"] = {RENAMED_KEYS.get(k, k): v for k, v in known["config"].items()}
        return cls(**known)


@dataclass
class Leaderboard:
    """A leaderboard.json document: the sweep's rows and what they were ranked by."""

    sweep: str | None
    final: bool  # False while a sweep runs or after an interruption
    metric: str | None
    mode: str | None
    rows: list[LeaderboardRow]
    updated: str | None = None
    schema: int = SCHEMA
    # What else the writer said (interrupted, wall_time_s, ...), kept as it was.
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": self.schema,
            "sweep": self.sweep,
            "final": self.final,
            "updated": self.updated,
            "metric": self.metric,
            "mode": self.mode,
            **self.extra,
            "rows": [r.to_dict() for r in self.rows],
        }


def _finite(value: Any) -> bool:
    return finite_number(value) is not None


@functools.cache
def _reported_losses() -> frozenset[str]:
    from ..families import FAMILIES

    return frozenset(loss for family in FAMILIES.values() for loss in family.reported_losses)


def _is_metric_key(key: str) -> bool:
    return key.startswith(("eval/", "loss/")) or key in _reported_losses()


def make_row(
    *,
    trial_id: str,
    config: dict[str, Any],
    status: str,
    metric: str,
    mode: str,
    history: Iterable[dict[str, Any]],
    best_checkpoint: str | None = None,
    error: str | None = None,
    restores: int = 0,
) -> LeaderboardRow:
    """One leaderboard row from a trial's reports (oldest first)."""
    history = [h for h in history if h]
    last = history[-1] if history else {}
    best: dict[str, Any] | None = None
    for result in history:
        value = result.get(metric)
        if not _finite(value):
            continue
        if best is None or (value < best[metric] if mode == "min" else value > best[metric]):
            best = result
    return LeaderboardRow(
        trial_id=trial_id,
        family=config.get("family"),
        status=status,
        metric=metric,
        mode=mode,
        best_metric=float(best[metric]) if best else None,
        best_step=int(best["step"]) if best and _finite(best.get("step")) else None,
        step=int(last["step"]) if _finite(last.get("step")) else 0,
        total_steps=int(last["total_steps"]) if _finite(last.get("total_steps")) else None,
        wall_time_s=round(float(last[WALL_KEY]), 2) if _finite(last.get(WALL_KEY)) else None,
        images_per_s=round(float(last["images_per_s"]), 1) if _finite(last.get("images_per_s")) else None,
        flops=float(last[FLOPS_KEY]) if _finite(last.get(FLOPS_KEY)) else None,
        flops_per_step=float(last[FLOPS_PER_STEP_KEY]) if _finite(last.get(FLOPS_PER_STEP_KEY)) else None,
        best_checkpoint=best_checkpoint,
        run_dir=last.get(RUN_DIR_KEY),
        node=last.get(NODE_KEY),
        restores=restores,
        error=error or (last.get(MESSAGE_KEY) or None if status == "diverged" else None),
        config=dict(config),
        metrics={k: float(v) for k, v in (best or last).items() if _is_metric_key(k) and _finite(v)},
    )


def trial_status(errored: bool, last_result: dict[str, Any]) -> str:
    """gv's final status from Ray's error flag and the trainable's last report.

    The trainable reports "done" at its last eval and "diverged" when the trainer gives up; a
    trial Ray ended without either was stopped early (by ASHA, or by an interrupted sweep).
    """
    if errored:
        return "error"
    reported = last_result.get(STATUS_KEY)
    return reported if reported in ("done", "diverged") else "stopped"


def comparable_across_families(metric: str) -> bool:
    """Sample-quality metrics compare families; losses only compare trials of one family."""
    return metric.startswith("eval/")


def rank(rows: list[LeaderboardRow]) -> list[LeaderboardRow]:
    """Best first: finished and early-stopped trials by their value of the sweep metric (the final
    evaluation where the trials have one: gvcore/sweep/values.py), then diverged, then errors. A loss
    metric ranks within each family (losses of different families don't compare)."""
    if not rows:
        return rows
    from ..families import FAMILIES

    metric, mode = rows[0].metric, rows[0].mode
    source = value_source(rows, metric)
    family_order = {f: i for i, f in enumerate(FAMILIES)}
    status_order = {"done": 0, "running": 0, "stopped": 1, "pending": 2, "diverged": 3, "error": 4}

    def key(row: LeaderboardRow) -> tuple:
        value, _ = trial_value(row, metric, source)
        missing = value is None
        signed = 0.0 if value is None else (value if mode == "min" else -value)
        group = 0 if comparable_across_families(metric) else family_order.get(row.family or "", len(family_order))
        return (group, status_order.get(row.status, 5), missing, signed, row.trial_id)

    ordered = sorted(rows, key=key)
    for i, row in enumerate(ordered, 1):
        row.rank = i
    return ordered


def mixes_kinds(rows: list[LeaderboardRow]) -> bool:
    from ..families import get_family

    return len({get_family(r.family).kind for r in rows if r.family}) > 1


def objective_note(metric: str, rows: list[LeaderboardRow]) -> str | None:
    """A warning line when a loss ranks trials of different kinds (GAN vs VAE)."""
    if comparable_across_families(metric) or not mixes_kinds(rows):
        return None
    from ..families import FAMILIES

    objectives = {family.kind: family.objective_loss for family in FAMILIES.values()}
    what = (
        " and ".join(f"{loss} for {kind.upper()}s" for kind, loss in objectives.items())
        if metric == "loss/objective"
        else metric
    )
    return (
        f"note: {metric} ({what}) does not compare GANs with VAEs; rows are ranked within each family. "
        "Rank across families with an eval/ metric such as eval/fid."
    )


# --- files --------------------------------------------------------------------------------------


def to_csv(rows: list[LeaderboardRow]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        flat = row.to_dict()
        for key in ("config", "metrics", "final"):
            flat[key] = json.dumps(flat.get(key) or {}, sort_keys=True)
        writer.writerow(flat)
    return out.getvalue()


def write(
    directory: str | os.PathLike,
    rows: list[LeaderboardRow],
    *,
    sweep: str,
    final: bool,
    extra: dict[str, Any] | None = None,
) -> tuple[str, str]:
    """leaderboard.json + leaderboard.csv in the sweep directory; returns their paths."""
    rows = rank(rows)
    doc = Leaderboard(
        sweep=sweep,
        final=final,
        metric=rows[0].metric if rows else None,
        mode=rows[0].mode if rows else None,
        rows=rows,
        updated=datetime.now(UTC).isoformat(timespec="seconds"),
        extra=dict(extra or {}),
    )
    json_path = storage.write_text(directory, LEADERBOARD_JSON, json.dumps(doc.to_dict(), indent=2, default=str) + "\n")
    csv_path = storage.write_text(directory, LEADERBOARD_CSV, to_csv(rows))
    return json_path, csv_path


def read(directory: str | os.PathLike) -> Leaderboard:
    """A sweep directory's leaderboard (final, or the live one of a running sweep), any schema up
    to SCHEMA; each row knows the sweep it came from."""
    if not storage.is_uri(directory) and not os.path.isdir(directory):
        raise GVError(f"sweep dir '{directory}' does not exist: pass the directory `gv sweep` printed (STORAGE/NAME)")
    text = storage.read_text(directory, LEADERBOARD_JSON)
    where = storage.join(str(directory), LEADERBOARD_JSON)
    if text is None:
        raise GVError(
            f"'{directory}' has no {LEADERBOARD_JSON} yet: pass a sweep directory made by `gv sweep` "
            "(a sweep writes it once its first trial reports)"
        )
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise GVError(f"'{where}' is not valid JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("rows"), list):
        raise GVError(f"'{where}' is not a gv leaderboard (no 'rows' list)")
    schema = doc.get("schema", 1)
    if not isinstance(schema, int) or isinstance(schema, bool) or schema < 1:
        raise GVError(f"'{where}' has a bad schema number {schema!r}: the file is damaged")
    if schema > SCHEMA:
        raise GVError(
            f"'{where}' was written by a newer gv (leaderboard schema {schema}; this gv reads up to "
            f"{SCHEMA}): upgrade gv to read it"
        )
    sweep = doc.get("sweep") if isinstance(doc.get("sweep"), str) else None
    rows = [LeaderboardRow.from_dict(r, where) for r in doc["rows"]]
    for row in rows:
        row.sweep, row.sweep_dir = sweep or os.path.basename(str(directory).rstrip("/")), str(directory)
    known = {"schema", "sweep", "final", "updated", "metric", "mode", "rows"}
    return Leaderboard(
        sweep=sweep,
        final=bool(doc.get("final")),
        metric=doc.get("metric"),
        mode=doc.get("mode"),
        rows=rows,
        updated=doc.get("updated"),
        schema=schema,
        extra={k: v for k, v in doc.items() if k not in known},
    )
