"""Independent judges for `gv evaluator validate`: nothing shared with gv's evaluator networks.

gv's metrics look through networks trained to name classes (classifier.py) or, for a folder
without labels, through an autoencoder's bottleneck (label_free.py); realism summarises the texture
of those networks' first two convolution layers (realism.py). A judge that shares their weights, data order or recipe would
agree with them for the wrong reason, so each judge here has its own architecture, objective,
optimiser and seeds:

    c2st         a classifier two-sample test (Lopez-Paz & Oquab 2017) with a fresh GroupNorm/SiLU
                 CNN and global average pooling, trained on the training split's images against
                 samples, and tested on the held-out split against as many held-out samples;
                 its held-out log-loss, turned into a separation: log 2 - loss (0 when it can't tell)
    autoencoder  Frechet distance in the bottleneck of a convolutional autoencoder (ELU, 4x4 kernels,
                 Bernoulli reconstruction loss) trained on the training split
    autoencoder_texture  Frechet distance between the per-image channel means and standard deviations
                 of that autoencoder's two convolution layers: a judge of texture in a net that was
                 never trained on classes (the same kind of summary as realism, in other weights)
    contrastive  Frechet distance in a contrastive net's pooled features (SimCLR's NT-Xent, affine
                 views; no labels) trained on the training split

Each returns one number per image set, larger = further from the real images. The two feature
networks are trained once per dataset and cached beside the pool (``references.pt``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..data import to_unit_range
from ..rundir import atomic_path
from .stats import frechet, mean_and_cov

FORMAT = "gv-references/1"
JUDGES = ("c2st", "autoencoder", "autoencoder_texture", "contrastive")
# The judges of realism (could a sample pass for a real image): the autoencoder's bottleneck keeps
# what a digit is more than how it is drawn, so it judges the overall metric, not realism.
REALISM_JUDGES = ("c2st", "autoencoder_texture", "contrastive")
ABOUT = {
    "c2st": "fresh GroupNorm CNN told the held-out split from held-out samples (log 2 - log-loss)",
    "autoencoder": "Frechet distance in a convolutional autoencoder's bottleneck",
    "autoencoder_texture": "Frechet distance of the channel means and stds of that autoencoder's conv layers",
    "contrastive": "Frechet distance in a contrastive (SimCLR) net's features",
}
BATCH = 1000
C2ST_EPOCHS, C2ST_LR, C2ST_BATCH, C2ST_MAX = 4, 2e-3, 128, 5000
AE_EPOCHS, AE_LR, AE_BATCH = 40, 1e-3, 100
CONTRASTIVE_EPOCHS, CONTRASTIVE_LR, CONTRASTIVE_BATCH, TEMPERATURE = 25, 1e-3, 256, 0.2


def _block(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1), nn.GroupNorm(8, cout), nn.SiLU())


class TwoSampleNet(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(
            _block(channels, 16, 2),
            _block(16, 32, 1),
            _block(32, 32, 2),
            _block(32, 64, 1),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Dropout(0.2),
        )
        self.head = nn.Linear(64, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x)).squeeze(1)


class AutoEncoder(nn.Module):
    def __init__(self, channels: int, height: int, width: int, code: int = 64):
        super().__init__()
        self.shape = (channels, height, width)
        self.encoder = nn.Sequential(
            nn.Conv2d(channels, 32, 4, 2, 1),
            nn.ELU(),
            nn.Conv2d(32, 64, 4, 2, 1),
            nn.ELU(),
            nn.AdaptiveAvgPool2d(7),
            nn.Flatten(),
            nn.Linear(64 * 49, code),
        )
        self.decoder = nn.Sequential(
            nn.Linear(code, 64 * 49),
            nn.ELU(),
            nn.Unflatten(1, (64, 7, 7)),
            nn.ConvTranspose2d(64, 32, 4, 2, 1),
            nn.ELU(),
            nn.ConvTranspose2d(32, channels, 4, 2, 1),
        )

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def texture(self, x: torch.Tensor) -> torch.Tensor:
        """Per image and channel: the mean and std of the two convolution layers' responses."""
        first = self.encoder[1](self.encoder[0](x))
        second = self.encoder[3](self.encoder[2](first))
        return torch.cat([first.mean((2, 3)), first.std((2, 3)), second.mean((2, 3)), second.std((2, 3))], 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(self.decoder(self.encoder(x)), size=self.shape[1:], mode="bilinear")


class ContrastiveNet(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, 32, 3, 2, 1),
            nn.ReLU(),
            nn.Conv2d(32, 64, 3, 2, 1),
            nn.ReLU(),
            nn.Conv2d(64, 128, 3, 1, 1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.projection = nn.Sequential(nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 64))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


def _affine_view(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """A random rotation (15 deg), zoom (20%) and shift (10%): the contrastive net's views."""
    n = x.shape[0]
    angle = (torch.rand(n, generator=g) * 2 - 1) * math.radians(15)
    zoom = 1 + (torch.rand(n, generator=g) * 2 - 1) * 0.2
    shift = (torch.rand(n, 2, generator=g) * 2 - 1) * 0.2
    cos, sin = zoom * torch.cos(angle), zoom * torch.sin(angle)
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x + 1, grid, align_corners=False) - 1


def _train_autoencoder(x: torch.Tensor, seed: int) -> AutoEncoder:
    torch.manual_seed(seed)
    net = AutoEncoder(*x.shape[1:])
    opt = torch.optim.Adam(net.parameters(), AE_LR)
    g = torch.Generator().manual_seed(seed)
    for _ in range(AE_EPOCHS):
        order = torch.randperm(len(x), generator=g)
        for start in range(0, len(x), AE_BATCH):
            batch = x[order[start : start + AE_BATCH]]
            loss = F.binary_cross_entropy_with_logits(net(batch), (batch + 1) / 2)
            opt.zero_grad()
            loss.backward()
            opt.step()
    return net.eval().requires_grad_(False)


def _train_contrastive(x: torch.Tensor, seed: int) -> ContrastiveNet:
    torch.manual_seed(seed)
    net = ContrastiveNet(x.shape[1])
    opt = torch.optim.Adam(net.parameters(), CONTRASTIVE_LR)
    g = torch.Generator().manual_seed(seed)
    b = min(CONTRASTIVE_BATCH, len(x) // 2)
    target = torch.cat([torch.arange(b, 2 * b), torch.arange(0, b)])
    for _ in range(CONTRASTIVE_EPOCHS):
        order = torch.randperm(len(x), generator=g)
        for start in range(0, len(x) - b + 1, b):
            batch = x[order[start : start + b]]
            z = F.normalize(
                net.projection(net.body(torch.cat([_affine_view(batch, g), _affine_view(batch, g)]))), dim=1
            )
            similarity = (z @ z.T / TEMPERATURE).fill_diagonal_(-1e9)  # a view is not its own positive
            loss = F.cross_entropy(similarity, target)
            opt.zero_grad()
            loss.backward()
            opt.step()
    return net.eval().requires_grad_(False)


@dataclass
class Judges:
    """The independent judges of one dataset: its two feature nets, and the real images."""

    train_images: torch.Tensor  # uint8: what the nets and the two-sample test train on
    test_images: torch.Tensor  # uint8: held out, what the distances compare against
    autoencoder: AutoEncoder
    contrastive: ContrastiveNet
    seed: int = 0

    @classmethod
    def prepare(
        cls, train_images: torch.Tensor, test_images: torch.Tensor, cache: Path, log: Callable[[str], None] = print
    ) -> Judges:
        x = to_unit_range(train_images)
        state = None
        if cache.is_file():
            try:
                state = torch.load(cache, map_location="cpu", weights_only=True)
            except Exception:  # damaged or foreign: retrained below
                state = None
        autoencoder, contrastive = AutoEncoder(*x.shape[1:]), ContrastiveNet(x.shape[1])
        try:
            # Judges trained on other images (another dataset, another pool's share of it) are retrained.
            assert isinstance(state, dict) and state.get("format") == FORMAT
            assert state.get("train_images") == len(train_images)
            autoencoder.load_state_dict(state["autoencoder"])
            contrastive.load_state_dict(state["contrastive"])
            autoencoder.eval().requires_grad_(False)
            contrastive.eval().requires_grad_(False)
        except (AssertionError, KeyError, RuntimeError):
            log("training the independent judges (an autoencoder and a contrastive net; once, cached)")
            autoencoder, contrastive = _train_autoencoder(x, seed=101), _train_contrastive(x, seed=202)
            with atomic_path(cache) as tmp:
                torch.save(
                    {
                        "format": FORMAT,
                        "train_images": len(train_images),
                        "autoencoder": autoencoder.state_dict(),
                        "contrastive": contrastive.state_dict(),
                    },
                    tmp,
                )
        return cls(train_images, test_images, autoencoder, contrastive)

    @torch.no_grad()
    def _embed(self, embed: Callable[[torch.Tensor], torch.Tensor], images: torch.Tensor) -> torch.Tensor:
        return torch.cat([embed(to_unit_range(chunk)) for chunk in images.split(BATCH)])

    def _frechet(self, embed: Callable[[torch.Tensor], torch.Tensor], images: torch.Tensor) -> float:
        real = self._embed(embed, self.test_images)
        return frechet(*mean_and_cov(self._embed(embed, images)), *mean_and_cov(real))

    def score(self, images: torch.Tensor) -> dict[str, float]:
        """Every judge's number for one uint8 image set: larger = further from the real images."""
        return {
            "c2st": self.two_sample(images),
            "autoencoder": self._frechet(self.autoencoder.features, images),
            "autoencoder_texture": self._frechet(self.autoencoder.texture, images),
            "contrastive": self._frechet(self.contrastive.features, images),
        }

    def two_sample(self, images: torch.Tensor) -> float:
        g = torch.Generator().manual_seed(self.seed)
        real_train = self.train_images[torch.randperm(len(self.train_images), generator=g)[:C2ST_MAX]]
        fakes = images[torch.randperm(len(images), generator=g)]
        n_test = min(len(self.test_images), len(fakes) // 2)
        # Splits may be sorted by class: the held-out reals are a random subset.
        real_test = self.test_images[torch.randperm(len(self.test_images), generator=g)[:n_test]]
        fake_test, fake_train = fakes[:n_test], fakes[n_test : n_test + len(real_train)]
        x = to_unit_range(torch.cat([real_train, fake_train]))
        y = torch.cat([torch.ones(len(real_train)), torch.zeros(len(fake_train))])
        torch.manual_seed(self.seed + 17)
        net = TwoSampleNet(x.shape[1])
        opt = torch.optim.AdamW(net.parameters(), C2ST_LR, weight_decay=1e-4)
        steps = C2ST_EPOCHS * math.ceil(len(x) / C2ST_BATCH)
        schedule = torch.optim.lr_scheduler.OneCycleLR(opt, C2ST_LR, total_steps=steps)
        for _ in range(C2ST_EPOCHS):
            order = torch.randperm(len(x), generator=g)
            for start in range(0, len(x), C2ST_BATCH):
                idx = order[start : start + C2ST_BATCH]
                loss = F.binary_cross_entropy_with_logits(net(x[idx]), y[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
                schedule.step()
        net.eval()
        held_out = to_unit_range(torch.cat([real_test, fake_test]))
        truth = torch.cat([torch.ones(n_test), torch.zeros(n_test)])
        with torch.no_grad():
            logits = torch.cat([net(chunk) for chunk in held_out.split(BATCH)])
        return math.log(2) - float(F.binary_cross_entropy_with_logits(logits, truth))
