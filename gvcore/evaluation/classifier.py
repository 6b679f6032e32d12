"""The domain classifiers: small CNNs trained on a dataset's own training split, once, then cached.

Three networks, each a :class:`Recipe` (architecture, augmentation, seed) in :data:`NETWORKS`:

* ``classifier`` -- the feature space of the distances (``fid``, ``kid``, the k-NN metrics,
  ``memorization``, ``intra_fid``) and of ``classifier_score``. Trained on the training images as
  they are (no augmentation): like TF-GAN's MNIST classifier, it has not been taught to ignore any
  defect, so blur, noise or speckle move a sample away from the real digits.
* ``reader`` -- reads labels (``modes``, ``label_acc``). The same architecture trained with random
  affine jitter and light blur, so a VAE's soft digits are read as the digits they are.
* ``classifier2`` -- another architecture (5x5 convolutions with max-pooling, no BatchNorm) and
  another seed, trained like ``classifier``: ``fid2`` measures the same thing through other eyes,
  and the report says where the two orders of the families disagree.

Its penultimate layer (128 ReLU units) is a network's feature space; its class probabilities
drive ``classifier_score`` (``classifier``) or the label metrics (``reader``). Inception-v3 is the usual feature extractor for photographs, but its ImageNet
features know little about 28x28 digits, its weights are a download (gv works offline) and it costs
about 6 GFLOP an image; this net costs under 1 MFLOP an image and trains in seconds on a CPU.

The cache lives at ``$GV_CACHE_DIR/evaluators`` (default ``~/.cache/gv/evaluators``), one folder
per (dataset, image size, channels, :data:`CLASSIFIER_VERSION`); a folder dataset's is keyed by its
content (the scan's key), so an edited folder gets new networks. An unlabelled folder's networks
are label_free.py's (no ``reader``), cached and locked the same way. Several processes (parallel Ray trials) may
ask for the same classifier at once: a file lock makes one of them train it while the others wait
and then load it, and every file is written to a temp name and renamed, so nobody reads half a file.
Files are loaded with ``torch.load(weights_only=True)`` only.
"""

from __future__ import annotations

import os
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..cache import cache_root
from ..data import folder_info, get_spec, label, load_dataset, to_unit_range
from ..errors import GVError
from ..rundir import atomic_path
from . import label_free
from .convnets import conv_body, random_affine
from .label_free import LabelFreeNet

# Bump when the net or its training recipe changes: older cached classifiers are then ignored
# (their folder name no longer matches), so metrics never mix two feature spaces.
CLASSIFIER_VERSION = 4
FORMAT = "gv-evaluator/1"

# Recipe (chosen on mnist-5k: 97.2-98.2% held-out accuracy over six seeds, ~15 s on one core).
# Label smoothing and weight decay matter most: without them accuracy drops to 96.4-97.0%.
WIDTH = 16
FEATURE_DIM = 128
EPOCHS = 20
MAX_STEPS = 6000  # caps the recipe on large datasets (full MNIST: ~6.4 epochs)
MIN_STEPS = 500  # and floors it on a small folder (a few hundred images); every built-in dataset trains longer
BATCH_SIZE = 64
LEARNING_RATE = 3e-3
WEIGHT_DECAY = 0.05
LABEL_SMOOTHING = 0.1
SEED = 0
LOCK_TIMEOUT_S = 3600.0

Log = Callable[[str], None]


def _stderr(message: str) -> None:
    print(f"gv: {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Recipe:
    """How one of the evaluator's networks is built and trained."""

    arch: str  # "strided": two stride-2 3x3 convs with BatchNorm; "pooled": 5x5 convs + max-pooling
    augment: bool  # random affine jitter and light blur (the label reader only)
    seed: int
    about: str


NETWORKS: dict[str, Recipe] = {
    "classifier": Recipe("strided", False, 0, "strided CNN, trained on the images as they are"),
    "reader": Recipe("strided", True, 0, "strided CNN, trained with affine jitter and light blur"),
    "classifier2": Recipe("pooled", False, 1, "pooled CNN (5x5 convs, max-pooling), another seed"),
}


def check_network(name: str) -> Recipe:
    if name not in NETWORKS:
        raise GVError(f"unknown evaluator network '{name}': choose one of {', '.join(NETWORKS)}")
    return NETWORKS[name]


def labelled(dataset: str) -> bool:
    """Whether the dataset has classes (an unlabelled folder has none: its networks are label-free)."""
    return get_spec(dataset).num_classes > 0


def network_names(dataset: str) -> tuple[str, ...]:
    """The evaluator networks a dataset has: an unlabelled folder has no label ``reader``."""
    return tuple(NETWORKS) if labelled(dataset) else tuple(label_free.NETWORKS)


def about(dataset: str, network: str) -> str:
    """What one of the dataset's networks is, in words."""
    return (NETWORKS[network] if labelled(dataset) else label_free.NETWORKS[network]).about


def _check_network_for(dataset: str, network: str) -> None:
    check_network(network)
    if network not in network_names(dataset):
        raise GVError(
            f"dataset {dataset} has no labels, so no evaluator network '{network}' (it reads classes): its networks "
            f"are {', '.join(network_names(dataset))}"
        )


class DomainClassifier(nn.Module):
    """A small CNN (see :data:`NETWORKS`) and one hidden layer: features, then logits."""

    def __init__(
        self,
        image_shape: tuple[int, int, int],
        num_classes: int,
        width: int = WIDTH,
        feature_dim: int = FEATURE_DIM,
        arch: str = "strided",
    ):
        super().__init__()
        c, h, w = image_shape
        self.image_shape = tuple(image_shape)
        self.num_classes = num_classes
        self.num_features = feature_dim  # what torchmetrics reads off a custom feature module
        self.arch = arch
        self.body = conv_body(arch, c, h, w, width, feature_dim)
        self.dropout = nn.Dropout(0.3)
        self.head = nn.Linear(feature_dim, num_classes)
        # Filled in by train_classifier / load: accuracy, dataset, cache path, ...
        self.meta: dict[str, Any] = {}

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Images in [-1, 1] -> (features (N, feature_dim), logits (N, num_classes))."""
        features = self.body(images)
        return features, self.head(self.dropout(features))

    @torch.no_grad()
    def embed(self, images: torch.Tensor, batch_size: int = 1000) -> tuple[torch.Tensor, torch.Tensor]:
        """uint8 images (N, C, H, W) -> (features, logits), float32 on the CPU."""
        self.eval()
        device = next(self.parameters()).device
        features, logits = [], []
        for chunk in images.split(batch_size):
            # Plain NCHW strides: one-channel images read from a channels-last array (an .npz) have
            # strides torch takes for channels_last, and the convolutions would round differently
            # from the same images drawn from a model.
            chunk = chunk.to(device).clone(memory_format=torch.contiguous_format)
            f, lg = self(to_unit_range(chunk))
            features.append(f.float().cpu())
            logits.append(lg.float().cpu())
        return torch.cat(features), torch.cat(logits)

    @property
    def accuracy(self) -> float:
        return float(self.meta.get("accuracy", float("nan")))


# One of a dataset's evaluator networks: the domain classifier's kind, or a label-free one (same interface).
EvaluatorNet = DomainClassifier | LabelFreeNet


def quality(net: EvaluatorNet) -> str:
    """How well a network learned, in words: held-out accuracy, or the label-free net's own measure."""
    return str(net.meta.get("quality") or f"held-out accuracy {net.accuracy:.1%}")


# --- cache location -----------------------------------------------------------------------------


def identity(dataset: str) -> str:
    """What a cached network was trained on: a built-in name, or a folder's content key (the same
    folder moved or copied keeps its networks; an edited one gets new ones)."""
    info = folder_info(dataset)
    return dataset if info is None else f"folder:{info.scan.key}"


def entry_dir(dataset: str, image_size: int = 0, cache_dir: str | os.PathLike | None = None, channels: int = 0) -> Path:
    """The cache folder of one dataset's evaluator (its networks + real-image references)."""
    spec = get_spec(dataset)
    size, wanted = image_size or spec.image_size, channels or spec.channels
    info = folder_info(dataset)
    if info is None:
        name = f"{dataset}-{size}px" + ("" if wanted == spec.channels else f"-{wanted}ch")
    else:
        readable = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in label(dataset))[:40]
        name = f"folder-{readable}-{info.scan.key[:16]}-{size}px-{wanted}ch"
    return cache_root(cache_dir) / "evaluators" / f"{name}-v{CLASSIFIER_VERSION}"


def atomic_save(obj: Any, path: Path) -> None:
    """torch.save through gv's one atomic writer: readers (parallel trials) never see half a file."""
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def acquire_lock(folder: Path, holder: str):
    """Take the inter-process lock of one cache folder (parallel Ray trials, several `gv` commands);
    the caller releases it."""
    from filelock import FileLock, Timeout

    try:
        folder.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(folder / "lock"), timeout=LOCK_TIMEOUT_S)
        lock.acquire()
    except Timeout:  # a subclass of OSError: caught first
        raise GVError(
            f"waited {LOCK_TIMEOUT_S:.0f}s for {holder} ({folder / 'lock'}); "
            "if no gv process is running, delete that lock file"
        ) from None
    except OSError as exc:
        raise GVError(
            f"cannot write the evaluator cache {folder} ({exc.strerror or exc}); set GV_CACHE_DIR to a writable folder"
        ) from None
    return lock


def safe_load(path: Path, expected_format: str, log: Log) -> dict[str, Any] | None:
    """A cache file's payload, or None when it is missing or unreadable (then it is rebuilt)."""
    if not path.is_file():
        return None
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt, truncated by a crash of an old version, or foreign
        log(f"ignoring unreadable cache file {path} ({type(exc).__name__}); rebuilding it")
        return None
    if not isinstance(payload, dict) or payload.get("format") != expected_format:
        log(f"ignoring foreign cache file {path}; rebuilding it")
        return None
    return payload


# --- training -----------------------------------------------------------------------------------


def random_blur(
    images: torch.Tensor, generator: torch.Generator, p: float = 0.25, sigma: tuple[float, float] = (0.3, 0.8)
) -> torch.Tensor:
    """Light Gaussian blur on a random quarter of the batch. Real digits are sharp; a VAE's samples
    are soft means. Trained on sharp digits only, the classifier read soft digits as '8': a CVAE
    whose every row is visibly the right digit scored label_acc 0.61 (0.85 with this), a VAE's
    recognisable digits covered 3 classes (8 with this), and FID ranked them below an LSGAN's
    speckled ones. Stronger blur (half the batch, sigma up to 1.2) overshot: k-NN precision then
    called 94% of an undertrained MLP GAN's blobs realistic (0.34 without blur, 0.46 with this).
    Held-out accuracy is the same either way (97.4-98.0%)."""
    from torchvision.transforms.v2.functional import gaussian_blur

    picked = (torch.rand(images.shape[0], generator=generator) < p).to(images.device)
    if not picked.any():
        return images
    s = sigma[0] + float(torch.rand(1, generator=generator)) * (sigma[1] - sigma[0])
    # gaussian_blur pads by reflection, so the -1 background stays -1 at the borders.
    return torch.where(picked[:, None, None, None], gaussian_blur(images, [5, 5], [s, s]), images)


@torch.no_grad()
def accuracy_on(net: DomainClassifier, images: torch.Tensor, labels: torch.Tensor) -> float:
    _, logits = net.embed(images)
    return float((logits.argmax(1) == labels).float().mean())


def _fit(
    net: DomainClassifier,
    images: torch.Tensor,
    labels: torch.Tensor,
    generator: torch.Generator,
    augment: bool = False,
    epochs: int = EPOCHS,
    max_steps: int = MAX_STEPS,
    min_steps: int = 0,
    batch_size: int = BATCH_SIZE,
) -> int:
    """The training loop: AdamW with a one-cycle schedule, label smoothing; ``augment`` adds random
    affine jitter and blur (the label reader)."""
    n = images.shape[0]
    steps_per_epoch = max(1, n // batch_size)
    total = max(1, min_steps, min(epochs * steps_per_epoch, max_steps))
    opt = torch.optim.AdamW(net.parameters(), LEARNING_RATE, weight_decay=WEIGHT_DECAY)
    schedule = torch.optim.lr_scheduler.OneCycleLR(opt, LEARNING_RATE, total_steps=total)
    net.train()
    for step in range(total):
        epoch, i = divmod(step, steps_per_epoch)
        if i == 0:
            perm = torch.randperm(n, generator=generator).to(images.device)
        idx = perm[i * batch_size : (i + 1) * batch_size]
        batch = random_blur(random_affine(images[idx], generator), generator) if augment else images[idx]
        _, logits = net(batch)
        loss = F.cross_entropy(logits, labels[idx], label_smoothing=LABEL_SMOOTHING)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        schedule.step()
    net.eval().requires_grad_(False)
    return total


def train_classifier(
    dataset: str,
    data_dir: str | os.PathLike | None = "",
    image_size: int = 0,
    device: str | torch.device = "cpu",
    network: str = "classifier",
    channels: int = 0,
) -> EvaluatorNet:
    """Train one of the evaluator's networks on the training split; measure it on the test split
    (an unlabelled folder's: label_free.py's).

    Runs under its own RNG (fork_rng): asking for an evaluator in the middle of a training run
    never changes that run's random numbers.
    """
    _check_network_for(dataset, network)
    train_set = load_dataset(dataset, "train", data_dir, image_size, channels=channels)
    test_set = load_dataset(dataset, "test", data_dir, image_size, channels=channels)
    device = torch.device(device)
    if not labelled(dataset):
        net_free = label_free.train_label_free(
            train_set.images, test_set.images, label_free.NETWORKS[network], network, device
        )
        net_free.meta.update(dataset=identity(dataset), version=CLASSIFIER_VERSION)
        return net_free
    recipe = NETWORKS[network]
    start = time.perf_counter()
    threads = torch.get_num_threads()
    try:
        if device.type == "cpu":
            # Batches of 64 small images don't scale past one thread, and with other processes on
            # the cores (parallel trials) two spinning OpenMP threads ran 3x slower than one here.
            torch.set_num_threads(1)
        # Gradients on even when asked for inside a no_grad block (a report's figure may be the
        # first to need the network).
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []), torch.enable_grad():
            torch.manual_seed(recipe.seed)
            net = DomainClassifier(train_set.image_shape, train_set.num_classes, arch=recipe.arch).to(device)
            steps = _fit(
                net,
                train_set.to_float(device),
                train_set.labels.to(device),
                torch.Generator().manual_seed(recipe.seed),
                augment=recipe.augment,
                min_steps=MIN_STEPS,
            )
    finally:
        torch.set_num_threads(threads)
    seconds = time.perf_counter() - start
    net.meta = {
        "dataset": identity(dataset),
        "network": network,
        "arch": recipe.arch,
        "augment": recipe.augment,
        "seed": recipe.seed,
        "image_shape": list(train_set.image_shape),
        "num_classes": train_set.num_classes,
        "accuracy": accuracy_on(net, test_set.images, test_set.labels),
        "train_images": len(train_set),
        "test_images": len(test_set),
        "steps": steps,
        "train_seconds": round(seconds, 2),
        "version": CLASSIFIER_VERSION,
        "id": uuid.uuid4().hex,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "torch": str(torch.__version__),
    }
    return net.cpu()


# --- get (load or train, cached) ----------------------------------------------------------------

_LOADED: dict[Path, EvaluatorNet] = {}


def _from_payload(payload: dict[str, Any] | None, dataset: str, network: str) -> EvaluatorNet | None:
    """The network a cache payload holds, or None if it is another dataset's or network's, an older
    version's, or damaged (then it is retrained)."""
    try:
        meta = payload["meta"]  # type: ignore[index]
        if (
            meta.get("dataset") != identity(dataset)
            or meta.get("version") != CLASSIFIER_VERSION
            or meta.get("network") != network
        ):
            return None
        if not labelled(dataset):
            return label_free.from_state(meta, payload["state_dict"])  # type: ignore[index]
        net = DomainClassifier(tuple(meta["image_shape"]), int(meta["num_classes"]), arch=NETWORKS[network].arch)
        net.load_state_dict(payload["state_dict"])  # type: ignore[index]
    except (TypeError, KeyError, ValueError, RuntimeError, AttributeError):
        return None
    net.eval().requires_grad_(False)
    net.meta = dict(meta)
    return net


def get_classifier(
    dataset: str,
    data_dir: str | os.PathLike | None = "",
    image_size: int = 0,
    cache_dir: str | os.PathLike | None = None,
    *,
    retrain: bool = False,
    log: Log = _stderr,
    network: str = "classifier",
    channels: int = 0,
) -> EvaluatorNet:
    """One of the dataset's evaluator networks (``classifier``, ``reader``, ``classifier2``; an
    unlabelled folder has no reader): from this process, from the cache, or trained now (once)."""
    _check_network_for(dataset, network)
    folder = entry_dir(dataset, image_size, cache_dir, channels)
    path = folder / f"{network}.pt"
    if not retrain and path in _LOADED:
        return _LOADED[path]
    net = None if retrain else _from_payload(safe_load(path, FORMAT, log), dataset, network)
    if net is None:
        lock = acquire_lock(folder, f"another process training the {dataset} evaluator")
        try:
            # Another process may have trained it while this one waited for the lock.
            net = None if retrain else _from_payload(safe_load(path, FORMAT, lambda _: None), dataset, network)
            if net is None:
                log(f"training the {dataset} evaluator network '{network}' (once; cached in {folder})")
                net = train_classifier(dataset, data_dir, image_size, network=network, channels=channels)
                atomic_save({"format": FORMAT, "meta": net.meta, "state_dict": net.state_dict()}, path)
                log(
                    f"{dataset} evaluator '{network}': {quality(net)} on {net.meta['test_images']} "
                    f"test images (trained in {net.meta['train_seconds']:.0f}s)"
                )
        finally:
            lock.release()
    net.meta["path"] = str(path)
    _LOADED[path] = net
    return net
