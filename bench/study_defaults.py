"""The GAN defaults rule, applied to finished defaults-study sweeps. Prints, never asserts.

A default must first not drop classes early -- the MLP GANs' known failure, and what makes a short
sweep call them hopeless -- so a setting qualifies when every one of its seeds covers all ten
classes (eval/classes_covered) at its eval nearest step 1,000 (--step). Among the qualified
settings of each family, the default is `gv compare --by`'s pick: the best median FID among the
settings no other qualified setting of the family beats at 95% confidence.

    gv sweep defaults-mnist-5k-gan
    python bench/study_defaults.py runs/sweeps/defaults-mnist-5k-gan-<date>-<time> [more sweep dirs]

Reads the sweeps' leaderboards once (as `gv compare` does) and each trial's metrics.jsonl (local
sweep directories).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from gvcore.compare import compare, load_pool  # noqa: E402
from gvcore.compare.trials import group_of  # noqa: E402
from gvcore.compare.verdict import leaders_among, picks  # noqa: E402
from gvcore.errors import GVError  # noqa: E402
from gvcore.rundir import read_metrics  # noqa: E402

BY = ["train.r1_gamma", "optim.lr_discriminator", "train.batch_size"]
COVERED = "eval/classes_covered"


def coverage_near(run_dir: str, step: int) -> tuple[int, float] | None:
    """(classes covered, smallest class share) at the last eval at or before ``step``."""
    evals = [r for r in read_metrics(run_dir) if COVERED in r and r.get("step", 0) <= step]
    if not evals:
        return None
    last = evals[-1]
    return int(last[COVERED]), min(v for k, v in last.items() if k.startswith("eval/class_frac/"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("sweep_dirs", nargs="+")
    parser.add_argument("--step", type=int, default=1100, help="coverage at the last eval at or before this step")
    parser.add_argument("--by", default=",".join(BY))
    args = parser.parse_args()
    by = [k.strip() for k in args.by.split(",") if k.strip()]
    pool = load_pool(args.sweep_dirs, "eval/fid", by)
    doc = compare(pool)
    coverage: dict[str, list[tuple[int, float] | None]] = {}
    for trial in (t for sweep in pool.sweeps for t in sweep.trials if t.run_dir and t.family):
        coverage.setdefault(group_of(trial, by), []).append(coverage_near(trial.run_dir, args.step))
    sizes = {f["family"]: f["n"] for f in doc["families"]}
    qualified = [g for g in sizes if coverage.get(g) and all(c is not None and c[0] == 10 for c in coverage[g])]
    family_of = {g: pool.families[g].family or "?" for g in sizes}
    chosen, _ = picks(qualified, doc["pairs"], sizes, family_of)
    console = Console(width=None if sys.stdout.isatty() else 160)  # a log file gets the whole table
    table = Table(title=f"defaults study: FID at equal FLOPs, classes at step <= {args.step} (every seed)")
    for column in ("setting", "trials", "median FID [95% CI]", "classes (each trial)", "smallest class", "qualifies", ""):
        table.add_column(column)
    for family in dict.fromkeys(family_of.values()):
        groups = [g for g in sizes if family_of[g] == family]
        leaders = leaders_among(groups, doc["pairs"], sizes)
        for entry in (f for f in doc["families"] if f["family"] in groups):
            g, cov = entry["family"], coverage.get(entry["family"], [])
            ci = f" [{entry['ci'][0]:.1f}, {entry['ci'][1]:.1f}]" if entry["ci"] else ""
            mark = "default" if chosen.get(family) == g else ("leader on FID" if g in leaders else "")
            table.add_row(g, str(entry["n"]), f"{entry['median']:.2f}{ci}",
                          " ".join("-" if c is None else str(c[0]) for c in cov),
                          f"{min(c[1] for c in cov if c):.1%}" if any(cov) else "-",
                          "yes" if g in qualified else "no", mark)
    console.print(table)
    for family in dict.fromkeys(family_of.values()):
        console.print(f"{family}: {chosen.get(family) or 'no setting covers every class in every seed'}")


if __name__ == "__main__":
    try:
        main()
    except GVError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
