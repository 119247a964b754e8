"""Trains the digits classifier of `fastgan metrics --extractor digits` and writes its weights to
fastgan/metrics/weights/digits_classifier.pt.

Fixed seed; the train split of fastgan.data.digits_split() at resolution 32; each batch lightly
augmented (random scale 0.9-1.1, shift up to 2 pixels, rotation up to 8 degrees, Gaussian noise of
standard deviation up to 0.1) so that the classifier also recognises imperfect generated digits.
Prints the accuracy on the held-out split (the shipped weights need at least 97%).

    .venv/bin/python scripts/train_digits_classifier.py [--epochs 60] [--out PATH]
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time

import torch
import torch.nn.functional as F

from fastgan.data import digits_split, load_digits
from fastgan.metrics.digits_classifier import (
    DIGITS_CLASSIFIER_WEIGHTS,
    DIGITS_RESOLUTION,
    DigitsClassifier,
)

MIN_ACCURACY = 0.97


def augment(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random scale, shift and rotation (background stays -1) and Gaussian noise, per image."""
    n = x.shape[0]

    def uniform(low: float, high: float) -> torch.Tensor:
        return torch.rand(n, generator=generator) * (high - low) + low

    scale = uniform(0.9, 1.1)
    angle = uniform(-8, 8) * math.pi / 180
    shift = (torch.rand(n, 2, generator=generator) * 2 - 1) * (2 / (DIGITS_RESOLUTION / 2))
    # affine_grid maps output to input coordinates: the inverse of the image transform.
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack(
        [torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1
    )
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    # grid_sample pads with zeros: shift the background (-1) to 0 first.
    x = F.grid_sample(x + 1, grid, mode="bilinear", align_corners=False) - 1
    sigma = torch.rand(n, 1, 1, 1, generator=generator) * 0.1
    return (x + sigma * torch.randn(x.shape, generator=generator)).clamp(-1, 1)


@torch.no_grad()
def accuracy(model: DigitsClassifier, images: torch.Tensor, labels: torch.Tensor) -> float:
    model.eval()
    _, logits = model(images)
    return float((logits.argmax(dim=1) == labels).float().mean())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--out", default=DIGITS_CLASSIFIER_WEIGHTS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    generator = torch.Generator().manual_seed(args.seed)

    images, labels = load_digits(DIGITS_RESOLUTION)
    train_idx, test_idx = digits_split()
    x_train, y_train = images[train_idx], labels[train_idx]
    x_test, y_test = images[test_idx], labels[test_idx]
    model = DigitsClassifier()
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    steps_per_epoch = math.ceil(len(x_train) / args.batch)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=args.lr, total_steps=args.epochs * steps_per_epoch
    )
    start = time.perf_counter()
    for epoch in range(args.epochs):
        model.train()
        order = torch.randperm(len(x_train), generator=generator)
        total_loss = 0.0
        for step in range(steps_per_epoch):
            batch = order[step * args.batch : (step + 1) * args.batch]
            _, logits = model(augment(x_train[batch], generator))
            loss = F.cross_entropy(logits, y_train[batch], label_smoothing=0.05)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            total_loss += loss.item() * len(batch)
        if (epoch + 1) % 10 == 0 or epoch + 1 == args.epochs:
            print(
                f"epoch {epoch + 1:3d}  loss {total_loss / len(x_train):.4f}  "
                f"held-out accuracy {accuracy(model, x_test, y_test):.4f}  "
                f"({time.perf_counter() - start:.0f} s)",
                flush=True,
            )
    train_accuracy = accuracy(model, x_train, y_train)
    test_accuracy = accuracy(model, x_test, y_test)
    augmented_accuracy = accuracy(model, augment(x_test, generator), y_test)
    print(
        f"train accuracy {train_accuracy:.4f}; held-out accuracy {test_accuracy:.4f} "
        f"({len(x_test)} images); held-out, augmented {augmented_accuracy:.4f}"
    )
    if test_accuracy < MIN_ACCURACY:
        print(f"held-out accuracy under {MIN_ACCURACY}: weights not written", file=sys.stderr)
        return 1
    state_dict = {
        k: v.detach().to(torch.float32).contiguous() for k, v in model.state_dict().items()
    }
    directory = os.path.dirname(os.path.abspath(args.out))
    os.makedirs(directory, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=directory, suffix=".tmp", delete=False) as f:
        torch.save(state_dict, f)
    os.chmod(f.name, 0o644)  # a package data file; NamedTemporaryFile creates it 0600
    os.replace(f.name, args.out)
    print(
        f"wrote {args.out} ({os.path.getsize(args.out)} bytes, "
        f"{sum(v.numel() for v in state_dict.values())} parameters)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
