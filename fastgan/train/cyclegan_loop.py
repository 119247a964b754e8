"""`fastgan train --model cyclegan`: the :class:`~fastgan.train.loop.Trainer` with CycleGAN's
step. The run directory, logs, TensorBoard, snapshots (atomic, the last `keep`), exact resume,
SIGINT / SIGTERM and torchrun are the base trainer's; what differs is factored here:

- two domains (:func:`fastgan.data.unpaired.open_unpaired`), each with its own endless loader;
- one iteration: both generators against both discriminators (LSGAN, cycle and identity
  losses), then both discriminators on the pools of past fakes; Adam at a constant learning
  rate for the first half of `kimg`, then linearly to 0 (a function of the images seen, so a
  resumed run continues the same schedule); no EMA (G_ema is a copy of G);
- sample grids: rows of A, G_ab(A), G_ba(G_ab(A)), B, G_ba(B), G_ab(G_ba(B)) (8 held-out images
  each);
- the metric 'translate': on the held-out digits-colour test split, the digits classifier's
  accuracy on G_ab(A) and G_ba(B) against the digits' classes, and the mean absolute cycle
  reconstruction error per domain (folders: the cycle errors on up to 256 images of each).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from fastgan.data import infinite_loader
from fastgan.data.folder import IMAGE_EXTENSIONS, _decode
from fastgan.data.unpaired import digits_colour_test, open_unpaired
from fastgan.models.cyclegan import (
    ImagePool,
    cyclegan_discriminator_loss,
    cyclegan_generator_loss,
)
from fastgan.train.loop import Trainer
from fastgan.utils.checkpoint import CheckpointError, load_checkpoint
from fastgan.utils.images import save_png

__all__ = ["CycleGANTrainer", "lr_factor", "translate_folder"]

GRID_IMAGES = 8


def lr_factor(nimg: int, total: int) -> float:
    """CycleGAN's schedule: 1 for the first half of training, then linearly down to 0."""
    frac = nimg / max(total, 1)
    return 1.0 if frac < 0.5 else max(0.0, (1.0 - frac) / 0.5)


class CycleGANTrainer(Trainer):
    """A CycleGAN run; see the module's description."""

    def __init__(self, config, run_dir=None, resume=None, progress=True) -> None:
        super().__init__(config, run_dir=run_dir, resume=resume, progress=progress)
        self.data_b = infinite_loader(
            self.dataset_b,
            self.batch_per_rank,
            rank=self.dist.rank,
            world_size=self.dist.world_size,
            seed=config.seed + 1,
            num_workers=config.workers,
            start=self.step * self.batch_per_rank,
        )

    def _open_dataset(self):
        c = self.config
        a, b = open_unpaired(
            c.data if c.data_a is None else None,
            c.res,
            c.data_a,
            c.data_b,
            c.channels,
            xflip=c.xflip,
            skip_bad=c.skip_bad,
        )
        self.dataset_b = b
        self.pool_a, self.pool_b = ImagePool(c.pool_size), ImagePool(c.pool_size)
        return a

    # ----------------------------------------------------------------------------- state

    def state(self) -> dict:
        state = super().state()
        state["pool_a"] = self.pool_a.state_dict()
        state["pool_b"] = self.pool_b.state_dict()
        return state

    def _restore(self, snapshot: dict) -> None:
        super()._restore(snapshot)
        try:
            self.pool_a.load_state_dict(snapshot["pool_a"], self.device)
            self.pool_b.load_state_dict(snapshot["pool_b"], self.device)
        except (KeyError, ValueError) as e:
            raise CheckpointError(f"the snapshot has no CycleGAN image pools that fit: {e}") from e

    # ----------------------------------------------------------------------------- the step

    def _update_ema(self) -> None:
        self.G_ema.load_state_dict(self.G.state_dict())

    def train_step(self) -> dict[str, float]:
        config = self.config
        real_a = next(self.data)[0].to(self.device)
        real_b = next(self.data_b)[0].to(self.device)
        factor = lr_factor(self.cur_nimg, int(config.kimg * 1000))
        for opt, lr in ((self.opt_G, config.lr_g), (self.opt_D, config.lr_d)):
            for group in opt.param_groups:
                group["lr"] = lr * factor
        self._iteration_ok = True
        self.G.requires_grad_(True)
        self.D.requires_grad_(False)
        with self._autocast():
            loss_G, terms = cyclegan_generator_loss(
                self.G, self.D, real_a, real_b, config.cycle_weight, config.identity_weight
            )
        self._optimise(loss_G, self.G, self.opt_G)
        self.D.requires_grad_(True)
        fake_a = self.pool_a.query(terms.pop("fake_a").detach())
        fake_b = self.pool_b.query(terms.pop("fake_b").detach())
        with self._autocast():
            loss_D, d_terms = cyclegan_discriminator_loss(self.D, real_a, real_b, fake_a, fake_b)
        self._optimise(loss_D, self.D, self.opt_D)
        self.dist.average_buffers(self.G)
        self.dist.average_buffers(self.D)
        self.cur_nimg += config.batch
        self.step += 1
        self._update_ema()
        self._count_bad_iterations()
        stats = {"loss_G": loss_G.item(), "loss_D": loss_D.item(), "lr_factor": factor}
        stats.update({k: v.item() for k, v in {**terms, **d_terms}.items()})
        return stats

    # ----------------------------------------------------------------------------- outputs

    def _held_out(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """(A, B, labels or None): the digits-colour test split, or the first images of the
        folders."""
        c = self.config
        if c.data_a is None:
            a, b, labels = digits_colour_test(c.res)
            if self.channels == 1:
                a, b = a.mean(1, keepdim=True), b.mean(1, keepdim=True)
            return a, b, labels
        n = min(256, len(self.dataset), len(self.dataset_b))

        def floats(images: torch.Tensor) -> torch.Tensor:
            images = images[:n]
            return images.float() / 127.5 - 1 if images.dtype == torch.uint8 else images.float()

        return floats(self.dataset.images), floats(self.dataset_b.images), None

    def _grid_latents(self):
        a, b, _ = self._held_out()
        return a[:GRID_IMAGES].to(self.device), b[:GRID_IMAGES].to(self.device)

    @torch.no_grad()
    def sample_grid(self) -> torch.Tensor:
        a, b = self.grid_z, self.grid_c
        G = self.G_ema
        ab = G(a, "a2b")
        ba = G(b, "b2a")
        rows = [a, ab, G(ab, "b2a"), b, ba, G(ba, "a2b")]
        return torch.cat([r.float().cpu() for r in rows]).clamp(-1, 1)

    @torch.no_grad()
    def evaluate(self) -> dict[str, object] | None:
        if "translate" not in self.config.metrics:
            return None
        a, b, labels = self._held_out()
        G = self.G_ema
        results: dict[str, object] = {}
        outs = {"a2b": [], "b2a": [], "cycle_a": [], "cycle_b": []}
        for i in range(0, len(a), 128):
            xa, xb = a[i : i + 128].to(self.device), b[i : i + 128].to(self.device)
            ab, ba = G(xa, "a2b"), G(xb, "b2a")
            outs["a2b"].append(ab.float().cpu())
            outs["b2a"].append(ba.float().cpu())
            outs["cycle_a"].append((G(ab, "b2a") - xa).abs().flatten(1).mean(1).cpu())
            outs["cycle_b"].append((G(ba, "a2b") - xb).abs().flatten(1).mean(1).cpu())
        results["cycle_error_a"] = float(torch.cat(outs["cycle_a"]).mean())
        results["cycle_error_b"] = float(torch.cat(outs["cycle_b"]).mean())
        if labels is not None:
            from fastgan.metrics.digits_classifier import load_digits_classifier

            classifier = load_digits_classifier()
            for key in ("a2b", "b2a"):
                predicted = classifier(torch.cat(outs[key]).clamp(-1, 1))[1].argmax(1)
                results[f"acc_{key}"] = float((predicted == labels).float().mean())
        return results


def translate_folder(
    ckpt: str | os.PathLike,
    input_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    direction: str = "a2b",
    device: str | None = None,
) -> list[Path]:
    """Translates every image of `input_dir` (PNG, JPEG, WebP; centre-cropped and resized to the
    run's resolution) with the snapshot's generator for `direction` ('a2b' or 'b2a'); writes
    ``<name>.png`` files into `out_dir` (atomically) and returns their paths."""
    from fastgan.train.config import TrainConfig
    from fastgan.train.setup import build_models

    if direction not in ("a2b", "b2a"):
        raise ValueError(f"translate: expected --direction a2b or b2a, got {direction!r}")
    snapshot = load_checkpoint(ckpt)
    try:
        config = TrainConfig.from_dict(snapshot["config"])
        if config.arch != "cyclegan":
            raise ValueError(f"the snapshot is of --model {config.arch}, not cyclegan")
        channels = int(snapshot["img_channels"])
        G, _ = build_models(config, channels, 0)
        G.load_state_dict(snapshot["G_ema"])
    except (KeyError, RuntimeError, TypeError, ValueError) as e:
        raise CheckpointError(f"{os.fspath(ckpt)}: not a CycleGAN snapshot: {e}") from e
    if not os.path.isdir(input_dir):
        raise ValueError(f"translate: expected --input to be a folder of images, got {input_dir!r}")
    names = sorted(n for n in os.listdir(input_dir) if n.lower().endswith(IMAGE_EXTENSIONS))
    if not names:
        raise ValueError(
            f"translate: expected images ({', '.join(IMAGE_EXTENSIONS)}) in --input "
            f"{os.fspath(input_dir)!r}, found none"
        )
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    G = G.to(dev).eval().requires_grad_(False)
    os.makedirs(out_dir, exist_ok=True)
    written = []
    for name in names:
        with open(os.path.join(input_dir, name), "rb") as f:
            data = f.read()
        try:
            array = _decode(data, config.res, channels)
        except Exception as e:  # PIL raises many kinds on a broken file
            raise ValueError(f"translate: cannot read {os.path.join(input_dir, name)}: {e}") from e
        x = torch.from_numpy(np.ascontiguousarray(array)).float()[None] / 127.5 - 1
        with torch.no_grad():
            y = G(x.to(dev), direction).float().cpu().clamp(-1, 1)[0]
        path = Path(out_dir) / (Path(name).stem + ".png")
        save_png(path, y)
        written.append(path)
    return written
