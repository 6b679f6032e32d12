"""Every family at a fixed CPU time: how good does each get? Prints, never asserts.

Each family trains with its defaults (gvcore/config.py TRAINING_DEFAULTS) for the same seconds of
training (default 90; evaluations excluded, as a `train.seconds` budget counts), one after another
so each has the whole machine, then is scored on the real MNIST test split -- the 10,000 t10k
digits (../shared/data/mnist-t10k, or --t10k DIR), else mnist-5k's 500 held-out digits:

* steps done and images/s;
* gv's FID (the evaluator's classifier features) of 10,000 samples against the test digits, and
  the classes covered (a class counts when it gets at least a quarter of its share in the data)
  and the smallest class's share of the samples;
* for the conditional families (cgan, cvae), label accuracy: how often a sample drawn for a class
  is read as that class by the evaluator's reader (a CVAE that ignores its label draws the same
  digit whatever it is asked for);
* for VAEs, the test negative ELBO in nats per image (Bernoulli pixels in [0, 1], one latent draw
  per image, as the VAE literature reports it) and the importance-weighted NLL with k = 100.

A table to compare runs before and after a change: ``--set`` pins a config key for every family
(e.g. the old VAE settings), ``--steps`` trains a fixed number of steps instead of seconds, and
``--seeds 0,1,2,3`` repeats every family over those training seeds (a line per family then says how
many seeds cover all ten classes).

    python bench/bench_quality.py                                   # all six families, 90 s each
    python bench/bench_quality.py --families vae,cvae --seconds 135
    python bench/bench_quality.py --families gan,lsgan,cgan --steps 1000 --seeds 0,1,2,3
    python bench/bench_quality.py --families vae --set model.dropout=0.3 --set model.kl_warmup=0
    python bench/bench_quality.py --device cuda
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402
from t10k import DEFAULT_T10K, read_t10k  # noqa: E402

from gvcore.config import Config, apply_overrides  # noqa: E402
from gvcore.data import ImageDataset, load_dataset  # noqa: E402
from gvcore.errors import GVError  # noqa: E402
from gvcore.evaluation.api import Scorer, generate_samples  # noqa: E402
from gvcore.evaluation.features import reference_from_images  # noqa: E402
from gvcore.families import FAMILIES, resolve_config  # noqa: E402
from gvcore.trainer import load_model, train  # noqa: E402

SAMPLES = 10_000


def scorer_for(t10k_dir: Path) -> Scorer:
    """mnist-5k's evaluator, scoring against the t10k digits when they are at hand."""
    scorer = Scorer.for_dataset("mnist-5k")
    t10k = read_t10k(t10k_dir)
    if t10k is None:
        return scorer
    images, labels = t10k
    reference = reference_from_images(images, labels, scorer.evaluator, "the 10,000 MNIST t10k digits")
    test_set = ImageDataset("mnist-t10k", "test", images, labels, load_dataset("mnist-5k", "test").class_names)
    return dataclasses.replace(scorer, reference=reference, test_set=test_set)


def run(family: str, seed: int, args: argparse.Namespace, root: Path) -> dict:
    cfg = Config(family=family)
    if args.steps:
        cfg.train.steps = args.steps
    else:
        cfg.train.seconds = args.seconds
    cfg.train.device = args.device
    cfg.train.threads = args.threads
    cfg.train.seed = seed
    cfg.eval.metrics = ""  # scored once, below, on the test digits
    cfg = resolve_config(apply_overrides(cfg, args.set))
    run_dir = root / f"{family}-{seed}"
    result = train(cfg, run_dir)
    if result.status != "done":
        return {"family": family, "seed": seed, "status": result.status, "message": result.message}
    return {
        "family": family,
        "seed": seed,
        "status": "done",
        "steps": result.step,
        "train_s": round(result.train_time, 1),
        "images_per_s": round(result.images_per_s),
        "run_dir": str(run_dir),
    }


def score(row: dict, scorer: Scorer) -> dict:
    model, _, _ = load_model(row["run_dir"])
    images, labels = generate_samples(model, SAMPLES, seed=0)
    names = (
        ["fid", "modes"]
        + (["label_acc"] if model.conditional else [])
        + (["nelbo", "iw_nll"] if model.kind == "vae" else [])
    )
    scores = scorer.score(images, labels if model.conditional else None, names, model, bootstrap=False)
    row.update(
        {
            "fid": round(scores["fid"], 2),
            "classes": int(scores["classes_covered"]),
            "smallest_class": round(min(v for k, v in scores.items() if k.startswith("class_frac/")), 4),
        }
    )
    if model.conditional:
        row["label_acc"] = round(scores["label_acc"], 3)
    if model.kind == "vae":
        row.update(
            {
                "nelbo": round(scores["nelbo"], 2),
                "nelbo_kl": round(scores["nelbo_kl"], 2),
                "iw_nll": round(scores["iw_nll"], 2),
            }
        )
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--families", default=",".join(FAMILIES))
    parser.add_argument("--seconds", type=float, default=90.0, help="training seconds per family (default 90)")
    parser.add_argument("--steps", type=int, default=0, help="train this many steps instead of --seconds")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="torch threads (default: every core)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seeds", default="0", help="comma-separated training seeds, each a run of every family")
    parser.add_argument("--set", action="append", default=[], help="pin a config key for every family, key=value")
    parser.add_argument("--t10k", type=Path, default=DEFAULT_T10K)
    args = parser.parse_args()
    families = [f.strip() for f in args.families.split(",") if f.strip()]
    try:
        seeds = list(dict.fromkeys(int(s) for s in args.seeds.split(",") if s.strip()))
    except ValueError:
        seeds = []
    if not seeds:
        raise GVError(f"bad --seeds '{args.seeds}': give comma-separated integers, e.g. 0,1,2,3")
    if any(item.split("=", 1)[0].strip() == "train.seed" for item in args.set):
        raise GVError("bad --set train.seed: the seeds come from --seeds")
    console = Console(width=None if sys.stdout.isatty() else 160)  # a log file gets the whole table
    scorer = scorer_for(args.t10k)
    budget = f"{args.steps} steps" if args.steps else f"{args.seconds:g} s of training"
    console.print(
        f"bench_quality: {budget} per family on {args.device} ({args.threads} threads), scored on "
        f"{scorer.reference.description}; overrides: {' '.join(args.set) or 'none'}"
    )
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for family in families:
            for seed in seeds:
                row = run(family, seed, args, Path(tmp))
                if row["status"] == "done":
                    row = score(row, scorer)
                rows.append(row)
                console.print(json.dumps({k: v for k, v in row.items() if k != "run_dir"}))
    table = Table(title=f"every family at {budget} ({args.device}); scored on {scorer.reference.description}")
    for column in (
        "family",
        "seed",
        "steps",
        "train s",
        "images/s",
        "FID",
        "classes",
        "smallest class",
        "label acc",
        "test nELBO (KL)",
        "IW-NLL k=100",
    ):
        table.add_column(column, justify="left" if column == "family" else "right")
    for row in rows:
        if row["status"] != "done":
            table.add_row(
                row["family"], str(row["seed"]), row["status"], "", "", "", "", "", "", row.get("message", ""), ""
            )
            continue
        nelbo = f"{row['nelbo']:.1f} ({row['nelbo_kl']:.1f})" if "nelbo" in row else "-"
        label_acc = f"{row['label_acc']:.0%}" if "label_acc" in row else "-"
        iw_nll = f"{row['iw_nll']:.1f}" if "iw_nll" in row else "-"
        table.add_row(
            row["family"],
            str(row["seed"]),
            str(row["steps"]),
            f"{row['train_s']:.0f}",
            str(row["images_per_s"]),
            f"{row['fid']:.1f}",
            f"{row['classes']}/10",
            f"{row['smallest_class']:.1%}",
            label_acc,
            nelbo,
            iw_nll,
        )
    console.print(table)
    if len(seeds) > 1:  # the spread over seeds: a default must hold for every seed, not the lucky one
        for family in families:
            done = [r for r in rows if r["family"] == family and r["status"] == "done"]
            if done:
                fids = sorted(r["fid"] for r in done)
                console.print(
                    f"{family}: {sum(r['classes'] == 10 for r in done)} of {len(seeds)} seeds cover 10/10 "
                    f"classes; FID median {statistics.median(fids):.1f} (range {fids[0]:.1f}-{fids[-1]:.1f})"
                )


if __name__ == "__main__":
    torch.set_num_threads(os.cpu_count() or 1)
    try:
        main()
    except GVError as exc:  # a bad --set, a budget key given twice: one line, like gv itself
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
