"""realism: could each sample pass for a real image? Texture statistics of the evaluator's first layers.

Each image is summarised by the mean and the standard deviation, over its pixels, of every channel
of the evaluator network's first two convolution layers (after their nonlinearity): 96 numbers for
the strided classifier (16 + 32 channels, two statistics each). ``realism`` is the Frechet distance
between Gaussians fit to those summaries of the generated set and of the real test split.

Why these layers: the penultimate features (``fid``) belong to a net trained to name digits, with
label smoothing and weight decay that pull every image of a class together, so a soft but
well-shaped digit sits in the middle of its class. The first two layers are small edge and stroke
detectors that no class objective has taught to forgive anything: blur lowers their responses'
spread, speckle and haze raise their background means, broken strokes change how much edge there
is. Per-image statistics (not the maps themselves) make the measure about texture, not placement.

Chosen by experiment (docs/studies/realism.md): on 48 generated sets from trained gv models (six
families, four budgets, two seeds) it agrees with every independent judge (a fresh two-sample
classifier, an autoencoder's and a contrastive net's Frechet distances, none sharing weights,
data order or recipe with gv's networks) at Spearman 0.83-0.98 over the whole pool, better than
fid, and gets worse at every level of every disturbance ladder. It costs one pass of two
convolutions: ~2 s for 10,000 images on one core.

The statistics need no labels: for an unlabelled folder they come from its label-free network's
(label_free.py) first two convolution layers, which share the classifier's body (convnets.py).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch
from torch import nn

from ..data import to_unit_range
from ..errors import GVError
from . import stats
from .classifier import EvaluatorNet, _stderr, atomic_save, safe_load
from .features import Evaluator, Reference

LAYERS = 2  # convolution layers summarised: the first two
REFERENCE_FORMAT = "gv-realism-reference/1"
CACHE_FILE = "reference-realism.pt"
SPACE = "realism"  # the key of the real statistics in Reference.other_spaces


@torch.no_grad()
def texture_statistics(net: EvaluatorNet, images: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """uint8 images (N, C, H, W) -> (N, 2 * channels of the first two conv layers): per image and
    channel, the mean and standard deviation over the pixels of the activation after each of the
    network's first two convolutions (and their normalisation and nonlinearity)."""
    net.eval()
    device = next(net.parameters()).device
    out = []
    for chunk in images.split(batch_size):
        # Plain NCHW strides, as in the networks' embed(): the convolutions then round alike for an
        # .npz's images and a model's.
        x = to_unit_range(chunk.to(device).clone(memory_format=torch.contiguous_format))
        summary: list[torch.Tensor] = []
        after_conv = False
        for layer in net.body:
            x = layer(x)
            if isinstance(layer, nn.Conv2d):
                after_conv = True
            elif after_conv and isinstance(layer, nn.ReLU):  # the conv's response, normalised and rectified
                summary += [x.mean((2, 3)), x.std((2, 3))]
                after_conv = False
                if len(summary) == 2 * LAYERS:
                    break
        if len(summary) != 2 * LAYERS:
            raise ValueError(f"the evaluator network has fewer than {LAYERS} convolution layers followed by a ReLU")
        out.append(torch.cat(summary, 1).float().cpu())
    return torch.cat(out)


def _digest(images: torch.Tensor) -> str:
    return hashlib.sha256(images.contiguous().numpy().tobytes()).hexdigest()[:32]


def reference_statistics(reference: Reference, evaluator: Evaluator) -> torch.Tensor:
    """The real images' texture statistics: kept on the reference and cached on disk beside the
    evaluator's networks, tied to the network's id and to the images' content (a reference of other
    real images gets its own)."""
    if SPACE in reference.other_spaces:
        return reference.other_spaces[SPACE]
    if reference.images is None:
        raise GVError(f"realism needs the real images of the reference ({reference.description}); it has none")
    net = evaluator.classifier
    key = {"id": str(net.meta.get("id", "")), "images": _digest(reference.images)}
    path = Path(net.meta["path"]).with_name(CACHE_FILE) if net.meta.get("path") else None
    payload = safe_load(path, REFERENCE_FORMAT, _stderr) if path is not None else None
    if payload is not None and payload.get("key") == key and isinstance(payload.get("statistics"), torch.Tensor):
        real = payload["statistics"]
    else:
        real = texture_statistics(net, reference.images)
        if path is not None:
            atomic_save({"format": REFERENCE_FORMAT, "key": key, "statistics": real}, path)
    reference.other_spaces[SPACE] = real
    return real


def frechet_distance(real: torch.Tensor, fake: torch.Tensor) -> float:
    """The Frechet distance between Gaussians fit to two sets of statistics (realism: texture)."""
    return stats.frechet(*stats.mean_and_cov(fake), *stats.mean_and_cov(real))


# combined's weights: each block's trace on the real set (texture statistics, class features).
# Chosen on the validate pool (docs/studies/realism.md): of the texture weights 0.25, 0.5, 1, 2 and
# 4, a quarter agrees best with the worst-agreeing of the four judges (Spearman 0.91-0.95 with each,
# where equal weights reach 0.87 with the autoencoder's bottleneck); every ladder still passes.
# Values of `combined` from before 2026-12-06 (equal weights) do not compare with today's.
TEXTURE_WEIGHT = 0.25
COMBINED_WEIGHTS = (TEXTURE_WEIGHT, 1.0)


def combine(
    real_blocks: tuple[torch.Tensor, ...],
    fake_blocks: tuple[torch.Tensor, ...],
    weights: tuple[float, ...] = COMBINED_WEIGHTS,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(real, fake): the blocks side by side, each divided by the root of its real covariance's
    trace and multiplied by the root of its weight, so each block's trace on the real set equals its
    weight (``combined``: texture statistics and class features; unscaled, the class features'
    trace is ~55x the texture's on mnist-5k)."""
    if not len(weights) == len(real_blocks) == len(fake_blocks):
        raise ValueError(
            f"{len(real_blocks)} real and {len(fake_blocks)} generated blocks need as many weights, got {len(weights)}"
        )
    if not all(weight > 0 for weight in weights):
        raise ValueError(f"block weights must be positive, got {weights}")
    scales = [
        block.double().var(0).sum().sqrt().clamp_min(1e-12) / weight**0.5
        for block, weight in zip(real_blocks, weights, strict=True)
    ]
    real = torch.cat([block.double() / scale for block, scale in zip(real_blocks, scales, strict=True)], 1)
    fake = torch.cat([block.double() / scale for block, scale in zip(fake_blocks, scales, strict=True)], 1)
    return real.float(), fake.float()
