"""Training iterations of `fastgan train --cfg stylegan3-t` at 32x32 on the CPU: fastgan's
kernels (impl='native') against the pure-PyTorch reference ops (impl='ref').

    .venv/bin/python benchmarks/sg3_train_step.py [--res 32] [--data digits] [--rounds 7]

Two trainers of the preset (StyleGAN3-T generator, StyleGAN2 discriminator, the blur of D's
input, R1 every 16 iterations) are built from the same seed and run interleaved, round by round
with the order alternating, after one warm-up call each; a call is `--iters` iterations (so that
the amortised R1 step falls into the rounds in proportion). The table gives the median call time of
each, images per second and the median over rounds of the per-round speed-up. torch.compile is
not measured: R1 differentiates D's gradient again (double backward), which torch.compile's
autograd does not support.
"""

from __future__ import annotations

import argparse
import datetime
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from benchmarks.compat_train_step import cpu_name
from fastgan.train import Trainer, make_config


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cfg", default="stylegan3-t")
    p.add_argument("--res", type=int, default=32)
    p.add_argument("--data", default="digits")
    p.add_argument("--iters", type=int, default=4)
    p.add_argument("--rounds", type=int, default=7)
    args = p.parse_args(argv)

    impls = ("ref", "native")
    trainers = {}
    for impl in impls:
        torch.manual_seed(0)
        config = make_config(args.cfg, res=args.res, data=args.data, metrics=[], impl=impl)
        trainers[impl] = Trainer(config, progress=False)
    config = trainers["native"].config

    def call(impl):
        t = trainers[impl]
        start = time.perf_counter()
        for _ in range(args.iters):
            t.train_step()
        return time.perf_counter() - start

    for impl in impls:
        call(impl)
    times = {impl: [] for impl in impls}
    ratios = []
    for r in range(args.rounds):
        order = impls if r % 2 == 0 else impls[::-1]
        t = {impl: call(impl) for impl in order}
        for impl in impls:
            times[impl].append(t[impl])
        ratios.append(t["ref"] / t["native"])

    med = {impl: statistics.median(times[impl]) for impl in impls}
    imgs = config.batch * args.iters
    G, D = trainers["native"].G, trainers["native"].D
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M UTC")
    print(
        f"Device: {cpu_name()} ({torch.get_num_threads()} threads); torch {torch.__version__}; "
        f"{when}"
    )
    print(
        f"Config: --cfg {args.cfg} --res {args.res} --data {args.data}: batch {config.batch}, "
        f"G {sum(q.numel() for q in G.parameters()) / 1e6:.2f} M, "
        f"D {sum(q.numel() for q in D.parameters()) / 1e6:.2f} M parameters; "
        f"{args.iters} iterations per call, {args.rounds} interleaved rounds after one warm-up "
        "call each"
    )
    print()
    print(
        f"| ops | {args.iters} iterations, median | img/s | speed-up (median of per-round ratios) |"
    )
    print("|---|---|---|---|")
    print(f"| reference (`impl='ref'`) | {med['ref']:.2f} s | {imgs / med['ref']:.1f} | 1.00x |")
    print(
        f"| fastgan (`impl='native'`) | {med['native']:.2f} s | {imgs / med['native']:.1f} | "
        f"**{statistics.median(ratios):.2f}x** |"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
