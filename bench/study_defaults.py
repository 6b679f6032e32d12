"""The defaults rule, applied to finished defaults-study sweeps. Prints, never asserts.

A default must first not show a family's known failure, so a setting qualifies only when every one
of its seeds meets ``--require`` (a recorded metric against a bound) at its last eval at or before
``--step``; among the qualified settings of each family, the default is `gv compare --by`'s pick:
the best median ``--metric`` among the settings no other qualified setting of the family beats at
95% confidence.

* GANs (the default rule): the MLP GANs' failure is dropping classes early -- what makes a short
  sweep call them hopeless -- so every seed must cover all ten classes (eval/classes_covered) by
  step 1,000; then the best FID.
* CVAE: its failure is ignoring its label (the encoder carries the class in z and samples drawn
  for a 7 come out as whatever z says), so every seed's samples must be read as the class they
  were drawn for 90% of the time (eval/label_acc) at the end; then the best held-out nELBO.

    gv sweep defaults-mnist-5k-gan
    python bench/study_defaults.py runs/sweeps/defaults-mnist-5k-gan-<date>-<time> [more sweep dirs]
    gv sweep defaults-mnist-5k-cvae
    python bench/study_defaults.py runs/sweeps/defaults-mnist-5k-cvae-<date>-<time> --metric eval/nelbo \\
        --require eval/label_acc>=0.9 --step 0 --by model.label_scale,model.kl_weight_start

Reads the sweeps' leaderboards once (as `gv compare` does) and each trial's metrics.jsonl (local
sweep directories).
"""

from __future__ import annotations

import argparse
import operator
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from gvcore.compare import compare, load_pool  # noqa: E402
from gvcore.compare.pool import group_of  # noqa: E402
from gvcore.compare.verdict import leaders_among, picks  # noqa: E402
from gvcore.errors import GVError  # noqa: E402
from gvcore.rundir import read_metrics  # noqa: E402

BY = ["train.r1_gamma", "optim.lr_discriminator", "train.batch_size"]
BOUNDS = {">=": operator.ge, "<=": operator.le}


def parse_requirement(text: str) -> tuple[str, str, float]:
    match = re.fullmatch(r"\s*([\w/.\-]+)\s*(>=|<=)\s*([-+0-9.eE]+)\s*", text)
    try:
        return match.group(1), match.group(2), float(match.group(3))  # type: ignore[union-attr]
    except (AttributeError, ValueError):
        raise GVError(f"bad --require '{text}': write KEY>=VALUE or KEY<=VALUE, e.g. eval/label_acc>=0.9") from None


def value_near(run_dir: str, key: str, step: int) -> float | None:
    """``key`` at the trial's last eval at or before ``step`` (its last eval when step is 0)."""
    evals = [r for r in read_metrics(run_dir) if key in r and (not step or r.get("step", 0) <= step)]
    return float(evals[-1][key]) if evals else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("sweep_dirs", nargs="+")
    parser.add_argument("--metric", default="eval/fid", help="what the pick is by (default eval/fid)")
    parser.add_argument(
        "--require",
        default="eval/classes_covered>=10",
        help="KEY>=VALUE or KEY<=VALUE every seed of a setting must meet (default eval/classes_covered>=10)",
    )
    parser.add_argument(
        "--step",
        type=int,
        default=1100,
        help="the requirement is read at the last eval at or before this step; 0 = the last eval",
    )
    parser.add_argument("--by", default=",".join(BY))
    args = parser.parse_args()
    key, bound, threshold = parse_requirement(args.require)
    by = [k.strip() for k in args.by.split(",") if k.strip()]
    pool = load_pool(args.sweep_dirs, args.metric, by)
    doc = compare(pool)
    values: dict[str, list[float | None]] = {}
    for trial in (t for sweep in pool.sweeps for t in sweep.trials if t.run_dir and t.family):
        values.setdefault(group_of(trial, by), []).append(value_near(trial.run_dir, key, args.step))
    sizes = {f["family"]: f["n"] for f in doc["families"]}
    qualified = [
        g for g in sizes if values.get(g) and all(v is not None and BOUNDS[bound](v, threshold) for v in values[g])
    ]
    family_of = {g: pool.families[g].family or "?" for g in sizes}
    chosen, _ = picks(qualified, doc["pairs"], sizes, family_of)
    console = Console(width=None if sys.stdout.isatty() else 160)  # a log file gets the whole table
    where = f"step <= {args.step}" if args.step else "the last eval"
    table = Table(
        title=f"defaults study: {args.metric} at equal compute; {key} at {where} (every seed {bound} {threshold:g})"
    )
    for column in ("setting", "trials", f"median {args.metric} [95% CI]", f"{key} (each trial)", "qualifies", ""):
        table.add_column(column)
    for family in dict.fromkeys(family_of.values()):
        groups = [g for g in sizes if family_of[g] == family]
        leaders = leaders_among(groups, doc["pairs"], sizes)
        for entry in (f for f in doc["families"] if f["family"] in groups):
            g = entry["family"]
            ci = f" [{entry['ci'][0]:.2f}, {entry['ci'][1]:.2f}]" if entry["ci"] else ""
            mark = "default" if chosen.get(family) == g else (f"leader on {args.metric}" if g in leaders else "")
            table.add_row(
                g,
                str(entry["n"]),
                f"{entry['median']:.2f}{ci}",
                " ".join("-" if v is None else f"{v:g}" for v in values.get(g, [])),
                "yes" if g in qualified else "no",
                mark,
            )
    console.print(table)
    for family in dict.fromkeys(family_of.values()):
        console.print(f"{family}: {chosen.get(family) or f'no setting meets {args.require} in every seed'}")


if __name__ == "__main__":
    try:
        main()
    except GVError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
