"""Evaluation cost and the evaluator's quality. Prints, never asserts.

1. The mnist-5k domain classifier: held-out accuracy on mnist-5k's 500 test digits and, when the
   10k MNIST test split is at hand (../shared/data/mnist-t10k, or --t10k DIR), on those 10,000.
2. In-training overhead: the same trial trained twice in this one process, interleaved, without
   and with the default evaluator (eval.metrics=auto, 2,000 samples, at the default interval: every
   epoch but at least 10,000 training images apart, so every 3 epochs on mnist-5k); reported as
   (wall with - wall without) / wall with, and as the time spent inside the evaluator / wall with
   (target < 10%).
3. Full evaluation (realism and combined included): seconds to score 10,000 samples of the DCGAN and of the CGAN trained in (2)
   with every metric (the CGAN adds cas and intra_fid; standard errors included), against 10,000
   real digits (the t10k split if present, else mnist-5k's 500 test digits) whose features are
   computed beforehand (cached reference statistics), and against the default reference (mnist-5k's
   500 test digits, what `gv eval` uses); target < 30 s on 2 CPU cores; time per metric printed.
   With the t10k split, (1) also prints the blur-vs-noise FIDs and memorisation of copies vs unseen.

    python bench/bench_eval.py                       # gan, vae, cgan and dcgan, 6 epochs each
    python bench/bench_eval.py --families gan --epochs 2
    python bench/bench_eval.py --families dcgan,cgan --repeats 1 --skip-overhead   # (1) and (3) only
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402
from t10k import DEFAULT_T10K, read_t10k  # noqa: E402

from gvcore.budget import EVAL_MIN_IMAGES  # noqa: E402
from gvcore.config import Config  # noqa: E402
from gvcore.data import load_dataset  # noqa: E402
from gvcore.evaluation.api import Scorer, generate_samples, make_evaluator  # noqa: E402
from gvcore.evaluation.catalog import resolve_metrics  # noqa: E402
from gvcore.evaluation.classifier import accuracy_on  # noqa: E402
from gvcore.evaluation.features import reference_from_images  # noqa: E402
from gvcore.evaluation.ladders import DISTURB  # noqa: E402
from gvcore.evaluation.realism import reference_statistics  # noqa: E402
from gvcore.evaluation.registry import METRICS, run_metrics  # noqa: E402
from gvcore.families import resolve_config  # noqa: E402
from gvcore.trainer import load_model, train  # noqa: E402


def overhead(family: str, epochs: int, root: Path, repeats: int, threads: int) -> Path:
    cfg = Config(family=family)
    cfg.train.epochs = epochs
    cfg.train.threads = threads
    cfg = resolve_config(cfg)
    walls: dict[str, list[float]] = {"without": [], "with": []}
    inside: list[float] = []
    for rep in range(repeats):
        for mode in ("without", "with"):  # the same trial, interleaved, so machine noise hits both
            run_dir = root / f"{family}-{mode}-{rep}"
            spent = [0.0]
            start = time.perf_counter()
            evaluator = None
            if mode == "with":
                inner = make_evaluator(cfg)  # classifier + reference: part of the trial's cost

                def evaluator(model, step, inner=inner, spent=spent):
                    t = time.perf_counter()
                    out = inner(model, step)
                    spent[0] += time.perf_counter() - t
                    return out

            result = train(cfg, run_dir, evaluator_for=lambda _, evaluator=evaluator: evaluator)
            walls[mode].append(time.perf_counter() - start)
            assert result.status == "done", result.message
            if mode == "with":
                inside.append(spent[0])
    # The fastest of the repeats is the least disturbed by other processes on the machine.
    with_, without = min(walls["with"]), min(walls["without"])
    evaluator_share = min(i / w for i, w in zip(inside, walls["with"]))
    keys = ", ".join(f"{k}={v:.4g}" for k, v in result.metrics.items())
    print(
        f"  {family:6s} {epochs} epochs: without eval {without:6.1f}s, with {with_:6.1f}s (best of {repeats}) -> "
        f"overhead {(with_ - without) / with_:+6.1%} of wall time; time inside the evaluator "
        f"{min(inside):5.2f}s = {evaluator_share:5.1%}  (last eval: {keys})"
    )
    return root / f"{family}-with-0"


def plain_run(family: str, epochs: int, root: Path, threads: int) -> Path:
    cfg = Config(family=family)
    cfg.train.epochs = epochs
    cfg.train.threads = threads
    cfg.eval.metrics = ""
    result = train(resolve_config(cfg), root / family)
    assert result.status == "done", result.message
    print(f"  {family}: trained {epochs} epochs (not timed)")
    return root / family


def full_eval(run_dir: Path, reference, n: int) -> None:
    model, cfg, _ = load_model(run_dir)
    scorer = Scorer.for_dataset(cfg.data.name, reference=reference)
    names = resolve_metrics("all", has_labels=model.conditional, is_vae=model.kind == "vae")
    # One end-to-end number: sampling + every metric, as `gv eval RUN_DIR` does it.
    start = time.perf_counter()
    images, labels = generate_samples(model, n, seed=0)
    sampled = time.perf_counter() - start
    scores = scorer.score(images, labels, names, model)
    total = time.perf_counter() - start
    print(
        f"  {cfg.family} step {_step(run_dir)}: {n:,} samples vs {reference.description}: total {total:.1f}s "
        f"(sampling {sampled:.1f}s, metrics {total - sampled:.1f}s; target < 30 s)"
    )
    print("  scores: " + ", ".join(f"{k}={v:.4g}" for k, v in scores.items() if not k.startswith("class_frac")))
    # Where the time goes: the shared embeddings (classifier, reader), then each metric.
    ctx = scorer.context(images, labels, model)
    t = time.perf_counter()
    _ = ctx.embedded, ctx.logits
    parts = [f"embed {time.perf_counter() - t:.2f}s"]
    for name in names:
        t = time.perf_counter()
        run_metrics(ctx, [name])
        parts.append(f"{name} {time.perf_counter() - t:.2f}s")
    print("  breakdown: " + ", ".join(parts))


def _step(run_dir: Path) -> int:
    from gvcore.checkpoint import load_checkpoint

    return int(load_checkpoint(run_dir / "checkpoints" / "checkpoint.pt")["step"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--families", default="gan,vae,cgan,dcgan")
    parser.add_argument("--epochs", type=int, default=6, help="6 epochs of mnist-5k = 2 evals at the default interval")
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=2, help="interleaved trainings per mode (best is kept)")
    parser.add_argument("--eval-threads", type=int, default=2, help="torch threads for (3)")
    parser.add_argument(
        "--trial-threads",
        type=int,
        default=1,
        help="torch threads per trial in (2): a sweep on 2 cores runs 2 trials of 1 thread each",
    )
    parser.add_argument("--t10k", type=Path, default=DEFAULT_T10K)
    parser.add_argument("--run", type=Path, help="score this run dir instead of the dcgan trained here")
    parser.add_argument("--skip-overhead", action="store_true", help="train once without timing (2), for (3)")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")

    print("1. mnist-5k evaluator networks")
    start = time.perf_counter()
    default = Scorer.for_dataset("mnist-5k")
    ev = default.evaluator
    nets = {"classifier": ev.classifier, "reader": ev.reader, "classifier2": ev.classifier2}
    print(f"  ready in {time.perf_counter() - start:.1f}s")
    t10k = read_t10k(args.t10k)
    test = load_dataset("mnist-5k", "test")
    for name, net in nets.items():
        extra = f", on the 10,000 t10k digits {accuracy_on(net, *t10k):.2%}" if t10k is not None else ""
        print(
            f"  {name}: held-out accuracy {net.accuracy:.2%} on mnist-5k's {net.meta['test_images']} test digits"
            f"{extra} (trained in {net.meta['train_seconds']}s when it was built)"
        )
    if t10k is not None:
        images, labels = t10k
        reference = reference_from_images(images, labels, ev, "the MNIST test split (10,000 digits)")
        reference_statistics(reference, ev)  # realism's real statistics: beforehand, like the features
        # The measurements: 2,000 real t10k digits against mnist-5k's test split (gv eval's default).
        real, g = images[:2000], torch.Generator().manual_seed(0)
        for what, imgs in (
            ("unseen", real),
            ("blur 1.2", DISTURB["blur"](real, 1.2, g, labels[:2000])),
            ("noise 20", DISTURB["noise"](real, 20, g, labels[:2000])),
        ):
            s = default.score(imgs, None, "fid,fid2,realism", bootstrap=False)
            print(f"  2,000 t10k digits, {what}: fid={s['fid']:.3g} fid2={s['fid2']:.3g} realism={s['realism']:.3g}")
        train_set = load_dataset("mnist-5k", "train")
        pick = torch.randint(0, len(train_set), (2000,), generator=g)
        for what, imgs in (
            ("2,000 copies of training digits", train_set.images[pick]),
            ("2,000 unseen t10k digits", real),
        ):
            s = default.score(imgs, None, "fid,memorization")
            print(f"  {what}: fid={s['fid']:.3g}, memorization={s['memorization']:.3f} ± {s['memorization_se']:.3f}")
        # Real vs real: the 500 mnist-5k test digits against the 10k (FID's small-sample bias shows).
        real = Scorer.for_dataset("mnist-5k", reference=reference).score(
            test.images, test.labels, "fid,kid,precision,recall"
        )
        print("  real vs real (mnist-5k test 500 vs t10k): " + ", ".join(f"{k}={v:.4g}" for k, v in real.items()))
    else:
        print(f"  no {args.t10k}: the real reference is mnist-5k's 500 test digits")
        reference = Scorer.for_dataset("mnist-5k").reference
    train_set = load_dataset("mnist-5k", "train")
    real = Scorer.for_dataset("mnist-5k", reference=reference).score(train_set.images, train_set.labels, "fid,realism")
    print(
        f"  real vs real (mnist-5k train 4,500 vs {reference.description}): fid={real['fid']:.4g}, "
        f"realism={real['realism']:.4g} ± {real['realism_se']:.2g}"
    )

    print(
        f"2. in-training evaluation overhead at the default interval (every epoch, >= {EVAL_MIN_IMAGES:,} training "
        f"images apart; {Config().eval.num_samples} samples), {args.trial_threads} torch thread(s) per trial"
    )
    with tempfile.TemporaryDirectory() as tmp:
        runs = {
            family: (
                plain_run(family, args.epochs, Path(tmp), args.trial_threads)
                if args.skip_overhead
                else overhead(family, args.epochs, Path(tmp), args.repeats, args.trial_threads)
            )
            for family in args.families.split(",")
        }
        chosen = (
            [args.run] if args.run else [runs[f] for f in ("dcgan", "cgan") if f in runs] or list(runs.values())[:1]
        )
        torch.set_num_threads(args.eval_threads)
        print(f"3. full evaluation (every metric), {torch.get_num_threads()} torch threads")
        for run in chosen:
            full_eval(run, reference, args.n)
            if reference is not default.reference:
                full_eval(run, default.reference, args.n)
    print(f"   metrics: {', '.join(METRICS)}")


if __name__ == "__main__":
    main()
