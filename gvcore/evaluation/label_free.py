"""The evaluator's feature networks for a folder without labels: trained without any.

An unlabelled folder has no classes to train the domain classifier on, so its distances (fid, kid,
the k-NN metrics, memorization, fid2) use the bottleneck of an autoencoder trained on its
training split instead: the domain classifier's convolutional body (convnets.py) as the encoder
(128 features, linear: the body's closing ReLU dropped), a transposed-convolution decoder, mean
squared error. Chosen by measurement over a SimCLR-style contrastive encoder of the same body
(``bench/study_label_free.py``, with the ReLU bottleneck of the time): both pass
every ladder of `gv evaluator check` on grey and colour digits (mode dropping on equal clusters,
:func:`pseudo_classes`), but on ten trained mnist-5k models the autoencoder's fid orders them as
the labelled classifier's does (Spearman 0.99; the strided contrastive net 0.94), and it sees
blur: at the blur ladder's top the autoencoder's fid is 1.4-6.5x its fid at the noise ladder's
top, the contrastive net's 0.1-0.5x. The linear bottleneck, by measurement on a flat folder of
mnist-5k (every ladder of the check, seeds 0-2): with the ReLU, kid on the broken-strokes ladder
fell at its top step (seed 0); linear, seeds 0 and 2 pass every distance (seed 1: realism, which
reads the first two convolutions, fell at one step of mode dropping and of broken strokes, as it
did with the ReLU: those ladders then scored one draw a level and warped bilinearly, both since
mended in ladders.py and defects.py), and both networks' fid order ten trained models exactly as
the labelled classifier's (Spearman 1.0; with the ReLU 1.0 and 0.99).

``classifier2`` is the same objective on the pooled body with another seed (fid2). There is no
``reader``: the label metrics (modes, label_acc, classifier_score, intra_fid, cas) say "no labels".

The networks keep the domain classifier's interface -- ``embed(images) -> (features, logits)``,
with logits of width 0 -- so every distance in the registry works unchanged; they are cached and
locked like the classifier's (``get_classifier`` dispatches here for an unlabelled dataset).
"""

from __future__ import annotations

import math
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..data import to_unit_range
from .convnets import conv_body, random_affine

# The networks' design: a cached network of another design is retrained (from_state refuses it).
DESIGN = "linear-bottleneck"
WIDTH = 16
FEATURE_DIM = 128
EPOCHS = 20
MAX_STEPS = 6000
MIN_STEPS = 500  # a small folder (a few hundred images) still gets a trained network
BATCH_SIZE = 64
LEARNING_RATE = 3e-3
WEIGHT_DECAY = 1e-4
# Contrastive recipe (the candidate not chosen; kept to rerun the comparison).
CONTRASTIVE_BATCH = 128
TEMPERATURE = 0.2


@dataclass(frozen=True)
class LabelFreeRecipe:
    arch: str  # the classifier module's body: "strided" or "pooled"
    objective: str  # "autoencoder" (chosen) or "contrastive"
    seed: int
    about: str


NETWORKS: dict[str, LabelFreeRecipe] = {
    "classifier": LabelFreeRecipe(
        "strided", "autoencoder", 0, "autoencoder bottleneck (strided CNN encoder), trained without labels"
    ),
    "classifier2": LabelFreeRecipe(
        "pooled", "autoencoder", 1, "autoencoder bottleneck (pooled CNN encoder), another seed"
    ),
}


class LabelFreeNet(nn.Module):
    """An encoder trained without labels, with the domain classifier's interface."""

    feature_scale: torch.Tensor  # a registered buffer

    def __init__(self, image_shape: tuple[int, int, int], arch: str = "strided", objective: str = "autoencoder"):
        super().__init__()
        c, h, w = image_shape
        self.image_shape = tuple(image_shape)
        self.num_classes = 0  # no labels, no logits
        self.num_features = FEATURE_DIM
        self.arch, self.objective = arch, objective
        # Without the body's closing ReLU: better on the check's ladders and the ranking (module docstring).
        self.body = conv_body(arch, c, h, w, WIDTH, FEATURE_DIM)[:-1]
        if objective == "autoencoder":
            self.side_h, self.side_w = math.ceil(h / 4), math.ceil(w / 4)
            self.head = nn.Sequential(
                nn.Linear(FEATURE_DIM, 2 * WIDTH * self.side_h * self.side_w),
                nn.ReLU(),
                nn.Unflatten(1, (2 * WIDTH, self.side_h, self.side_w)),
                nn.ConvTranspose2d(2 * WIDTH, WIDTH, 4, stride=2, padding=1),
                nn.BatchNorm2d(WIDTH),
                nn.ReLU(),
                nn.ConvTranspose2d(WIDTH, c, 4, stride=2, padding=1),
            )
        else:  # a projection head for the contrastive loss (SimCLR)
            self.head = nn.Sequential(nn.Linear(FEATURE_DIM, FEATURE_DIM), nn.ReLU(), nn.Linear(FEATURE_DIM, 64))
        # Features are divided by their root mean square over the training split (set after
        # training): the classifier's come out near 1, an autoencoder's near 3, and KID's cubic
        # kernel (x.y/d + 1)^3 on the larger scale was noise (on colour digits the mode-dropping
        # ladder's kid failed in 4 seeds of 8).
        self.register_buffer("feature_scale", torch.ones(()))
        self.meta: dict[str, Any] = {}

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Images in [-1, 1] -> (features (N, 128), logits (N, 0))."""
        features = self.body(images) / self.feature_scale
        return features, features.new_zeros(features.shape[0], 0)

    def reconstruct(self, images: torch.Tensor) -> torch.Tensor:
        out = self.head(self.body(images))
        return torch.tanh(out[:, :, : images.shape[2], : images.shape[3]])

    @torch.no_grad()
    def embed(self, images: torch.Tensor, batch_size: int = 1000) -> tuple[torch.Tensor, torch.Tensor]:
        """uint8 images (N, C, H, W) -> (features, logits of width 0), float32 on the CPU."""
        self.eval()
        device = next(self.parameters()).device
        features = []
        for chunk in images.split(batch_size):
            chunk = chunk.to(device).clone(memory_format=torch.contiguous_format)
            features.append((self.body(to_unit_range(chunk)) / self.feature_scale).float().cpu())
        out = torch.cat(features)
        return out, out.new_zeros(out.shape[0], 0)

    @property
    def accuracy(self) -> float:
        return float("nan")  # no labels to be accurate about; meta["quality"] says how well it learned


def _nt_xent(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """SimCLR's loss: each view must pick its partner out of the batch's other views."""
    z = F.normalize(torch.cat([a, b]), dim=1)
    similarity = z @ z.t() / TEMPERATURE
    similarity.fill_diagonal_(float("-inf"))
    n = a.shape[0]
    targets = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(a.device)
    return F.cross_entropy(similarity, targets)


def _fit(net: LabelFreeNet, images: torch.Tensor, generator: torch.Generator) -> int:
    """AdamW with a one-cycle schedule, as the classifier's recipe; reconstruction or contrastive loss."""
    batch_size = BATCH_SIZE if net.objective == "autoencoder" else CONTRASTIVE_BATCH
    n = images.shape[0]
    steps_per_epoch = max(1, n // batch_size)
    total = max(MIN_STEPS, min(EPOCHS * steps_per_epoch, MAX_STEPS))
    opt = torch.optim.AdamW(net.parameters(), LEARNING_RATE, weight_decay=WEIGHT_DECAY)
    schedule = torch.optim.lr_scheduler.OneCycleLR(opt, LEARNING_RATE, total_steps=total)
    net.train()
    for step in range(total):
        i = step % steps_per_epoch
        if i == 0:
            perm = torch.randperm(n, generator=generator).to(images.device)
        batch = images[perm[i * batch_size : (i + 1) * batch_size]]
        if net.objective == "autoencoder":
            loss = F.mse_loss(net.reconstruct(batch), batch)
        else:
            views = [random_affine(batch, generator) for _ in range(2)]
            loss = _nt_xent(net.head(net.body(views[0])), net.head(net.body(views[1])))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        schedule.step()
    net.eval().requires_grad_(False)
    return total


@torch.no_grad()
def reconstruction_error(net: LabelFreeNet, images: torch.Tensor) -> float:
    """Mean squared error per pixel (images in [-1, 1]) of the autoencoder on uint8 images."""
    errors = [
        F.mse_loss(net.reconstruct(to_unit_range(chunk)), to_unit_range(chunk)).item() for chunk in images.split(1000)
    ]
    return float(sum(errors) / len(errors))


def train_label_free(
    train_images: torch.Tensor, test_images: torch.Tensor, recipe: LabelFreeRecipe, network: str, device: torch.device
) -> LabelFreeNet:
    """Train one label-free network on uint8 training images; measure it on the test images."""
    start = time.perf_counter()
    threads = torch.get_num_threads()
    try:
        if device.type == "cpu":
            torch.set_num_threads(1)  # as the classifier: small batches, shared cores
        # Gradients on even when asked for inside a no_grad block (a report's figure may be the
        # first to need the network).
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []), torch.enable_grad():
            torch.manual_seed(recipe.seed)
            channels, height, width = train_images.shape[1:]
            net = LabelFreeNet((channels, height, width), recipe.arch, recipe.objective).to(device)
            steps = _fit(net, to_unit_range(train_images.to(device)), torch.Generator().manual_seed(recipe.seed))
    finally:
        torch.set_num_threads(threads)
    net = net.cpu()
    net.feature_scale.fill_(float(net.embed(train_images)[0].pow(2).mean().sqrt()))
    quality = (
        f"held-out reconstruction error {reconstruction_error(net, test_images):.4f} (mean squared, pixels in [-1, 1])"
        if recipe.objective == "autoencoder"
        else "contrastive (no held-out score)"
    )
    net.meta = {
        "network": network,
        "design": DESIGN,
        "arch": recipe.arch,
        "objective": recipe.objective,
        "seed": recipe.seed,
        "image_shape": list(train_images.shape[1:]),
        "num_classes": 0,
        "accuracy": float("nan"),
        "quality": quality,
        "train_images": len(train_images),
        "test_images": len(test_images),
        "steps": steps,
        "train_seconds": round(time.perf_counter() - start, 2),
        "id": uuid.uuid4().hex,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "torch": str(torch.__version__),
    }
    return net


def from_state(meta: dict[str, Any], state_dict: dict[str, Any]) -> LabelFreeNet:
    """A cached network rebuilt from its meta and weights (errors propagate: the caller retrains)."""
    if meta.get("design") != DESIGN:
        raise ValueError(f"a label-free network of another design ({meta.get('design')!r})")
    channels, height, width = (int(side) for side in meta["image_shape"])
    net = LabelFreeNet((channels, height, width), meta["arch"], meta["objective"])
    net.load_state_dict(state_dict)
    net.eval().requires_grad_(False)
    net.meta = dict(meta)
    return net


PSEUDO_CLASSES = 10


def pseudo_classes(features: torch.Tensor, k: int = PSEUDO_CLASSES, seed: int = 0) -> torch.Tensor:
    """Classes for a dataset without labels, for the mode-dropping ladder: k clusters of equal size
    in the feature space (k-means, then a balanced assignment: each point to its nearest centre
    that still has room, surest first), so that dropping c clusters always drops c/k of the images
    -- as dropping classes does on a balanced labelled set."""
    x = features.double()
    n = len(x)
    generator = torch.Generator().manual_seed(seed)
    centres = x[torch.randperm(n, generator=generator)[:k]].clone()
    for _ in range(50):
        nearest = torch.cdist(x, centres).argmin(1)
        for j in range(k):
            if (nearest == j).any():
                centres[j] = x[nearest == j].mean(0)
    distances = torch.cdist(x, centres)
    room = torch.full((k,), n // k) + (torch.arange(k) < n % k)
    labels = torch.full((n,), -1, dtype=torch.int64)
    # Each point's nearest centre first, the closest points first; full centres pass to the next best.
    order = distances.min(1).values.argsort()
    for i in order.tolist():
        for j in distances[i].argsort().tolist():
            if room[j] > 0:
                labels[i], room[j] = j, room[j] - 1
                break
    return labels
