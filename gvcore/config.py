"""Run configuration: nested dataclasses that round-trip to JSON and take dotted overrides.

``Config`` is everything needed to rebuild a model and repeat a run. Fields left at ``None`` mean
"the family's default" (latent size, Adam beta1, architecture) and are filled in by
:func:`gvcore.families.resolve_config`, so ``config.json`` always holds concrete values.

Overrides use dotted keys, ``optim.lr=1e-3``; values are parsed by the field's declared type and
unknown keys are rejected with the list of valid ones.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass, field
from typing import Any, TypeVar

from .errors import GVError

T = TypeVar("T")

# Training defaults by kind, as dotted config keys; the Config fields are None = "the family's
# default". The design reports fix the architectures (docs/references.md); these settings were chosen
# by measurement on mnist-5k, each in its study file (tables, commands, the rule that picked it):
# * GAN lr 1e-3, beta1 0.5, LeakyReLU 0.01, z of 100 (the Mafunu report): docs/studies/gan-defaults.md
# * R1 weight, discriminator lr, batch size: docs/studies/gan-defaults.md
# * VAE lr, KL warm-up, LeakyReLU 0.2, dropout 0: docs/studies/vae-defaults.md
# * CVAE label size, KL weight at start, free bits: docs/studies/cvae-label.md
# * weight average (ema_decay), the CVAE encoder's label size: docs/studies/weight-average.md,
#   re-checked on realism (VAEs: off) in docs/studies/defaults-on-realism.md
TRAINING_DEFAULTS: dict[str, dict[str, float | int]] = {
    "gan": {
        "optim.lr": 1e-3,
        "optim.beta1": 0.5,
        "model.latent_dim": 100,
        "model.leaky_slope": 0.01,
        "model.kl_warmup": 0,
        "model.kl_weight_start": 0.0,
        "model.label_scale": 1.0,
        "model.encoder_label_scale": 1.0,
        "train.r1_gamma": 30.0,
        "train.ema_decay": 0.99,
        "model.free_bits": 0.0,
    },
    "vae": {
        "optim.lr": 5e-4,
        "optim.beta1": 0.9,
        "model.latent_dim": 20,
        "model.leaky_slope": 0.2,
        "model.kl_warmup": 2000,
        "model.kl_weight_start": 0.0,
        "model.label_scale": 1.0,
        "model.encoder_label_scale": 1.0,
        "train.r1_gamma": 0.0,
        # Off: the average's samples are 7-10% less realistic (docs/studies/defaults-on-realism.md);
        # 0.999 gains 4 nats of test nELBO (docs/studies/weight-average.md).
        "train.ema_decay": 0.0,
        "model.free_bits": 0.0,
    },
}
# Where one family departs from its kind's row.
FAMILY_DEFAULTS: dict[str, dict[str, float | int]] = {
    "lsgan": {"train.r1_gamma": 100.0},  # R1 weight: docs/studies/gan-defaults.md
    "dcgan": {"train.r1_gamma": 0.0},  # draws every class without it; its conv R1 is not measured
    # Follows its label, latent kept in use: docs/studies/cvae-label.md; encoder's label: docs/studies/weight-average.md
    "cvae": {
        "model.label_scale": 10.0,
        "model.encoder_label_scale": 10.0,
        "model.kl_weight_start": 1.0,
        "model.free_bits": 0.5,
    },
}
# Keys added after gv first saved configs, with what their absence meant (the kind rows' values
# when the key came in): a model saved before a key existed trained that way, and a default
# changed since must not change an old model.
ADDED_KEYS: dict[str, float] = {
    "model.kl_weight_start": 0.0,
    "model.label_scale": 1.0,
    "train.ema_decay": 0.0,
    "model.free_bits": 0.0,
    "model.encoder_label_scale": 1.0,
}


# Keys renamed since gv first saved configs: old -> new. An old name is read as the new one wherever
# a key is named (a checkpoint's or leaderboard's config, a sweep file, --set), so nothing saved breaks.
RENAMED_KEYS: dict[str, str] = {"train.generator_ema": "train.ema_decay"}


@dataclass
class DataConfig:
    # A built-in dataset, or a folder of images (a path, stored absolute; or an s3:// / gs:// URI).
    name: str = "mnist-5k"
    # Where torchvision datasets are downloaded / looked for; "" = $GV_DATA_DIR or ~/.cache/gv/data.
    data_dir: str = ""
    # Side length for datasets whose images vary in size (imagenette, folders); 0 = the dataset's default.
    image_size: int = 0
    # Image channels: 0 = the dataset's own (a folder: grey when every image is grey, else RGB), 1 or 3 converts.
    channels: int = 0
    # Largest image (width x height) gv decodes from a folder: a bigger one is refused before it is
    # decompressed (decompression bombs). Pillow's own warning threshold.
    max_pixels: int = 89_478_485


@dataclass
class ModelConfig:
    # None = the family's default: "mlp" for GAN/LSGAN/CGAN/VAE/CVAE on 1-channel data, "conv" on
    # 3-channel data, "dcgan" for DCGAN.
    architecture: str | None = None
    # None = the family's default (100 for GANs, 20 for VAEs; IJzer report table 1).
    latent_dim: int | None = None
    # Negative slope of every LeakyReLU; None = the family's default (0.01 for GANs as the Mafunu report
    # specifies, 0.2 for VAEs: measured, see TRAINING_DEFAULTS above).
    leaky_slope: float | None = None
    # Dropout in the VAE encoder; the IJzer report's 0.3 is off unless asked for: docs/studies/vae-defaults.md
    dropout: float = 0.0
    # Base channel count of the "conv" architecture (3-channel datasets).
    conv_width: int = 64
    # VAE likelihood: "bernoulli" (BCE) or "gaussian" (MSE with a fixed decoder std).
    reconstruction: str = "bernoulli"
    # Std of the Gaussian decoder; sqrt(0.5) makes the loss exactly "sum of squared errors + KL".
    decoder_std: float = 0.7071067811865476
    # Weight of the KL term (1.0 = the ELBO; other values give a beta-VAE).
    kl_weight: float = 1.0
    # KL warm-up: the KL weight rises linearly from 0 to kl_weight over this many steps, so the
    # encoder learns to use the latent before the KL term pulls it to the prior; None = the
    # family's default (2,000 steps for VAEs), 0 = off.
    kl_warmup: int | None = None
    # The KL weight at step 0, from which it moves linearly to kl_weight over kl_warmup steps (with
    # kl_warmup 0 it is kl_weight throughout): 0 is a warm-up, kl_weight none, above it an anneal
    # down. None = the family's default (0; 1 for the CVAE).
    kl_weight_start: float | None = None
    # Free bits (Kingma et al. 2016): in training, each latent dimension's KL (averaged over the
    # batch) is charged as at least this many nats, so a dimension below it gets no pull towards
    # the prior and stays in use. The reported KL and every metric are the true one. None = the
    # family's default (0 = off; 0.5 for the CVAE), 0 = off.
    free_bits: float | None = None
    # Conditional families: the value of the one-hot label where it joins z at the generator's or
    # decoder's input (the hot entry; 1 = a plain one-hot). None = the family's default (1; 10 for
    # the CVAE).
    label_scale: float | None = None
    # The same for the label the CVAE's encoder reads beside the image. None = the family's
    # default (1; 10 for the CVAE: its encoder then gives the class less room in z, see
    # TRAINING_DEFAULTS). The GAN discriminator's label is always a plain one-hot.
    encoder_label_scale: float | None = None


@dataclass
class OptimConfig:
    # None = the family's default: 1e-3 for GANs as in the Mafunu report (with it DCGAN draws digits after 5
    # epochs of mnist-5k; the IJzer report's 2e-4 is a 100-200-epoch setting), 5e-4 for VAEs (measured).
    lr: float | None = None
    # Discriminator learning rate; None = lr (set it for the two-time-scale update rule).
    lr_discriminator: float | None = None
    # None = the family's default: 0.5 for GANs (DCGAN paper), 0.9 for VAEs.
    beta1: float | None = None
    beta2: float = 0.999
    weight_decay: float = 0.0


# The budget of a run that names none of BUDGET_KINDS.
DEFAULT_EPOCHS = 10
# The train.* fields that are a run's budget; a run sets at most one (gvcore/budget.py reads them).
BUDGET_KINDS = ("epochs", "steps", "flops", "seconds")


@dataclass
class TrainConfig:
    batch_size: int = 64
    # Budget: at most one of epochs / steps / flops / seconds (all None = DEFAULT_EPOCHS).
    epochs: int | None = None
    steps: int | None = None
    # Training FLOPs: steps = flops // (FLOPs of one train_step, counted by torch at the start).
    # Equal FLOPs, not equal steps, is a fair comparison of families of different sizes.
    flops: float | None = None
    # Seconds of training (evaluations excluded), checked every step: machine dependent.
    seconds: float | None = None
    seed: int = 0
    device: str = "auto"
    # Losses are averaged and written to metrics.jsonl every log_every steps.
    log_every: int = 25
    # Checkpoint + sample grid + evaluation metrics every eval_every steps; 0 = once per epoch, but
    # at least 10,000 training images apart (mnist-5k: every 3 epochs).
    eval_every: int = 0
    # One-sided label smoothing for the BCE discriminator's real targets (0 = off).
    label_smoothing: float = 0.0
    # R1 penalty on the discriminator (Mescheder et al. 2018): gamma/2 * |grad_x D(x)|^2 on real
    # images, a discriminator step of its own every step. None = the family's default (see
    # TRAINING_DEFAULTS); 0 = off.
    r1_gamma: float | None = None
    # Samples and metrics come from an exponential moving average of the weights, this decay a step
    # (warmed up: min(decay, (1 + n) / (10 + n)) at update n; Yazici et al. 2019; StyleGAN, BigGAN):
    # a GAN's generator, a VAE's encoder and decoder. Training uses the live nets. None = the
    # family's default (0.99 GANs, 0.999 VAEs); 0 = off (the live nets).
    ema_decay: float | None = None
    # torch threads for this run; 0 = leave torch's default.
    threads: int = 0


@dataclass
class EvalConfig:
    # Metrics computed at every eval interval, comma-separated (see docs/metrics.md); "auto" = the
    # cheap set for the family (fid, realism and combined, plus label_acc for cgan/cvae and nelbo for
    # vae/cvae), reported as eval/<key>; "" = none (losses and samples only).
    metrics: str = "auto"
    # Generated images per in-training evaluation.
    num_samples: int = 2000


@dataclass
class Config:
    family: str = "dcgan"
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    # --- serialisation -------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), **kwargs)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Config:
        config = cls()
        for key, value in flatten(data).items():
            set_value(config, key, value)
        return config

    @classmethod
    def from_saved(cls, data: dict[str, Any]) -> Config:
        """A config gv saved (a checkpoint's): keys it predates take the value their absence meant
        (ADDED_KEYS), not today's default."""
        saved = {RENAMED_KEYS.get(k, k): v for k, v in flatten(data).items()}
        return cls.from_dict({**{k: v for k, v in ADDED_KEYS.items() if k not in saved}, **saved})

    @classmethod
    def from_json(cls, text: str) -> Config:
        return cls.from_dict(json.loads(text))

    def copy(self) -> Config:
        return Config.from_dict(self.to_dict())


def resolved(value: T | None, key: str) -> T:
    """A field that ``resolve_config`` has filled in (the family's default), for code that builds models."""
    if value is None:
        raise AssertionError(f"{key} is unset: call gvcore.families.resolve_config first")
    return value


def flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"optim": {"lr": 1}} -> {"optim.lr": 1}."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, name + "."))
        else:
            out[name] = value
    return out


def valid_keys(obj: Any = None, prefix: str = "") -> list[str]:
    """Every dotted key a Config accepts, in declaration order."""
    obj = Config() if obj is None else obj
    keys: list[str] = []
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value):
            keys.extend(valid_keys(value, f"{prefix}{f.name}."))
        else:
            keys.append(f"{prefix}{f.name}")
    return keys


def _field_types(obj: Any) -> dict[str, Any]:
    return typing.get_type_hints(type(obj))


def _locate(config: Config, key: str) -> tuple[Any, str, Any]:
    """The dataclass instance that holds ``key``'s last part, that part, and its declared type."""
    key = RENAMED_KEYS.get(key, key)
    parts = key.split(".")
    target: Any = config
    for i, part in enumerate(parts):
        names = [f.name for f in dataclasses.fields(target)]
        if part not in names:
            where = ".".join(parts[:i])
            options = [n for n in names]
            hint = f" under '{where}'" if where else ""
            raise GVError(
                f"unknown config key '{key}': valid keys{hint} are {', '.join(options)}"
                " (see `gv config` for the full list)"
            )
        if i == len(parts) - 1:
            if dataclasses.is_dataclass(getattr(target, part)):
                sub = ", ".join(f"{key}.{k}" for k in valid_keys(getattr(target, part)))
                raise GVError(f"config key '{key}' is a section, not a value: set one of {sub}")
            return target, part, _field_types(target)[part]
        target = getattr(target, part)
        if not dataclasses.is_dataclass(target):
            raise GVError(f"unknown config key '{key}': '{'.'.join(parts[: i + 1])}' is a value, not a section")
    raise AssertionError("unreachable")


def _allowed(tp: Any) -> tuple[tuple[type, ...], bool]:
    """(concrete types, whether None is allowed) of a field annotation."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        return tuple(a for a in args if a is not type(None)), type(None) in args
    return (tp,), False


def parse_value(key: str, text: str, tp: Any) -> Any:
    """Parse a command-line string for a field of type ``tp``."""
    kinds, nullable = _allowed(tp)
    if nullable and text.strip().lower() in ("none", "null", "default", ""):
        return None
    kind = kinds[0]
    try:
        if kind is bool:
            low = text.strip().lower()
            if low in ("1", "true", "yes", "on"):
                return True
            if low in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if kind is int:
            as_float = float(text)
            if not as_float.is_integer():
                raise ValueError
            return int(as_float)
        if kind is float:
            return float(text)
        return kind(text)
    except ValueError:
        raise GVError(f"bad value '{text}' for '{key}': expected {_type_name(tp)}") from None


def _type_name(tp: Any) -> str:
    kinds, nullable = _allowed(tp)
    names = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}
    text = " or ".join(names.get(k, k.__name__) for k in kinds)
    return text + (" or none" if nullable else "")


def coerce_value(key: str, value: Any, tp: Any) -> Any:
    """Check a typed value (from JSON or YAML) against a field type, converting int -> float."""
    kinds, nullable = _allowed(tp)
    if value is None:
        if nullable:
            return None
        raise GVError(f"bad value None for '{key}': expected {_type_name(tp)}")
    if isinstance(value, str) and str not in kinds:
        return parse_value(key, value, tp)
    for kind in kinds:
        if kind is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if kind is int and isinstance(value, float) and value.is_integer():
            return int(value)
        if kind is bool and not isinstance(value, bool):
            continue
        if kind is int and isinstance(value, bool):
            continue
        if isinstance(value, kind):
            return value
    raise GVError(f"bad value {value!r} for '{key}': expected {_type_name(tp)}")


def set_value(config: Config, key: str, value: Any) -> None:
    """Set a dotted key to an already-typed value (validated against the field's type)."""
    target, name, tp = _locate(config, key)
    setattr(target, name, coerce_value(key, value, tp))


def get_value(config: Config, key: str) -> Any:
    target, name, _ = _locate(config, key)
    return getattr(target, name)


def apply_overrides(config: Config, overrides: list[str] | tuple[str, ...]) -> Config:
    """Apply ``key=value`` strings (from ``--set``) to a config, in order."""
    for item in overrides:
        if "=" not in item:
            raise GVError(f"malformed --set '{item}': expected key=value, e.g. --set optim.lr=1e-3")
        key, text = item.split("=", 1)
        key = key.strip()
        if not key:
            raise GVError(f"malformed --set '{item}': the key before '=' is empty")
        target, name, tp = _locate(config, key)
        setattr(target, name, parse_value(key, text.strip(), tp))
    return config
