"""`gv eval` (score a run, a checkpoint or an .npz of images) and `gv evaluator train`."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape
from rich.table import Table

from ..errors import GVError
from ..evaluation.catalog import ALL, AUTO, CATALOG, NEEDS, KeyInfo, direction, key_info, spread_key, unit
from .common import console, err_console

app = typer.Typer()
evaluator_app = typer.Typer(help="The per-dataset domain classifier behind the metrics (trained once, cached).",
                            no_args_is_help=True)
app.add_typer(evaluator_app, name="evaluator")

# How the table and --help say a direction.
BETTER_WORDS = {"min": "lower", "max": "higher"}


def _metrics_help() -> str:
    on_request = ", ".join(name for name, metric in CATALOG.items() if metric.on_request)
    cheap = ", ".join(name for name, metric in CATALOG.items() if metric.cheap)
    return (f"Comma-separated metrics (or keys they return, e.g. mode_collapse): {', '.join(CATALOG)}; "
            f"'{ALL}' = every one that applies ({on_request} only by name); '{AUTO}' = the in-training set "
            f"({cheap}, where they apply). Each is described below.")


def _key_phrase(info: KeyInfo) -> str:
    notes = [f"{BETTER_WORDS[info.better]} is better"] if info.better else []
    notes += [info.unit] if info.unit else []
    name = f"{info.name}/<c>" if info.per_class else info.name
    return name + (f" ({', '.join(notes)})" if notes else "") + f": {info.help}"


def _metrics_epilog() -> str:
    # One paragraph per metric: Typer's rich help keeps paragraphs apart and joins single lines.
    paragraphs = ["Metrics, and the keys each returns:"]
    for metric in CATALOG.values():
        needs = f"; needs {NEEDS[metric.needs]}" if metric.needs else ""
        keys = "; ".join(_key_phrase(info) for info in metric.keys)
        paragraphs.append(escape(f"{metric.name} -- {metric.about}{needs}. {keys}."))
    return "\n\n".join(paragraphs)


def _json_value(value: float) -> float | None:
    # JSON has no NaN / Infinity: a metric that could not be computed is null.
    return value if math.isfinite(value) else None


def _json_document(scores: dict[str, float]) -> dict[str, dict[str, object]]:
    """What `gv eval --json` prints: the values, and each key's better side and unit (null: none)."""
    return {"metrics": {key: _json_value(value) for key, value in scores.items()},
            "better": {key: direction(key) for key in scores},
            "units": {key: unit(key) for key in scores}}


def _cell(key: str, value: float, scores: dict[str, float]) -> str:
    if key == "mode_collapse":
        text = "yes" if value else "no"
    elif key == "classes_covered":
        text = f"{value:.0f}"
    else:
        text = f"{value:.4g}"
    spread = spread_key(key)
    if spread in scores:
        text += f" ± {scores[spread]:.2g}"
    return text + (f" {unit(key)}" if unit(key) else "")


def _table(scores: dict[str, float], title: str, caption: str) -> Table:
    table = Table(title=title, caption=caption)
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_column("better")
    per_class: dict[str, list[str]] = {}
    for key, value in scores.items():
        info = key_info(key)
        if info is not None and info.per_class:
            per_class.setdefault(info.name, []).append(f"{key.split('/', 1)[1]}:{value:.2f}")
        elif info is None or info.spread_of is None:  # a spread is shown in its value's cell
            table.add_row(key, _cell(key, value, scores), BETTER_WORDS.get(direction(key), ""))
    for name, shares in per_class.items():
        # A histogram, one row: e.g. the share of the samples in each class.
        table.add_row(name, " ".join(shares), "")
    return table


@app.command("eval", epilog=_metrics_epilog())
def eval_cmd(
    run_dir: Annotated[Optional[Path], typer.Argument(help="A run directory made by `gv train` (or its checkpoint file).")] = None,
    samples: Annotated[Optional[Path], typer.Option("--samples", help="Score an .npz instead: 'images' uint8 (N,H,W,C), optional 'labels' (the format of `gv sample`).")] = None,
    dataset: Annotated[Optional[str], typer.Option("--dataset", "-d", help="With --samples: the dataset to compare with (its test split).")] = None,
    n: Annotated[int, typer.Option("--n", help="Samples drawn from the model.")] = 10_000,
    metrics: Annotated[str, typer.Option("--metrics", help=_metrics_help())] = "all",
    json_out: Annotated[bool, typer.Option("--json", help='Print one JSON object on stdout: {"metrics": {key: value}, "better": {key: "min", "max" or null}, "units": {key: unit or null}}.')] = False,
    seed: Annotated[int, typer.Option(help="Noise seed for the samples and the metrics' subsampling.")] = 0,
    features: Annotated[str, typer.Option(help="Feature space of fid/kid/precision/recall: classifier (default) or inception (needs local weights).")] = "classifier",
    iw_samples: Annotated[int, typer.Option("--iw-samples", help="Importance samples per image for iw_nll.")] = 100,
    data_dir: Annotated[Optional[str], typer.Option(help="Dataset folder (default: the run's, else $GV_DATA_DIR).")] = None,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda (model sampling).")] = "cpu",
) -> None:
    """Score a trained run, or any .npz of images, with the sample-quality metrics."""
    from ..metrics import FULL_EVAL_SAMPLES, Scorer, evaluate_model, load_samples

    if (run_dir is None) == (samples is None):
        raise GVError("give a RUN_DIR to score a model, or --samples FILE.npz --dataset D to score images (not both)")
    if samples is not None:
        if dataset is None:
            raise GVError(f"--samples '{samples}' needs --dataset: the dataset whose test split it is compared with "
                          "(e.g. --dataset mnist-5k)")
        if n != FULL_EVAL_SAMPLES:
            raise GVError(f"--n {n} applies to a RUN_DIR; with --samples every image in the file is scored")
        images, labels = load_samples(samples, dataset)
        scorer = Scorer.for_dataset(dataset, data_dir or "", feature_space=features, seed=seed, iw_samples=iw_samples)
        scores = scorer.score(images, labels, metrics)
        source, count = str(samples), images.shape[0]
    else:
        from ..trainer import load_model, pick_device

        model, cfg, payload = load_model(run_dir, pick_device(device))
        if dataset is not None and dataset != cfg.data.name:
            raise GVError(f"--dataset {dataset} does not match the run's dataset '{cfg.data.name}': drop --dataset")
        if data_dir:
            cfg.data.data_dir = data_dir
        scores = evaluate_model(model, cfg, n, metrics, seed=seed, feature_space=features, iw_samples=iw_samples)
        source, count, dataset = f"{run_dir} ({cfg.family}, step {payload['step']})", n, cfg.data.name
        scorer = None
        # The classifier evaluate_model used (already loaded in this process): same dataset, folder and size.
        classifier_key = (cfg.data.name, cfg.data.data_dir or "", cfg.data.image_size)
    if json_out:
        typer.echo(json.dumps(_json_document(scores)))
        return
    from ..metrics import get_classifier

    clf = scorer.classifier if scorer is not None else get_classifier(*classifier_key)
    caption = (f"{count:,} images vs the {dataset} test split; features: {features}; classifier held-out accuracy "
               f"{clf.accuracy:.2%}")
    console.print(_table(scores, f"gv eval: {source}", caption))


@evaluator_app.command("train")
def evaluator_train(
    dataset: Annotated[str, typer.Option("--dataset", "-d", help="Dataset whose classifier to train.")] = "mnist-5k",
    force: Annotated[bool, typer.Option("--force", help="Retrain even if a cached classifier exists.")] = False,
    data_dir: Annotated[Optional[str], typer.Option(help="Dataset folder (default $GV_DATA_DIR or ~/.cache/gv/data).")] = None,
) -> None:
    """Train (or show the cached) domain classifier of a dataset: held-out accuracy and cache path."""
    from ..data import load_dataset
    from ..evaluation.classifier import entry_dir
    from ..metrics import get_classifier

    load_dataset(dataset, "train", data_dir or "")  # a missing dataset fails before anything is written
    path = entry_dir(dataset) / "classifier.pt"

    def stamp() -> int | None:
        return path.stat().st_mtime_ns if path.is_file() else None

    before = stamp()
    clf = get_classifier(dataset, data_dir or "", retrain=force, log=lambda text: err_console.print(text))
    meta = clf.meta
    state = "trained now" if stamp() != before else "cached"
    console.print(f"{dataset} evaluator ({state}): held-out accuracy {clf.accuracy:.2%} on {meta['test_images']:,} "
                  f"test images; trained on {meta['train_images']:,} images in {meta['train_seconds']:.0f}s "
                  f"({meta['steps']} steps)")
    console.print(f"cache: {meta['path']}")
