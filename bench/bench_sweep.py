"""Does a sweep really run trials in parallel, and what does Ray cost to start?

1. The same 4 equal trials (one family on mnist-5k, a fixed number of steps) run
   a. one after another with the plain trainer in this process, with torch's default threads (as
      `gv train` runs) and with 1 thread (often faster for these small nets, and far less hurt
      when another process shares the cores), and
   b. through `gv sweep` (a fresh process with its own embedded Ray), 2 at a time, 1 CPU each.
   Printed: the wall times and the ratio sweep / the faster sequential run (target on 2 cores:
   <= 0.6, i.e. real parallelism after Ray's overhead).
2. The fixed cost: `gv sweep` start to the first trial starting (as gv reports it), and the whole
   wall time of the same sweep with 1-step trials (Ray start, workers, teardown, leaderboard).
   Target: start-up <= 10 s.
3. With a GPU: aggregate images/s of 4 trials packed on one GPU (--gpus-per-trial 0.25) against
   1 trial alone on it (--gpus-per-trial 1), as a ratio. Skipped without CUDA.

Prints numbers, asserts nothing. Run it on a quiet machine: `python bench/bench_sweep.py`.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def sequential(family: str, steps: int, trials: int, threads: int) -> float:
    from gvcore.config import Config
    from gvcore.trainer import train

    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(trials):
            cfg = Config(family=family)
            cfg.train.steps, cfg.train.seed, cfg.train.threads = steps, seed, threads
            cfg.train.eval_every = max(1, steps // 4)
            result = train(cfg, Path(tmp) / f"trial-{seed}")
            assert result.status == "done", result.message
    return time.perf_counter() - started


def run_sweep(
    workdir: Path, name: str, family: str, steps: int, trials: int, extra: list[str]
) -> tuple[float, dict, str]:
    sweep_file = workdir / f"{name}.yaml"
    sweep_file.write_text(
        yaml.safe_dump(
            {
                "name": name,
                "dataset": "mnist-5k",
                "families": [family],
                "seeds": list(range(trials)),
                "budget": {"steps": steps},
                "eval_every": max(1, steps // 4),
                "resources": {"cpu": 1, "gpu": 0},
                # The same work as the sequential side: training, checkpoints and sample grids at each
                # eval, but no sample-quality metrics (bench_eval.py measures those) and no final evaluation.
                "base": {"eval.metrics": ""},
                "metric": "loss/objective",
                "mode": "min",
                "final_eval_samples": 0,
            }
        )
    )
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    started = time.perf_counter()
    out = subprocess.run(
        [
            sys.executable,
            str(REPO / "cli.py"),
            "sweep",
            str(sweep_file),
            "--storage",
            str(workdir / "store"),
            "--name",
            name,
            "--wandb-mode",
            "disabled",
            *extra,
        ],
        env=env,
        cwd=workdir,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - started
    if out.returncode != 0:
        raise SystemExit(f"gv sweep failed ({out.returncode}):\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    doc = json.loads((workdir / "store" / name / "leaderboard.json").read_text())
    return wall, doc, out.stdout


def reported_startup(stdout: str) -> float:
    match = re.search(r"Ray start-up until the first trial: ([0-9.]+)s", stdout)
    return float(match.group(1)) if match else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--family", default="gan")
    parser.add_argument(
        "--steps", type=int, default=3000, help="steps per trial (default: ~1 min of MLP GAN on 1 core)"
    )
    parser.add_argument("--trials", type=int, default=4)
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPUs; {args.trials} x {args.family} trials of {args.steps} steps on mnist-5k", flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        sweep_wall, doc, stdout = run_sweep(
            workdir, "parallel", args.family, args.steps, args.trials, ["--max-concurrent", "2"]
        )
        trial_walls = [row["wall_time_s"] for row in doc["rows"]]
        print(
            f"gv sweep, 2 at a time, 1 CPU each (whole command): {sweep_wall:7.1f} s "
            f"(trials' own training time {min(trial_walls):.1f}-{max(trial_walls):.1f} s each)",
            flush=True,
        )
        seq_one = sequential(args.family, args.steps, args.trials, threads=1)
        print(f"sequential, plain trainer, 1 thread:              {seq_one:7.1f} s", flush=True)
        seq_default = sequential(args.family, args.steps, args.trials, threads=0)
        print(f"sequential, plain trainer, torch default threads: {seq_default:7.1f} s", flush=True)
        best = min(seq_one, seq_default)
        print(
            f"ratio sweep / faster sequential: {sweep_wall / best:.2f}   (target <= 0.6; "
            f"vs 1 thread {sweep_wall / seq_one:.2f}, vs default threads {sweep_wall / seq_default:.2f})"
        )
        empty_wall, _, empty_stdout = run_sweep(
            workdir, "empty", args.family, 1, args.trials, ["--max-concurrent", "2"]
        )
        print(
            f"fixed cost: start-up until the first trial runs {reported_startup(stdout):.1f} s / "
            f"{reported_startup(empty_stdout):.1f} s (target <= 10 s); "
            f"a sweep of {args.trials} 1-step trials takes {empty_wall:.1f} s end to end",
            flush=True,
        )

        import torch

        if not torch.cuda.is_available():
            print("GPU packing: skipped (no CUDA device)")
            return
        alone_wall, alone, _ = run_sweep(workdir, "gpu-alone", args.family, args.steps, 1, ["--gpus-per-trial", "1"])
        packed_wall, packed, _ = run_sweep(
            workdir, "gpu-packed", args.family, args.steps, 4, ["--gpus-per-trial", "0.25", "--max-concurrent", "4"]
        )
        alone_rate = alone["rows"][0]["images_per_s"]
        packed_rate = sum(row["images_per_s"] for row in packed["rows"])
        print(
            f"GPU: 1 trial alone {alone_rate:,.0f} images/s; 4 trials packed (0.25 GPU each) "
            f"{packed_rate:,.0f} images/s together: ratio {packed_rate / alone_rate:.2f} "
            f"(wall {alone_wall:.0f} s vs {packed_wall:.0f} s)"
        )


if __name__ == "__main__":
    main()
