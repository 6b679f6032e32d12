"""Network bodies shared by every family.

Two shapes of network cover all six families:

* ``VectorToImage`` -- a vector (noise or latent code, with a one-hot label appended for the
  conditional families) to an image-shaped tensor of raw outputs: the GAN *generator* and the VAE
  *decoder*.
* ``ImageToVector`` -- an image (with the label as extra input for conditional families) to a
  vector: the GAN *discriminator* (1 logit) and the VAE *encoder* (mean and log-variance).

Each comes in three architectures, picked by name:

* ``mlp``   -- fully connected (Mafunu report figs 3.1-3.2 for GANs, IJzer report table 2 for VAEs);
* ``dcgan`` -- Mafunu report figs 3.3-3.4: FC -> ConvTranspose generator with ReLU + BatchNorm, a
  5x5-conv + max-pool discriminator; sized to the image (exactly the seed's nets at 28x28);
* ``conv``  -- IJzer report table 3: 3x3 conv + max-pool encoder, FC -> ConvTranspose decoder, for
  3-channel datasets (32x32 CIFAR-10, 64x64 Imagenette).

Hidden sizes are data (``MLP_HIDDEN``), so the GAN and VAE variants differ only by table entries.
"""

from __future__ import annotations

import math

import torch
from torch import nn

ARCHITECTURES = ("mlp", "dcgan", "conv")

# (kind, role) -> hidden sizes of the fully connected nets.
MLP_HIDDEN = {
    ("gan", "generator"): (1024, 1024),  # Mafunu report fig 3.1
    ("gan", "discriminator"): (256, 256),  # Mafunu report fig 3.2
    ("vae", "encoder"): (1024, 512, 256),  # IJzer report table 2
    ("vae", "decoder"): (256, 512, 1024),  # IJzer report table 2
}


def _activation(name: str, slope: float) -> nn.Module:
    return nn.ReLU() if name == "relu" else nn.LeakyReLU(slope)


def mlp(sizes: list[int], activation: str, slope: float, dropout: float = 0.0) -> nn.Sequential:
    """Linear layers with an activation (and dropout) between them; the last layer is linear."""
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(_activation(activation, slope))
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


def dcgan_upsamplings(side: int) -> int:
    """The dcgan generator's 2x upsamplings for an image side (the Mafunu report: two at 28x28)."""
    return 2 if side <= 32 else int(math.log2(side)) - 3


def side_supported(side: int) -> bool:
    """Whether every architecture builds for square images of this side: a multiple of 4, at least
    16, that the dcgan generator reaches by doubling (above 64 px: a multiple of 2**upsamplings)."""
    return side >= 16 and side % 4 == 0 and side % 2 ** dcgan_upsamplings(side) == 0


def _upsampling_plan(size: int) -> tuple[int, int]:
    """(number of 2x upsamplings, start side) so that start * 2**n == size and start is 4..8."""
    n = 0
    while size % (2 ** (n + 1)) == 0 and size // 2 ** (n + 1) >= 4:
        n += 1
    return max(n, 1), size // 2 ** max(n, 1)


class VectorToImage(nn.Module):
    """Generator / decoder body: (N, in_dim) -> raw outputs (N, C, H, W)."""

    def __init__(
        self,
        in_dim: int,
        image_shape: tuple[int, int, int],
        architecture: str,
        kind: str,
        slope: float = 0.01,
        conv_width: int = 64,
    ):
        super().__init__()
        c, h, w = image_shape
        self.image_shape = image_shape
        self.architecture = architecture
        if architecture == "mlp":
            role = "generator" if kind == "gan" else "decoder"
            act = "relu" if kind == "gan" else "leaky"
            self.body = nn.Sequential(
                mlp([in_dim, *MLP_HIDDEN[(kind, role)], c * h * w], act, slope), nn.Unflatten(1, image_shape)
            )
        elif architecture == "dcgan":
            # Mafunu report fig 3.3: FC 1024 -> FC s0*s0*C0 -> ConvT ... -> ConvT C, each hidden layer
            # followed by ReLU then BatchNorm. At 28x28: s0 = 7, C0 = 128, one ConvT of 64.
            ups = dcgan_upsamplings(h)
            s0 = h // 2**ups
            if s0 * 2**ups != h:
                raise ValueError(f"dcgan nets need an image side divisible by {2**ups}, got {h}")
            chans = [64 * 2 ** (ups - 1 - i) for i in range(ups)]  # e.g. [128, 64]
            layers: list[nn.Module] = [
                nn.Linear(in_dim, 1024),
                nn.ReLU(),
                nn.BatchNorm1d(1024),
                nn.Linear(1024, chans[0] * s0 * s0),
                nn.ReLU(),
                nn.BatchNorm1d(chans[0] * s0 * s0),
                nn.Unflatten(1, (chans[0], s0, s0)),
            ]
            for i in range(ups):
                out = chans[i + 1] if i + 1 < ups else c
                layers.append(nn.ConvTranspose2d(chans[i], out, 4, stride=2, padding=1))
                if i + 1 < ups:
                    layers += [nn.ReLU(), nn.BatchNorm2d(out)]
            self.body = nn.Sequential(*layers)
        elif architecture == "conv":
            # IJzer report table 3: FC -> (ConvT 4/2 -> LeakyReLU -> BatchNorm) * n -> Conv 3x3 to C.
            ups, s0 = _upsampling_plan(h)
            chans = [conv_width * 2 ** (ups - 1 - i) for i in range(ups)] + [max(conv_width // 2, 8)]
            layers = [nn.Linear(in_dim, chans[0] * s0 * s0), nn.LeakyReLU(slope), nn.Unflatten(1, (chans[0], s0, s0))]
            for i in range(ups):
                layers += [
                    nn.ConvTranspose2d(chans[i], chans[i + 1], 4, stride=2, padding=1),
                    nn.LeakyReLU(slope),
                    nn.BatchNorm2d(chans[i + 1]),
                ]
            layers.append(nn.Conv2d(chans[-1], c, 3, padding=1))
            self.body = nn.Sequential(*layers)
        else:
            raise ValueError(f"unknown architecture {architecture!r}")

    def forward(self, vector: torch.Tensor) -> torch.Tensor:
        return self.body(vector)


class ImageToVector(nn.Module):
    """Discriminator / encoder body: (N, C + extra_channels, H, W) -> (N, out_dim).

    Conditional families pass the label as ``extra`` one-hot features: appended to the flattened
    image for ``mlp`` nets, broadcast to constant planes for convolutional ones.
    """

    def __init__(
        self,
        image_shape: tuple[int, int, int],
        extra: int,
        out_dim: int,
        architecture: str,
        kind: str,
        slope: float = 0.01,
        dropout: float = 0.0,
        conv_width: int = 64,
    ):
        super().__init__()
        c, h, w = image_shape
        self.architecture = architecture
        self.extra = extra
        self.features: nn.Module
        self.head: nn.Module
        if architecture == "mlp":
            role = "discriminator" if kind == "gan" else "encoder"
            self.features = nn.Flatten()
            self.head = mlp([c * h * w + extra, *MLP_HIDDEN[(kind, role)], out_dim], "leaky", slope, dropout)
            return
        if architecture == "dcgan":
            # Mafunu report fig 3.4: (Conv 5x5 -> LeakyReLU -> MaxPool 2) * n -> FC 1024 -> FC out.
            blocks = 2 if h <= 32 else int(math.log2(h)) - 3
            chans = [32 * 2**i for i in range(blocks)]
            layers: list[nn.Module] = []
            prev = c + extra
            for ch in chans:
                layers += [nn.Conv2d(prev, ch, 5), nn.LeakyReLU(slope), nn.MaxPool2d(2, 2)]
                prev = ch
            head_hidden = 1024
        elif architecture == "conv":
            # IJzer report table 3: (Conv 3x3 -> LeakyReLU -> MaxPool 2) * n -> Linear.
            blocks, _ = _upsampling_plan(h)
            chans = [conv_width * 2**i for i in range(blocks)]
            layers = []
            prev = c + extra
            for ch in chans:
                layers += [nn.Conv2d(prev, ch, 3, padding=1), nn.LeakyReLU(slope), nn.MaxPool2d(2, 2)]
                if dropout > 0:
                    layers.append(nn.Dropout2d(dropout))
                prev = ch
            head_hidden = 0
        else:
            raise ValueError(f"unknown architecture {architecture!r}")
        layers.append(nn.Flatten())
        self.features = nn.Sequential(*layers)
        with torch.no_grad():
            flat = self.features(torch.zeros(1, c + extra, h, w)).shape[1]
        if head_hidden:
            self.head = nn.Sequential(
                nn.Linear(flat, head_hidden), nn.LeakyReLU(slope), nn.Linear(head_hidden, out_dim)
            )
        else:
            self.head = nn.Linear(flat, out_dim)

    def forward(self, images: torch.Tensor, extra: torch.Tensor | None = None) -> torch.Tensor:
        if self.architecture == "mlp":
            flat = self.features(images)
            if extra is not None:
                flat = torch.cat([flat, extra], dim=1)
            return self.head(flat)
        if extra is not None:
            planes = extra[:, :, None, None].expand(-1, -1, images.shape[2], images.shape[3])
            images = torch.cat([images, planes], dim=1)
        return self.head(self.features(images))


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
