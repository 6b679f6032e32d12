"""`gv eval` (score a run, a checkpoint or an .npz of images) and `gv evaluator train`."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from ..errors import GVError
from ..evaluation.catalog import (
    ALL,
    AUTO,
    CATALOG,
    NEEDS,
    KeyInfo,
    counts_of,
    direction,
    key_info,
    metric_of,
    resolve_metrics,
    spread_key,
    unit,
)
from .common import console, err_console, table_console
from .validate import validate_cmd

app = typer.Typer()
evaluator_app = typer.Typer(
    help="The per-dataset domain classifier behind the metrics (trained once, cached).", no_args_is_help=True
)
app.add_typer(evaluator_app, name="evaluator")

evaluator_app.command("validate")(validate_cmd)

# How the table and --help say a direction.
BETTER_WORDS = {"min": "lower", "max": "higher"}


def _metrics_help() -> str:
    on_request = ", ".join(name for name, metric in CATALOG.items() if metric.on_request)
    cheap = ", ".join(name for name, metric in CATALOG.items() if metric.cheap)
    return (
        f"Comma-separated metrics (or keys they return, e.g. mode_collapse): {', '.join(CATALOG)}; "
        f"'{ALL}' = every one that applies ({on_request} only by name); '{AUTO}' = the in-training set "
        f"({cheap}, where they apply). Each is described below."
    )


def _key_phrase(info: KeyInfo) -> str:
    notes = [f"{BETTER_WORDS[info.better]} is better"] if info.better else []
    notes += [info.unit] if info.unit else []
    name = f"{info.name}/<c>" if info.per_class else info.name
    return name + (f" ({', '.join(notes)})" if notes else "") + f": {info.help}"


def _metrics_epilog() -> str:
    # One paragraph per metric: Typer's rich help keeps paragraphs apart and joins single lines.
    paragraphs = [
        "Metrics, and the keys each returns (network: which evaluator network's features or predictions it uses):"
    ]
    for metric in CATALOG.values():
        needs = f"; needs {NEEDS[metric.needs]}" if metric.needs else ""
        needs += f"; network: {metric.network}"
        keys = "; ".join(_key_phrase(info) for info in metric.keys)
        paragraphs.append(escape(f"{metric.name} -- {metric.about}{needs}. {keys}."))
    return "\n\n".join(paragraphs)


def _json_value(value: float) -> float | None:
    # JSON has no NaN / Infinity: a metric that could not be computed is null.
    return value if math.isfinite(value) else None


def _json_document(scores: dict[str, float]) -> dict[str, dict[str, object]]:
    """What `gv eval --json` prints: the values, and each key's better side and unit (null: none)."""
    return {
        "metrics": {key: _json_value(value) for key, value in scores.items()},
        "better": {key: direction(key) for key in scores},
        "units": {key: unit(key) for key in scores},
    }


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
    text += f" {unit(key)}" if unit(key) else ""
    counts = [f"{scores[c]:,.0f}" for c in counts_of(key) if c in scores]
    if counts:
        text += f" ({' vs '.join(counts)} images)"
    return text


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
        elif info is None or (info.spread_of is None and info.beside is None):  # shown in its value's cell
            table.add_row(key, _cell(key, value, scores), BETTER_WORDS.get(direction(key) or "", ""))
    for name, shares in per_class.items():
        # A histogram, one row: e.g. the share of the samples in each class.
        table.add_row(name, " ".join(shares), "")
    return table


@app.command("eval", epilog=_metrics_epilog())
def eval_cmd(
    run_dir: Annotated[
        Path | None, typer.Argument(help="A run directory made by `gv train` (or its checkpoint file).")
    ] = None,
    samples: Annotated[
        Path | None,
        typer.Option(
            "--samples",
            help="Score an .npz instead: 'images' uint8 (N,H,W,C), optional 'labels' (the format of `gv sample`).",
        ),
    ] = None,
    dataset: Annotated[
        str | None,
        typer.Option("--dataset", "-d", help="With --samples: the dataset to compare with (its test split)."),
    ] = None,
    n: Annotated[int, typer.Option("--n", help="Samples drawn from the model.")] = 10_000,
    metrics: Annotated[str, typer.Option("--metrics", help=_metrics_help())] = "all",
    json_out: Annotated[
        bool,
        typer.Option(
            "--json",
            help='Print one JSON object on stdout: {"metrics": {key: value}, "better": {key: "min", "max" or null}, "units": {key: unit or null}}.',
        ),
    ] = False,
    seed: Annotated[int, typer.Option(help="Noise seed for the samples and the metrics' subsampling.")] = 0,
    features: Annotated[
        str,
        typer.Option(
            help="Feature space of the distances (fid, kid, precision, recall, density, coverage): classifier (default) or inception (needs local weights); add classifier2 (e.g. classifier,classifier2) for fid in the second network's features too (fid2)."
        ),
    ] = "classifier",
    iw_samples: Annotated[int, typer.Option("--iw-samples", help="Importance samples per image for iw_nll.")] = 100,
    data_dir: Annotated[
        str | None, typer.Option(help="Dataset folder (default: the run's, else $GV_DATA_DIR).")
    ] = None,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda (model sampling).")] = "cpu",
) -> None:
    """Score a trained run, or any .npz of images, with the sample-quality metrics."""
    from ..data import resolve_name
    from ..evaluation.api import FULL_EVAL_SAMPLES, Scorer, evaluate_model, load_samples

    features, metrics = _feature_spaces(features, metrics)
    dataset = resolve_name(dataset) if dataset is not None else None  # a folder: its absolute path
    if (run_dir is None) == (samples is None):
        raise GVError("give a RUN_DIR to score a model, or --samples FILE.npz --dataset D to score images (not both)")
    if samples is not None:
        if dataset is None:
            raise GVError(
                f"--samples '{samples}' needs --dataset: the dataset whose test split it is compared with "
                "(e.g. --dataset mnist-5k)"
            )
        if n != FULL_EVAL_SAMPLES:
            raise GVError(f"--n {n} applies to a RUN_DIR; with --samples every image in the file is scored")
        images, labels = load_samples(samples, dataset)
        from ..data import get_spec

        # Before the evaluator is trained: a metric that can't apply is named at once.
        labelled = get_spec(dataset).num_classes > 0
        resolve_metrics(metrics, has_labels=labels is not None, is_vae=False, labelled=labelled)
        scorer = Scorer.for_dataset(dataset, data_dir or "", feature_space=features, seed=seed, iw_samples=iw_samples)
        scores = scorer.score(images, labels, metrics)
        source, count = str(samples), images.shape[0]
    else:
        from ..trainer import load_model, pick_device

        assert run_dir is not None  # one of the two is given (checked above)
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
        channels = cfg.data.channels
    if json_out:
        typer.echo(json.dumps(_json_document(scores)))
        return
    from ..evaluation.features import Evaluator

    evaluator = (
        scorer.evaluator
        if scorer is not None
        else Evaluator.load(*classifier_key, feature_space=features, channels=channels)
    )
    console.print(_table(scores, f"gv eval: {source}", _caption(scores, count, dataset, evaluator)))


def _feature_spaces(text: str, metrics: str) -> tuple[str, str]:
    """--features 'classifier,classifier2' -> the distances' space, and --metrics with fid2 added."""
    from ..evaluation.features import check_feature_space

    spaces = [p.strip() for p in text.split(",") if p.strip()]
    primary = [p for p in spaces if p != "classifier2"]
    if len(primary) > 1 or not spaces:
        raise GVError(
            f"bad --features '{text}': one of classifier, inception, optionally with classifier2 "
            "(e.g. classifier,classifier2)"
        )
    space = check_feature_space(primary[0] if primary else "classifier")
    if (
        "classifier2" in spaces
        and "fid2" not in [metric_of(m.strip()) for m in metrics.split(",")]
        and ALL not in metrics.split(",")
    ):
        metrics = f"{metrics},fid2"
    return space, metrics


def _caption(scores: dict[str, float], count: int, dataset: str, evaluator) -> str:
    """Which network produced which numbers."""
    used: dict[str, list[str]] = {}
    for name, metric in CATALOG.items():
        if any(info.name in scores or f"{info.name}/0" in scores for info in metric.keys):
            network = metric.network
            if network == "classifier" and name not in ("classifier_score", "memorization"):
                network = evaluator.feature_space
            used.setdefault(network, []).append(name)
    lines = [f"{count:,} images vs the {dataset} test split"]
    for network, names in used.items():
        if network in ("classifier", "classifier2", "inception"):
            lines.append(f"{', '.join(names)}: {evaluator.network(network)}")
        elif network == "reader":
            lines.append(
                f"{', '.join(names)}: reader (labels; trained with jitter and blur, held-out accuracy "
                f"{evaluator.reader.accuracy:.1%})"
            )
        elif network == "cas":
            lines.append(f"{', '.join(names)}: a fresh classifier trained on the samples")
    return "\n".join(lines)


@evaluator_app.command("train")
def evaluator_train(
    dataset: Annotated[
        str, typer.Option("--dataset", "-d", help="Dataset whose networks to train: a built-in name or a folder.")
    ] = "mnist-5k",
    force: Annotated[bool, typer.Option("--force", help="Retrain even if cached networks exist.")] = False,
    data_dir: Annotated[
        str | None, typer.Option(help="Dataset folder (default $GV_DATA_DIR or ~/.cache/gv/data).")
    ] = None,
) -> None:
    """Train (or show the cached) evaluator networks of a dataset: held-out accuracy and cache path."""
    from ..data import load_dataset, resolve_name
    from ..evaluation.classifier import about, entry_dir, get_classifier, network_names, quality

    dataset = resolve_name(dataset)
    load_dataset(dataset, "train", data_dir or "")  # a missing dataset fails before anything is written
    for network in network_names(dataset):
        path = entry_dir(dataset) / f"{network}.pt"

        def stamp(path: Path = path) -> int | None:
            return path.stat().st_mtime_ns if path.is_file() else None

        before = stamp()
        clf = get_classifier(
            dataset, data_dir or "", retrain=force, log=lambda text: err_console.print(text), network=network
        )
        meta = clf.meta
        state = "trained now" if stamp() != before else "cached"
        console.print(
            f"{dataset} evaluator, {network} ({about(dataset, network)}; {state}): {quality(clf)} "
            f"on {meta['test_images']:,} test images; trained on "
            f"{meta['train_images']:,} images in {meta['train_seconds']:.0f}s ({meta['steps']} steps)"
        )
    console.print(f"cache: {entry_dir(dataset)}")


@evaluator_app.command("check")
def evaluator_check(
    dataset: Annotated[
        str, typer.Option("--dataset", "-d", help="Dataset whose evaluator to check: a built-in name or a folder.")
    ] = "mnist-5k",
    json_out: Annotated[bool, typer.Option("--json", help="Print the results as one JSON object on stdout.")] = False,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Folder for ladders.png and ladders.json (default: ./gv-check-DATASET)."),
    ] = None,
    data_dir: Annotated[
        str | None, typer.Option(help="Dataset folder (default $GV_DATA_DIR or ~/.cache/gv/data).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the disturbances.")] = 0,
) -> None:
    """The metric sanity suite: damage the held-out images in known ways (noise, blur, salt and pepper,
    occlusion, dropped classes, out-of-domain images) and in the ways generative models do (softness,
    speckle, haze, blobs, broken strokes), 4 levels each; every distance (fid, kid, fid2, realism,
    combined) must get worse at every step. Prints the table, writes a plot; exit 1 when one fails."""
    from ..data import label, resolve_name
    from ..evaluation.api import Scorer
    from ..evaluation.ladders import CHECK_FILE, DISTANCES, DRAWS, LEVELS, SHOWN, plot, run_ladders, summary
    from ..rundir import write_json

    dataset = resolve_name(dataset)
    scorer = Scorer.for_dataset(dataset, data_dir or "", seed=seed)
    out = out or Path(f"gv-check-{label(dataset)}")
    out.mkdir(parents=True, exist_ok=True)
    results = run_ladders(scorer, seed)
    doc = summary(results, scorer)
    write_json(out / "ladders.json", doc)
    plot(results, out / "ladders.png")
    write_json(Path(scorer.classifier.meta["path"]).with_name(CHECK_FILE), doc)
    if json_out:
        typer.echo(json.dumps(doc))
    else:
        table = Table(
            title=f"gv evaluator check: {dataset} ({len(scorer.test_set):,} held-out images vs themselves)",
            caption=f"judged: {', '.join(DISTANCES)} must rise at every step; {', '.join(SHOWN)} shown; "
            + "; ".join(f"{name}: each level the mean of {n} random draws" for name, n in DRAWS.items()),
        )
        table.add_column("ladder")
        table.add_column("metric")
        for i in range(len(next(iter(LEVELS.values()))) + 1):
            table.add_column(f"level {i}", justify="right")
        table.add_column("")
        for r in results:
            table.add_row(r.name, "level", *[f"{v:g}" for v in r.levels], "passed" if r.passed else "FAILED")
            for key in (*DISTANCES, *SHOWN):
                values = [s[key] for s in r.scores]
                ok = key not in DISTANCES or r.rises(key)
                table.add_row("", key, *[f"{v:.4g}" for v in values], "" if ok else "not monotone")
        table_console().print(table)
        console.print(f"{doc['ladders_passed']}/{doc['ladders']} ladders passed; plot: {out / 'ladders.png'}")
    if not doc["passed"]:
        raise typer.Exit(1)
