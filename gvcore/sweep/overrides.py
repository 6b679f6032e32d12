"""The `gv sweep` flags on top of a sweep file.

Flags and ``--set`` pins edit the file's document, which then goes back through the file's own
validator (``gvcore.sweep.schema.parse_sweep``): every rule -- budgets against the scheduler's
intervals, metrics the families report, trial caps -- is written once, and an error names the
flag that caused it ("sweeps/dcgan-mnist.yaml with --set train.epochs=1: scheduler.grace_period: ...").
"""

from __future__ import annotations

from typing import Any

from ..config import BUDGET_KINDS, Config, get_value
from ..config import apply_overrides as apply_set
from ..errors import GVError
from .schema import parse_sweep
from .spec import SweepSpec


def apply_overrides(
    spec: SweepSpec,
    *,
    num_samples: int | None = None,
    max_concurrent: int | None = None,
    cpus_per_trial: float | None = None,
    gpus_per_trial: float | None = None,
    max_trials: int | None = None,
    sets: list[str] | None = None,
    dataset: str | None = None,
) -> SweepSpec:
    """A new spec: ``spec`` with the `gv sweep` flags applied, validated like a sweep file."""
    doc = spec.to_doc()
    said: list[str] = []
    if dataset is not None:
        doc["dataset"] = dataset  # a folder path is made absolute by the file's validator
        said.append(f"--dataset {dataset}")
    for flag, value, place in (
        ("--num-samples", num_samples, ("num_samples",)),
        ("--max-concurrent", max_concurrent, ("max_concurrent",)),
        ("--cpus-per-trial", cpus_per_trial, ("resources", "cpu")),
        ("--gpus-per-trial", gpus_per_trial, ("resources", "gpu")),
        ("--max-trials", max_trials, ("max_trials",)),
    ):
        if value is None:
            continue
        section = doc
        for key in place[:-1]:
            section = section[key]
        section[place[-1]] = value
        said.append(f"{flag} {value:g}" if isinstance(value, float) else f"{flag} {value}")
    for item in sets or []:
        _pin(spec, doc, item)
        said.append(f"--set {item}")
    if not said:
        return spec
    return parse_sweep(doc, f"{spec.source} with {' '.join(said)}")


def _pin(spec: SweepSpec, doc: dict[str, Any], item: str) -> None:
    """One ``--set key=value``: the key leaves the search space and holds this value in every
    trial; family / seed / dataset / budget pins replace their own top-level fields."""
    # Parsed with the config's own rules first: an unknown key or a wrong type is named as such.
    key = item.split("=", 1)[0].strip()
    value = get_value(apply_set(Config(), [item]), key)
    if key == "family":
        doc["families"] = [value]
        doc["per_family"] = {f: keys for f, keys in doc["per_family"].items() if f == value}
    elif key == "train.seed":
        doc["seeds"] = [value]
    elif key == "data.name":
        doc["dataset"] = value
    elif key in {f"train.{kind}" for kind in BUDGET_KINDS}:
        unit = key.split(".")[1]
        # The scheduler's intervals are numbers in the file's budget unit: another unit would
        # silently change what they mean.
        if spec.scheduler.type != "fifo" and unit != spec.budget_unit:
            raise GVError(
                f"bad --set {item}: this sweep's {spec.scheduler.type} scheduler counts in "
                f"{spec.budget_unit}; set train.{spec.budget_unit} instead"
            )
        doc["budget"] = {unit: value}
    elif key == "train.eval_every":
        doc["eval_every"] = value
    else:
        for section in (doc.get("search", {}), doc["scheduler"].get("mutations", {}), *doc["per_family"].values()):
            section.pop(key, None)
        if not doc.get("search"):
            doc.pop("search", None)
        doc["base"][key] = value
