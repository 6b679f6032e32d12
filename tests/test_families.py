"""The contract every registered family keeps, checked the same way for each one.

One test class, parametrized over ``gvcore.families.FAMILIES``: a family added to the registry is
held to all of it. Real models on real mnist-5k digits; batches of a few images and a handful of
steps, and one model per family stepped once and shared by the tests that only read it.
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from helpers import loss_lines, tiny_config

from gvcore.checkpoint import load_checkpoint, save_checkpoint
from gvcore.config import Config, get_value
from gvcore.data import get_spec, load_dataset, to_uint8, to_unit_range
from gvcore.families import FAMILIES, resolve_config
from gvcore.losses import gaussian_kl
from gvcore.models import GenerativeModel, build_model
from gvcore.sweep.trial_run import adopt_hyperparameters
from gvcore.trainer import Hooks, checkpoint_path, load_model, train

pytestmark = pytest.mark.usefixtures("one_torch_thread")

every_family = pytest.mark.parametrize("family", list(FAMILIES))
conditional_families = pytest.mark.parametrize("family", [f for f, s in FAMILIES.items() if s.conditional])
vae_families = pytest.mark.parametrize("family", [f for f, s in FAMILIES.items() if s.kind == "vae"])

NETWORKS = {"gan": ("generator", "discriminator"), "vae": ("encoder", "decoder")}
MNIST_SHAPE = (1, 28, 28)


def seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def labels_for(model: GenerativeModel, labels: torch.Tensor) -> torch.Tensor | None:
    """What a caller passes as labels: the labels for a conditional family, nothing otherwise."""
    return labels if model.conditional else None


@contextlib.contextmanager
def eval_mode(model: GenerativeModel) -> Iterator[None]:
    """Eval mode without gradients, then back to the mode the (shared) model was in."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        model.train(was_training)


def assert_identical(a: Any, b: Any, where: str = "") -> None:
    """Two state dicts (nested dicts / lists of tensors and numbers) hold the very same values."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and torch.equal(a, b), where
    elif isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), where
        for key in a:
            assert_identical(a[key], b[key], f"{where}/{key}")
    elif isinstance(a, (list, tuple)):
        assert isinstance(b, (list, tuple)) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_identical(x, y, f"{where}/{i}")
    else:
        assert a == b, where


@dataclass
class Stepped:
    """A family's model built from its defaults and trained one step on a real batch."""

    config: Config
    model: GenerativeModel
    optimizers: dict[str, torch.optim.Optimizer]
    before: dict[str, dict[str, torch.Tensor]]  # each network's weights before the step
    losses: dict[str, torch.Tensor]


@pytest.fixture(scope="module")
def batch() -> tuple[torch.Tensor, torch.Tensor]:
    """Eight real digits of eight different classes, as float images in [-1, 1] and labels."""
    digits = load_dataset("mnist-5k", "train")
    index = torch.stack([torch.nonzero(digits.labels == c)[0, 0] for c in range(8)])
    return digits.to_float()[index], digits.labels[index]


@pytest.fixture(scope="module")
def stepped(batch) -> Callable[[str], Stepped]:
    """Per family, built and stepped once on first use."""
    made: dict[str, Stepped] = {}

    def get(family: str) -> Stepped:
        if family not in made:
            torch.manual_seed(0)
            config = resolve_config(Config(family=family))
            model = build_model(config)
            model.train()
            optimizers = model.make_optimizers()
            before = {
                name: {k: v.clone() for k, v in net.state_dict().items()} for name, net in model.networks().items()
            }
            losses = model.train_step(*batch, optimizers)
            made[family] = Stepped(config, model, optimizers, before, losses)
        return made[family]

    return get


def contract_run(family: str) -> Config:
    """Four steps of four images, a checkpoint every two steps, no evaluation."""
    return tiny_config(family, steps=4, batch_size=4, eval_every=2)


class TestFamilyContract:
    @every_family
    def test_builds_from_its_resolved_defaults(self, family):
        spec = FAMILIES[family]
        config = resolve_config(Config(family=family))
        assert config.data.name == "mnist-5k"
        assert config.model.architecture == spec.default_architecture(MNIST_SHAPE[0])
        # Every training default the family names is filled in, and only where the config left None.
        assert all(get_value(config, key) == value for key, value in spec.defaults.items())
        pinned = resolve_config(Config.from_dict({"family": family, "optim": {"lr": 0.123}}))
        assert pinned.optim.lr == 0.123
        assert resolve_config(config) == config  # concrete: nothing left for the family to fill in
        model = build_model(config)
        assert model.spec is spec and model.kind == spec.kind
        assert model.image_shape == MNIST_SHAPE and model.num_classes == 10
        counts = model.parameter_counts()
        assert tuple(counts) == NETWORKS[spec.kind] and all(n > 0 for n in counts.values()), counts
        # The two networks are every trained parameter, and the optimizers train each once; the
        # only others are the moving average's: a frozen copy of a GAN's generator, of a VAE's
        # encoder and decoder.
        trained = [p for p in model.parameters() if p.requires_grad]
        assert sum(counts.values()) == sum(p.numel() for p in trained)
        optimized = [
            id(p) for opt in model.make_optimizers().values() for group in opt.param_groups for p in group["params"]
        ]
        assert sorted(optimized) == sorted(id(p) for p in trained)
        frozen = sum(p.numel() for p in model.parameters() if not p.requires_grad)
        averaged = counts["generator"] if spec.kind == "gan" else counts["encoder"] + counts["decoder"]
        assert frozen == (averaged if config.train.ema_decay else 0)

    @every_family
    def test_train_step_updates_both_networks_and_reports_its_finite_losses(self, family, stepped):
        run = stepped(family)
        assert tuple(run.losses) == FAMILIES[family].reported_losses
        assert FAMILIES[family].objective_loss in run.losses
        for name, value in run.losses.items():
            assert value.dim() == 0 and not value.requires_grad, name
            assert math.isfinite(value.item()), (name, value)
        for name, net in run.model.networks().items():
            after = net.state_dict()
            assert any(not torch.equal(after[k], v) for k, v in run.before[name].items()), f"{name} did not change"

    @every_family
    def test_samples_are_images_in_range_that_repeat_for_a_seed(self, family, stepped):
        model = stepped(family).model
        rng = torch.get_rng_state()
        images = model.sample(10, generator=seeded(3))
        assert images.shape == (10, *MNIST_SHAPE) and images.dtype == torch.float32
        assert images.min() >= -1.0 and images.max() <= 1.0
        assert images.std() > 0  # not one constant image
        as_bytes = to_uint8(images)
        assert as_bytes.dtype == torch.uint8 and as_bytes.shape == images.shape
        assert (to_unit_range(as_bytes) - images).abs().max() <= 1.0 / 255
        assert torch.equal(model.sample(10, generator=seeded(3)), images)
        assert not torch.equal(model.sample(10, generator=seeded(4)), images)
        # Sampling draws from its own generator, never the training RNG, and leaves training mode on.
        assert torch.equal(torch.get_rng_state(), rng)
        assert model.training

    @every_family
    def test_checkpoint_round_trip_gives_identical_outputs(self, family, stepped, batch, tmp_path):
        run = stepped(family)
        file = save_checkpoint(
            tmp_path / "checkpoint.pt", model=run.model, optimizers=run.optimizers, config=run.config, step=1, epoch=0
        )
        loaded, config, payload = load_model(file)
        assert config == run.config and payload["step"] == 1
        assert not loaded.training
        assert_identical(loaded.state_dict(), run.model.state_dict())
        images, labels = batch
        z = run.model.sample_latent(len(labels), seeded(5))
        with eval_mode(run.model):
            expected = run.model.generate(z, labels_for(run.model, labels))
            got = loaded.generate(z, labels_for(loaded, labels))
            assert torch.equal(got, expected)
            if run.model.kind == "vae":
                assert_identical(
                    loaded.encode(images, labels_for(loaded, labels)),
                    run.model.encode(images, labels_for(run.model, labels)),
                )

    @every_family
    def test_resumed_run_repeats_an_uninterrupted_one_bit_for_bit(self, family, tmp_path):
        straight_dir, resumed_dir = tmp_path / "straight", tmp_path / "resumed"
        straight = train(contract_run(family), straight_dir)
        assert straight.status == "done" and straight.step == 4
        lines = loss_lines(straight_dir)
        assert [line["step"] for line in lines] == [1, 2, 3, 4]
        assert all(set(line) == {"step", "epoch", *FAMILIES[family].reported_losses} for line in lines), lines
        assert all(math.isfinite(line[name]) for line in lines for name in FAMILIES[family].reported_losses), lines

        # The same run stopped by its host after step 3 (its last checkpoint is at step 2), then
        # resumed: steps 3 and 4 again, from the checkpoint's weights, optimizers and RNG.
        seen: list[int] = []
        stopped = train(
            contract_run(family),
            resumed_dir,
            Hooks(on_progress=lambda p: seen.append(p.step), should_stop=lambda: len(seen) >= 3),
        )
        assert stopped.status == "stopped" and stopped.step == 3
        assert load_checkpoint(checkpoint_path(resumed_dir))["step"] == 2
        resumed = train(contract_run(family), resumed_dir)
        assert resumed.status == "done" and resumed.step == 4

        assert loss_lines(resumed_dir) == lines
        want, got = load_checkpoint(checkpoint_path(straight_dir)), load_checkpoint(checkpoint_path(resumed_dir))
        assert got["step"] == want["step"] == 4
        assert_identical(got["model"], want["model"], "model")
        assert_identical(got["optimizers"], want["optimizers"], "optimizers")

    @every_family
    def test_labels_change_samples_exactly_when_the_family_is_conditional(self, family, stepped):
        model = stepped(family).model
        assert model.conditional is FAMILIES[family].conditional
        sevens = torch.full((4,), 7)
        if not model.conditional:
            # Labels handed to an unconditional family change nothing.
            assert torch.equal(model.sample(4, sevens, seeded(7)), model.sample(4, generator=seeded(7)))
            return
        z = model.sample_latent(1, seeded(6)).expand(10, -1)  # one noise vector, asked for each class
        with eval_mode(model):
            per_class = model.generate(z, torch.arange(10))
        assert len({tuple(row.tolist()) for row in per_class.flatten(1)}) == 10, (
            "two classes drew the same image from the same noise"
        )
        assert not torch.equal(model.sample(4, sevens, seeded(7)), model.sample(4, sevens - 1, seeded(7)))

    @conditional_families
    def test_conditional_samples_take_class_indices_or_one_hot_rows(self, family, stepped):
        model = stepped(family).model
        labels = torch.tensor([3, 3, 3, 7, 7, 7])
        images = model.sample(6, labels, seeded(8))
        assert images.shape == (6, *MNIST_SHAPE)
        assert torch.equal(model.sample(6, F.one_hot(labels, 10).float(), seeded(8)), images)
        assert not torch.equal(model.sample(6, (labels + 1) % 10, seeded(8)), images)
        # No labels: a balanced set of classes, 0, 1, 2, ... in turn.
        assert torch.equal(model.sample(12, generator=seeded(9)), model.sample(12, torch.arange(12) % 10, seeded(9)))
        with pytest.raises(ValueError, match="labels are required"):
            model.generate(model.sample_latent(2), None)

    @vae_families
    def test_vae_encodes_decodes_and_scores_its_negative_elbo(self, family, stepped, batch):
        run = stepped(family)
        model, (images, labels) = run.model, batch
        y = labels_for(model, labels)
        with eval_mode(model):
            mean, logvar = model.encode(images, y)
            assert mean.shape == logvar.shape == (len(images), model.latent_dim)
            assert torch.isfinite(mean).all() and torch.isfinite(logvar).all()
            decoded = model.decode(mean, y)
            assert decoded.shape == images.shape and decoded.min() >= -1.0 and decoded.max() <= 1.0
            reconstruction, kl = model.negative_elbo(images, y)
        assert reconstruction.shape == kl.shape == (len(images),)
        assert torch.isfinite(reconstruction).all() and (reconstruction > 0).all()
        assert torch.allclose(kl, gaussian_kl(mean, logvar).sum(1))  # closed form, no sampling
        # The training loss is the same bound: reconstruction + kl_weight * KL.
        step = run.losses
        assert step["loss/total"].item() == pytest.approx(
            step["loss/reconstruction"].item() + model.kl_weight * step["loss/kl"].item(), rel=1e-6
        )

    @vae_families
    def test_kl_warm_up_ramps_the_optimised_weight_and_survives_checkpoints(self, family, batch, tmp_path):
        images, labels = batch
        warm_up = {"kl_warmup": 4, "kl_weight_start": 0.0}
        config = resolve_config(Config.from_dict({"family": family, "model": warm_up}))

        def weights_over_six_steps(model: GenerativeModel, optimizers: dict) -> list[float]:
            weights = []
            for _ in range(6):
                weights.append(float(model.kl_weight_now()))
                model.train_step(images, labels, optimizers)
            return weights

        model = build_model(config)
        optimizers = model.make_optimizers()
        assert weights_over_six_steps(model, optimizers) == [0.0, 0.25, 0.5, 0.75, 1.0, 1.0]
        # The step count travels with the weights: a resumed run continues the ramp where it was.
        path = save_checkpoint(tmp_path / "c.pt", model=model, optimizers=optimizers, config=config, step=6, epoch=0)
        restored = build_model(config)
        restored.load_state_dict(load_checkpoint(path)["model"])
        assert int(restored.steps_taken) == 6
        # A checkpoint from before the warm-up existed (no step count) trained without one.
        old_state = {k: v for k, v in model.state_dict().items() if k != "steps_taken"}
        old = build_model(config)
        old.load_state_dict(old_state)
        assert float(old.kl_weight_now()) == 1.0

        # What is optimised is the warmed-up bound: the first step of a warm-up moves the weights
        # exactly as a run with no KL term at all does. (No free bits here: at step 0 every
        # dimension is below them, which would hide the KL term's weight.)
        def first_step(model_section: dict) -> dict[str, torch.Tensor]:
            torch.manual_seed(3)
            twin = build_model(
                resolve_config(Config.from_dict({"family": family, "model": {"free_bits": 0.0, **model_section}}))
            )
            torch.manual_seed(4)
            twin.train_step(images, labels, twin.make_optimizers())
            return twin.state_dict()

        warming, no_kl = first_step(warm_up), first_step({"kl_weight": 0.0, "kl_warmup": 0})
        assert all(torch.equal(warming[k], no_kl[k]) for k in warming if k != "steps_taken")
        full = first_step({"kl_warmup": 0})
        assert not all(torch.equal(warming[k], full[k]) for k in warming if k != "steps_taken")
        # kl_warmup 0 is off: the full weight from the first step, whatever the start.
        off = build_model(
            resolve_config(Config.from_dict({"family": family, "model": {"kl_warmup": 0, "kl_weight_start": 3.0}}))
        )
        assert float(off.kl_weight_now()) == off.kl_weight
        # A start above kl_weight anneals down instead, and its first step is a step at that weight.
        annealing = {"kl_warmup": 4, "kl_weight_start": 3.0}
        model = build_model(resolve_config(Config.from_dict({"family": family, "model": annealing})))
        assert weights_over_six_steps(model, model.make_optimizers()) == [3.0, 2.5, 2.0, 1.5, 1.0, 1.0]
        heavy, at_three = first_step(annealing), first_step({"kl_weight": 3.0, "kl_warmup": 0})
        assert all(torch.equal(heavy[k], at_three[k]) for k in heavy if k != "steps_taken")

    @vae_families
    def test_free_bits_charge_each_dimension_at_least_their_nats_and_report_the_true_kl(self, family, batch):
        images, labels = batch

        def first_step(model_section: dict) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
            torch.manual_seed(3)
            twin = build_model(
                resolve_config(Config.from_dict({"family": family, "model": {"kl_warmup": 0, **model_section}}))
            )
            torch.manual_seed(4)
            losses = twin.train_step(images, labels, twin.make_optimizers())
            return twin.state_dict(), losses

        plain, plain_losses = first_step({"free_bits": 0.0})
        # Free bits above every dimension's KL: no pull to the prior at all, as with no KL term;
        # the loss reported is still the true negative ELBO.
        (free, free_losses), (no_kl, _) = (
            first_step({"free_bits": 1e6}),
            first_step({"free_bits": 0.0, "kl_weight": 0.0}),
        )
        assert all(torch.equal(free[k], no_kl[k]) for k in free)
        assert not all(torch.equal(free[k], plain[k]) for k in free)
        assert all(torch.equal(free_losses[k], plain_losses[k]) for k in plain_losses)
        assert float(free_losses["loss/kl"]) > 0
        # Free bits below every dimension's KL change nothing: a step at 1e-9 nats is a plain step.
        tiny, _ = first_step({"free_bits": 1e-9})
        assert all(torch.allclose(tiny[k].float(), plain[k].float()) for k in tiny)

    @conditional_families
    def test_label_scale_is_the_size_of_the_label_joined_to_z_and_old_checkpoints_keep_one(
        self, family, stepped, tmp_path
    ):
        model = stepped(family).model
        z, labels = model.sample_latent(6, seeded(10)), torch.tensor([0, 1, 2, 7, 8, 9])
        # The same nets with label_scale 4 and the first layer's label weights divided by 4 draw the
        # same images: the scale multiplies the one-hot exactly where it joins z, nowhere else.
        scale = model.config.model.label_scale

        def with_model(**changes: float) -> Config:
            config = model.config.copy()
            for key, value in changes.items():
                setattr(config.model, key, value)
            return resolve_config(config)

        scaled = build_model(with_model(label_scale=4.0 * scale))
        scaled.load_state_dict(model.state_dict())
        first = next(m for m in scaled.sampler.modules() if isinstance(m, torch.nn.Linear))
        with torch.no_grad():
            first.weight[:, model.latent_dim :] /= 4.0
        with eval_mode(model), eval_mode(scaled):
            assert torch.allclose(scaled.generate(z, labels), model.generate(z, labels), atol=1e-5)
            first.weight.data[:, model.latent_dim :] *= 4.0
            assert not torch.allclose(scaled.generate(z, labels), model.generate(z, labels), atol=1e-3)
        if model.kind == "vae":
            # encoder_label_scale is the same for the label the encoder reads after the image.
            images = model.sample(6, labels, seeded(11))
            scaled = build_model(with_model(encoder_label_scale=4.0 * model.config.model.encoder_label_scale))
            scaled.load_state_dict(model.state_dict())
            first = next(m for m in scaled.inference_encoder.modules() if isinstance(m, torch.nn.Linear))
            with torch.no_grad():
                first.weight[:, -model.num_classes :] /= 4.0
            with eval_mode(model), eval_mode(scaled):
                assert all(
                    torch.allclose(a, b, atol=1e-5)
                    for a, b in zip(scaled.encode(images, labels), model.encode(images, labels))
                )
                first.weight.data[:, -model.num_classes :] *= 4.0
                assert not torch.allclose(scaled.encode(images, labels)[0], model.encode(images, labels)[0], atol=1e-3)
        # A checkpoint whose config predates label_scale, encoder_label_scale, kl_weight_start and
        # free_bits trained with plain one-hots, no KL annealing and no free bits: it loads that
        # way, whatever today's defaults are.
        config = with_model(label_scale=1.0, encoder_label_scale=1.0, kl_weight_start=0.0, free_bits=0.0)
        path = save_checkpoint(
            tmp_path / "c.pt", model=build_model(config), optimizers={}, config=config, step=0, epoch=0
        )
        payload = torch.load(path, weights_only=True)
        stored = json.loads(payload["config"])
        for key in ("label_scale", "encoder_label_scale", "kl_weight_start", "free_bits"):
            del stored["model"][key]
        payload["config"] = json.dumps(stored)
        torch.save(payload, tmp_path / "old.pt")
        loaded, _, _ = load_model(tmp_path / "old.pt")
        assert loaded.config.model.label_scale == 1.0 and loaded.config.model.kl_weight_start == 0.0
        assert loaded.config == config
        # A sweep trial resumed from it (its config leaves these to the family) keeps them too.
        adopt_hyperparameters(tmp_path / "old.pt", Config(family=family))
        assert load_model(tmp_path / "old.pt")[1] == config

    @every_family
    @pytest.mark.parametrize("dataset", ["cifar10", "imagenette"])
    def test_trains_and_samples_on_three_channel_images(self, family, dataset):
        config = Config(family=family)
        config.data.name = dataset
        model = build_model(resolve_config(config))
        shape = get_spec(dataset).image_shape()
        assert model.image_shape == shape and shape[0] == 3
        images = torch.rand(4, *shape, generator=seeded(10)) * 2 - 1
        losses = model.train_step(images, torch.arange(4), model.make_optimizers())
        assert all(math.isfinite(v.item()) for v in losses.values()), losses
        assert model.sample(2, generator=seeded(11)).shape == (2, *shape)


@pytest.mark.parametrize("family", ["gan", "lsgan", "cgan"])
def test_r1_penalty_keeps_the_discriminator_flat_around_real_images(family, batch):
    """The MLP GANs' default R1 step (Mescheder et al. 2018): after the same 30 steps, the
    discriminator's gradient at the real images is smaller with it than without it."""
    images, labels = batch

    def gradient_norm(r1_gamma: float) -> float:
        config = resolve_config(Config.from_dict({"family": family, "train": {"r1_gamma": r1_gamma}}))
        torch.manual_seed(0)
        model = build_model(config)
        optimizers = model.make_optimizers()
        for _ in range(30):
            model.train_step(images, labels, optimizers)
        real = images.clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(model.discriminate(real, labels_for(model, labels)).sum(), real)
        return float(grad.pow(2).flatten(1).sum(1).mean())

    default = resolve_config(Config(family=family)).train.r1_gamma
    assert default > 0  # on by default for the MLP GANs
    assert gradient_norm(default) < 0.5 * gradient_norm(0.0)


@every_family
def test_samples_and_metrics_come_from_the_moving_average_and_old_checkpoints_from_the_live_nets(
    family, batch, tmp_path
):
    """train.ema_decay: the nets train as before; samples (and a VAE's encodings, so every
    metric) come from a moving average of their weights: copied at the first step, then moved by
    1 - min(decay, (1 + n) / (10 + n)) of the gap at the n-th step after it. 0 = off, and a checkpoint
    saved before the key existed uses its own live nets."""
    images, labels = batch
    decay = 0.2  # the warm-up's (1 + n) / (10 + n) is below it at n = 1 (0.18), above it from n = 2
    config = resolve_config(Config.from_dict({"family": family, "train": {"ema_decay": decay}}))
    torch.manual_seed(0)
    model = build_model(config)
    optimizers = model.make_optimizers()
    live_nets = [model.generator] if model.kind == "gan" else [model.encoder, model.decoder]

    def floats(nets: list[torch.nn.Module]) -> list[torch.Tensor]:  # weights, and batch-norm statistics
        return [t for net in nets for t in [*net.parameters(), *net.buffers()] if t.is_floating_point()]

    expected: list[torch.Tensor] = []
    for n in range(4):
        model.train_step(images, labels, optimizers)
        live = [t.detach().clone() for t in floats(live_nets)]
        kept = min(decay, (1 + n) / (10 + n))  # the n-th update after the first, a copy
        expected = live if n == 0 else [kept * e + (1 - kept) * t for e, t in zip(expected, live)]
    averaged_nets = [model.sampler] if model.kind == "gan" else [model.inference_encoder, model.sampler]
    averaged = floats(averaged_nets)
    assert len(averaged) == len(expected)
    assert len(averaged) > len(list(live_nets[0].parameters())) or family != "dcgan"  # + its BN statistics
    assert all(torch.allclose(a, e, atol=1e-6) for a, e in zip(averaged, expected))
    assert not any(a.requires_grad for a in averaged)
    z, wanted = model.sample_latent(4, seeded(3)), labels_for(model, labels[:4])
    live_generator = model.generator if model.kind == "gan" else model.decoder
    squash = torch.tanh if model.kind == "gan" else (lambda x: torch.sigmoid(x) * 2.0 - 1.0)
    with eval_mode(model):
        assert torch.equal(model.generate(z, wanted), squash(model.sampler(model.join_label(z, wanted))))
        assert not torch.allclose(model.generate(z, wanted), squash(live_generator(model.join_label(z, wanted))))
        if model.kind == "vae":  # the ELBO and interpolations encode with the averaged encoder too
            mean, _ = model.encode(images[:4], wanted)
            assert torch.equal(mean, model._encode(model.inference_encoder, images[:4], wanted)[0])
            assert not torch.allclose(mean, model._encode(model.encoder, images[:4], wanted)[0])
            # the test ELBO scores the averaged pair; the same draw through the live pair differs
            torch.manual_seed(5)
            scored, _ = model.negative_elbo(images[:4], wanted)
            for pair, same in (
                ((model.inference_encoder, model.sampler), True),
                ((model.encoder, model.decoder), False),
            ):
                torch.manual_seed(5)
                assert torch.allclose(scored, model._elbo_terms(*pair, images[:4], wanted)[0]) is same

    # Off: no average; samples and encodings are the live nets'.
    off = build_model(resolve_config(Config.from_dict({"family": family, "train": {"ema_decay": 0.0}})))
    assert off.sampler is (off.generator if off.kind == "gan" else off.decoder) and off.weight_average is None
    assert off.kind == "gan" or off.inference_encoder is off.encoder

    # A checkpoint from before the key: its config lacks it and its weights have no average.
    old_config = resolve_config(Config.from_dict({"family": family, "train": {"ema_decay": 0.0}}))
    path = save_checkpoint(tmp_path / "c.pt", model=off, optimizers={}, config=old_config, step=0, epoch=0)
    payload = torch.load(path, weights_only=True)
    stored = json.loads(payload["config"])
    del stored["train"]["ema_decay"]
    payload["config"] = json.dumps(stored)
    torch.save(payload, tmp_path / "old.pt")
    loaded, _, _ = load_model(tmp_path / "old.pt")
    assert loaded.config == old_config and loaded.weight_average is None
    adopt_hyperparameters(tmp_path / "old.pt", Config(family=family))  # a resumed sweep trial
    assert load_model(tmp_path / "old.pt")[1] == old_config
    if off.kind == "vae":
        # A VAE saved while VAEs ignored the key (set, but no average in its weights): its average
        # starts as its live nets, which it sampled from.
        stored["train"]["ema_decay"] = 0.5
        payload["config"] = json.dumps(stored)
        torch.save(payload, tmp_path / "ignored.pt")
        loaded, _, _ = load_model(tmp_path / "ignored.pt")
        assert loaded.weight_average is not None and int(loaded.weight_average.n_averaged) == 0
        with eval_mode(off):
            assert torch.equal(loaded.sample(4, wanted, seeded(2)), off.sample(4, wanted, seeded(2)))
            assert all(
                torch.equal(a, b) for a, b in zip(loaded.encode(images[:4], wanted), off.encode(images[:4], wanted))
            )


@pytest.mark.parametrize("family", ["gan", "cvae"])
def test_a_checkpoint_from_before_train_ema_decay_was_named_loads_with_its_average(family, batch, tmp_path):
    """gv 0.1 called the key train.generator_ema and the module generator_ema: such a checkpoint
    loads with the same decay and the same averaged weights, and the old key still sets the new one."""
    images, labels = batch
    # A decay given explicitly: the VAEs' default is off since the realism re-check.
    config = resolve_config(Config.from_dict({"family": family, "train": {"ema_decay": 0.99}}))
    torch.manual_seed(0)
    model = build_model(config)
    optimizers = model.make_optimizers()
    for _ in range(3):
        model.train_step(images, labels, optimizers)
    path = save_checkpoint(tmp_path / "new.pt", model=model, optimizers=optimizers, config=config, step=3, epoch=0)
    payload = torch.load(path, weights_only=True)
    stored = json.loads(payload["config"])
    stored["train"]["generator_ema"] = stored["train"].pop("ema_decay")
    payload["config"] = json.dumps(stored)
    payload["model"] = {
        ("generator_ema." + k.removeprefix("weight_average.") if k.startswith("weight_average.") else k): v
        for k, v in payload["model"].items()
    }
    assert any(k.startswith("generator_ema.") for k in payload["model"])
    torch.save(payload, tmp_path / "old.pt")
    loaded, loaded_config, _ = load_model(tmp_path / "old.pt")
    assert loaded_config == config and loaded_config.train.ema_decay == config.train.ema_decay > 0
    wanted = labels_for(model, labels[:4])
    with eval_mode(model):
        assert torch.equal(loaded.sample(4, wanted, seeded(1)), model.sample(4, wanted, seeded(1)))
    assert get_value(Config.from_dict({"train": {"generator_ema": 0.5}}), "train.ema_decay") == 0.5
    assert get_value(Config(), "train.generator_ema") is None  # the old name reads the new key
