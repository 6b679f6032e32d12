"""Scoring image sets, models and checkpoints; the evaluator the trainer calls at every eval.

    evaluate_images(images, labels, dataset=...)   any uint8 images (an .npz from anywhere)
    evaluate_model(model, config, num_samples)     samples drawn from a model (plus nelbo for VAEs)
    evaluate_checkpoint(path, num_samples=10000)   a run dir or checkpoint: what leaderboards call
    make_evaluator(config)                         the cheap in-training set, keys "eval/<name>"

Generated images are rounded to uint8 before they are scored, exactly like the images `gv sample`
writes: a model's samples and an .npz holding the same images score alike. (`gv sample` draws its
own noise and groups labels by class, so its file holds other samples of the same model.)
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..config import Config
from ..data import ImageDataset, get_spec, load_dataset, to_uint8
from ..errors import GVError
from ..limits import check_memory, image_bytes, npz_declared
from .catalog import ALL, resolve_metrics
from .features import Evaluator, Reference, check_feature_space, dataset_reference
from .registry import IW_SAMPLES, MIN_IMAGES, Context, run_metrics

# The in-training samples use fixed noise per run (so evals are comparable step to step), drawn
# from a generator of their own, apart from the sample grid's (train.seed + 1).
EVAL_SEED_OFFSET = 7919
FULL_EVAL_SAMPLES = 10_000


@dataclass
class Scorer:
    """One dataset's evaluator, prepared once: its networks, real reference and splits."""

    dataset: str
    evaluator: Evaluator
    reference: Reference
    test_set: ImageDataset
    train_set: ImageDataset
    seed: int = 0
    iw_samples: int = IW_SAMPLES

    @classmethod
    def for_dataset(
        cls,
        dataset: str,
        data_dir: str | os.PathLike | None = "",
        image_size: int = 0,
        *,
        feature_space: str = "classifier",
        reference: Reference | None = None,
        cache_dir: str | os.PathLike | None = None,
        seed: int = 0,
        iw_samples: int = IW_SAMPLES,
        channels: int = 0,
    ) -> Scorer:
        """``channels``: data.channels (0 = the dataset's own)."""
        check_feature_space(feature_space)
        if iw_samples < 1:
            raise GVError(f"bad --iw-samples {iw_samples}: must be >= 1")
        test_set = load_dataset(dataset, "test", data_dir, image_size, channels=channels)
        train_set = load_dataset(dataset, "train", data_dir, image_size, channels=channels)
        evaluator = Evaluator.load(dataset, data_dir, image_size, cache_dir, feature_space, channels=channels)
        if reference is None:
            reference = dataset_reference(dataset, evaluator, data_dir, image_size)
        return cls(dataset, evaluator, reference, test_set, train_set, seed, iw_samples)

    @property
    def classifier(self):
        """The ``classifier`` network (features of the distances)."""
        return self.evaluator.classifier

    def check_images(self, images: torch.Tensor, labels: torch.Tensor | None, source: str = "images") -> None:
        shape = tuple(self.classifier.image_shape)
        if images.dtype != torch.uint8 or images.dim() != 4 or tuple(images.shape[1:]) != shape:
            raise GVError(
                f"{source}: expected uint8 images of shape (N, {shape[0]}, {shape[1]}, {shape[2]}) "
                f"for dataset '{self.dataset}', got {images.dtype} {tuple(images.shape)}"
            )
        if images.shape[0] < MIN_IMAGES:
            raise GVError(f"{source}: {images.shape[0]} images are too few to score: give at least {MIN_IMAGES}")
        if labels is not None and (
            labels.shape != (images.shape[0],)
            or not bool(((labels >= 0) & (labels < self.classifier.num_classes)).all())
        ):
            raise GVError(
                f"{source}: labels must be {images.shape[0]} class numbers in 0..{self.classifier.num_classes - 1}"
            )

    def context(
        self, images: torch.Tensor, labels: torch.Tensor | None = None, model: Any = None, bootstrap: bool = True
    ) -> Context:
        return Context(
            images,
            labels,
            self.reference,
            self.evaluator,
            model,
            self.test_set,
            self.train_set,
            self.dataset,
            self.seed,
            self.iw_samples,
            bootstrap,
        )

    def score(
        self,
        images: torch.Tensor,
        labels: torch.Tensor | None = None,
        metrics: str | Sequence[str] | None = ALL,
        model: Any = None,
        where: str = "--metrics",
        bootstrap: bool = True,
    ) -> dict[str, float]:
        """Named floats for uint8 images (N, C, H, W); ``model`` adds nelbo / iw_nll for VAEs;
        ``bootstrap`` adds the standard errors (``<key>_se``)."""
        names = resolve_metrics(
            metrics,
            has_labels=labels is not None,
            is_vae=model is not None and model.kind == "vae",
            where=where,
            labelled=self.evaluator.labelled,
        )
        self.check_images(images, labels)
        ctx = self.context(images, labels, model, bootstrap)
        was_training = model.training if model is not None else False
        if model is not None:
            model.eval()  # dropout off, BatchNorm running statistics
        try:
            return run_metrics(ctx, names)
        finally:
            if model is not None:
                model.train(was_training)


# --- images in ----------------------------------------------------------------------------------


@torch.no_grad()
def generate_samples(
    model: Any, n: int, seed: int = 0, batch_size: int = 500
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """n samples as uint8 (N, C, H, W) on the CPU; conditional models draw balanced classes."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % model.num_classes if model.conditional else None
    chunks = []
    for start in range(0, n, batch_size):
        y = labels[start : start + batch_size] if labels is not None else None
        chunks.append(to_uint8(model.sample(min(batch_size, n - start), y, generator)).cpu())
    return torch.cat(chunks), labels


def load_samples(
    path: str | os.PathLike, dataset: str, image_size: int = 0
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Read an .npz in `gv sample`'s format -- ``images`` uint8 (N, H, W, C), optional ``labels`` --
    and check it against the dataset. Returns uint8 (N, C, H, W) images and int64 labels or None."""
    path = Path(path)
    spec = get_spec(dataset)
    size = image_size or spec.image_size
    want = f"(N, {size}, {size}, {spec.channels})"
    if not path.is_file():
        raise GVError(f"--samples '{path}' does not exist: pass an .npz written by `gv sample --out FILE.npz`")

    def unreadable(exc: BaseException) -> GVError:
        first = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
        return GVError(f"--samples '{path}' is not a readable .npz file ({first}); write one with numpy.savez")

    try:
        # The sizes its headers declare, before anything is inflated: a header may claim 10^9 images.
        declared = npz_declared(path) if zipfile.is_zipfile(path) else {}
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
        raise unreadable(exc) from None
    for array, (shape, dtype, nbytes) in declared.items():
        check_memory(
            f"--samples '{path}': its '{array}' array declares shape {shape} ({dtype})",
            nbytes * 2,  # the array, and the channels-first copy scored
            "score a file with fewer images (split it), or give gv a machine with more memory",
        )
    try:
        npz = np.load(path, allow_pickle=False)  # never unpickle: a foreign file must not run code
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
        raise unreadable(exc) from None
    if not isinstance(npz, np.lib.npyio.NpzFile):
        raise GVError(
            f"--samples '{path}' holds a single .npy array, not an .npz archive; "
            "save with numpy.savez(FILE, images=...)"
        )
    with npz:
        if "images" not in npz.files:
            raise GVError(
                f"--samples '{path}' has no 'images' array (it has: {', '.join(npz.files) or 'nothing'}); "
                f"save uint8 images {want} under the key 'images'"
            )
        try:
            images = npz["images"]
            labels = npz["labels"] if "labels" in npz.files else None
        except (ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
            raise unreadable(exc) from None
    if images.dtype != np.uint8:
        raise GVError(
            f"--samples '{path}': 'images' is {images.dtype}, expected uint8 in 0..255 "
            "(convert floats in [0, 1] with (x * 255).round().astype(np.uint8))"
        )
    if images.ndim != 4 or images.shape[1:] != (size, size, spec.channels):
        raise GVError(
            f"--samples '{path}': 'images' has shape {images.shape}, but dataset '{dataset}' needs {want} "
            "(N images, height, width, channels last)"
        )
    if images.shape[0] < MIN_IMAGES:
        raise GVError(f"--samples '{path}': {images.shape[0]} images are too few to score: give at least {MIN_IMAGES}")
    out_labels = None
    if labels is not None and not spec.num_classes:
        raise GVError(
            f"--samples '{path}' has 'labels', but dataset {dataset} has no labels (a flat folder): save the images alone"
        )
    if labels is not None:
        if (
            labels.shape != (images.shape[0],)
            or not np.issubdtype(labels.dtype, np.integer)
            or labels.min() < 0
            or labels.max() >= spec.num_classes
        ):
            raise GVError(
                f"--samples '{path}': 'labels' must be {images.shape[0]} integers in 0..{spec.num_classes - 1} "
                f"(one class per image), got {labels.dtype} {labels.shape}"
            )
        out_labels = torch.from_numpy(labels.astype(np.int64))
    return torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2))), out_labels


# --- public entry points ------------------------------------------------------------------------


def evaluate_images(
    images: torch.Tensor,
    labels: torch.Tensor | None = None,
    *,
    dataset: str,
    data_dir: str | os.PathLike | None = "",
    image_size: int = 0,
    metrics: str | Sequence[str] | None = ALL,
    feature_space: str = "classifier",
    reference: Reference | None = None,
    seed: int = 0,
    cache_dir: str | os.PathLike | None = None,
) -> dict[str, float]:
    """Score uint8 images (N, C, H, W) against ``dataset``'s test split (or ``reference``)."""
    scorer = Scorer.for_dataset(
        dataset, data_dir, image_size, feature_space=feature_space, reference=reference, cache_dir=cache_dir, seed=seed
    )
    return scorer.score(images, labels, metrics)


# Per scored image besides the image itself: features and logits of up to three networks (float32).
SCORED_IMAGE_OVERHEAD = 3 * (128 + 16) * 4


def check_sample_count(n: int, shape: tuple[int, ...], what: str) -> None:
    """Refuse before drawing ``n`` samples whose images and features would not fit in memory."""
    check_memory(
        f"{what} {n:,}: {n:,} samples of {'x'.join(map(str, shape))} to score",
        n * (image_bytes(shape, 1) + SCORED_IMAGE_OVERHEAD),
        "score fewer samples (10,000 is the standard)",
    )


def evaluate_model(
    model: Any,
    config: Config,
    num_samples: int = FULL_EVAL_SAMPLES,
    metrics: str | Sequence[str] | None = ALL,
    *,
    seed: int = 0,
    feature_space: str = "classifier",
    reference: Reference | None = None,
    cache_dir: str | os.PathLike | None = None,
    iw_samples: int = IW_SAMPLES,
) -> dict[str, float]:
    """Draw ``num_samples`` images from a model (seeded) and score them; VAEs add nelbo."""
    if num_samples < MIN_IMAGES:
        raise GVError(f"bad --n {num_samples}: give at least {MIN_IMAGES} samples (10000 is the standard)")
    names = resolve_metrics(  # fail before work
        metrics, has_labels=model.conditional, is_vae=model.kind == "vae", labelled=model.num_classes > 0
    )
    check_sample_count(num_samples, tuple(model.image_shape), "--n")
    scorer = Scorer.for_dataset(
        config.data.name,
        config.data.data_dir,
        config.data.image_size,
        feature_space=feature_space,
        reference=reference,
        cache_dir=cache_dir,
        seed=seed,
        iw_samples=iw_samples,
        channels=config.data.channels,
    )
    images, labels = generate_samples(model, num_samples, seed)
    return scorer.score(images, labels, names, model)


def evaluate_checkpoint(
    path: str | os.PathLike,
    num_samples: int = FULL_EVAL_SAMPLES,
    metrics: str | Sequence[str] | None = None,
    *,
    seed: int = 0,
    feature_space: str = "classifier",
    device: str = "cpu",
    cache_dir: str | os.PathLike | None = None,
) -> dict[str, float]:
    """Every metric (``metrics=None``) on ``num_samples`` samples of a run dir or checkpoint file.

    What a sweep leaderboard calls on each trial's best checkpoint. The model is loaded through
    :func:`gvcore.trainer.load_model` (``weights_only=True``)."""
    from ..trainer import load_model

    model, cfg, _ = load_model(path, device)
    return evaluate_model(
        model, cfg, num_samples, metrics or ALL, seed=seed, feature_space=feature_space, cache_dir=cache_dir
    )


def make_evaluator(config: Config) -> Callable[[Any, int], dict[str, float]] | None:
    """The trainer's evaluator for ``config.eval.metrics`` ("auto" = fid, realism and combined, plus label_acc for
    conditional families and nelbo for VAEs; "" = none), or None when no metric is asked for.

    The classifier (trained now if it is not cached) and the real reference are prepared here,
    before training starts; each call then draws ``eval.num_samples`` images from the same noise
    and returns ``{"eval/<key>": value}``."""
    from ..families import get_family

    spec = get_family(config.family)
    names = resolve_metrics(
        config.eval.metrics,
        has_labels=spec.conditional,
        is_vae=spec.kind == "vae",
        where="eval.metrics",
        labelled=get_spec(config.data.name).num_classes > 0,
    )
    if not names:
        return None
    n = config.eval.num_samples
    if n < MIN_IMAGES:
        raise GVError(f"bad eval.num_samples {n}: give at least {MIN_IMAGES} (2000 is the default)")
    data = config.data
    shape = (data.channels or get_spec(data.name).channels, *get_spec(data.name).image_shape(data.image_size)[1:])
    check_sample_count(n, shape, "eval.num_samples")
    scorer = Scorer.for_dataset(
        data.name, data.data_dir, data.image_size, seed=config.train.seed, channels=data.channels
    )
    seed = config.train.seed + EVAL_SEED_OFFSET

    def evaluate(model: Any, step: int) -> dict[str, float]:
        images, labels = generate_samples(model, n, seed)
        # No standard errors here: they cost more than the rest of this cheap set.
        scores = scorer.score(images, labels, names, model, bootstrap=False)
        return {f"eval/{key}": value for key, value in scores.items()}

    return evaluate
