"""`gv interpolate`: interpolation strips for a single model."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ..errors import GVError
from ..rundir import check_creatable
from .common import console

if TYPE_CHECKING:
    import torch

app = typer.Typer()

ENDPOINT_HELP = (
    "seed:N (a random latent), test:I (the I-th held-out real image), class:C (conditional "
    "families: blend the label), or a PNG file of a real image"
)


def parse_endpoint(text: str, option: str) -> tuple[str, object]:
    """'seed:3' -> ("seed", 3); 'test:17' -> ("test", 17); 'class:4' -> ("class", 4); a path -> ("file", Path)."""
    kind, _, value = text.partition(":")
    if kind in ("seed", "test", "class") and value:
        try:
            number = int(value)
        except ValueError:
            raise GVError(f"bad {option} '{text}': expected {kind}:<integer>") from None
        if number < 0:
            raise GVError(f"bad {option} '{text}': the number must be >= 0")
        return kind, number
    path = Path(text).expanduser()
    if path.suffix.lower() == ".png" and path.is_file():
        return "file", path
    raise GVError(f"bad {option} '{text}': use {ENDPOINT_HELP}")


def load_real_image(path: Path, image_shape: tuple[int, int, int]) -> torch.Tensor:
    import torch
    from PIL import Image

    from ..data import to_unit_range

    c, h, w = image_shape
    try:
        # A closed list of formats: some Pillow plugins hand a file to an outside program.
        with Image.open(path, formats=["PNG", "JPEG", "BMP", "WEBP", "GIF", "TIFF"]) as opened:
            img = opened.convert("L" if c == 1 else "RGB")
            if img.size != (w, h):
                raise GVError(f"image '{path}' is {img.size[0]}x{img.size[1]}; this model draws {w}x{h} images")
            array = torch.frombuffer(bytearray(img.tobytes()), dtype=torch.uint8).view(h, w, c)
    except OSError as exc:
        raise GVError(f"cannot read image '{path}': {exc}") from None
    return to_unit_range(array.permute(2, 0, 1))


@app.command("interpolate")
def interpolate_cmd(
    run_dir: Annotated[Path, typer.Argument(help="A run directory (or checkpoint file).")],
    start: Annotated[str, typer.Option("--from", help=f"Start point: {ENDPOINT_HELP}.")] = "seed:0",
    end: Annotated[str, typer.Option("--to", help="End point, same forms as --from.")] = "seed:1",
    steps: Annotated[int, typer.Option(help="Images along the path, endpoints included.")] = 10,
    out: Annotated[Path, typer.Option(help="PNG file to write.")] = Path("interpolation.png"),
    method: Annotated[str, typer.Option(help="slerp (spherical; right for Gaussian latents) or linear.")] = "slerp",
    label: Annotated[
        int | None,
        typer.Option(help="Class for conditional families with seed/file endpoints (default: one row per class)."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Noise seed for class:C endpoints and GAN inversion restarts.")] = 0,
) -> None:
    """Interpolate one model between two latent points, two classes or two real images."""
    import torch

    from ..data import load_split, to_unit_range
    from ..images import save_grid
    from ..interpolation import class_interpolation, find_endpoints, latent_interpolation, real_interpolation
    from ..limits import check_memory, check_picture, grid_bytes, image_bytes
    from ..trainer import load_model

    if steps < 2:
        raise GVError(f"bad --steps {steps}: need at least 2")
    if method not in ("slerp", "linear"):
        raise GVError(f"bad --method '{method}': use slerp or linear")
    if out.suffix.lower() != ".png":
        raise GVError(f"bad --out '{out}': write a .png file")
    kinds = [parse_endpoint(start, "--from"), parse_endpoint(end, "--to")]
    model, cfg, _ = load_model(run_dir)
    # A conditional model's seed-to-seed path is drawn once per class, one row each.
    rows = model.num_classes if model.conditional and label is None and kinds[0][0] == kinds[1][0] == "seed" else 1
    count, shape = rows * (steps + 2), tuple(model.image_shape)
    what = f"--steps {steps:,}: {count:,} images of {'x'.join(map(str, shape))} in one picture"
    check_picture(what, count, shape, steps + 2, "give fewer --steps (10-50 images show a whole path)")
    check_memory(
        what,
        count * image_bytes(shape) + grid_bytes(count, shape, steps + 2),
        "give fewer --steps (a path of 10-50 images shows the whole interpolation)",
    )
    if label is not None and not (model.conditional and 0 <= label < model.num_classes):
        raise GVError(
            f"bad --label {label}: "
            + (
                f"classes are 0..{model.num_classes - 1}"
                if model.conditional
                else f"family '{cfg.family}' is not conditional"
            )
        )
    (k0, v0), (k1, v1) = kinds
    if k0 == "class" or k1 == "class":
        if k0 != k1:
            raise GVError(f"--from '{start}' and --to '{end}' mix a class with another kind of endpoint")
        if not model.conditional:
            raise GVError(f"class endpoints need a conditional family (cgan, cvae), not '{cfg.family}'")
        for v, opt in ((v0, "--from"), (v1, "--to")):
            if not int(v) < model.num_classes:  # type: ignore[call-overload]
                raise GVError(f"bad {opt} 'class:{v}': classes are 0..{model.num_classes - 1}")
        z = model.sample_latent(1, torch.Generator().manual_seed(seed))[0]
        grid = class_interpolation(model, z, int(v0), int(v1), steps)  # type: ignore[call-overload]
        nrow, note = steps, f"class {v0} -> class {v1}"
    elif k0 == "seed" and k1 == "seed":
        z0 = model.sample_latent(1, torch.Generator().manual_seed(int(v0)))[0]  # type: ignore[call-overload]
        z1 = model.sample_latent(1, torch.Generator().manual_seed(int(v1)))[0]  # type: ignore[call-overload]
        if model.conditional and label is None:
            grid = torch.cat([latent_interpolation(model, z0, z1, steps, c, method) for c in range(model.num_classes)])
        else:
            grid = latent_interpolation(model, z0, z1, steps, label, method)
        nrow, note = steps, f"latent seed {v0} -> seed {v1} ({method})"
    elif "seed" in (k0, k1):
        raise GVError(f"--from '{start}' and --to '{end}' mix a random latent with a real image: use two of a kind")
    else:
        # Real image -> real image, shown between the two real images themselves.
        test = None
        images, labels = [], []
        for kind, value in kinds:
            if kind == "test":
                test = test or load_split(cfg.data, "test")
                if int(value) >= len(test):  # type: ignore[call-overload]
                    raise GVError(
                        f"bad endpoint 'test:{value}': the test split has {len(test)} images (0..{len(test) - 1})"
                    )
                images.append(to_unit_range(test.images[int(value)]))  # type: ignore[call-overload]
                labels.append(int(test.labels[int(value)]))  # type: ignore[call-overload]
            else:
                images.append(load_real_image(value, model.image_shape))  # type: ignore[arg-type]
                if model.conditional and label is None:
                    raise GVError(f"a PNG endpoint for conditional family '{cfg.family}' needs --label (its class)")
                labels.append(label if label is not None else 0)
        x, y = torch.stack(images), torch.tensor(labels)
        endpoints = find_endpoints(model, x, y, generator=torch.Generator().manual_seed(seed))
        path = real_interpolation(model, endpoints, y, steps, method)
        grid = torch.cat([x[:1], path, x[1:]])
        nrow = steps + 2
        errors = ", ".join(f"{e:.4f}" for e in endpoints.errors.tolist())
        note = f"real -> real via {endpoints.method}; endpoint reconstruction MSE {errors}"
    save_grid(grid, out, nrow=nrow)
    console.print(f"wrote {out}: {cfg.family}, {note}")


@app.command("report")
def report_cmd(
    sweep_dirs: Annotated[list[Path], typer.Argument(help="One or more sweep directories made by `gv sweep`.")],
    metric: Annotated[
        str | None,
        typer.Option(
            help="Pick each family's best checkpoint by this metric (default: the one the sweeps ranked by, "
            "else the overall axis's; see docs/metrics.md)."
        ),
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Report folder (default: report/ in the first sweep dir).")] = None,
    eval_samples: Annotated[
        int, typer.Option(help="Samples for the full evaluation of checkpoints the sweep did not fully evaluate.")
    ] = 10_000,
    wandb: Annotated[
        bool, typer.Option("--wandb", help="Also log the figures and metrics table to a W&B run.")
    ] = False,
    wandb_report: Annotated[
        bool, typer.Option("--wandb-report", help="Also create a W&B Report (needs W&B online).")
    ] = False,
    wandb_project: Annotated[str, typer.Option(help="W&B project.")] = "gv",
    wandb_entity: Annotated[str | None, typer.Option(help="W&B entity (user or team).")] = None,
    wandb_mode: Annotated[str, typer.Option(help="auto, online, offline or disabled (as for `gv sweep`).")] = "auto",
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "cpu",
    allow_mixed_budgets: Annotated[
        bool,
        typer.Option(
            "--allow-mixed-budgets",
            help="Pool trials trained at different budgets (refused otherwise); the verdict then says so.",
        ),
    ] = False,
) -> None:
    """Compare the best checkpoint of each family side by side: samples, interpolations, metrics,
    sensitivity and curves, as a self-contained report.html (+ PNGs, report.json; optionally W&B)."""
    import shutil
    import tempfile

    from ..compare import ranking_metric, read_sweeps
    from ..report import build_report, metric_mode
    from .common import err_console
    from .wandb_mode import resolve_wandb_mode

    if eval_samples < 100:
        raise GVError(f"bad --eval-samples {eval_samples}: use at least 100 (10000 is the standard)")
    sweeps, _ = read_sweeps([str(d) for d in sweep_dirs], allow_mixed_budgets)  # readable and poolable first
    metric = metric or ranking_metric(sweeps)
    metric_mode(metric)
    mode, why = resolve_wandb_mode(wandb_mode) if (wandb or wandb_report) else ("disabled", "")
    out = out or Path(sweep_dirs[0]) / "report"
    check_creatable(out, "--out")
    if out.is_dir() and any(out.iterdir()) and not (out / "report.json").is_file():
        # A previous report is replaced whole; any other folder is the user's, never deleted.
        raise GVError(
            f"--out '{out}' is a folder that holds something other than a gv report: pass a new or empty folder"
        )
    # Build into a temporary folder next to the target, then swap it in: a failure leaves no half report.
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".report-", dir=out.parent))
    try:
        with err_console.status("building the report") as status:
            data = build_report(
                list(sweep_dirs),
                staging,
                metric,
                eval_samples,
                device,
                progress=lambda text: status.update(text),
                allow_mixed_budgets=allow_mixed_budgets,
            )
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    console.print(f"report: {out / 'report.html'}")
    for family, fam in data["families"].items():
        value = fam["value"]
        console.print(f"  {family:6} {metric} {value:.4g}  ({fam['sweep']} / {fam['trial_id']})")
    if wandb or wandb_report:
        from ..report.to_wandb import create_wandb_report, log_report

        group = "+".join(data["sweeps"])
        if mode == "disabled":
            console.print(f"W&B: disabled ({why}); nothing logged")
        else:
            try:
                info = log_report(data, out, project=wandb_project, entity=wandb_entity, mode=mode, group=group)
            except Exception as exc:  # auth, entity, network: the report itself is already written
                raise GVError(
                    f"report written to {out}, but logging it to W&B failed ({type(exc).__name__}: "
                    f"{str(exc).splitlines()[0][:200] if str(exc) else ''}); check --wandb-entity / "
                    "--wandb-project and `wandb login`, or use --wandb-mode offline"
                ) from None
            if mode == "online":
                console.print(f"W&B run: {info['url']}")
            else:
                console.print(f"W&B run saved offline ({why}); upload it with: wandb sync {info['dir']}")
        if wandb_report:
            if mode != "online":
                console.print(
                    f"[yellow]W&B Report not created: W&B is {mode} ({why}). A Report lives on a W&B "
                    "server: run `wandb login` (or set WANDB_API_KEY) where W&B is reachable and rerun "
                    "with --wandb-report.[/]"
                )
            else:
                try:
                    url = create_wandb_report(data, project=wandb_project, entity=wandb_entity, group=group)
                except Exception as exc:
                    raise GVError(
                        f"report and W&B run written, but creating the W&B Report failed "
                        f"({type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}); "
                        "check --wandb-entity / --wandb-project"
                    ) from None
                console.print(f"W&B Report: {url}")
