"""Interpolations: between latent points, between classes, and between real images.

* latent -> latent: spherical interpolation (slerp), since Gaussian latents live near a sphere of
  radius sqrt(d) and a straight line between two of them passes through unlikely, low-norm codes;
* class -> class (CGAN / CVAE): fixed noise, the one-hot label blended from one class to another;
* real image -> real image: endpoints found by the VAE's encoder (posterior means) or, for GANs,
  by latent optimisation ("GAN inversion"); each family's reconstruction error of the endpoints
  says how faithfully it can reach real data.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .models import GANModel, GenerativeModel, VAEModel

Tensor = torch.Tensor


def slerp(a: Tensor, b: Tensor, t: Tensor) -> Tensor:
    """Spherical interpolation between rows of a and b at fractions t: (T,) -> (T, d)."""
    a_n, b_n = a / a.norm(), b / b.norm()
    omega = torch.acos((a_n * b_n).sum().clamp(-1.0, 1.0))
    t = t[:, None]
    # Parallel (omega ~ 0) or antiparallel (omega ~ pi): sin(omega) ~ 0 and the great circle is
    # not unique, so fall back to the straight line.
    if omega < 1e-4 or omega > torch.pi - 1e-4:
        return (1 - t) * a + t * b
    return (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / torch.sin(omega)


def latent_path(z0: Tensor, z1: Tensor, steps: int, method: str = "slerp") -> Tensor:
    t = torch.linspace(0.0, 1.0, steps, device=z0.device)
    if method == "slerp":
        return slerp(z0, z1, t)
    return (1 - t[:, None]) * z0 + t[:, None] * z1


@torch.no_grad()
def latent_interpolation(
    model: GenerativeModel,
    z0: Tensor,
    z1: Tensor,
    steps: int = 10,
    label: int | Tensor | None = None,
    method: str = "slerp",
) -> Tensor:
    """Images along the path z0 -> z1: (steps, C, H, W). Conditional models need a label (an index,
    or a soft label vector) held fixed along the path."""
    model.eval()
    path = latent_path(z0.to(model.device), z1.to(model.device), steps, method)
    labels = _repeat_label(model, label, steps)
    return model.generate(path, labels)


@torch.no_grad()
def class_interpolation(model: GenerativeModel, z: Tensor, class_from: int, class_to: int, steps: int = 10) -> Tensor:
    """Fixed noise, label blended from one class to another: (steps, C, H, W)."""
    if not model.conditional:
        raise ValueError(f"family {model.spec.name} is not conditional: no classes to interpolate")
    model.eval()
    t = torch.linspace(0.0, 1.0, steps, device=model.device)[:, None]
    eye = torch.eye(model.num_classes, device=model.device)
    soft = (1 - t) * eye[class_from] + t * eye[class_to]
    return model.generate(z.to(model.device).expand(steps, -1), soft)


def _repeat_label(model: GenerativeModel, label, n: int) -> Tensor | None:
    if not model.conditional:
        return None
    if label is None:
        raise ValueError(f"family {model.spec.name} is conditional: give a label")
    if isinstance(label, Tensor) and label.dim() == 1 and label.dtype.is_floating_point:
        return label.to(model.device).expand(n, -1)  # a soft label vector
    return torch.full((n,), int(label), device=model.device, dtype=torch.long)


@dataclass
class Endpoints:
    """Latent codes that reproduce real images, and how well: (N, d) codes, (N,) errors."""

    latents: Tensor
    reconstructions: Tensor
    errors: Tensor  # mean squared error per image, pixels in [-1, 1]
    method: str


def per_image_mse(a: Tensor, b: Tensor) -> Tensor:
    return (a - b).pow(2).flatten(1).mean(1)


@torch.no_grad()
def encode_endpoints(model: VAEModel, images: Tensor, labels: Tensor | None = None) -> Endpoints:
    """VAE / CVAE: the encoder's posterior means are the endpoints."""
    model.eval()
    images = images.to(model.device)
    labels = labels.to(model.device) if labels is not None and model.conditional else None
    mu, _ = model.encode(images, labels)
    recon = model.decode(mu, labels)
    return Endpoints(mu, recon, per_image_mse(recon, images), "encoder")


def invert_generator(
    model: GANModel,
    images: Tensor,
    labels: Tensor | None = None,
    steps: int = 200,
    restarts: int = 4,
    lr: float = 0.05,
    prior_weight: float = 1e-3,
    generator: torch.Generator | None = None,
) -> Endpoints:
    """GAN inversion: find z with G(z) ~ x by gradient descent on the pixel error, from several
    random starts per image (GAN latent spaces are far from convex); the best start wins.

    A small prior term keeps z near the Gaussian shell the generator was trained on, so the
    endpoints stay meaningful for interpolation rather than drifting to huge norms.
    """
    model.eval()
    device = model.device
    images = images.to(device)
    n = images.shape[0]
    labels_rep = None
    if model.conditional:
        if labels is None:
            raise ValueError("conditional GAN inversion needs the images' labels")
        labels_rep = labels.to(device).repeat_interleave(restarts)
    z = model.sample_latent(n * restarts, generator).clone().requires_grad_(True)
    target = images.repeat_interleave(restarts, dim=0)
    optimizer = torch.optim.Adam([z], lr=lr)
    # Only the trained networks are toggled: the generator's average stays frozen whatever happens.
    networks = list(model.networks().values())
    for net in networks:
        net.requires_grad_(False)
    try:
        for _ in range(steps):
            recon = model.generate(z, labels_rep)
            errors = per_image_mse(recon, target)
            prior = prior_weight * (z.pow(2).mean(1) - 1.0).pow(2)
            loss = (errors + prior).sum()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    finally:
        for net in networks:
            net.requires_grad_(True)
    with torch.no_grad():
        recon = model.generate(z, labels_rep)
        errors = per_image_mse(recon, target).view(n, restarts)
        best = errors.argmin(1)
        pick = torch.arange(n, device=device) * restarts + best
        return Endpoints(z.detach()[pick], recon[pick], errors[torch.arange(n), best], "inversion")


def find_endpoints(model: GenerativeModel, images: Tensor, labels: Tensor | None = None, **inversion) -> Endpoints:
    if isinstance(model, VAEModel):
        return encode_endpoints(model, images, labels)
    return invert_generator(model, images, labels, **inversion)  # type: ignore[arg-type]


@torch.no_grad()
def random_latent_error(
    model: GenerativeModel, images: Tensor, labels: Tensor | None = None, generator: torch.Generator | None = None
) -> Tensor:
    """The baseline for inversion: pixel error of G(z) for a random z, per image."""
    model.eval()
    z = model.sample_latent(images.shape[0], generator)
    labels = labels.to(model.device) if labels is not None and model.conditional else None
    return per_image_mse(model.generate(z, labels), images.to(model.device))


@torch.no_grad()
def real_interpolation(
    model: GenerativeModel, endpoints: Endpoints, labels: Tensor | None, steps: int = 10, method: str = "slerp"
) -> Tensor:
    """Images between two real images' endpoints (index 0 and 1 of ``endpoints``): (steps, C, H, W).
    For conditional models the label is blended from the first image's class to the second's."""
    model.eval()
    z0, z1 = endpoints.latents[0], endpoints.latents[1]
    path = latent_path(z0, z1, steps, method)
    soft = None
    if model.conditional:
        assert labels is not None
        eye = torch.eye(model.num_classes, device=model.device)
        t = torch.linspace(0.0, 1.0, steps, device=model.device)[:, None]
        soft = (1 - t) * eye[int(labels[0])] + t * eye[int(labels[1])]
    return model.generate(path, soft)
