"""Loss functions, as plain functions of tensors (so tests can check them against hand-computed values).

Adversarial losses come in pairs (discriminator, generator) registered by name: a GAN family picks
one by name, which is all that separates GAN from LSGAN.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

Tensor = torch.Tensor


# --- adversarial ------------------------------------------------------------------------------


def bce_discriminator_loss(real_logits: Tensor, fake_logits: Tensor, real_target: float = 1.0) -> Tensor:
    """-log D(x) - log(1 - D(G(z))), batch means summed (Mafunu report); D outputs logits."""
    real = F.binary_cross_entropy_with_logits(real_logits, torch.full_like(real_logits, real_target))
    fake = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
    return real + fake


def bce_generator_loss(fake_logits: Tensor) -> Tensor:
    """Non-saturating generator loss -log D(G(z)) (Goodfellow et al. 2014, Mafunu report)."""
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))


def least_squares_discriminator_loss(real_out: Tensor, fake_out: Tensor, real_target: float = 1.0) -> Tensor:
    """LSGAN (Mao et al. 2017, a=0, b=c=1): 1/2 (D(x) - 1)^2 + 1/2 D(G(z))^2."""
    return 0.5 * (real_out - real_target).pow(2).mean() + 0.5 * fake_out.pow(2).mean()


def least_squares_generator_loss(fake_out: Tensor) -> Tensor:
    """LSGAN generator: 1/2 (D(G(z)) - 1)^2."""
    return 0.5 * (fake_out - 1.0).pow(2).mean()


@dataclass(frozen=True)
class AdversarialLoss:
    name: str
    discriminator: Callable[..., Tensor]
    generator: Callable[[Tensor], Tensor]
    # Maps a discriminator output to "probability real" for logging D(x), D(G(z)).
    to_score: Callable[[Tensor], Tensor]


ADVERSARIAL_LOSSES = {
    "bce": AdversarialLoss("bce", bce_discriminator_loss, bce_generator_loss, torch.sigmoid),
    "least_squares": AdversarialLoss(
        "least_squares", least_squares_discriminator_loss, least_squares_generator_loss, lambda t: t
    ),
}


# --- VAE --------------------------------------------------------------------------------------


def gaussian_kl(mu: Tensor, logvar: Tensor) -> Tensor:
    """KL(N(mu, sigma^2) || N(0, 1)) per latent dimension, closed form:
    -1/2 (1 + log sigma^2 - mu^2 - sigma^2)."""
    return -0.5 * (1.0 + logvar - mu.pow(2) - logvar.exp())


def bernoulli_nll(logits: Tensor, target01: Tensor) -> Tensor:
    """-log p(x|z) per pixel for a Bernoulli decoder (binary cross-entropy), target in [0, 1]."""
    return F.binary_cross_entropy_with_logits(logits, target01, reduction="none")


def gaussian_nll(mean01: Tensor, target01: Tensor, std: float) -> Tensor:
    """-log N(x; mean, std^2) per pixel. With std = sqrt(1/2) this is (x - mean)^2 + log(pi)/2."""
    return 0.5 * ((target01 - mean01) / std).pow(2) + math.log(std * math.sqrt(2.0 * math.pi))


def reconstruction_nll(decoder_out: Tensor, target01: Tensor, kind: str, std: float) -> Tensor:
    """Per-image negative log-likelihood in nats, summed over pixels: (N,)."""
    if kind == "bernoulli":
        nll = bernoulli_nll(decoder_out, target01)
    elif kind == "gaussian":
        nll = gaussian_nll(torch.sigmoid(decoder_out), target01, std)
    else:
        raise ValueError(f"unknown reconstruction {kind!r}")
    return nll.flatten(1).sum(1)


RECONSTRUCTIONS = ("bernoulli", "gaussian")
