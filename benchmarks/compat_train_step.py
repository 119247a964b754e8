"""One StyleGAN2 training step of the NVIDIA-layout network (tests/compat/nvidia_net.py) on the
CPU, with NVIDIA-style ops on fastgan's pure-PyTorch references (impl='ref', what NVIDIA's ops
run on a CPU) vs on fastgan's kernels through fastgan.compat.nvidia (impl='cuda').

    .venv/bin/python benchmarks/compat_train_step.py [--res 32] [--batch 8] [--rounds 15]

A step, as StyleGAN2-ADA's training loop runs it (both networks in training mode, so the
modulated convolutions take the non-fused path): the generator loss through D, backward; the
discriminator loss on generated and real images, backward; the R1 penalty on reals (a second-order
gradient through D), backward. No optimizer. The two implementations run interleaved, round by
round with the order alternating, after a warm-up of each; the table gives the median step time of
each and the median over rounds of the per-round speed-up.

torch.compile of the reference is not measured: the R1 step differentiates D's gradient again
(create_graph=True), which torch.compile's autograd does not support (double backward).
"""

from __future__ import annotations

import argparse
import copy
import datetime
import os
import platform
import statistics
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from tests.compat.nvidia_net import Discriminator, Generator, use_impl


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def build(args):
    net = dict(channel_base=args.channel_base, channel_max=args.channel_max)
    G = Generator(
        z_dim=args.z_dim,
        c_dim=args.c_dim,
        w_dim=args.z_dim,
        img_resolution=args.res,
        img_channels=3,
        mapping_kwargs=dict(num_layers=args.map_layers),
        synthesis_kwargs=dict(conv_clamp=256, **net),
    )
    D = Discriminator(
        c_dim=args.c_dim, img_resolution=args.res, img_channels=3, conv_clamp=256, **net
    )
    return G.train(), D.train()


def train_step(G, D, z, c, real, gamma):
    # Generator: non-saturating loss through D.
    G.zero_grad(set_to_none=True)
    D.zero_grad(set_to_none=True)
    F.softplus(-D(G(z, c), c)).mean().backward()
    # Discriminator on generated and real images.
    D.zero_grad(set_to_none=True)
    with torch.no_grad():
        fake = G(z, c)
    loss = F.softplus(D(fake, c)).mean() + F.softplus(-D(real, c)).mean()
    loss.backward()
    # R1 on reals: second order through D.
    real = real.detach().requires_grad_()
    (grad,) = torch.autograd.grad(D(real, c).sum(), real, create_graph=True)
    (grad.square().sum([1, 2, 3]).mean() * (gamma / 2)).backward()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--res", type=int, default=32)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--channel-base", type=int, default=2048)
    p.add_argument("--channel-max", type=int, default=128)
    p.add_argument("--z-dim", type=int, default=128)
    p.add_argument("--c-dim", type=int, default=10)
    p.add_argument("--map-layers", type=int, default=2)
    p.add_argument("--rounds", type=int, default=15)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--gamma", type=float, default=0.05)
    args = p.parse_args(argv)

    torch.manual_seed(0)
    G, D = build(args)
    state = (copy.deepcopy(G.state_dict()), copy.deepcopy(D.state_dict()))
    z = torch.randn(args.batch, args.z_dim)
    c = F.one_hot(torch.arange(args.batch) % max(args.c_dim, 1), args.c_dim).float()
    c = c if args.c_dim else None
    real = torch.randn(args.batch, 3, args.res, args.res)
    impls = ("ref", "cuda")

    def step(impl):
        G.load_state_dict(state[0])  # the same w_avg in every step
        D.load_state_dict(state[1])
        with use_impl(impl):
            start = time.perf_counter()
            train_step(G, D, z, c, real, args.gamma)
            return time.perf_counter() - start

    for impl in impls:
        for _ in range(args.warmup):
            step(impl)
    times = {impl: [] for impl in impls}
    ratios = []
    for r in range(args.rounds):
        order = impls if r % 2 == 0 else impls[::-1]
        t = {impl: step(impl) for impl in order}
        for impl in impls:
            times[impl].append(t[impl])
        ratios.append(t["ref"] / t["cuda"])

    med = {impl: statistics.median(times[impl]) * 1e3 for impl in impls}
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M UTC")
    print(
        f"Device: {cpu_name()} ({torch.get_num_threads()} threads); torch {torch.__version__}; "
        f"{when}"
    )
    print(
        f"Config: {args.res}x{args.res}, batch {args.batch}, channel_base {args.channel_base}, "
        f"channel_max {args.channel_max}, z/w {args.z_dim}, c_dim {args.c_dim}, "
        f"{args.map_layers} mapping layers, conv_clamp 256; {G.num_ws} ws; "
        f"G {sum(p.numel() for p in G.parameters()) / 1e6:.2f} M, "
        f"D {sum(p.numel() for p in D.parameters()) / 1e6:.2f} M parameters; "
        f"{args.rounds} interleaved rounds after {args.warmup} warm-up steps each"
    )
    print()
    print("| ops | training step (G, D, R1), median | speed-up (median of per-round ratios) |")
    print("|---|---|---|")
    print(f"| reference (`impl='ref'`) | {med['ref']:.1f} ms | 1.00x |")
    print(
        f"| fastgan.compat.nvidia (`impl='cuda'`) | {med['cuda']:.1f} ms | "
        f"**{statistics.median(ratios):.2f}x** |"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
