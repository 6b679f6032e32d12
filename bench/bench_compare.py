"""How long does `gv compare` take on a 300-trial sweep (6 families x 50 trials, 10% diverged)?

1. End to end in this process (`gv compare DIR --json` through typer's CliRunner): the first call
   (it pays the imports: numpy and scipy.stats) and the median of the following ones.
2. The statistics alone (gvcore.compare.compare on a loaded pool: 6 family bootstraps of the median
   and the expected best of k = 1..50, 15 pairwise bootstraps, 9,999 resamples each).
3. A fresh `gv compare` process, as a user runs it, and what its imports cost.

Target: well under a second for (1, steady) and (2). Prints numbers, asserts nothing:
`python bench/bench_compare.py [--trials 50] [--repeats 5]`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

FAMILIES = {"gan": 30.0, "lsgan": 28.0, "dcgan": 15.0, "cgan": 29.0, "vae": 40.0, "cvae": 38.0}


def write_sweep(directory: Path, trials_per_family: int) -> Path:
    import numpy as np

    rng = np.random.default_rng(0)
    rows = []
    for family, location in FAMILIES.items():
        for _ in range(trials_per_family):
            diverged = rng.random() < 0.1
            value = None if diverged else float(location + 5 * rng.standard_normal())
            rows.append(
                {
                    "rank": len(rows) + 1,
                    "trial_id": f"{len(rows):05d}",
                    "family": family,
                    "status": "diverged" if diverged else "done",
                    "metric": "eval/fid",
                    "mode": "min",
                    "best_metric": value,
                    "best_step": 100,
                    "step": 100,
                    "total_steps": 100,
                    "wall_time_s": 10.0,
                    "images_per_s": 1000.0,
                    "best_checkpoint": None,
                    "run_dir": None,
                    "node": None,
                    "restores": 0,
                    "error": "loss is nan" if diverged else None,
                    "config": {"family": family, "data.name": "mnist-5k"},
                    "metrics": {} if diverged else {"eval/fid": value},
                    **({} if diverged else {"final": {"fid": value + 0.5, "precision": 0.6}}),
                }
            )
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "leaderboard.json").write_text(
        json.dumps({"sweep": directory.name, "final": True, "metric": "eval/fid", "mode": "min", "rows": rows})
    )
    return directory


def timed(function) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=50, help="trials per family (6 families)")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    sweep = write_sweep(Path(tempfile.mkdtemp(prefix="gv-bench-compare-")) / "bench", args.trials)
    total = args.trials * len(FAMILIES)

    from typer.testing import CliRunner

    from gvcore import cli

    def end_to_end() -> None:
        result = CliRunner().invoke(cli.app, ["compare", str(sweep), "--json"])
        assert result.exit_code == 0, result.stderr

    first = timed(end_to_end)
    steady = statistics.median(timed(end_to_end) for _ in range(args.repeats))
    print(
        f"gv compare, {total} trials ({len(FAMILIES)} families x {args.trials}), in-process: "
        f"first call {first:.2f} s "
        f"(imports included), then {steady:.3f} s (median of {args.repeats})"
    )

    from gvcore.compare import compare, load_pool
    from gvcore.compare import statistics as st

    pool = load_pool([str(sweep)])
    load = statistics.median(timed(lambda: load_pool([str(sweep)])) for _ in range(args.repeats))
    stats_alone = statistics.median(timed(lambda: compare(pool)) for _ in range(args.repeats))
    cpu_start = time.process_time()
    for _ in range(args.repeats):
        compare(pool)
    cpu = (time.process_time() - cpu_start) / args.repeats
    print(
        f"reading + checking the leaderboard: {load * 1000:.1f} ms; the statistics alone: {stats_alone:.3f} s "
        f"({st.N_RESAMPLES} resamples, {len(FAMILIES)} family + {len(FAMILIES) * (len(FAMILIES) - 1) // 2} pair "
        f"bootstraps); CPU time {cpu:.3f} s (a busy machine inflates the wall time, less the CPU time)"
    )

    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, str(REPO / "cli.py"), "compare", str(sweep), "--json"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    cold = time.perf_counter() - start
    # The same command again under -X importtime: what a fresh process spends on imports.
    imports = subprocess.run(
        [sys.executable, "-X", "importtime", str(REPO / "cli.py"), "compare", str(sweep), "--json"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    cumulative = {}
    for line in imports.stderr.splitlines():
        parts = line.split("|")
        if len(parts) == 3 and parts[1].strip().isdigit():
            cumulative[parts[2].strip()] = int(parts[1]) / 1e6
    print(
        f"a fresh `gv compare` process: {cold:.2f} s ({len(done.stdout)} bytes of JSON); its imports: "
        + ", ".join(
            f"{name} {cumulative[name]:.2f} s"
            for name in ("typer", "gvcore.compare", "scipy.stats")
            if name in cumulative
        )
        + ("; torch is imported too" if "torch" in cumulative else "; no torch")
    )


if __name__ == "__main__":
    main()
