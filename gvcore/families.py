"""The six model families behind one registry and one small interface.

A family is data (:class:`FamilySpec`): its kind (GAN or VAE), whether it is conditional, its
default architecture and, for GANs, its adversarial loss. Two model classes implement every
family:

* :class:`GANModel` -- ``generator`` + ``discriminator`` (gan, lsgan, dcgan, cgan);
* :class:`VAEModel` -- ``encoder`` + ``decoder`` (vae, cvae).

LSGAN is GAN with the least-squares loss; DCGAN is GAN with the dcgan nets; CGAN and CVAE are GAN
and VAE with a one-hot label joined to their inputs. Every model offers the same interface:
``make_optimizers``, ``train_step``, ``generate`` / ``sample``, and ``encode`` / ``decode`` for VAEs.
Images are float in [-1, 1] on both sides of the interface.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from . import data as datamod
from .budget import check_budget
from .config import BUDGET_KINDS, DEFAULT_EPOCHS, FAMILY_DEFAULTS, TRAINING_DEFAULTS, Config, get_value, set_value
from .errors import GVError
from .losses import ADVERSARIAL_LOSSES, RECONSTRUCTIONS, gaussian_kl, reconstruction_nll
from .nets import ARCHITECTURES, ImageToVector, VectorToImage, count_parameters

Tensor = torch.Tensor


@dataclass(frozen=True)
class FamilySpec:
    name: str
    kind: str  # "gan" | "vae"
    conditional: bool
    architecture: str  # default on 1-channel data; 3-channel data uses "conv" unless this is "dcgan"
    loss: str  # adversarial loss name (GANs) or "elbo" (VAEs)
    summary: str
    reference: str

    @property
    def kind_label(self) -> str:
        return self.kind.upper()

    @property
    def reported_losses(self) -> tuple[str, ...]:
        """The per-step values this family's ``train_step`` returns (what a sweep may rank by)."""
        if self.kind == "gan":
            return ("loss/discriminator", "loss/generator", "d_real", "d_fake")
        return ("loss/total", "loss/reconstruction", "loss/kl")

    @property
    def objective_loss(self) -> str:
        """The loss this family minimises for its sampler, reported as ``loss/objective``: the
        generator loss for GANs, the negative ELBO for VAEs. Not comparable across kinds (seed 001)."""
        return "loss/generator" if self.kind == "gan" else "loss/total"

    @property
    def defaults(self) -> dict[str, float | int]:
        """The training settings this family fills in where its config leaves ``None``."""
        return {**TRAINING_DEFAULTS[self.kind], **FAMILY_DEFAULTS.get(self.name, {})}

    def default_architecture(self, channels: int) -> str:
        if self.architecture == "dcgan" or channels == 1:
            return self.architecture
        return "conv"


FAMILIES: dict[str, FamilySpec] = {
    s.name: s
    for s in (
        FamilySpec("gan", "gan", False, "mlp", "bce",
                   "MLP GAN, non-saturating BCE loss", "Goodfellow et al. 2014; seed 000 figs 3.1-3.2"),
        FamilySpec("lsgan", "gan", False, "mlp", "least_squares",
                   "the GAN nets with least-squares losses", "Mao et al. 2017; seed 000"),
        FamilySpec("dcgan", "gan", False, "dcgan", "bce",
                   "convolutional GAN: ConvT generator, conv + max-pool discriminator",
                   "Radford et al. 2015; seed 000 figs 3.3-3.4"),
        FamilySpec("cgan", "gan", True, "mlp", "bce",
                   "label-conditioned GAN: one-hot label joined to z and to the discriminator input",
                   "Mirza & Osindero 2014; seed 004"),
        FamilySpec("vae", "vae", False, "mlp", "elbo",
                   "MLP VAE: reconstruction + KL, reparameterisation trick", "Kingma & Welling 2013; seed 001 table 2"),
        FamilySpec("cvae", "vae", True, "mlp", "elbo",
                   "the VAE with a one-hot label joined to the image and to z", "Sohn et al. 2015; seed 000"),
    )
}


def get_family(name: str) -> FamilySpec:
    try:
        return FAMILIES[name]
    except KeyError:
        raise GVError(f"unknown family '{name}': choose one of {', '.join(FAMILIES)}") from None


# --- config resolution --------------------------------------------------------------------------


def _positive(name: str, value: float | int | None, allow_zero: bool = False) -> None:
    if value is None:
        return
    if value < 0 or (value == 0 and not allow_zero):
        raise GVError(f"bad {name} {value}: must be {'>= 0' if allow_zero else '> 0'}")


def resolve_config(config: Config) -> Config:
    """Validate a config and fill in the family defaults; returns a new, concrete Config."""
    cfg = config.copy()
    spec = get_family(cfg.family)
    dspec = datamod.get_spec(cfg.data.name)
    cfg.data.image_size = datamod.check_image_size(dspec, cfg.data.image_size)
    m, o, t = cfg.model, cfg.optim, cfg.train
    if m.architecture is None:
        m.architecture = spec.default_architecture(dspec.channels)
    if m.architecture not in ARCHITECTURES:
        raise GVError(f"bad model.architecture '{m.architecture}': choose one of {', '.join(ARCHITECTURES)}")
    for key, value in spec.defaults.items():
        if get_value(cfg, key) is None:
            set_value(cfg, key, value)
    if o.lr_discriminator is None and spec.kind == "gan":
        o.lr_discriminator = o.lr
    if m.reconstruction not in RECONSTRUCTIONS:
        raise GVError(f"bad model.reconstruction '{m.reconstruction}': choose one of {', '.join(RECONSTRUCTIONS)}")
    _positive("learning rate (optim.lr)", o.lr)
    _positive("optim.lr_discriminator", o.lr_discriminator)
    _positive("batch size (train.batch_size)", t.batch_size)
    _positive("model.latent_dim", m.latent_dim)
    _positive("model.conv_width", m.conv_width)
    _positive("model.decoder_std", m.decoder_std)
    _positive("model.kl_weight", m.kl_weight, allow_zero=True)
    _positive("model.kl_warmup", m.kl_warmup, allow_zero=True)
    _positive("model.kl_weight_start", m.kl_weight_start, allow_zero=True)
    _positive("model.label_scale", m.label_scale)
    _positive("model.leaky_slope", m.leaky_slope, allow_zero=True)
    _positive("train.r1_gamma", t.r1_gamma, allow_zero=True)
    _positive("optim.weight_decay", o.weight_decay, allow_zero=True)
    _positive("train.log_every", t.log_every)
    _positive("train.eval_every", t.eval_every, allow_zero=True)
    _positive("train.threads", t.threads, allow_zero=True)
    _positive("eval.num_samples", cfg.eval.num_samples)
    for name, value in (("optim.beta1", o.beta1), ("optim.beta2", o.beta2)):
        if not 0.0 <= value < 1.0:
            raise GVError(f"bad {name} {value}: must be in [0, 1)")
    if not 0.0 <= m.dropout < 1.0:
        raise GVError(f"bad model.dropout {m.dropout}: must be in [0, 1)")
    if not 0.0 <= t.label_smoothing < 0.5:
        raise GVError(f"bad train.label_smoothing {t.label_smoothing}: must be in [0, 0.5)")
    check_budget(t)
    if all(getattr(t, kind) is None for kind in BUDGET_KINDS):
        t.epochs = DEFAULT_EPOCHS
    if t.device not in ("auto", "cpu", "cuda") and not t.device.startswith("cuda:"):
        raise GVError(f"bad device '{t.device}': use auto, cpu, cuda or cuda:N")
    return cfg


# --- models -------------------------------------------------------------------------------------


class GenerativeModel(nn.Module, metaclass=abc.ABCMeta):
    """What every family offers. Subclasses set ``kind`` and build their two networks."""

    kind: ClassVar[str]

    def __init__(self, spec: FamilySpec, config: Config, image_shape: tuple[int, int, int], num_classes: int):
        super().__init__()
        self.spec = spec
        self.config = config
        self.image_shape = tuple(image_shape)
        self.num_classes = num_classes
        self.latent_dim = int(config.model.latent_dim)  # type: ignore[arg-type]
        self.conditional = spec.conditional

    # -- helpers shared by both kinds
    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def one_hot(self, labels: Tensor | None) -> Tensor | None:
        """Class indices (N,) -> one-hot (N, classes); soft labels (N, classes) pass through, which
        lets a conditional model be asked for a blend of two classes."""
        if not self.conditional:
            return None
        if labels is None:
            raise ValueError(f"family {self.spec.name} is conditional: labels are required")
        if labels.dtype.is_floating_point and labels.dim() == 2:
            return labels.to(torch.float32)
        return F.one_hot(labels, self.num_classes).to(torch.float32)

    def join_label(self, z: Tensor, labels: Tensor | None) -> Tensor:
        """The generator's / decoder's input: z, with the one-hot label times model.label_scale
        appended for conditional families. Adam moves every weight by about lr a step whatever its
        input's size, so a label of size s steers the first layer s times faster: the decoder takes
        the class from the label before the latent has learnt to carry it (see FAMILY_DEFAULTS)."""
        onehot = self.one_hot(labels)
        return z if onehot is None else torch.cat([z, onehot * self.config.model.label_scale], dim=1)

    def sample_latent(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """Standard-normal latents, drawn on the CPU so a seed gives the same z on any device."""
        return torch.randn(n, self.latent_dim, generator=generator).to(self.device)

    def balanced_labels(self, n: int) -> Tensor | None:
        if not self.conditional:
            return None
        return torch.arange(n, device=self.device) % self.num_classes

    @torch.no_grad()
    def sample(self, n: int, labels: Tensor | None = None, generator: torch.Generator | None = None) -> Tensor:
        """n images in [-1, 1], in eval mode (dropout off, BatchNorm running stats)."""
        was_training = self.training
        self.eval()
        try:
            z = self.sample_latent(n, generator)
            if self.conditional and labels is None:
                labels = self.balanced_labels(n)
            return self.generate(z, None if labels is None else labels.to(self.device))
        finally:
            self.train(was_training)

    def parameter_counts(self) -> dict[str, int]:
        return {name: count_parameters(net) for name, net in self.networks().items()}

    @abc.abstractmethod
    def networks(self) -> dict[str, nn.Module]:
        """The two networks by name: generator/discriminator or encoder/decoder."""

    @abc.abstractmethod
    def make_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """Fresh optimizers, by name, as the config asks."""

    @abc.abstractmethod
    def train_step(self, images: Tensor, labels: Tensor, optimizers: dict[str, torch.optim.Optimizer]) -> dict[str, Tensor]:
        """One optimisation step on a batch; returns detached scalar losses by name."""

    @abc.abstractmethod
    def generate(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        """Images in [-1, 1] from latents (and labels for conditional families)."""


def _adam(params, lr: float, o) -> torch.optim.Optimizer:
    # The fused kernel updates every parameter in one pass: ~20% faster DCGAN steps on CPU, where
    # the unfused Adam's elementwise passes over 8M parameters rival the convolutions.
    return torch.optim.Adam(params, lr=lr, betas=(o.beta1, o.beta2), weight_decay=o.weight_decay, fused=True)


class GANModel(GenerativeModel):
    kind = "gan"

    def __init__(self, spec: FamilySpec, config: Config, image_shape: tuple[int, int, int], num_classes: int):
        super().__init__(spec, config, image_shape, num_classes)
        m = config.model
        extra = num_classes if spec.conditional else 0
        self.generator = VectorToImage(self.latent_dim + extra, self.image_shape, m.architecture, "gan",
                                       m.leaky_slope, m.conv_width)
        self.discriminator = ImageToVector(self.image_shape, extra, 1, m.architecture, "gan",
                                           m.leaky_slope, 0.0, m.conv_width)
        self.loss = ADVERSARIAL_LOSSES[spec.loss]
        self.real_target = 1.0 - config.train.label_smoothing
        self.r1_gamma = float(config.train.r1_gamma or 0.0)

    def networks(self) -> dict[str, nn.Module]:
        return {"generator": self.generator, "discriminator": self.discriminator}

    def make_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        o = self.config.optim
        return {
            "generator": _adam(self.generator.parameters(), o.lr, o),
            "discriminator": _adam(self.discriminator.parameters(), o.lr_discriminator or o.lr, o),
        }

    def generate(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        return torch.tanh(self.generator(self.join_label(z, labels)))

    def discriminate(self, images: Tensor, labels: Tensor | None = None) -> Tensor:
        return self.discriminator(images, self.one_hot(labels)).squeeze(1)

    def train_step(self, images: Tensor, labels: Tensor, optimizers: dict[str, torch.optim.Optimizer]) -> dict[str, Tensor]:
        labels_or_none = labels if self.conditional else None
        # Discriminator phase: real batch vs one batch of fakes (fakes carry the real labels, so a
        # conditional discriminator sees the data's class mix on both sides).
        z = torch.randn(images.shape[0], self.latent_dim, device=images.device)
        fake = self.generate(z, labels_or_none)
        d_real = self.discriminate(images, labels_or_none)
        d_fake = self.discriminate(fake.detach(), labels_or_none)
        d_loss = self.loss.discriminator(d_real, d_fake, self.real_target)
        optimizers["discriminator"].zero_grad(set_to_none=True)
        d_loss.backward()
        optimizers["discriminator"].step()
        if self.r1_gamma:
            # R1 (Mescheder et al. 2018) as its own step, like StyleGAN2's lazy regularisation at
            # interval 1: a discriminator kept flat around the real images can't push the generator
            # off them, which keeps the MLP GANs from collapsing onto a few digits in their first
            # steps (measured at step 1,000 over 4 seeds: 10 of 10 classes in 3-4 of them, 2-6
            # classes without it; the weights come from the defaults study, see TRAINING_DEFAULTS).
            # (the gradient is taken at a non-leaf copy: torch's FLOP counter can't follow grad() to a leaf)
            real = images.detach().requires_grad_(True).clone()
            (grad,) = torch.autograd.grad(self.discriminate(real, labels_or_none).sum(), real, create_graph=True)
            penalty = 0.5 * self.r1_gamma * grad.pow(2).flatten(1).sum(1).mean()
            optimizers["discriminator"].zero_grad(set_to_none=True)
            penalty.backward()
            optimizers["discriminator"].step()

        # Generator phase on the same fakes (as PyTorch's DCGAN example). The discriminator is
        # frozen meanwhile so backward skips its weight gradients, which would be thrown away.
        self.discriminator.requires_grad_(False)
        g_out = self.discriminate(fake, labels_or_none)
        g_loss = self.loss.generator(g_out)
        optimizers["generator"].zero_grad(set_to_none=True)
        g_loss.backward()
        optimizers["generator"].step()
        self.discriminator.requires_grad_(True)

        with torch.no_grad():
            return {
                "loss/discriminator": d_loss.detach(),
                "loss/generator": g_loss.detach(),
                "d_real": self.loss.to_score(d_real).mean(),
                "d_fake": self.loss.to_score(d_fake).mean(),
            }


class VAEModel(GenerativeModel):
    kind = "vae"

    def __init__(self, spec: FamilySpec, config: Config, image_shape: tuple[int, int, int], num_classes: int):
        super().__init__(spec, config, image_shape, num_classes)
        m = config.model
        extra = num_classes if spec.conditional else 0
        self.encoder = ImageToVector(self.image_shape, extra, 2 * self.latent_dim, m.architecture, "vae",
                                     m.leaky_slope, m.dropout, m.conv_width)
        self.decoder = VectorToImage(self.latent_dim + extra, self.image_shape, m.architecture, "vae",
                                     m.leaky_slope, m.conv_width)
        self.reconstruction = m.reconstruction
        self.decoder_std = m.decoder_std
        self.kl_weight = m.kl_weight
        self.kl_weight_start = float(m.kl_weight_start or 0.0)
        self.kl_warmup = int(m.kl_warmup or 0)
        # Training steps taken, for the KL warm-up; a buffer, so checkpoints and resumes carry it.
        self.register_buffer("steps_taken", torch.zeros((), dtype=torch.long))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # Checkpoints from before the warm-up existed trained without one: count it as done.
        state_dict.setdefault(prefix + "steps_taken", torch.tensor(self.kl_warmup, dtype=torch.long))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def kl_weight_now(self) -> Tensor | float:
        """The KL weight now: kl_weight_start moving linearly to kl_weight over the warm-up (a
        tensor during it: no device sync), then kl_weight."""
        if not self.kl_warmup:
            return self.kl_weight
        progress = (self.steps_taken.float() / self.kl_warmup).clamp(max=1.0)
        return self.kl_weight_start + (self.kl_weight - self.kl_weight_start) * progress

    def networks(self) -> dict[str, nn.Module]:
        return {"encoder": self.encoder, "decoder": self.decoder}

    def make_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"vae": _adam(self.parameters(), self.config.optim.lr, self.config.optim)}

    def encode(self, images: Tensor, labels: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """q(z|x): (mean, log-variance), each (N, latent_dim)."""
        mu, logvar = self.encoder(images, self.one_hot(labels)).chunk(2, dim=1)
        return mu, logvar

    def decode_logits(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        return self.decoder(self.join_label(z, labels))

    def decode(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        """The decoder's mean image, in [-1, 1]."""
        return torch.sigmoid(self.decode_logits(z, labels)) * 2.0 - 1.0

    generate = decode

    def negative_elbo(self, images: Tensor, labels: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Per-image (reconstruction NLL, KL) in nats, one reparameterised sample each: (N,), (N,)."""
        mu, logvar = self.encode(images, labels)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)  # reparameterisation trick
        logits = self.decode_logits(z, labels)
        recon = reconstruction_nll(logits, (images + 1.0) * 0.5, self.reconstruction, self.decoder_std)
        kl = gaussian_kl(mu, logvar).sum(1)
        return recon, kl

    def train_step(self, images: Tensor, labels: Tensor, optimizers: dict[str, torch.optim.Optimizer]) -> dict[str, Tensor]:
        recon, kl = self.negative_elbo(images, labels if self.conditional else None)
        recon, kl = recon.mean(), kl.mean()
        # Reported: the objective at full KL weight (the negative ELBO when kl_weight is 1), so a
        # run's loss curve doesn't jump when the warm-up ends; optimised: the warmed-up one.
        loss = recon + self.kl_weight * kl
        warmed = recon + self.kl_weight_now() * kl
        optimizers["vae"].zero_grad(set_to_none=True)
        warmed.backward()
        optimizers["vae"].step()
        self.steps_taken += 1
        return {"loss/total": loss.detach(), "loss/reconstruction": recon.detach(), "loss/kl": kl.detach()}


MODEL_CLASSES: dict[str, type[GenerativeModel]] = {"gan": GANModel, "vae": VAEModel}


def build_model(config: Config) -> GenerativeModel:
    """Build the (untrained, CPU) model a resolved config describes."""
    spec = get_family(config.family)
    dspec = datamod.get_spec(config.data.name)
    shape = dspec.image_shape(config.data.image_size)
    return MODEL_CLASSES[spec.kind](spec, config, shape, dspec.num_classes)


def describe_nets(model: GenerativeModel) -> str:
    """A short human description of the two networks, for `gv families`."""
    parts = []
    for name, net in model.networks().items():
        linear = [m for m in net.modules() if isinstance(m, nn.Linear)]
        convs = [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
        if convs:
            layers = " -> ".join(
                f"{'ConvT' if isinstance(c, nn.ConvTranspose2d) else 'Conv'} {c.out_channels}" for c in convs
            )
            fcs = " -> ".join(str(lin.out_features) for lin in linear)
            parts.append(f"{name}: {layers}" + (f" | FC {fcs}" if fcs else ""))
        else:
            sizes = [linear[0].in_features] + [lin.out_features for lin in linear]
            parts.append(f"{name}: " + " -> ".join(map(str, sizes)))
    return "; ".join(parts)
