"""The training loop (StyleGAN2's schedule): per iteration a generator step, a discriminator
step, path-length regularisation every `pl_interval` and R1 every `r1_interval` iterations
(lazy regularisation), the generator EMA, and at every snapshot a sample grid, metrics and a
checkpoint. Several processes (torchrun) split each batch; only rank 0 writes files.

Run directory: config.json, log.jsonl (statistics per tick), metrics.jsonl, events.out.tfevents.*
(TensorBoard), samples-init.png and samples-<images seen>.png, snapshot-<images seen>.pt (the
last `keep`).
"""

from __future__ import annotations

import copy
import json
import math
import os
import re
import signal
import sys
import time
from contextlib import nullcontext
from pathlib import Path

import torch

from fastgan.data import infinite_loader, open_dataset
from fastgan.losses import (
    discriminator_loss,
    generator_loss,
    path_length_penalty,
    r1_penalty,
    wgan_gp_penalty,
)
from fastgan.ops import filter2d
from fastgan.train.augment import diff_augment
from fastgan.train.config import TrainConfig, blur_sigma_at
from fastgan.train.distributed import Distributed
from fastgan.train.setup import build_models, lazy_adam
from fastgan.utils.checkpoint import (
    CheckpointError,
    load_checkpoint,
    prune_checkpoints,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from fastgan.utils.images import image_grid, save_png
from fastgan.utils.progress import Progress
from fastgan.utils.tensorboard import EventWriter

__all__ = ["Trainer", "TrainingError", "new_run_dir"]

# Sample grids: columns per row (one row per class when conditional), rows when unconditional.
GRID_COLUMNS = 8
GRID_ROWS = 8


class TrainingError(RuntimeError):
    """Training cannot go on (non-finite losses in a row, a mismatched checkpoint)."""


def new_run_dir(outdir: str | os.PathLike, config: TrainConfig) -> Path:
    """outdir/NNNNN-<data>-<cfg>[-cond]: the next free number."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    numbers = [int(m.group(1)) for p in outdir.iterdir() if (m := re.match(r"(\d+)-", p.name))]
    data = re.sub(r"[^A-Za-z0-9_.]+", "_", Path(config.data).name or "data")
    name = f"{max(numbers, default=-1) + 1:05d}-{data}-{config.cfg}" + (
        "-cond" if config.cond else ""
    )
    path = outdir / name
    path.mkdir()
    return path


def _sanitize_gradients(params) -> None:
    """NaN and Inf in gradients replaced (by 0 and +-1e5) before the optimiser sees them."""
    for p in params:
        if p.grad is not None:
            torch.nan_to_num_(p.grad, nan=0.0, posinf=1e5, neginf=-1e5)


class Trainer:
    """One training run. `run()` trains to `config.kimg` thousand images; a resumed trainer
    (`resume` = a snapshot path) continues where the snapshot stopped, in its run directory."""

    def __init__(
        self,
        config: TrainConfig,
        run_dir: str | os.PathLike | None = None,
        resume: str | os.PathLike | None = None,
        progress: bool = True,
    ) -> None:
        self.config = config
        # Subnormal floats (gradients and Adam moments decaying towards zero) are 10-100x slower
        # on x86 CPUs; training does not need them.
        torch.set_flush_denormal(True)
        self.dist = Distributed(config.device)
        self.device = self.dist.device
        world = self.dist.world_size
        if config.batch % world:
            raise ValueError(
                f"train: expected --batch divisible by the {world} processes, got {config.batch}"
            )
        self.batch_per_rank = config.batch // world
        if config.precision == "auto":
            self.amp_dtype = torch.bfloat16 if self.device.type == "cuda" else None
        else:
            self.amp_dtype = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[
                config.precision
            ]
        self.memory_format = (
            torch.channels_last if self.device.type == "cuda" else torch.contiguous_format
        )

        self.dataset = self._open_dataset()
        if config.cond and self.dataset.num_classes == 0:
            raise ValueError(
                f"train: --cond needs a labelled dataset, and {config.data!r} has no labels "
                "(sub-folders or dataset.json); train without --cond"
            )
        self.c_dim = self.dataset.num_classes if config.cond else 0
        self.channels = self.dataset.channels

        torch.manual_seed(config.seed)  # the same initial weights on every process
        G, D = build_models(config, self.channels, self.c_dim)
        self.G = G.to(self.device, memory_format=self.memory_format).train()
        self.D = D.to(self.device, memory_format=self.memory_format).train()
        self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False)
        self.dist.broadcast_module(self.G)
        self.dist.broadcast_module(self.D)
        self.dist.broadcast_module(self.G_ema)
        wgan = config.loss == "wgan-gp"
        self.opt_G = lazy_adam(
            self.G.parameters(),
            config.lr_g,
            config.betas,
            config.pl_interval if config.pl_weight > 0 else None,
        )
        self.opt_D = lazy_adam(
            self.D.parameters(),
            config.lr_d,
            config.betas,
            None if wgan or config.gamma == 0 else config.r1_interval,
        )
        self.G_main = torch.compile(self.G) if config.compile else self.G
        self.D_main = torch.compile(self.D) if config.compile else self.D
        self.pl_mean = torch.zeros((), device=self.device)
        self.cur_nimg = 0
        self.step = 0
        self.bad_steps = 0  # non-finite losses in a row
        self.skipped_steps = 0
        self.stop_requested = False

        self.run_dir = Path(run_dir) if run_dir is not None else None
        snapshot = None
        if resume is not None:
            snapshot = self._read_snapshot(resume)
        self.data = infinite_loader(
            self.dataset,
            self.batch_per_rank,
            rank=self.dist.rank,
            world_size=world,
            seed=config.seed,
            num_workers=config.workers,
            start=(snapshot["step"] if snapshot else 0) * self.batch_per_rank,
        )
        # Per-process random streams (latents, noise, augmentation), after everything above.
        torch.manual_seed(config.seed * 1000003 + 7919 * self.dist.rank + 1)
        if snapshot is not None:
            self._restore(snapshot)
        self.grid_z, self.grid_c = self._grid_latents()
        self.writer: EventWriter | None = None
        self.progress = progress and self.dist.is_main

    def _open_dataset(self):
        """The training images (a subclass may open others, e.g. CycleGAN's two domains)."""
        c = self.config
        return open_dataset(c.data, c.res, c.channels, xflip=c.xflip, skip_bad=c.skip_bad)

    # ----------------------------------------------------------------------------- state

    def _read_snapshot(self, path: str | os.PathLike) -> dict:
        snapshot = load_checkpoint(path, map_location=self.device)
        stored = snapshot.get("config", {})
        for key in ("arch", "res", "z_dim", "w_dim", "channel_base", "channel_max", "cond"):
            if key in stored and stored[key] != getattr(self.config, key):
                raise CheckpointError(
                    f"{path}: the snapshot has {key}={stored[key]!r}, this run "
                    f"{key}={getattr(self.config, key)!r}; resume with the snapshot's settings"
                )
        return snapshot

    def _restore(self, snapshot: dict) -> None:
        try:
            self.G.load_state_dict(snapshot["G"])
            self.D.load_state_dict(snapshot["D"])
            self.G_ema.load_state_dict(snapshot["G_ema"])
            self.opt_G.load_state_dict(snapshot["opt_G"])
            self.opt_D.load_state_dict(snapshot["opt_D"])
        except (KeyError, RuntimeError, ValueError) as e:
            raise CheckpointError(f"the snapshot does not fit this run's models: {e}") from e
        self.cur_nimg = int(snapshot["cur_nimg"])
        self.step = int(snapshot["step"])
        self.pl_mean = snapshot["pl_mean"].to(self.device)
        if "rng" in snapshot and self.dist.world_size == 1:
            set_rng_state(snapshot["rng"])

    def state(self) -> dict:
        """Everything a snapshot holds."""
        return {
            "config": json.loads(self.config.to_json()),
            "G": self.G.state_dict(),
            "D": self.D.state_dict(),
            "G_ema": self.G_ema.state_dict(),
            "opt_G": self.opt_G.state_dict(),
            "opt_D": self.opt_D.state_dict(),
            "cur_nimg": self.cur_nimg,
            "step": self.step,
            "pl_mean": self.pl_mean.detach().cpu(),
            "rng": rng_state(),
            "img_channels": self.channels,
            "c_dim": self.c_dim,
            "class_names": list(getattr(self.dataset, "class_names", None) or []),
        }

    # ----------------------------------------------------------------------------- helpers

    def _autocast(self):
        if self.amp_dtype is None:
            return nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def _augment(self, images: torch.Tensor) -> torch.Tensor:
        """D's view of images: StyleGAN3's fading blur, then DiffAugment (both optional)."""
        images = self._blur(images)
        return diff_augment(images, self.config.diffaugment) if self.config.diffaugment else images

    def _blur(self, images: torch.Tensor) -> torch.Tensor:
        """A Gaussian blur whose sigma fades linearly from blur_sigma to 0 over blur_fade_kimg
        (StyleGAN3's blur of D's inputs); differentiable, so R1 sees it too."""
        sigma = blur_sigma_at(self.config, self.cur_nimg)
        if sigma <= 0:
            return images
        radius = max(1, math.ceil(sigma * 3))
        t = torch.arange(-radius, radius + 1, dtype=torch.float32, device=images.device)
        f = torch.exp(-0.5 * (t / sigma) ** 2)
        return filter2d(images, f / f.sum(), impl=self.config.impl)

    def _labels(self, labels: torch.Tensor) -> torch.Tensor | None:
        if self.c_dim == 0:
            return None
        return torch.nn.functional.one_hot(labels.to(self.device), self.c_dim).float()

    def _random_labels(self, n: int) -> torch.Tensor | None:
        if self.c_dim == 0:
            return None
        return self._labels(torch.randint(self.c_dim, (n,), device=self.device))

    def _latents(self, n: int) -> torch.Tensor:
        return torch.randn(n, self.G.z_dim, device=self.device)

    def _finite(self, loss: torch.Tensor) -> bool:
        """Whether the loss is finite on every process; counts the steps skipped."""
        ok = self.dist.all_true(bool(torch.isfinite(loss).all()))
        if not ok:
            self.skipped_steps += 1
            self._iteration_ok = False
        return ok

    def _count_bad_iterations(self) -> None:
        """Stops training after `max_bad_steps` iterations in a row with a non-finite loss."""
        self.bad_steps = 0 if self._iteration_ok else self.bad_steps + 1
        if self.bad_steps >= self.config.max_bad_steps:
            raise TrainingError(
                f"train: {self.bad_steps} non-finite losses in a row at {self.cur_nimg / 1000:.3g} "
                "kimg; training stopped. Lower the learning rates (--lr-g/--lr-d), raise --gamma, "
                "or use --precision fp32"
            )

    def _optimise(self, loss: torch.Tensor, module: torch.nn.Module, opt) -> bool:
        """Backward, gradients averaged over processes and sanitised, one optimiser step; the
        step is skipped (and counted) when the loss is not finite."""
        opt.zero_grad(set_to_none=True)
        if not self._finite(loss):
            return False
        loss.backward()
        params = [p for p in module.parameters() if p.requires_grad]
        self.dist.average_gradients(params)
        _sanitize_gradients(params)
        opt.step()
        return True

    # ----------------------------------------------------------------------------- phases

    def _generator_phase(self, real, c_real) -> dict[str, float]:
        config, n = self.config, self.batch_per_rank
        self.G.requires_grad_(True)
        self.D.requires_grad_(False)
        stats = {}
        z, c = self._latents(n), self._random_labels(n)
        with self._autocast():
            fake = self._generate(z, c)
            fake_logits = self.D_main(self._augment(fake), c)
            real_logits = None
            if config.loss == "rpgan":
                real_logits = self.D_main(self._augment(real), c_real)
            kind = "wgan" if config.loss == "wgan-gp" else config.loss
            loss = generator_loss(fake_logits.float(), real_logits, kind=kind)
        self._optimise(loss, self.G, self.opt_G)
        stats["loss_G"] = loss.item()
        if self._stylegan and config.pl_weight > 0 and self.step % config.pl_interval == 0:
            m = max(1, n // config.pl_batch_shrink)
            z, c = self._latents(m), self._random_labels(m)
            with self._autocast():
                ws = self.G.mapping(z, c, style_mixing_prob=config.style_mixing, update_emas=False)
                fake = self.G.synthesis(ws)
            penalty, new_mean = path_length_penalty(fake.float(), ws, self.pl_mean, config.pl_decay)
            loss = penalty.mean() * (config.pl_weight * config.pl_interval)
            if self._optimise(loss, self.G, self.opt_G):
                self.pl_mean = self.dist.mean(new_mean.detach())
            stats["penalty_pl"] = penalty.mean().item()
            stats["pl_mean"] = self.pl_mean.item()
        return stats

    def _discriminator_phase(self, real, c_real) -> dict[str, float]:
        config, n = self.config, self.batch_per_rank
        self.G.requires_grad_(False)
        self.D.requires_grad_(True)
        stats = {}
        z, c = self._latents(n), self._random_labels(n)
        with torch.no_grad(), self._autocast():
            fake = self._generate(z, c)
        with self._autocast():
            fake_logits = self.D_main(self._augment(fake.detach()), c)
            real_logits = self.D_main(self._augment(real), c_real)
        kind = "wgan" if config.loss == "wgan-gp" else config.loss
        loss = discriminator_loss(real_logits.float(), fake_logits.float(), kind=kind)
        stats["loss_D"] = loss.item()
        stats["D_real"] = real_logits.float().mean().item()
        stats["D_fake"] = fake_logits.float().mean().item()
        if config.loss == "wgan-gp":
            gp = wgan_gp_penalty(
                lambda x: self.D(self._augment(x), c_real), real, fake.detach().float()
            ).mean()
            loss = loss + config.gamma * gp
            stats["penalty_gp"] = gp.item()
        if config.drift > 0:  # ProGAN's drift term: keeps the critic's outputs near 0
            drift = real_logits.float().square().mean()
            loss = loss + config.drift * drift
            stats["penalty_drift"] = drift.item()
        self._optimise(loss, self.D, self.opt_D)
        if config.loss != "wgan-gp" and config.gamma > 0 and self.step % config.r1_interval == 0:
            real_in = real.detach().requires_grad_(True)
            with self._autocast():
                logits = self.D(self._augment(real_in), c_real)
            penalty = r1_penalty(logits.float(), real_in)
            loss = penalty.mean() * (config.gamma / 2 * config.r1_interval)
            self._optimise(loss, self.D, self.opt_D)
            stats["penalty_r1"] = penalty.mean().item()
        return stats

    def _generate(self, z, c) -> torch.Tensor:
        """The training generator's images (style mixing for StyleGAN2)."""
        if self._stylegan:
            return self.G_main(z, c, style_mixing_prob=self.config.style_mixing)
        return self.G_main(z, c)

    @property
    def _stylegan(self) -> bool:
        return self.config.arch in ("stylegan2", "stylegan3-t", "stylegan3-r")

    def _update_ema(self) -> None:
        config = self.config
        ema_nimg = config.ema_kimg * 1000
        if config.ema_rampup is not None:
            ema_nimg = min(ema_nimg, self.cur_nimg * config.ema_rampup)
        beta = 0.5 ** (config.batch / max(ema_nimg, 1e-8))
        with torch.no_grad():
            ema = list(self.G_ema.parameters())
            torch._foreach_lerp_(ema, [p.detach() for p in self.G.parameters()], 1 - beta)
            for b_ema, b in zip(self.G_ema.buffers(), self.G.buffers(), strict=True):
                b_ema.copy_(b)

    def train_step(self) -> dict[str, float]:
        """One iteration: `config.batch` images through the generator and discriminator phases
        (regularisation included on its intervals), then the EMA."""
        images, labels = next(self.data)
        real = images.to(self.device, non_blocking=True).contiguous(
            memory_format=self.memory_format
        )
        c_real = self._labels(labels)
        self._iteration_ok = True
        if self.config.arch == "progan":
            from fastgan.train.models_extra import apply_progan_growth

            apply_progan_growth(self.config, self.cur_nimg, self.G, self.D, self.G_ema)
        stats = self._generator_phase(real, c_real)
        stats.update(self._discriminator_phase(real, c_real))
        self.dist.average_buffers(self.G)
        self.dist.average_buffers(self.D)
        self.cur_nimg += self.config.batch
        self.step += 1
        self._update_ema()
        self._count_bad_iterations()
        return stats

    # ----------------------------------------------------------------------------- outputs

    def _grid_latents(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Fixed latents for the sample grids: one row per class when conditional."""
        g = torch.Generator().manual_seed(12345)
        rows = self.c_dim if self.c_dim else GRID_ROWS
        z = torch.randn(rows * GRID_COLUMNS, self.G.z_dim, generator=g).to(self.device)
        if not self.c_dim:
            return z, None
        classes = torch.arange(self.c_dim).repeat_interleave(GRID_COLUMNS)
        return z, torch.nn.functional.one_hot(classes, self.c_dim).float().to(self.device)

    @torch.no_grad()
    def sample_grid(self) -> torch.Tensor:
        """G_ema's images of the fixed grid latents, [rows * 8, C, R, R] in [-1, 1]."""
        out = []
        for i in range(0, self.grid_z.shape[0], 64):
            c = None if self.grid_c is None else self.grid_c[i : i + 64]
            kwargs = dict(noise_mode="const") if self._stylegan else {}
            out.append(self.G_ema(self.grid_z[i : i + 64], c, **kwargs).float().cpu())
        return torch.cat(out).clamp(-1, 1)

    def _write_samples(self, tag: str) -> Path | None:
        images = self.sample_grid()
        if not self.dist.is_main:
            return None
        path = self.run_dir / f"samples-{tag}.png"
        save_png(path, image_grid(images, GRID_COLUMNS))
        if self.writer is not None:
            self.writer.add_image(
                "samples", image_grid(images, GRID_COLUMNS), self.cur_nimg // 1000
            )
        return path

    def evaluate(self) -> dict[str, object] | None:
        """The configured metrics of G_ema (every process generates its share)."""
        config = self.config
        if not config.metrics:
            return None
        from fastgan.metrics import evaluate_generator

        extractor = config.extractor
        if extractor == "auto":
            extractor = "digits" if config.data == "digits" else "inception"
        metrics = [m for m in config.metrics if m != "acc" or self.c_dim]

        def generate(n: int, labels: torch.Tensor | None) -> torch.Tensor:
            z = self._latents(n)
            c = None if labels is None else torch.nn.functional.one_hot(labels, self.c_dim).float()
            kwargs = dict(noise_mode="const") if self._stylegan else {}
            return self.G_ema(z.to(self.device), None if c is None else c.to(self.device), **kwargs)

        real = "digits" if config.data == "digits" else self.dataset.images
        return evaluate_generator(
            generate,
            config.metrics_num,
            real=real,
            metrics=metrics,
            extractor=extractor,
            class_labels=self.c_dim or None,
            inception_weights=config.inception_weights,
            device=self.device,
            progress=False,
        )

    def _log_metrics(self, results: dict | None) -> None:
        if results is None or not self.dist.is_main:
            return
        record = {"kimg": self.cur_nimg / 1000, **results}
        with open(self.run_dir / "metrics.jsonl", "a") as f:
            f.write(json.dumps(record) + "\n")
        for key, value in results.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                self.writer.add_scalar(f"metrics/{key}", value, self.cur_nimg // 1000)
        shown = {k: v for k, v in results.items() if isinstance(v, float)}
        print(
            "metrics at {:.4g} kimg: {}".format(
                self.cur_nimg / 1000, ", ".join(f"{k} {v:.4g}" for k, v in shown.items())
            ),
            file=sys.stderr,
        )

    def snapshot(self) -> Path | None:
        """Writes snapshot-<kimg>.pt (rank 0) and prunes old ones; None when the weights are
        not finite (never snapshotted) or on other ranks."""
        for name, module in (("G", self.G), ("D", self.D), ("G_ema", self.G_ema)):
            self.dist.check_in_sync(module, name)
        if not self.dist.is_main:
            return None
        path = self.run_dir / f"snapshot-{self.cur_nimg:09d}.pt"
        try:
            save_checkpoint(path, self.state())
        except ValueError as e:
            print(f"train: snapshot skipped: {e}", file=sys.stderr)
            return None
        prune_checkpoints(self.run_dir, self.config.keep)
        return path

    # ----------------------------------------------------------------------------- the loop

    def _request_stop(self, signum, frame) -> None:
        self.stop_requested = True
        print(
            f"\ntrain: {signal.Signals(signum).name} received; saving a snapshot and stopping",
            file=sys.stderr,
        )

    def run(self) -> dict[str, object]:
        """Trains to config.kimg; returns a summary (run_dir, kimg, last metrics, files)."""
        config = self.config
        if self.dist.is_main:
            if self.run_dir is None:
                self.run_dir = new_run_dir(config.outdir, config)
            self.run_dir.mkdir(parents=True, exist_ok=True)
            (self.run_dir / "config.json").write_text(config.to_json())
            self.writer = EventWriter(self.run_dir)
        handlers = {}
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                handlers[sig] = signal.signal(sig, self._request_stop)
            except ValueError:  # not the main thread
                pass
        total = int(config.kimg * 1000)
        last_metrics = None
        if self.step == 0:
            self._write_samples("init")
            last_metrics = self.evaluate()
            self._log_metrics(last_metrics)
        bar = Progress(total / 1000, unit="kimg", desc="train", disable=not self.progress)
        shown_kimg = self.cur_nimg / 1000
        bar.update(shown_kimg)
        tick_start, tick_nimg, start = time.time(), self.cur_nimg, time.time()
        next_tick = (self.cur_nimg // int(config.tick * 1000) + 1) * int(config.tick * 1000)
        next_snap = (self.cur_nimg // int(config.snap * 1000) + 1) * int(config.snap * 1000)
        sums: dict[str, float] = {}
        counts: dict[str, int] = {}
        try:
            while self.cur_nimg < total and not self.stop_requested:
                stats = self.train_step()
                for k, v in stats.items():
                    if math.isfinite(v):
                        sums[k] = sums.get(k, 0.0) + v
                        counts[k] = counts.get(k, 0) + 1
                done = self.cur_nimg >= total
                if self.cur_nimg >= next_tick or done or self.stop_requested:
                    elapsed = time.time() - tick_start
                    images = self.cur_nimg - tick_nimg
                    record = {
                        "kimg": self.cur_nimg / 1000,
                        "step": self.step,
                        "sec_per_kimg": elapsed / max(images, 1) * 1000,
                        "img_per_sec": images / max(elapsed, 1e-9),
                        "skipped_steps": self.skipped_steps,
                        "time": time.time() - start,
                        **{k: sums[k] / counts[k] for k in sums},
                    }
                    self._log_tick(record)
                    shown = ("loss_G", "loss_D", "img_per_sec", "sec_per_kimg")
                    bar.update(
                        self.cur_nimg / 1000 - shown_kimg,
                        **{k: float(f"{record[k]:.4g}") for k in shown if k in record},
                    )
                    shown_kimg = self.cur_nimg / 1000
                    sums, counts = {}, {}
                    tick_start, tick_nimg = time.time(), self.cur_nimg
                    next_tick += int(config.tick * 1000)
                if self.cur_nimg >= next_snap or done or self.stop_requested:
                    self._write_samples(f"{self.cur_nimg:09d}")
                    if not self.stop_requested:
                        last_metrics = self.evaluate()
                        self._log_metrics(last_metrics)
                    self.snapshot()
                    next_snap += int(config.snap * 1000)
        finally:
            bar.close()
            for sig, handler in handlers.items():
                signal.signal(sig, handler)
            if self.writer is not None:
                self.writer.close()
        return {
            "run_dir": str(self.run_dir) if self.run_dir else None,
            "kimg": self.cur_nimg / 1000,
            "metrics": last_metrics,
            "stopped": self.stop_requested,
            "skipped_steps": self.skipped_steps,
        }

    def _log_tick(self, record: dict) -> None:
        if not self.dist.is_main:
            return
        with open(self.run_dir / "log.jsonl", "a") as f:
            f.write(json.dumps(record) + "\n")
        step = int(record["kimg"] * 1000)
        for key, value in record.items():
            if key not in ("kimg", "step"):
                group = "loss" if key.startswith(("loss", "penalty", "D_")) else "perf"
                self.writer.add_scalar(f"{group}/{key}", value, step)
        self.writer.flush()
