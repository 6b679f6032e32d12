"""The defects generative models make, as disturbance ladders for `gv evaluator check` (ladders.py).

gv's first six ladders (noise, blur, ...) are damage a camera or a transmission makes; a model's
samples go wrong in other ways, and the realism axis is checked against those (issue 21):

    softness        a decoder's mean image (a VAE's samples): each image averaged with its nearest
                    neighbours in pixel space, 2, 4, 8, 16 images (itself included): a soft but
                    well-shaped image of its class, unlike Gaussian blur, which smears every stroke alike
    speckle         a GAN's grain at stroke edges: 5%, 10%, 20%, 40% of the edge pixels (a 3x3
                    neighbourhood spanning more than a quarter of the intensity range) set to random values
    haze            a grey veil: every pixel blended 5%, 10%, 20%, 40% towards mid-grey
    blobs           1, 2, 4, 8 soft round blots (radius 1.5-3 px) per image, at random places
    broken_strokes  elastic warps (Simard et al. 2003) of fine grain (a random displacement field smoothed
                    at 1.5 px), root-mean-square displacement 0.5, 0.75, 1, 1.25 px, each pixel taken
                    from its nearest source pixel: strokes wobble, turn jagged and break

Each takes uint8 images (N, C, H, W), a level, a seeded generator and the labels (unused), and
returns uint8 images of the same shape; colour images are damaged channel by channel alike.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..data import to_uint8, to_unit_range

LEVELS: dict[str, tuple[float, ...]] = {
    "softness": (2, 4, 8, 16),
    "speckle": (0.05, 0.1, 0.2, 0.4),
    "haze": (0.05, 0.1, 0.2, 0.4),
    "blobs": (1, 2, 4, 8),
    "broken_strokes": (0.5, 0.75, 1.0, 1.25),
}
# Pixel distances of this many images at a time (softness): 1,000 x N floats in memory.
NEIGHBOUR_CHUNK = 1000
EDGE_CONTRAST = 64  # intensity span (of 255) within a 3x3 neighbourhood that marks an edge pixel
BLOB_RADIUS = (1.5, 3.0)
WARP_SMOOTHING = 1.5  # px: a finer field breaks strokes, a coarser one bends whole digits


def _to_uint8(x: torch.Tensor) -> torch.Tensor:
    return x.round().clamp(0, 255).to(torch.uint8)


def softness(x: torch.Tensor, level: float, g: torch.Generator, labels: torch.Tensor) -> torch.Tensor:
    k = min(int(level), len(x))
    flat = x.flatten(1).float()
    out = torch.empty_like(flat)
    for start in range(0, len(flat), NEIGHBOUR_CHUNK):
        nearest = torch.cdist(flat[start : start + NEIGHBOUR_CHUNK], flat).topk(k, largest=False).indices
        out[start : start + NEIGHBOUR_CHUNK] = flat[nearest].mean(1)
    return _to_uint8(out).view_as(x)


def speckle(x: torch.Tensor, level: float, g: torch.Generator, labels: torch.Tensor) -> torch.Tensor:
    brightness = x.float().mean(1, keepdim=True)
    span = F.max_pool2d(brightness, 3, 1, 1) + F.max_pool2d(-brightness, 3, 1, 1)  # local max - local min
    hit = (span > EDGE_CONTRAST) & (torch.rand(brightness.shape, generator=g) < level)
    noise = torch.randint(0, 256, x.shape, generator=g, dtype=torch.uint8)
    return torch.where(hit.expand_as(x), noise, x)


def haze(x: torch.Tensor, level: float, g: torch.Generator, labels: torch.Tensor) -> torch.Tensor:
    return _to_uint8(x.float() * (1 - level) + 127.5 * level)


def blobs(x: torch.Tensor, level: float, g: torch.Generator, labels: torch.Tensor) -> torch.Tensor:
    n, _, h, w = x.shape
    k = int(level)
    cy, cx = torch.rand(n, k, generator=g) * h, torch.rand(n, k, generator=g) * w
    radius = BLOB_RADIUS[0] + (BLOB_RADIUS[1] - BLOB_RADIUS[0]) * torch.rand(n, k, generator=g)
    rows = torch.arange(h, dtype=torch.float32)[None, None, :, None]
    cols = torch.arange(w, dtype=torch.float32)[None, None, None, :]
    squared = (rows - cy[..., None, None]) ** 2 + (cols - cx[..., None, None]) ** 2
    ink = torch.exp(-squared / (2 * radius[..., None, None] ** 2)).amax(1, keepdim=True)  # (n, 1, h, w)
    unit = x.float() / 255
    return _to_uint8((unit + ink * (1 - unit)) * 255)


def broken_strokes(x: torch.Tensor, level: float, g: torch.Generator, labels: torch.Tensor) -> torch.Tensor:
    from torchvision.transforms.v2.functional import gaussian_blur

    n, c, h, w = x.shape
    size = 2 * math.ceil(3 * WARP_SMOOTHING) + 1
    field = gaussian_blur(torch.rand(n, 2, h, w, generator=g) * 2 - 1, [size, size], [WARP_SMOOTHING] * 2)
    field = field / field.square().mean((1, 2, 3), keepdim=True).sqrt() * level  # RMS displacement: level px
    shift = torch.stack([field[:, 0] * 2 / w, field[:, 1] * 2 / h], -1)  # pixels -> grid units
    identity = torch.eye(2, 3).expand(n, -1, -1)
    grid = F.affine_grid(identity, [n, c, h, w], align_corners=False) + shift
    # Nearest, not bilinear: interpolating at a fractional shift also softens every stroke, about
    # equally at any amplitude, and realism saw mostly that (seed 0, mean of 8 draws a level: 0.232,
    # 0.234, 0.244, 0.286; at seeds 1 and 2 it fell a step). Softness has its own ladder; taken from the
    # nearest pixel, realism rises 0.065, 0.135, 0.236, 0.36 (mean over seeds 0-3), as the other distances do.
    # grid_sample pads with 0; shift so the padding is -1, the background of [-1, 1] images.
    return to_uint8(F.grid_sample(to_unit_range(x) + 1, grid, mode="nearest", align_corners=False) - 1)


DISTURB = {"softness": softness, "speckle": speckle, "haze": haze, "blobs": blobs, "broken_strokes": broken_strokes}
