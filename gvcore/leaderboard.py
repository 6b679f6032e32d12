"""A sweep's leaderboard: one row per trial, ranked by the sweep metric, written as JSON and CSV.

Rows are built from a trial's reported results (what the Ray adapter hands over) and are plain
dicts, so `gv results` reads them back without Ray::

    rank, trial_id, family, status (done / diverged / error / stopped; running / pending while the
    sweep runs), metric, mode, best_metric, best_step, step, total_steps, wall_time_s,
    images_per_s, best_checkpoint, run_dir, node, restores (times continued from a checkpoint), error, config {dotted key: value},
    metrics {name: value at the best report}, final {metric: value} (the full evaluation of the
    best checkpoint: every metric on final_eval_samples images; absent when it was off or failed)

``metrics`` holds every loss and eval/ value of the best report; ``final`` the full evaluation of
the best checkpoint that ends a sweep (gvcore.tune.final_evaluation).
"""

from __future__ import annotations

import csv
import functools
import io
import json
import math
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

from . import rundir
from .errors import GVError

LEADERBOARD_JSON = "leaderboard.json"
LEADERBOARD_CSV = "leaderboard.csv"
CSV_COLUMNS = ("rank", "trial_id", "family", "status", "metric", "best_metric", "best_step", "step", "total_steps",
               "wall_time_s", "images_per_s", "best_checkpoint", "run_dir", "node", "restores", "error", "config",
               "metrics", "final")

# Result keys the trainable reports besides losses and eval/ metrics.
STATUS_KEY, RUN_DIR_KEY, WALL_KEY, NODE_KEY, PID_KEY, RESTORED_KEY, MESSAGE_KEY = (
    "gv/status", "gv/run_dir", "gv/wall_time", "gv/node", "gv/pid", "gv/restored_from_step", "gv/message")


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


@functools.cache
def _reported_losses() -> frozenset[str]:
    from .families import FAMILIES

    return frozenset(loss for family in FAMILIES.values() for loss in family.reported_losses)


def _is_metric_key(key: str) -> bool:
    return key.startswith(("eval/", "loss/")) or key in _reported_losses()


def make_row(*, trial_id: str, config: dict[str, Any], status: str, metric: str, mode: str,
             history: Iterable[dict[str, Any]], best_checkpoint: str | None = None, error: str | None = None,
             restores: int = 0) -> dict[str, Any]:
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
    return {
        "rank": None,
        "trial_id": trial_id,
        "family": config.get("family"),
        "status": status,
        "metric": metric,
        "mode": mode,
        "best_metric": float(best[metric]) if best else None,
        "best_step": int(best["step"]) if best and _finite(best.get("step")) else None,
        "step": int(last["step"]) if _finite(last.get("step")) else 0,
        "total_steps": int(last["total_steps"]) if _finite(last.get("total_steps")) else None,
        "wall_time_s": round(float(last[WALL_KEY]), 2) if _finite(last.get(WALL_KEY)) else None,
        "images_per_s": round(float(last["images_per_s"]), 1) if _finite(last.get("images_per_s")) else None,
        "best_checkpoint": best_checkpoint,
        "run_dir": last.get(RUN_DIR_KEY),
        "node": last.get(NODE_KEY),
        "restores": restores,
        "error": error or (last.get(MESSAGE_KEY) or None if status == "diverged" else None),
        "config": dict(config),
        "metrics": {k: float(v) for k, v in (best or last).items() if _is_metric_key(k) and _finite(v)},
    }


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


def rank(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Best first: finished and early-stopped trials by their best metric, then diverged, then
    errors. A loss metric ranks within each family (losses of different families don't compare)."""
    if not rows:
        return rows
    from .families import FAMILIES

    metric, mode = rows[0]["metric"], rows[0]["mode"]
    family_order = {f: i for i, f in enumerate(FAMILIES)}
    status_order = {"done": 0, "running": 0, "stopped": 1, "pending": 2, "diverged": 3, "error": 4}

    def key(row: dict[str, Any]) -> tuple:
        value = row["best_metric"]
        missing = value is None
        signed = 0.0 if missing else (value if mode == "min" else -value)
        group = 0 if comparable_across_families(metric) else family_order.get(row["family"], len(family_order))
        return (group, status_order.get(row["status"], 5), missing, signed, row["trial_id"])

    ordered = sorted(rows, key=key)
    for i, row in enumerate(ordered, 1):
        row["rank"] = i
    return ordered


def mixes_kinds(rows: list[dict[str, Any]]) -> bool:
    from .families import get_family

    return len({get_family(r["family"]).kind for r in rows if r.get("family")}) > 1


def objective_note(metric: str, rows: list[dict[str, Any]]) -> str | None:
    """A warning line when a loss ranks trials of different kinds (GAN vs VAE)."""
    if comparable_across_families(metric) or not mixes_kinds(rows):
        return None
    from .families import FAMILIES

    objectives = {family.kind: family.objective_loss for family in FAMILIES.values()}
    what = " and ".join(f"{loss} for {kind.upper()}s" for kind, loss in objectives.items()) \
        if metric == "loss/objective" else metric
    return (f"note: {metric} ({what}) does not compare GANs with VAEs; rows are ranked within each family. "
            "Rank across families with an eval/ metric such as eval/fid.")


# --- files --------------------------------------------------------------------------------------


def is_uri(location: str | os.PathLike) -> bool:
    return "://" in str(location)


def write_text(directory: str | os.PathLike, name: str, text: str) -> str:
    """Write a file into a sweep directory, local (atomically) or on a storage URI (s3://...)."""
    if is_uri(directory):
        import pyarrow.fs

        fs, base = pyarrow.fs.FileSystem.from_uri(str(directory))
        fs.create_dir(base, recursive=True)  # needed on file://, a no-op on object stores
        with fs.open_output_stream(f"{base.rstrip('/')}/{name}") as out:
            out.write(text.encode())
        return f"{str(directory).rstrip('/')}/{name}"
    return str(rundir.write_text(Path(directory) / name, text))


def read_text(directory: str | os.PathLike, name: str) -> str | None:
    """A file of a sweep directory, or None when it isn't there."""
    if is_uri(directory):
        import pyarrow.fs

        fs, base = pyarrow.fs.FileSystem.from_uri(str(directory))
        path = f"{base.rstrip('/')}/{name}"
        if fs.get_file_info(path).type == pyarrow.fs.FileType.NotFound:
            return None
        with fs.open_input_stream(path) as stream:
            return stream.read().decode()
    path = Path(directory) / name
    if not path.is_file():
        return None
    try:
        return path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise GVError(f"'{path}' is unreadable ({type(exc).__name__}): it is damaged or not gv's") from None


def to_csv(rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        flat = dict(row)
        flat["config"] = json.dumps(row["config"], sort_keys=True)
        flat["metrics"] = json.dumps(row["metrics"], sort_keys=True)
        flat["final"] = json.dumps(row.get("final") or {}, sort_keys=True)
        writer.writerow(flat)
    return out.getvalue()


def write(directory: str | os.PathLike, rows: list[dict[str, Any]], *, sweep: str, final: bool,
          extra: dict[str, Any] | None = None) -> tuple[str, str]:
    """leaderboard.json + leaderboard.csv in the sweep directory; returns their paths."""
    rows = rank(rows)
    doc = {"sweep": sweep, "final": final,
           "updated": datetime.now(timezone.utc).isoformat(timespec="seconds"),
           "metric": rows[0]["metric"] if rows else None, "mode": rows[0]["mode"] if rows else None,
           **(extra or {}), "rows": rows}
    json_path = write_text(directory, LEADERBOARD_JSON, json.dumps(doc, indent=2, default=str) + "\n")
    csv_path = write_text(directory, LEADERBOARD_CSV, to_csv(rows))
    return json_path, csv_path


def read(directory: str | os.PathLike) -> dict[str, Any]:
    """A sweep directory's leaderboard document (final, or the live one of a running sweep)."""
    if not is_uri(directory) and not Path(directory).is_dir():
        raise GVError(f"sweep dir '{directory}' does not exist: pass the directory `gv sweep` printed (STORAGE/NAME)")
    text = read_text(directory, LEADERBOARD_JSON)
    if text is None:
        raise GVError(f"'{directory}' has no {LEADERBOARD_JSON} yet: pass a sweep directory made by `gv sweep` "
                      "(a sweep writes it once its first trial reports)")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise GVError(f"'{directory}/{LEADERBOARD_JSON}' is not valid JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("rows"), list):
        raise GVError(f"'{directory}/{LEADERBOARD_JSON}' is not a gv leaderboard (no 'rows' list)")
    return doc
