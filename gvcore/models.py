"""The two model classes behind every family, and one small interface.

* :class:`GANModel` -- ``generator`` + ``discriminator`` (gan, lsgan, dcgan, cgan);
* :class:`VAEModel` -- ``encoder`` + ``decoder`` (vae, cvae).

Every model offers the same interface: ``make_optimizers``, ``train_step``, ``generate`` /
``sample``, and ``encode`` / ``decode`` for VAEs. Images are float in [-1, 1] on both sides of the
interface. Which family is which is data (:mod:`gvcore.families`).
"""

from __future__ import annotations

import abc
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn
from torch.optim.swa_utils import AveragedModel

from . import data as datamod
from .config import Config, resolved
from .families import FamilySpec, get_family
from .losses import ADVERSARIAL_LOSSES, gaussian_kl, reconstruction_nll
from .nets import ImageToVector, VectorToImage, count_parameters

Tensor = torch.Tensor


class GenerativeModel(nn.Module, metaclass=abc.ABCMeta):
    """What every family offers. Subclasses set ``kind`` and build their two networks."""

    kind: ClassVar[str]

    def __init__(self, spec: FamilySpec, config: Config, image_shape: tuple[int, int, int], num_classes: int):
        super().__init__()
        self.spec = spec
        self.config = config
        self.image_shape: tuple[int, int, int] = (int(image_shape[0]), int(image_shape[1]), int(image_shape[2]))
        self.num_classes = num_classes
        self.latent_dim = int(config.model.latent_dim)  # type: ignore[arg-type]
        self.conditional = spec.conditional
        # What both kinds' networks are built from: the label's width (conditional families take the
        # one-hot label beside the noise or the image), the body (mlp / conv) and the LeakyReLU slope.
        self.label_width = num_classes if spec.conditional else 0
        self.architecture = resolved(config.model.architecture, "model.architecture")
        self.leaky_slope = resolved(config.model.leaky_slope, "model.leaky_slope")

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        rename_old_keys(state_dict, prefix)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

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
        scale = resolved(self.config.model.label_scale, "model.label_scale")
        return z if onehot is None else torch.cat([z, onehot * scale], dim=1)

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
    def train_step(
        self, images: Tensor, labels: Tensor, optimizers: dict[str, torch.optim.Optimizer]
    ) -> dict[str, Tensor]:
        """One optimisation step on a batch; returns detached scalar losses by name."""

    @abc.abstractmethod
    def generate(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        """Images in [-1, 1] from latents (and labels for conditional families)."""


def _adam(params, lr: float, o) -> torch.optim.Optimizer:
    # The fused kernel updates every parameter in one pass: ~20% faster DCGAN steps on CPU, where
    # the unfused Adam's elementwise passes over 8M parameters rival the convolutions.
    return torch.optim.Adam(params, lr=lr, betas=(o.beta1, o.beta2), weight_decay=o.weight_decay, fused=True)


# Module names a checkpoint may use that were renamed since: old name -> new name.
RENAMED_MODULES = {"generator_ema.": "weight_average."}


def rename_old_keys(state_dict: dict[str, Tensor], prefix: str) -> None:
    """Move the weights of a renamed module (gv <= 0.1's ``generator_ema``) to today's name, in place."""
    for old, new in RENAMED_MODULES.items():
        for key in [k for k in state_dict if k.startswith(prefix + old)]:
            state_dict[prefix + new + key[len(prefix + old) :]] = state_dict.pop(key)


def moving_average(net: nn.Module, decay: float) -> AveragedModel | None:
    """An exponential moving average of ``net``'s weights and batch-norm statistics (None at decay
    0), updated by ``.update_parameters(net)`` after each step. torch's AveragedModel copies the
    weights at the first update; the n-th update after it moves each by 1 - min(decay,
    (1 + n) / (10 + n)) of the gap (TensorFlow's ExponentialMovingAverage warm-up): until the decay
    is reached the average spans about the last tenth of the steps taken, so a short run's average
    is not mostly its random initial weights."""
    if not decay:
        return None

    @torch.no_grad()
    def update(
        averaged: tuple[Tensor, ...] | list[Tensor],
        current: tuple[Tensor, ...] | list[Tensor],
        n_averaged: Tensor | int,
    ) -> None:
        if not averaged[0].is_floating_point():  # batch norm's step counters: keep the latest
            torch._foreach_copy_(list(averaged), list(current))
            return
        # A Python float (double precision, whatever the weights' dtype). Reading the count costs
        # no extra device sync: AveragedModel reads it on the host every update anyway.
        n = int(n_averaged)
        torch._foreach_lerp_(list(averaged), list(current), 1.0 - min(decay, (1.0 + n) / (10.0 + n)))

    return AveragedModel(net, multi_avg_fn=update, use_buffers=True).requires_grad_(False)


class GANModel(GenerativeModel):
    kind = "gan"

    def __init__(self, spec: FamilySpec, config: Config, image_shape: tuple[int, int, int], num_classes: int):
        super().__init__(spec, config, image_shape, num_classes)
        m = config.model
        extra, architecture, slope = self.label_width, self.architecture, self.leaky_slope
        self.generator = VectorToImage(
            self.latent_dim + extra, self.image_shape, architecture, "gan", slope, m.conv_width
        )
        self.discriminator = ImageToVector(self.image_shape, extra, 1, architecture, "gan", slope, 0.0, m.conv_width)
        self.loss = ADVERSARIAL_LOSSES[spec.loss]
        self.real_target = 1.0 - config.train.label_smoothing
        self.r1_gamma = float(config.train.r1_gamma or 0.0)
        # The generator samples are drawn from: a moving average of the trained one when
        # train.ema_decay is set.
        self.weight_average = moving_average(self.generator, float(config.train.ema_decay or 0.0))

    def networks(self) -> dict[str, nn.Module]:
        return {"generator": self.generator, "discriminator": self.discriminator}

    def make_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        o = self.config.optim
        lr = resolved(o.lr, "optim.lr")
        return {
            "generator": _adam(self.generator.parameters(), lr, o),
            "discriminator": _adam(self.discriminator.parameters(), o.lr_discriminator or lr, o),
        }

    @property
    def sampler(self) -> nn.Module:
        """The generator samples come from: its moving average when there is one."""
        return self.generator if self.weight_average is None else self.weight_average.module

    def generate(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        return self._generate(self.sampler, z, labels)

    def _generate(self, generator: nn.Module, z: Tensor, labels: Tensor | None) -> Tensor:
        return torch.tanh(generator(self.join_label(z, labels)))

    def discriminate(self, images: Tensor, labels: Tensor | None = None) -> Tensor:
        return self.discriminator(images, self.one_hot(labels)).squeeze(1)

    def train_step(
        self, images: Tensor, labels: Tensor, optimizers: dict[str, torch.optim.Optimizer]
    ) -> dict[str, Tensor]:
        labels_or_none = labels if self.conditional else None
        # Discriminator phase: real batch vs one batch of fakes (fakes carry the real labels, so a
        # conditional discriminator sees the data's class mix on both sides).
        z = torch.randn(images.shape[0], self.latent_dim, device=images.device)
        fake = self._generate(self.generator, z, labels_or_none)
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
        if self.weight_average is not None:
            # An average over the last ~1/(1 - decay) generators: one generator's samples lean
            # towards whichever digits the discriminator let it win lately; the average's don't
            # (docs/studies/weight-average.md).
            self.weight_average.update_parameters(self.generator)

        with torch.no_grad():
            return {
                "loss/discriminator": d_loss.detach(),
                "loss/generator": g_loss.detach(),
                "d_real": self.loss.to_score(d_real).mean(),
                "d_fake": self.loss.to_score(d_fake).mean(),
            }


class VAEModel(GenerativeModel):
    kind = "vae"
    steps_taken: Tensor  # a registered buffer

    def __init__(self, spec: FamilySpec, config: Config, image_shape: tuple[int, int, int], num_classes: int):
        super().__init__(spec, config, image_shape, num_classes)
        m = config.model
        extra, architecture, slope = self.label_width, self.architecture, self.leaky_slope
        self.encoder = ImageToVector(
            self.image_shape, extra, 2 * self.latent_dim, architecture, "vae", slope, m.dropout, m.conv_width
        )
        self.decoder = VectorToImage(
            self.latent_dim + extra, self.image_shape, architecture, "vae", slope, m.conv_width
        )
        self.reconstruction = m.reconstruction
        self.decoder_std = m.decoder_std
        self.kl_weight = m.kl_weight
        self.kl_weight_start = float(m.kl_weight_start or 0.0)
        self.kl_warmup = int(m.kl_warmup or 0)
        self.free_bits = float(m.free_bits or 0.0)
        # Training steps taken, for the KL warm-up; a buffer, so checkpoints and resumes carry it.
        self.register_buffer("steps_taken", torch.zeros((), dtype=torch.long))
        # With train.ema_decay set, every metric, sample and interpolation uses a moving
        # average of the encoder and decoder; training uses the live ones. The decoder is the
        # VAE's generator; the encoder is averaged with it so that the pair the ELBO scores match.
        self.weight_average = moving_average(self._averaged_nets(), float(config.train.ema_decay or 0.0))

    def _averaged_nets(self) -> nn.Module:
        """What the average averages: encoder and decoder, in one module (built afresh each time,
        so they are not registered twice)."""
        return nn.ModuleDict(self.networks())

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # Checkpoints from before the warm-up existed trained without one: count it as done.
        state_dict.setdefault(prefix + "steps_taken", torch.tensor(self.kl_warmup, dtype=torch.long))
        rename_old_keys(state_dict, prefix)
        average = prefix + "weight_average."
        if self.weight_average is not None and not any(key.startswith(average) for key in state_dict):
            # A VAE saved before VAEs had an average (train.ema_decay was set, and ignored):
            # the average starts as its live nets, as it sampled, and the next update copies them.
            for name in self.weight_average.module.state_dict():
                if prefix + name in state_dict:
                    state_dict[average + "module." + name] = state_dict[prefix + name]
            state_dict[average + "n_averaged"] = torch.zeros((), dtype=torch.long)
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
        trained = [p for net in self.networks().values() for p in net.parameters()]  # not the average's
        return {"vae": _adam(trained, resolved(self.config.optim.lr, "optim.lr"), self.config.optim)}

    @property
    def sampler(self) -> nn.Module:
        """The decoder samples come from: the moving average's when there is one."""
        return self.decoder if self.weight_average is None else self.weight_average.module["decoder"]  # type: ignore[index]

    @property
    def inference_encoder(self) -> nn.Module:
        """The encoder metrics and interpolations use: the moving average's when there is one."""
        return self.encoder if self.weight_average is None else self.weight_average.module["encoder"]  # type: ignore[index]

    def encode(self, images: Tensor, labels: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """q(z|x): (mean, log-variance), each (N, latent_dim)."""
        return self._encode(self.inference_encoder, images, labels)

    def _encode(self, encoder: nn.Module, images: Tensor, labels: Tensor | None) -> tuple[Tensor, Tensor]:
        onehot = self.one_hot(labels)
        # A CVAE's encoder reads the label too, at model.encoder_label_scale (its measured effect:
        # gvcore/config.py above TRAINING_DEFAULTS).
        if onehot is not None:
            onehot = onehot * resolved(self.config.model.encoder_label_scale, "model.encoder_label_scale")
        mu, logvar = encoder(images, onehot).chunk(2, dim=1)
        return mu, logvar

    def decode_logits(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        return self.sampler(self.join_label(z, labels))

    def decode(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        """The decoder's mean image, in [-1, 1]."""
        return torch.sigmoid(self.decode_logits(z, labels)) * 2.0 - 1.0

    generate = decode

    def negative_elbo(self, images: Tensor, labels: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Per-image (reconstruction NLL, KL) in nats, one reparameterised sample each: (N,), (N,)."""
        recon, kl = self._elbo_terms(self.inference_encoder, self.sampler, images, labels)
        return recon, kl.sum(1)

    def _elbo_terms(
        self, encoder: nn.Module, decoder: nn.Module, images: Tensor, labels: Tensor | None
    ) -> tuple[Tensor, Tensor]:
        """(reconstruction NLL (N,), KL per latent dimension (N, latent_dim)), in nats."""
        mu, logvar = self._encode(encoder, images, labels)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)  # reparameterisation trick
        logits = decoder(self.join_label(z, labels))
        recon = reconstruction_nll(logits, (images + 1.0) * 0.5, self.reconstruction, self.decoder_std)
        return recon, gaussian_kl(mu, logvar)

    def train_step(
        self, images: Tensor, labels: Tensor, optimizers: dict[str, torch.optim.Optimizer]
    ) -> dict[str, Tensor]:
        recon, kl_dims = self._elbo_terms(self.encoder, self.decoder, images, labels if self.conditional else None)
        recon, kl_dims = recon.mean(), kl_dims.mean(0)
        kl = kl_dims.sum()
        # Free bits: a dimension carrying less than free_bits nats is charged free_bits, which pulls
        # it nowhere. Without them the CVAE, its KL weight at 1 from the start, let half its 20
        # dimensions die early (10 in use against the VAE's 16) and paid for it in likelihood.
        charged = kl_dims.clamp(min=self.free_bits).sum() if self.free_bits else kl
        # Reported: the objective at full KL weight (the negative ELBO when kl_weight is 1), so a
        # run's loss curve doesn't jump when the warm-up ends; optimised: the warmed-up one.
        loss = recon + self.kl_weight * kl
        warmed = recon + self.kl_weight_now() * charged
        optimizers["vae"].zero_grad(set_to_none=True)
        warmed.backward()
        optimizers["vae"].step()
        self.steps_taken += 1
        if self.weight_average is not None:
            # On 5,000 digits the last steps are noisy: the average generalises better (measured
            # in gvcore/config.py above TRAINING_DEFAULTS).
            self.weight_average.update_parameters(self._averaged_nets())
        return {"loss/total": loss.detach(), "loss/reconstruction": recon.detach(), "loss/kl": kl.detach()}


MODEL_CLASSES: dict[str, type[GenerativeModel]] = {"gan": GANModel, "vae": VAEModel}


def build_model(config: Config) -> GenerativeModel:
    """Build the (untrained, CPU) model a resolved config describes."""
    spec = get_family(config.family)
    dspec = datamod.get_spec(config.data.name, config.data.max_pixels)
    shape = (config.data.channels or dspec.channels, *dspec.image_shape(config.data.image_size)[1:])
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
