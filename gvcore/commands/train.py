"""`gv families`, `gv config`, `gv train`, `gv resume`, `gv sample`: single models, no Ray."""

from __future__ import annotations

import math
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from ..config import BUDGET_KINDS, DEFAULT_EPOCHS, TRAINING_DEFAULTS, Config, apply_overrides, get_value, valid_keys
from ..errors import GVError
from ..rundir import atomic_path, check_creatable
from .common import console, err_console

app = typer.Typer()
# The defaults the help texts quote, read from the config itself (one place per fact).
DEFAULTS = Config()

FamilyArg = Annotated[
    str, typer.Argument(help="Model family: gan, lsgan, dcgan, cgan, vae or cvae (see `gv families`).")
]
DatasetOpt = Annotated[
    str,
    typer.Option(
        "--dataset",
        "-d",
        help="mnist-5k (no download), mnist, fashion-mnist, cifar10, imagenette, or a folder of images "
        "(a path such as ./photos, or an s3:// / gs:// URI; see docs/datasets.md).",
    ),
]
FLOPS_HELP = (
    "Training budget in FLOPs, e.g. 2e13: steps = FLOPs / the FLOPs of one training step (counted by "
    "torch at the start), so families compare at equal compute."
)
SECONDS_HELP = (
    "Training budget in seconds of training (evaluations excluded); machine dependent: compare only "
    "runs on one machine."
)
SetOpt = Annotated[
    list[str] | None,
    typer.Option("--set", help="Override any config key: --set optim.lr=1e-3 (repeatable; see `gv config`)."),
]


@app.command()
def families(
    dataset: Annotated[
        str, typer.Option("--dataset", "-d", help="Size the nets for this dataset (a built-in name or a folder).")
    ] = "mnist",
) -> None:
    """List the model families: kind, conditioning, networks and parameter counts."""
    from ..data import get_spec, resolve_name
    from ..families import FAMILIES, resolve_config
    from ..models import build_model, describe_nets

    dataset = resolve_name(dataset)
    table = Table(title=f"gv model families (nets sized for {dataset})")
    for col in ("name", "kind", "conditional", "loss", "nets", "parameters", "reference"):
        table.add_column(col, overflow="fold")
    for name, spec in FAMILIES.items():
        if spec.conditional and not get_spec(dataset).num_classes:
            reason = "needs labelled images: class sub-folders"
            table.add_row(name, spec.kind_label, "yes", spec.loss, reason, "", spec.reference)
            continue
        cfg = Config(family=name)
        cfg.data.name = dataset
        cfg = resolve_config(cfg)
        model = build_model(cfg)
        params = model.parameter_counts()
        table.add_row(
            name,
            spec.kind_label,
            "yes" if spec.conditional else "no",
            spec.loss,
            describe_nets(model),
            f"{sum(params.values()):,}",
            spec.reference,
        )
    console.print(table)


@app.command("config")
def show_config(
    family: Annotated[str, typer.Argument(help="Family whose defaults to resolve.")] = "dcgan",
    dataset: DatasetOpt = "mnist-5k",
    overrides: SetOpt = None,
) -> None:
    """Print every config key with its (resolved) value: what `--set key=value` accepts."""
    from ..data import resolve_name
    from ..families import resolve_config

    cfg = Config(family=family)
    cfg.data.name = resolve_name(dataset)
    cfg = resolve_config(apply_overrides(cfg, overrides or []))
    table = Table(title=f"config for {family} on {dataset}")
    table.add_column("key")
    table.add_column("value")
    for key in valid_keys():
        table.add_row(key, repr(get_value(cfg, key)))
    console.print(table)


def budget_flags(epochs: int | None, steps: int | None, flops: float | None, seconds: float | None) -> dict[str, float]:
    """The budget flags given ({kind: amount}); more than one is an error."""
    given = {kind: value for kind, value in zip(BUDGET_KINDS, (epochs, steps, flops, seconds)) if value is not None}
    if len(given) > 1:
        said = " and ".join(f"--{kind} {value:g}" for kind, value in given.items())
        raise GVError(f"{said} given: give one budget (--epochs, --steps, --flops or --seconds)")
    return given


def build_config(
    family: str,
    dataset: str,
    *,
    epochs: int | None,
    steps: int | None,
    batch_size: int | None,
    lr: float | None,
    latent_dim: int | None,
    seed: int | None,
    device: str | None,
    data_dir: str | None,
    overrides: list[str] | None,
    flops: float | None = None,
    seconds: float | None = None,
) -> Config:
    """The flags of `gv train`, applied in order: named flags, then --set overrides; validated."""
    from ..data import resolve_name
    from ..families import get_family, resolve_config

    get_family(family)  # name the bad family before anything else
    cfg = Config(family=family)
    cfg.data.name = resolve_name(dataset)  # a folder: its absolute path
    if data_dir:
        cfg.data.data_dir = str(Path(data_dir).expanduser())
    for kind, value in budget_flags(epochs, steps, flops, seconds).items():
        setattr(cfg.train, kind, value)
    for key, setting in (
        ("train.batch_size", batch_size),
        ("optim.lr", lr),
        ("model.latent_dim", latent_dim),
        ("train.seed", seed),
        ("train.device", device),
    ):
        if setting is not None:
            target, attr = key.split(".")
            setattr(getattr(cfg, target), attr, setting)
    apply_overrides(cfg, overrides or [])
    cfg.data.name = resolve_name(cfg.data.name)  # also after --set data.name=...
    return resolve_config(cfg)


def _loss_text(losses: dict[str, float]) -> str:
    short = {
        "loss/discriminator": "D",
        "loss/generator": "G",
        "loss/total": "loss",
        "loss/reconstruction": "rec",
        "loss/kl": "KL",
    }
    return "  ".join(f"{short[k]} {v:.3f}" for k, v in losses.items() if k in short)


def run_with_progress(cfg: Config, run_dir: Path, resume: bool) -> None:
    """Train with a rich progress bar, then print where everything landed."""
    from ..evaluation.api import make_evaluator
    from ..trainer import Hooks, train

    columns = [
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[losses]}"),
        TextColumn("{task.fields[speed]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    ]
    # The bar appears with the first progress report: a budget the trainer refuses while planning
    # (a FLOP budget below one step) stays a one-line error, before any evaluator is made.
    progress = Progress(*columns, console=err_console, transient=False)
    tasks: list = []

    def on_progress(p) -> None:
        if not tasks:
            progress.start()
            tasks.append(progress.add_task(f"{cfg.family} on {cfg.data.name}", total=None, losses="", speed=""))
        progress.update(
            tasks[0],
            completed=p.step,
            total=p.total_steps,
            losses=_loss_text(p.losses),
            speed=f"{p.images_per_s:,.0f} img/s",
        )

    def on_eval(e) -> None:
        if e.metrics:
            text = "  ".join(f"{k} {v:.4g}" for k, v in e.metrics.items())
            progress.console.print(f"step {e.step}: {text}")

    try:
        result = train(
            cfg, run_dir, Hooks(on_progress=on_progress, on_eval=on_eval), evaluator_for=make_evaluator, resume=resume
        )
    finally:
        progress.stop()
    style = {"done": "green", "diverged": "red", "stopped": "yellow"}[result.status]
    console.print(
        f"[{style}]{result.status}[/]: {result.step}/{result.total_steps or '?'} steps "
        f"({result.flops:.3g} FLOPs, {result.flops_per_step:.3g} a step) in {result.wall_time:.1f}s "
        f"({result.images_per_s:,.0f} img/s)" + (f" -- {result.message}" if result.message else "")
    )
    console.print(f"run dir: {run_dir}")
    grids = sorted((run_dir / "samples").glob("step-*.png"))
    if grids:
        console.print(f"latest samples: {grids[-1]}")
    if result.checkpoint:
        console.print(f"next: gv sample {run_dir} --n 64 --out {run_dir / 'grid.png'}")
    if result.status == "diverged":
        raise typer.Exit(1)


@app.command("train")
def train_cmd(
    family: FamilyArg,
    dataset: DatasetOpt = "mnist-5k",
    epochs: Annotated[int | None, typer.Option(help=f"Training budget in epochs (default {DEFAULT_EPOCHS}).")] = None,
    steps: Annotated[int | None, typer.Option(help="Training budget in optimizer steps (instead of --epochs).")] = None,
    flops: Annotated[float | None, typer.Option(help=FLOPS_HELP)] = None,
    seconds: Annotated[float | None, typer.Option(help=SECONDS_HELP)] = None,
    batch_size: Annotated[
        int | None, typer.Option("--batch-size", "-b", help=f"Minibatch size (default {DEFAULTS.train.batch_size}).")
    ] = None,
    lr: Annotated[
        float | None,
        typer.Option(
            help="Adam learning rate (default: the family's, "
            + ", ".join(f"{kind.upper()}s {values['optim.lr']:g}" for kind, values in TRAINING_DEFAULTS.items())
            + ")."
        ),
    ] = None,
    latent_dim: Annotated[
        int | None,
        typer.Option(
            help="Latent size (default: the family's, "
            + ", ".join(f"{kind.upper()}s {values['model.latent_dim']}" for kind, values in TRAINING_DEFAULTS.items())
            + ")."
        ),
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed (same seed, same CPU: same losses).")] = None,
    device: Annotated[str | None, typer.Option(help="auto, cpu or cuda.")] = None,
    data_dir: Annotated[
        str | None, typer.Option(help="Dataset folder (default $GV_DATA_DIR or ~/.cache/gv/data).")
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Run directory to create (default runs/FAMILY-DATASET-TIME).")
    ] = None,
    overrides: SetOpt = None,
) -> None:
    """Train one model without Ray: checkpoints, metrics.jsonl and sample grids in a run directory."""
    cfg = build_config(
        family,
        dataset,
        epochs=epochs,
        steps=steps,
        batch_size=batch_size,
        lr=lr,
        latent_dim=latent_dim,
        seed=seed,
        device=device,
        data_dir=data_dir,
        overrides=overrides,
        flops=flops,
        seconds=seconds,
    )
    from ..data import get_spec, is_folder, label, load_split

    if out is None:
        out = Path("runs") / f"{family}-{label(cfg.data.name)}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise GVError(
            f"--out '{out}' already exists and is not empty: choose another --out, or continue it with `gv resume {out}`"
        )
    check_creatable(out, "--out")
    # Fail on a missing dataset or an impossible budget before anything is written.
    from ..budget import plan_steps

    plan_steps(cfg, len(load_split(cfg.data, "train")))
    if is_folder(cfg.data.name):  # what gv made of the folder: split, classes, colour, side, skipped files
        console.print(f"dataset: {get_spec(cfg.data.name).description}", soft_wrap=True)
    run_with_progress(cfg, out, resume=False)


@app.command("resume")
def resume_cmd(
    run_dir: Annotated[Path, typer.Argument(help="A run directory made by `gv train`.")],
    epochs: Annotated[int | None, typer.Option(help="New total budget in epochs.")] = None,
    steps: Annotated[int | None, typer.Option(help="New total budget in steps.")] = None,
    flops: Annotated[float | None, typer.Option(help="New total budget in FLOPs (the run's own FLOPs a step).")] = None,
    seconds: Annotated[float | None, typer.Option(help="New total budget in seconds of training.")] = None,
) -> None:
    """Continue a stopped run from its last checkpoint (exactly: same data order, same RNG)."""
    from ..budget import clear_budget
    from ..checkpoint import config_of, load_checkpoint
    from ..families import resolve_config
    from ..trainer import checkpoint_path

    if not run_dir.is_dir():
        raise GVError(f"run dir '{run_dir}' does not exist: pass a directory made by `gv train`")
    given = budget_flags(epochs, steps, flops, seconds)
    cfg = config_of(load_checkpoint(checkpoint_path(run_dir)))
    if given:
        clear_budget(cfg.train)
        for kind, value in given.items():
            setattr(cfg.train, kind, value)
    run_with_progress(resolve_config(cfg), run_dir, resume=True)


def parse_labels(text: str, num_classes: int) -> list[int]:
    try:
        labels = [int(part) for part in text.replace(" ", "").split(",") if part != ""]
    except ValueError:
        raise GVError(f"bad --labels '{text}': expected class numbers separated by commas, e.g. --labels 3,7") from None
    bad = [lab for lab in labels if not 0 <= lab < num_classes]
    if not labels or bad:
        raise GVError(f"bad --labels '{text}': classes are 0..{num_classes - 1}")
    return labels


# Samples drawn at a time by `gv sample`.
SAMPLE_CHUNK = 10_000


@app.command("sample")
def sample_cmd(
    run_dir: Annotated[Path, typer.Argument(help="A run directory (or checkpoint file).")],
    n: Annotated[int, typer.Option("--n", help="Number of images.")] = 64,
    out: Annotated[Path, typer.Option(help=".npz (images uint8 N,H,W,C [+ labels]) or .png (a grid).")] = Path(
        "samples.png"
    ),
    seed: Annotated[int, typer.Option(help="Noise seed: same seed, same images.")] = 0,
    labels: Annotated[
        str | None, typer.Option(help="Conditional families: classes to draw, e.g. 3 or 1,7 (default: balanced).")
    ] = None,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "cpu",
) -> None:
    """Draw samples from a trained model into an .npz array file or a .png grid."""
    import numpy as np
    import torch

    from ..data import to_uint8, to_unit_range
    from ..images import save_grid
    from ..limits import check_memory, check_picture, grid_bytes, image_bytes
    from ..trainer import load_model

    if n <= 0:
        raise GVError(f"bad --n {n}: must be > 0")
    suffix = out.suffix.lower()
    if suffix not in (".npz", ".png"):
        raise GVError(f"bad --out '{out}': use a .npz (arrays) or .png (grid) file name")
    model, cfg, _ = load_model(run_dir, device)
    if labels is not None and not model.conditional:
        raise GVError(f"--labels given but family '{cfg.family}' is not conditional: drop --labels or use cgan / cvae")
    chosen = parse_labels(labels, model.num_classes) if model.conditional and labels is not None else None
    shape = tuple(model.image_shape)
    side = max(1, int(math.ceil(math.sqrt(n))))
    # uint8 samples, one float chunk, and for a .png the float images and the grid itself.
    needed = n * image_bytes(shape, 1) + min(n, SAMPLE_CHUNK) * image_bytes(shape)
    what = f"--n {n:,}: {n:,} samples of {'x'.join(map(str, shape))}" + (" in one grid" if suffix == ".png" else "")
    if suffix == ".png":
        needed += n * image_bytes(shape) + grid_bytes(n, shape, side)
        grid_rows = len(chosen or range(model.num_classes)) if model.conditional else side
        check_picture(what, n, shape, max(side, math.ceil(n / grid_rows)), "draw fewer into a .png, or write a .npz")
    check_memory(
        what,
        needed,
        "draw fewer, or several files with different --seed" + (", or write a .npz" if suffix == ".png" else ""),
    )
    if model.conditional:
        chosen = chosen or list(range(model.num_classes))
        # Balanced over the chosen classes, grouped by class (one grid row per class).
        y = torch.tensor(chosen)[torch.arange(n) * len(chosen) // n]
    else:
        y = None
    generator = torch.Generator().manual_seed(seed)
    # Drawn in chunks and kept as uint8: the float images of a large --n never sit in memory at once.
    samples = torch.cat(
        [
            to_uint8(model.sample(len(part), None if y is None else y[part], generator).cpu())
            for part in torch.arange(n).split(SAMPLE_CHUNK)
        ]
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".npz":
        nhwc = samples.permute(0, 2, 3, 1).contiguous().numpy()
        with atomic_path(out) as tmp, tmp.open("wb") as fh:  # a file object: numpy adds no ".npz"
            if y is None:
                np.savez_compressed(fh, images=nhwc)
            else:
                np.savez_compressed(fh, images=nhwc, labels=y.numpy().astype(np.int64))
    else:
        images = to_unit_range(samples)
        if y is not None:
            # One row per class; rows a sample short are padded with blank (white) cells.
            per_row = int(torch.bincount(y).max())
            rows = []
            for c in torch.unique(y):
                row = images[y == c]
                pad = torch.ones(per_row - row.shape[0], *row.shape[1:])
                rows.append(torch.cat([row, pad]))
            save_grid(torch.cat(rows), out, nrow=per_row)
        else:
            save_grid(images, out, nrow=side)
    console.print(f"wrote {n} samples of {cfg.family} ({cfg.data.name}) to {out}")
