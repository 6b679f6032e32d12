"""gv's trainer against a minimal hand-written PyTorch loop of the same nets and batch size.

Prints, never asserts. Both sides run in this one process, interleaved (gv, loop, gv, loop, ...)
so machine noise hits them alike; the ratio is gv steps/s over loop steps/s (target >= 0.95).
Also prints seconds per epoch of dcgan on mnist-5k.

    python bench/bench_trainer.py                    # CPU, gan / dcgan / vae
    python bench/bench_trainer.py --device cuda      # the same on a GPU
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from gvcore.config import Config  # noqa: E402
from gvcore.data import load_dataset  # noqa: E402
from gvcore.families import resolve_config  # noqa: E402
from gvcore.models import build_model  # noqa: E402
from gvcore.trainer import train  # noqa: E402


def gv_steps_per_second(cfg: Config) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        result = train(cfg, tmp)
        elapsed = time.perf_counter() - start
    assert result.status == "done"
    return cfg.train.steps / elapsed


def loop_steps_per_second(cfg: Config) -> float:
    """What a user would write by hand: same nets, same batch size, default Adam, no framework."""
    device = torch.device(cfg.train.device)
    start = time.perf_counter()
    torch.manual_seed(cfg.train.seed)
    data = load_dataset(cfg.data.name, "train")
    images = data.images.to(device).float() / 127.5 - 1.0
    model = build_model(cfg).to(device)  # only for its nets
    bs, n = cfg.train.batch_size, images.shape[0]
    if model.kind == "gan":
        generator, discriminator = model.generator, model.discriminator
        opt_g = torch.optim.Adam(generator.parameters(), lr=cfg.optim.lr, betas=(cfg.optim.beta1, 0.999))
        opt_d = torch.optim.Adam(discriminator.parameters(), lr=cfg.optim.lr, betas=(cfg.optim.beta1, 0.999))
    else:
        encoder, decoder = model.encoder, model.decoder
        opt = torch.optim.Adam(model.parameters(), lr=cfg.optim.lr, betas=(cfg.optim.beta1, 0.999))
    step = 0
    while step < cfg.train.steps:
        perm = torch.randperm(n, device=device)
        for i in range(n // bs):
            x = images[perm[i * bs : (i + 1) * bs]]
            if model.kind == "gan":
                z = torch.randn(bs, model.latent_dim, device=device)
                fake = torch.tanh(generator(z))
                d_real, d_fake = discriminator(x), discriminator(fake.detach())
                d_loss = F.binary_cross_entropy_with_logits(
                    d_real, torch.ones_like(d_real)
                ) + F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake))
                opt_d.zero_grad()
                d_loss.backward()
                opt_d.step()
                g_out = discriminator(fake)
                g_loss = F.binary_cross_entropy_with_logits(g_out, torch.ones_like(g_out))
                opt_g.zero_grad()
                g_loss.backward()
                opt_g.step()
                losses = (d_loss.item(), g_loss.item())
            else:
                mu, logvar = encoder(x).chunk(2, dim=1)
                z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
                logits = decoder(z)
                recon = F.binary_cross_entropy_with_logits(logits, (x + 1) / 2, reduction="sum") / bs
                kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp()) / bs
                loss = recon + kl
                opt.zero_grad()
                loss.backward()
                opt.step()
                losses = (loss.item(),)
            del losses
            step += 1
            if step == cfg.train.steps:
                break
    if device.type == "cuda":
        torch.cuda.synchronize()
    return cfg.train.steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--families", default="gan,dcgan,vae")
    args = parser.parse_args()
    steps = {"gan": 400, "lsgan": 400, "cgan": 400, "vae": 400, "cvae": 400, "dcgan": 80}
    if args.device != "cpu":
        steps = {k: v * 5 for k, v in steps.items()}
    load_dataset("mnist-5k", "train")  # parse the CSV once, outside the timings
    print(f"device: {args.device}, torch threads: {torch.get_num_threads()}, batch 64, mnist-5k")
    print(f"{'family':8} {'gv steps/s':>11} {'loop steps/s':>13} {'ratio':>7}")
    for family in args.families.split(","):
        default = resolve_config(Config(family=family))
        cfg = Config(family=family)
        cfg.train.steps = steps[family]
        cfg.train.device = args.device
        cfg.train.eval_every = steps[family]  # one checkpoint + grid at the end, as a real run has
        cfg.train.log_every = 25
        # The hand-written loop is a plain GAN step: gv does the same work (no R1 step, no
        # generator average; their cost is measured on its own below).
        cfg.train.r1_gamma, cfg.train.ema_decay = 0.0, 0.0
        cfg = resolve_config(cfg)
        gv_rates, loop_rates = [], []
        for _ in range(args.repeats):
            gv_rates.append(gv_steps_per_second(cfg))
            loop_rates.append(loop_steps_per_second(cfg))
        gv_rate, loop_rate = statistics.median(gv_rates), statistics.median(loop_rates)
        print(f"{family:8} {gv_rate:11.1f} {loop_rate:13.1f} {gv_rate / loop_rate:7.2f}")
        # What the defaults add to the plain step, one at a time and side by side: the R1 step
        # (GANs), then the weight average (GANs: generator; VAEs: encoder and decoder).
        variants, names = [cfg], []
        for key, name in (("r1_gamma", "R1 step"), ("ema_decay", "weight average")):
            value = getattr(default.train, key)
            if value:
                variants.append(
                    dataclasses.replace(variants[-1], train=dataclasses.replace(variants[-1].train, **{key: value}))
                )
                names.append(f"{name} ({key} {value:g})")
        if names:
            rates: list[list[float]] = [[] for _ in variants]
            for _ in range(args.repeats):
                for rate, variant in zip(rates, variants):
                    rate.append(gv_steps_per_second(variant))
            medians = [statistics.median(r) for r in rates]
            print(
                f"         {family} defaults: "
                + ", then ".join(
                    f"{name} {after / before:.2f}x" for name, before, after in zip(names, medians, medians[1:])
                )
                + " the step rate before it"
            )
        if family == "dcgan":
            steps_per_epoch = len(load_dataset("mnist-5k", "train")) // 64
            print(
                f"         dcgan on mnist-5k: {steps_per_epoch / gv_rate:.1f} s per epoch with gv "
                f"({steps_per_epoch / loop_rate:.1f} s with the hand-written loop)"
            )


if __name__ == "__main__":
    main()
