"""The six model families as data, and a run's config resolved against its family.

A family is data (:class:`FamilySpec`): its kind (GAN or VAE), whether it is conditional, its
default architecture and, for GANs, its adversarial loss. LSGAN is GAN with the least-squares
loss; DCGAN is GAN with the dcgan nets; CGAN and CVAE are GAN and VAE with a one-hot label joined
to their inputs. The two model classes that implement every family are in :mod:`gvcore.models`.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import data as datamod
from .budget import check_budget
from .config import BUDGET_KINDS, DEFAULT_EPOCHS, FAMILY_DEFAULTS, TRAINING_DEFAULTS, Config, get_value, set_value
from .errors import GVError
from .losses import RECONSTRUCTIONS
from .nets import ARCHITECTURES


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
        generator loss for GANs, the negative ELBO for VAEs. Not comparable across kinds (IJzer report)."""
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
        FamilySpec(
            "gan",
            "gan",
            False,
            "mlp",
            "bce",
            "MLP GAN, non-saturating BCE loss",
            "Goodfellow et al. 2014; Mafunu report figs 3.1-3.2",
        ),
        FamilySpec(
            "lsgan",
            "gan",
            False,
            "mlp",
            "least_squares",
            "the GAN nets with least-squares losses",
            "Mao et al. 2017; Mafunu report",
        ),
        FamilySpec(
            "dcgan",
            "gan",
            False,
            "dcgan",
            "bce",
            "convolutional GAN: ConvT generator, conv + max-pool discriminator",
            "Radford et al. 2015; Mafunu report figs 3.3-3.4",
        ),
        FamilySpec(
            "cgan",
            "gan",
            True,
            "mlp",
            "bce",
            "label-conditioned GAN: one-hot label joined to z and to the discriminator input",
            "Mirza & Osindero 2014; Hawkins report",
        ),
        FamilySpec(
            "vae",
            "vae",
            False,
            "mlp",
            "elbo",
            "MLP VAE: reconstruction + KL, reparameterisation trick",
            "Kingma & Welling 2013; IJzer report table 2",
        ),
        FamilySpec(
            "cvae",
            "vae",
            True,
            "mlp",
            "elbo",
            "the VAE with a one-hot label joined to the image and to z",
            "Sohn et al. 2015; Mafunu report",
        ),
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
    _positive("data.max_pixels", cfg.data.max_pixels)
    dspec = datamod.get_spec(cfg.data.name, cfg.data.max_pixels)
    cfg.data.image_size = datamod.check_image_size(dspec, cfg.data.image_size)
    cfg.data.channels = datamod.check_channels(dspec, cfg.data.channels)
    if spec.conditional and not dspec.num_classes:
        unconditional = ", ".join(name for name, family in FAMILIES.items() if not family.conditional)
        raise GVError(
            f"family {spec.name} needs labelled images, and {dspec.name} has no classes (its images lie directly "
            f"in the folder): put each class's images in a sub-folder named after it, or choose {unconditional}"
        )
    m, o, t = cfg.model, cfg.optim, cfg.train
    if m.architecture is None:
        m.architecture = spec.default_architecture(cfg.data.channels)
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
    _positive("model.encoder_label_scale", m.encoder_label_scale)
    _positive("model.free_bits", m.free_bits, allow_zero=True)
    _positive("model.leaky_slope", m.leaky_slope, allow_zero=True)
    _positive("train.r1_gamma", t.r1_gamma, allow_zero=True)
    if t.ema_decay is not None and not 0.0 <= t.ema_decay < 1.0:
        raise GVError(f"bad train.ema_decay {t.ema_decay}: give a decay in [0, 1) (0.99; 0 = off)")
    _positive("optim.weight_decay", o.weight_decay, allow_zero=True)
    _positive("train.log_every", t.log_every)
    _positive("train.eval_every", t.eval_every, allow_zero=True)
    _positive("train.threads", t.threads, allow_zero=True)
    _positive("eval.num_samples", cfg.eval.num_samples)
    for name, beta in (("optim.beta1", o.beta1), ("optim.beta2", o.beta2)):
        if beta is not None and not 0.0 <= beta < 1.0:
            raise GVError(f"bad {name} {beta}: must be in [0, 1)")
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
