"""The final evaluation: every metric on many samples of each trial's best checkpoint, as Ray tasks.

Its own module because it runs after Tune is done, with nothing of Tune but its checkpoint type:
one Ray task per trial, so the evaluations run in parallel on the trials' resources (on a cluster
too), and one failure costs only that trial's numbers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import ray
from ray import tune

from ..sweep import SweepSpec
from ..sweep.leaderboard import LeaderboardRow


@ray.remote
def _evaluate_best(checkpoint: str, samples: int, threads: int, device: str) -> dict[str, float]:
    """Every metric on ``samples`` images of one trial's best checkpoint."""
    import torch

    from ..checkpoint import CHECKPOINT_NAME
    from ..evaluation.api import evaluate_checkpoint

    torch.set_num_threads(threads)
    with tune.Checkpoint(checkpoint).as_directory() as directory:  # downloads s3:// checkpoints
        return evaluate_checkpoint(Path(directory) / CHECKPOINT_NAME, samples, device=device)


def final_evaluation(rows: list[LeaderboardRow], spec: SweepSpec, console: Any, interactive: bool) -> None:
    """The full evaluation of every finished (or early-stopped) trial's best checkpoint, into its
    leaderboard row as ``final`` (metric name -> value); a failure is recorded, never raised."""
    todo = [row for row in rows if row.best_checkpoint and row.status in ("done", "stopped")]
    if not todo:
        return
    device = "cuda" if spec.gpu > 0 else "cpu"
    task = _evaluate_best.options(num_cpus=spec.cpu, num_gpus=spec.gpu)
    pending = {
        task.remote(str(row.best_checkpoint), spec.final_eval_samples, max(1, int(spec.cpu)), device): row
        for row in todo
    }
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = [
        TextColumn("final evaluation of the best checkpoints"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    ]
    with Progress(*columns, console=console, disable=not interactive) as progress:
        bar = progress.add_task("final", total=len(pending))
        if not interactive:
            console.print(
                f"final evaluation of {len(pending)} best checkpoints ({spec.final_eval_samples} samples "
                "each, every metric)"
            )
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                row = pending.pop(ref)
                try:
                    row.final = ray.get(ref)
                    row.final_samples = spec.final_eval_samples
                except Exception as exc:  # one bad checkpoint must not cost the others' numbers
                    row.final_error = (str(exc).strip().splitlines() or [type(exc).__name__])[-1][:300]
                progress.advance(bar)
