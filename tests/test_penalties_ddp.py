"""The gradient penalties under DistributedDataParallel: two CPU processes on gloo, a
discriminator and a generator mixing fastgan and stock PyTorch layers, find_unused_parameters
left False. Two iterations run (DDP reports parameters left out of a backward at the next one);
the averaged gradients must equal a single process's over the whole batch."""

import os
import tempfile

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from fastgan.losses import path_length_penalty, r1_penalty, wgan_gp_penalty
from fastgan.nn import Downsample2d, EqualLinear, MinibatchStdDev, StyledConv, ToRGB
from tests.conftest import rel_error

WORLD = 2
BATCH = 4  # per process


class Discriminator(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 6, 3, padding=1)
        self.down = Downsample2d()
        self.mbstd = MinibatchStdDev(group_size=2)
        # A linear output layer: its bias does not change the input gradient.
        self.out = EqualLinear(7 * 4 * 4, 1)

    def forward(self, x):
        x = torch.nn.functional.leaky_relu(self.conv(x), 0.2)
        return self.out(self.mbstd(self.down(x)).flatten(1))


class Generator(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.mapping = EqualLinear(8, 8, activation="lrelu")
        self.const = nn.Parameter(torch.randn(1, 4, 4, 4))
        self.conv = StyledConv(4, 4, 8, 8, up=2)
        self.rgb = ToRGB(4, 3, 8)

    def forward(self, z):
        ws = self.mapping(z)
        x = self.conv(self.const.expand(z.shape[0], -1, -1, -1), ws, noise_mode="const")
        return self.rgb(x, ws), ws


def models():
    torch.manual_seed(0)
    return Discriminator().double(), Generator().double()


def losses(D, G, real, z, pl_mean):
    """The three regularisation losses of one iteration, each a mean over the batch."""
    real = real.detach().requires_grad_(True)
    r1 = r1_penalty(D(real), real).mean()
    fake, ws = G(z)
    gp = wgan_gp_penalty(D, real, fake).mean()
    pl, _ = path_length_penalty(fake, ws, pl_mean)
    return r1, gp, pl.mean()


def data(step):
    g = torch.Generator().manual_seed(100 + step)
    real = torch.randn(WORLD * BATCH, 3, 8, 8, generator=g, dtype=torch.float64)
    z = torch.randn(WORLD * BATCH, 8, generator=g, dtype=torch.float64)
    return real, z


def worker(rank, init_file, out_dir):
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=WORLD)
    D, G = models()
    ddp_D, ddp_G = DistributedDataParallel(D), DistributedDataParallel(G)
    for step in range(2):
        torch.manual_seed(1000 * step + rank)  # the penalties' own noise, per process
        real, z = data(step)
        shard = slice(rank * BATCH, (rank + 1) * BATCH)
        D.zero_grad()
        G.zero_grad()
        r1, gp, pl = losses(ddp_D, ddp_G, real[shard], z[shard], torch.tensor(0.5))
        (r1 + gp).backward()
        pl.backward()
    grads = {f"D.{n}": p.grad for n, p in D.named_parameters()}
    grads |= {f"G.{n}": p.grad for n, p in G.named_parameters()}
    torch.save(grads, os.path.join(out_dir, f"rank{rank}.pt"))
    dist.destroy_process_group()


@pytest.mark.slow
def test_penalties_under_ddp_match_one_process():
    with tempfile.TemporaryDirectory() as tmp:
        mp.spawn(worker, args=(os.path.join(tmp, "init"), tmp), nprocs=WORLD, join=True)
        per_rank = [
            torch.load(os.path.join(tmp, f"rank{r}.pt"), weights_only=True) for r in range(WORLD)
        ]
    # One process, the same last iteration: each rank's mean over its shard, averaged (DDP
    # averages gradients), with each rank's noise.
    D, G = models()
    real, z = data(1)
    for rank in range(WORLD):
        torch.manual_seed(1000 + rank)
        shard = slice(rank * BATCH, (rank + 1) * BATCH)
        r1, gp, pl = losses(D, G, real[shard], z[shard], torch.tensor(0.5))
        ((r1 + gp + pl) / WORLD).backward()
    expected = {f"D.{n}": p.grad for n, p in D.named_parameters()}
    expected |= {f"G.{n}": p.grad for n, p in G.named_parameters()}
    assert set(per_rank[0]) == set(expected)
    for name, grad in expected.items():
        assert per_rank[0][name] is not None, f"{name} got no gradient"
        assert torch.equal(per_rank[0][name], per_rank[1][name]), f"{name} differs across ranks"
        assert rel_error(per_rank[0][name], grad) < 1e-10, name
