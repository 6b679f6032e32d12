"""Feature spaces and the real reference set that the metrics compare generated images against.

Each image set is embedded once: one pass of the domain classifier gives its features and its
logits, which every metric then shares. The reference is the dataset's held-out test split,
embedded once per classifier and cached on disk next to it (``reference-test-<space>.pt``).

Feature spaces:

* ``classifier`` (default): the domain classifier's penultimate layer (see ``classifier.py``);
* ``classifier2``: the second network's (another architecture and seed): ``fid2``;
* ``inception``: torchmetrics' Inception-v3 (torch-fidelity's port of the TF FID network), pool3
  2048-d, comparable with published FIDs. Only when asked for and only from a weights file already
  on disk: gv never downloads it, and its absence is a one-line error, not a crash.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import torch
from torch import nn

from ..data import load_dataset
from ..errors import GVError
from .classifier import EvaluatorNet, Log, _stderr, about, atomic_save, get_classifier, quality, safe_load

FEATURE_SPACES = ("classifier", "inception")  # what the distances may use; classifier2 adds fid2
# Fewest held-out images a reference may have: a Frechet distance needs a covariance (a folder of
# a few dozen images holds out only a few).
MIN_REFERENCE_IMAGES = 10
REFERENCE_FORMAT = "gv-reference/2"

# torch-fidelity's file name for the TF-ported FID Inception weights (what torchmetrics loads).
INCEPTION_WEIGHTS_FILE = "weights-inception-2015-12-05-6726825d.pth"


class PrecomputedFeatures(nn.Module):
    """The ``feature`` module handed to torchmetrics' FID / KID / Inception Score.

    torchmetrics runs its feature module on whatever ``update()`` receives. gv embeds each image
    set once and shares the result between fid, kid, precision, recall and the rest, so what
    reaches ``update()`` already *is* the features: this module passes them through and declares
    their width (``num_features``, which torchmetrics reads to size its statistics).
    """

    def __init__(self, num_features: int):
        super().__init__()
        self.num_features = int(num_features)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return features


@dataclass
class Evaluator:
    """A dataset's evaluator networks (see classifier.py) and the feature space of the distances.

    ``classifier`` gives the distances' features (unless ``feature_space`` is inception) and
    ``classifier_score``'s logits; ``reader`` reads labels; ``classifier2`` (loaded on first use:
    only ``fid2`` needs it) is the second pair of eyes. An unlabelled folder's networks are
    label-free (label_free.py) and it has no reader: ``read`` gives logits of width 0."""

    classifier: EvaluatorNet
    reader: EvaluatorNet | None
    feature_space: str = "classifier"
    dataset: str = ""
    data_dir: str | os.PathLike | None = ""
    image_size: int = 0
    cache_dir: str | os.PathLike | None = None
    _classifier2: EvaluatorNet | None = None
    channels: int = 0  # 0 = the dataset's own (data.channels)

    @classmethod
    def load(
        cls,
        dataset: str,
        data_dir: str | os.PathLike | None = "",
        image_size: int = 0,
        cache_dir: str | os.PathLike | None = None,
        feature_space: str = "classifier",
        log: Log = _stderr,
        channels: int = 0,
    ) -> Evaluator:
        check_feature_space(feature_space)
        net = get_classifier(dataset, data_dir, image_size, cache_dir, log=log, network="classifier", channels=channels)
        reader = (
            get_classifier(dataset, data_dir, image_size, cache_dir, log=log, network="reader", channels=channels)
            if net.num_classes
            else None
        )
        return cls(
            net,
            reader,
            feature_space=feature_space,
            dataset=dataset,
            data_dir=data_dir,
            image_size=image_size,
            cache_dir=cache_dir,
            channels=channels,
        )

    @property
    def labelled(self) -> bool:
        """Whether the dataset has classes (so a reader, and the label metrics)."""
        return self.reader is not None

    @property
    def classifier2(self) -> EvaluatorNet:
        if self._classifier2 is None:
            self._classifier2 = get_classifier(
                self.dataset,
                self.data_dir,
                self.image_size,
                self.cache_dir,
                network="classifier2",
                channels=self.channels,
            )
        return self._classifier2

    def networks(self) -> dict[str, EvaluatorNet]:
        """Every network of this evaluator by name (classifier2 loaded now)."""
        nets = {"classifier": self.classifier, "reader": self.reader, "classifier2": self.classifier2}
        return {name: net for name, net in nets.items() if net is not None}

    @property
    def num_classes(self) -> int:
        return self.classifier.num_classes

    @property
    def image_shape(self) -> tuple[int, ...]:
        return self.classifier.image_shape

    def network(self, space: str) -> str:
        """Which network a feature space's numbers come from, in words (for tables and reports)."""
        if space == "inception":
            return "Inception-v3 (pool3)"
        net = self.classifier2 if space == "classifier2" else self.classifier
        return f"{space} ({about(self.dataset, space)}; {quality(net)})"

    def features(self, images: torch.Tensor, space: str | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """uint8 images -> (features in ``space`` (default: this evaluator's), that network's logits
        or None for inception)."""
        space = space or self.feature_space
        if space == "inception":
            return inception_embed(images), None
        return (self.classifier2 if space == "classifier2" else self.classifier).embed(images)

    def read(self, images: torch.Tensor) -> torch.Tensor:
        """The label reader's logits (width 0 without labels: the label metrics don't apply there)."""
        if self.reader is None:
            return torch.zeros(images.shape[0], 0)
        return self.reader.embed(images)[1]

    def ids(self) -> dict[str, str]:
        reader = self.reader.meta.get("id", "") if self.reader is not None else ""
        return {"classifier": self.classifier.meta.get("id", ""), "reader": reader}


@dataclass
class Reference:
    """Real images, embedded: what fid, kid, precision, recall, ... compare against."""

    description: str
    features: torch.Tensor  # (N, D) in the evaluator's feature space
    logits: torch.Tensor  # (N, K) the label reader's logits
    labels: torch.Tensor | None
    num_classes: int
    feature_space: str = "classifier"
    images: torch.Tensor | None = None  # uint8, kept to embed them in another space (fid2)
    other_spaces: dict[str, torch.Tensor] = field(default_factory=dict)

    def __len__(self) -> int:
        return self.features.shape[0]

    def class_distribution(self) -> torch.Tensor:
        """The data's class frequencies: its labels' histogram (or, unlabelled, the reader's)."""
        classes = self.labels if self.labels is not None else self.logits.argmax(1)
        counts = torch.bincount(classes, minlength=self.num_classes).double()
        return counts / counts.sum()

    def features_in(self, space: str, evaluator: Evaluator) -> torch.Tensor:
        """Its features in another space (``classifier2``), embedded on first use."""
        if space == self.feature_space:
            return self.features
        if space not in self.other_spaces:
            if self.images is None:
                raise GVError(f"this reference ({self.description}) has no images to embed in the {space} space")
            self.other_spaces[space] = evaluator.features(self.images, space)[0]
        return self.other_spaces[space]


# --- inception (optional) ------------------------------------------------------------------------


def inception_weights_path() -> Path:
    env = os.environ.get("GV_INCEPTION_WEIGHTS")
    if env:
        return Path(env).expanduser()
    return Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_WEIGHTS_FILE


class InceptionFeatures(nn.Module):
    """uint8 (N, C, H, W) -> torchmetrics' Inception-v3 pool3 features (N, 2048)."""

    def __init__(self, weights: Path):
        super().__init__()
        from torchmetrics.image.fid import NoTrainInceptionV3

        self.net = NoTrainInceptionV3(
            name="inception-v3-compat", features_list=["2048"], feature_extractor_weights_path=str(weights)
        )
        self.num_features = 2048

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.shape[1] == 1:  # grayscale: the network wants RGB
            images = images.expand(-1, 3, -1, -1)
        return self.net(images)


@lru_cache(maxsize=1)
def load_inception() -> InceptionFeatures:
    try:
        import torch_fidelity  # noqa: F401  (torchmetrics' Inception needs it)
    except ImportError:
        raise GVError(
            "--features inception needs the package torch-fidelity: pip install 'gv[inception]' "
            "(or torch-fidelity), or use the default --features classifier"
        ) from None
    path = inception_weights_path()
    if not path.is_file():
        raise GVError(
            f"--features inception: no Inception-v3 weights at {path} and gv never downloads them; "
            f"copy torch-fidelity's {INCEPTION_WEIGHTS_FILE} there (or set GV_INCEPTION_WEIGHTS=FILE), "
            "or use the default --features classifier"
        )
    try:
        # torch-fidelity loads the file with weights_only=False; refuse anything but plain tensors first.
        torch.load(path, map_location="cpu", weights_only=True)
        return InceptionFeatures(path)
    except Exception as exc:
        raise GVError(
            f"--features inception: {path} is not a usable Inception-v3 weights file "
            f"({type(exc).__name__}: {str(exc).splitlines()[0][:120] if str(exc) else ''})"
        ) from None


@torch.no_grad()
def inception_embed(images: torch.Tensor, batch_size: int = 100) -> torch.Tensor:
    net = load_inception()
    return torch.cat([net(chunk).float().cpu() for chunk in images.split(batch_size)])


# --- embedding and references ------------------------------------------------------------------


def check_feature_space(name: str) -> str:
    if name not in FEATURE_SPACES:
        raise GVError(f"unknown feature space '{name}': choose one of {', '.join(FEATURE_SPACES)}")
    return name


def reference_from_images(
    images: torch.Tensor, labels: torch.Tensor | None, evaluator: Evaluator, description: str
) -> Reference:
    """A reference set from any real images (uint8 N, C, H, W), e.g. a bigger held-out set."""
    features, _ = evaluator.features(images)
    return Reference(
        description, features, evaluator.read(images), labels, evaluator.num_classes, evaluator.feature_space, images
    )


_REFERENCES: dict[tuple[Path, str], Reference] = {}


def dataset_reference(
    dataset: str, evaluator: Evaluator, data_dir: str | os.PathLike | None = "", image_size: int = 0, log: Log = _stderr
) -> Reference:
    """The dataset's test split as a Reference, cached on disk beside its networks.

    The cache is tied to the networks that made it (their ids): a retrained network has another
    feature space, so its old reference is recomputed. Writers race harmlessly (same content,
    atomic rename), so no lock is needed here.
    """
    space = evaluator.feature_space
    path = Path(evaluator.classifier.meta["path"]).with_name(f"reference-test-{space}.pt")
    ids = evaluator.ids()
    key = (path, repr(sorted(ids.items())))
    if key in _REFERENCES:
        return _REFERENCES[key]
    test_set = load_dataset(dataset, "test", data_dir, image_size, channels=evaluator.channels)
    description = f"{dataset} test split ({len(test_set):,} images)"
    if len(test_set) < MIN_REFERENCE_IMAGES:
        raise GVError(
            f"dataset {dataset}: its test split has {len(test_set)} images, too few to compare samples with "
            f"(at least {MIN_REFERENCE_IMAGES}): add images, or train without metrics (--set eval.metrics=)"
        )
    payload = safe_load(path, REFERENCE_FORMAT, log)
    labels = test_set.labels if evaluator.labelled else None
    if payload is not None and payload.get("ids") == ids:
        ref = Reference(
            description, payload["features"], payload["logits"], labels, evaluator.num_classes, space, test_set.images
        )
    else:
        ref = reference_from_images(test_set.images, labels, evaluator, description)
        atomic_save(
            {
                "format": REFERENCE_FORMAT,
                "ids": ids,
                "features": ref.features,
                "logits": ref.logits,
                "labels": ref.labels,
            },
            path,
        )
    _REFERENCES[key] = ref
    return ref
