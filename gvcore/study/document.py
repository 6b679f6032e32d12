"""study.json: a study's rounds, its state and its verdict, beside its leaderboard.json.

Written after every change (a round planned, a round looked at, the end), through gvcore's atomic
writer (gvcore/sweep/storage.py), so an interrupted study resumes from the last one. Read back by
`gv study --resume` and `gv report` (the race section): a file that is damaged, foreign or from a
newer gv is refused with one line, never half-read.

    schema, kind ("gv-study"), name, created, updated, gv_version,
    status       running | interrupted | finished
    metric, direction, axis, dataset, families [raced, in starting order],
    settings     {axis, confidence, margin, trials_per_round, first_round, max_trials, max_hours}
    rule         {test, spending, pairs, alpha, first_round}: the elimination rule, in words and numbers
    rounds       [{round, dir, families, first, count, status, started, wall_time_s, level,
                   trials {family: n}, medians {family: value | null}, pairs [{a, b, p, ci, rank_p,
                   rank_p_reverse, bound}], out [{family, beaten_by, beaten_by_all, pair, reason}],
                   equivalent, cycle}]
    stop         null | {reason: winner | equivalent | budget, text}
    verdict      {outcome, winner, leaders, equivalent, out, closest, sentence}
    compute      {trials {family: n}, trials_spent, fixed_design_trials, saved_trials, saved_fraction,
                  flops_spent, fixed_design_flops, saved_flops_fraction}
    elapsed_s    seconds the study has run, over every invocation
    spec         the sweep spec its trials are drawn from (as sweep.json holds it)
"""

from __future__ import annotations

import json
import math
from typing import Any

from .. import __version__
from ..errors import GVError
from ..sweep import spec_from_saved, storage
from ..sweep.spec import SweepSpec
from . import STUDY_JSON
from .race import BUDGET, EQUIVALENT, WINNER, Race, RoundRecord, now
from .settings import CHECKS, StudySettings

SCHEMA = 1
KIND = "gv-study"
STATUSES = ("running", "interrupted", "finished")


def rule_text(race: Race) -> dict[str, Any]:
    rule = race.rule
    return {
        "test": "exact one-sided Mann-Whitney rank test of P(a random A trial beats a random B trial) > 1/2, "
        "failed trials the worst outcome",
        "spending": f"look j spends alpha * 6 / (pi^2 j^2), split over the {rule.directions} ordered pairs of the "
        f"{rule.families} families that started (anytime-valid: the looks' levels sum to alpha)",
        "interval": "Hoeffding's distribution-free bound for P at the look's level (equivalence within the margin)",
        "alpha": round(rule.alpha, 12),
        "pairs": rule.directions,
        "first_round": race.first_round,
    }


def document(
    race: Race, *, name: str, spec: SweepSpec, status: str, created: str, elapsed_s: float, compute: dict[str, Any]
) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "kind": KIND,
        "name": name,
        "created": created,
        "updated": now(),
        "gv_version": __version__,
        "status": status,
        "metric": spec.metric,
        "direction": race.direction,
        "axis": race.settings.axis,
        "dataset": spec.dataset,
        "families": list(race.families),
        "settings": race.settings.to_dict(),
        "rule": rule_text(race),
        "rounds": [r.to_dict() for r in race.rounds],
        "stop": race.stop,
        "verdict": race.verdict(),
        "compute": compute,
        "elapsed_s": round(elapsed_s, 1),
        "spec": spec.to_dict(),
    }


def write(directory: str, doc: dict[str, Any]) -> str:
    return storage.write_text(directory, STUDY_JSON, json.dumps(doc, indent=2, allow_nan=False) + "\n")


def read(directory: str) -> dict[str, Any] | None:
    """A directory's study.json, checked; None when it has none (a plain sweep directory)."""
    text = storage.read_text(directory, STUDY_JSON)
    if text is None:
        return None
    where = storage.join(str(directory), STUDY_JSON)
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise GVError(f"'{where}' is not valid JSON ({exc.msg} at line {exc.lineno}): the file is damaged") from None
    check(doc, where)
    return doc


def _damaged(where: str, what: str) -> GVError:
    return GVError(f"'{where}' is damaged or not a gv study ({what}): start a new study, or restore the file")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _check_pair(pair: Any, where: str) -> None:
    ok = (
        isinstance(pair, dict)
        and isinstance(pair.get("a"), str)
        and isinstance(pair.get("b"), str)
        and all(_is_number(pair.get(k)) for k in ("p", "rank_p", "rank_p_reverse"))
        and isinstance(pair.get("bound"), list)
        and len(pair["bound"]) == 2
        and all(_is_number(v) for v in pair["bound"])
        and (pair.get("ci") is None or (isinstance(pair["ci"], list) and all(_is_number(v) for v in pair["ci"])))
    )
    if not ok:
        raise _damaged(where, "a pair of a round is malformed")


def _check_round(raw: Any, where: str) -> RoundRecord:
    if not isinstance(raw, dict):
        raise _damaged(where, "a round is not an object")
    ints = all(isinstance(raw.get(k), int) and not isinstance(raw.get(k), bool) for k in ("round", "first", "count"))
    if not ints or not _strings(raw.get("families")) or raw.get("status") not in ("running", "done"):
        raise _damaged(where, "a round lacks its number, families, trials or status")
    if not (isinstance(raw.get("pairs", []), list) and isinstance(raw.get("out", []), list)):
        raise _damaged(where, "a round's pairs or exits are not lists")
    for pair in raw.get("pairs", []):
        _check_pair(pair, where)
    for entry in raw.get("out", []):
        if not (isinstance(entry, dict) and all(isinstance(entry.get(k), str) for k in ("family", "beaten_by"))):
            raise _damaged(where, "an exit of a round is malformed")
        _check_pair(entry.get("pair"), where)
    medians = raw.get("medians", {})
    trials = raw.get("trials", {})
    if not (isinstance(medians, dict) and all(v is None or _is_number(v) for v in medians.values())):
        raise _damaged(where, "a round's medians are malformed")
    if not (isinstance(trials, dict) and all(isinstance(v, int) for v in trials.values())):
        raise _damaged(where, "a round's trial counts are malformed")
    if raw.get("level") is not None and not _is_number(raw["level"]):
        raise _damaged(where, "a round's level is malformed")
    fields = RoundRecord.__dataclass_fields__
    return RoundRecord(**{k: v for k, v in raw.items() if k in fields})


def check(doc: Any, where: str) -> None:
    if not isinstance(doc, dict) or doc.get("kind") != KIND:
        raise GVError(f"'{where}' is not a gv study (no kind: {KIND})")
    schema = doc.get("schema")
    if not isinstance(schema, int) or isinstance(schema, bool) or schema < 1:
        raise _damaged(where, f"bad schema number {schema!r}")
    if schema > SCHEMA:
        raise GVError(
            f"'{where}' was written by a newer gv (study schema {schema}; this gv reads up to {SCHEMA}): upgrade gv"
        )
    if not _strings(doc.get("families")) or len(doc["families"]) < 2:
        raise _damaged(where, "no list of families")
    if doc.get("status") not in STATUSES or doc.get("direction") not in ("min", "max"):
        raise _damaged(where, "no status or metric direction")
    if not isinstance(doc.get("metric"), str) or not isinstance(doc.get("rounds"), list):
        raise _damaged(where, "no metric or rounds")
    if not (isinstance(doc.get("name"), str) and isinstance(doc.get("created"), str)):
        raise _damaged(where, "no name or creation time")
    stop = doc.get("stop")
    if stop is not None and not (isinstance(stop, dict) and stop.get("reason") in (WINNER, EQUIVALENT, BUDGET)):
        raise _damaged(where, "a malformed stop")
    for raw in doc["rounds"]:
        _check_round(raw, where)
    settings = doc.get("settings")
    if not isinstance(settings, dict):
        raise _damaged(where, "no settings")
    try:
        for key, value in settings.items():
            if key in CHECKS:
                CHECKS[key](where, f"settings.{key}", value)
    except GVError as exc:
        raise _damaged(where, str(exc)) from None


def race_of(doc: dict[str, Any], where: str = STUDY_JSON) -> Race:
    """The race a checked study.json describes."""
    settings = StudySettings(**{k: v for k, v in doc["settings"].items() if k in StudySettings.KEYS})
    rounds = [_check_round(raw, where) for raw in doc["rounds"]]
    return Race(doc["families"], settings, doc["direction"], rounds=rounds, stop=doc.get("stop"))


def spec_of(doc: dict[str, Any], where: str = STUDY_JSON) -> SweepSpec:
    try:
        return spec_from_saved(doc["spec"])
    except (ValueError, KeyError, TypeError, AttributeError, GVError):
        raise _damaged(where, "its sweep spec can't be read back") from None
