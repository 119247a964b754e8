"""Measures the metrics' targets (issue 7) on this machine and prints them:

1. the Fréchet distance of two 2048-d Gaussians (covariances of 5000 samples each): time of
   fastgan.metrics.frechet_distance, beside the scipy.linalg.sqrtm route (when scipy is installed)
   and the relative difference of the two;
2. precision / recall of 20,000 x 20,000 2048-d features: time and peak resident memory, measured
   in a child process (resource.getrusage of the child; the features themselves take
   2 x 20,000 x 2048 x 4 bytes = 328 MB of it);
3. KID (100 subsets of 1000) on the same features: time;
4. the shipped digits classifier's accuracy on the held-out split.

    .venv/bin/python scripts/measure_metrics.py [--n 20000] [--dim 2048] [--skip-pr]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np
import torch

from fastgan.metrics import (
    feature_statistics,
    frechet_distance,
    kernel_inception_distance,
    load_digits_classifier,
    precision_recall,
)


def gaussian_features(n: int, dim: int, seed: int, shift: float = 0.0) -> torch.Tensor:
    """n samples of a correlated Gaussian (a random linear map of white noise)."""
    generator = torch.Generator().manual_seed(seed)
    mixing = torch.randn(dim, dim, generator=generator) / dim**0.5
    return torch.randn(n, dim, generator=generator) @ mixing + shift


def measure_frechet(dim: int, samples: int) -> dict[str, float]:
    (mu1, s1) = feature_statistics(gaussian_features(samples, dim, 1))
    (mu2, s2) = feature_statistics(gaussian_features(samples, dim, 2, shift=0.05))
    times = []
    for _ in range(3):
        start = time.perf_counter()
        value = frechet_distance(mu1, s1, mu2, s2)
        times.append(time.perf_counter() - start)
    result = {"frechet_distance": value, "fastgan_seconds_median_of_3": sorted(times)[1]}
    try:
        import scipy.linalg
    except ImportError:
        return result
    start = time.perf_counter()
    covmean = scipy.linalg.sqrtm(s1.numpy() @ s2.numpy())
    reference = (
        float(((mu1 - mu2) ** 2).sum())
        + float(torch.trace(s1) + torch.trace(s2))
        - 2 * float(np.trace(covmean).real)
    )
    result["scipy_sqrtm_seconds"] = time.perf_counter() - start
    result["relative_difference_to_scipy"] = abs(value - reference) / reference
    return result


def child_precision_recall(n: int, dim: int, block_size: int) -> None:
    """Run in a child process: prints JSON with the result, time and peak RSS before and after."""
    real = gaussian_features(n, dim, 3)
    fake = gaussian_features(n, dim, 4, shift=0.02)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    precision, recall = precision_recall(real, fake, k=3, block_size=block_size)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {
                "precision": precision,
                "recall": recall,
                "seconds": seconds,
                "peak_rss_before_mib": before / 1024,
                "peak_rss_mib": peak / 1024,
            }
        )
    )


def measure_precision_recall(n: int, dim: int, block_size: int) -> dict[str, float]:
    command = [sys.executable, __file__, "--child-pr", "--n", str(n), "--dim", str(dim)]
    command += ["--block-size", str(block_size)]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    result = json.loads(output.strip().splitlines()[-1])
    result["children_peak_rss_mib"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return result


def measure_kid(n: int, dim: int) -> dict[str, float]:
    real, fake = gaussian_features(n, dim, 3), gaussian_features(n, dim, 4, shift=0.02)
    start = time.perf_counter()
    mean, std = kernel_inception_distance(real, fake)
    return {"kid": mean, "kid_std": std, "seconds": time.perf_counter() - start}


def measure_digits_accuracy() -> dict[str, float]:
    from fastgan.data import digits_split, load_digits

    images, labels = load_digits(32)
    _, test = digits_split()
    with torch.no_grad():
        _, logits = load_digits_classifier()(images[test])
    correct = int((logits.argmax(dim=1) == labels[test]).sum())
    return {"held_out_accuracy": correct / len(test), "correct": correct, "held_out": len(test)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20000, help="features per set for P/R and KID")
    parser.add_argument("--dim", type=int, default=2048)
    parser.add_argument("--frechet-samples", type=int, default=5000)
    parser.add_argument("--block-size", type=int, default=1024)
    parser.add_argument("--skip-pr", action="store_true")
    parser.add_argument("--child-pr", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_pr:
        child_precision_recall(args.n, args.dim, args.block_size)
        return 0
    print(
        f"# torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs",
        flush=True,
    )
    print("frechet:", json.dumps(measure_frechet(args.dim, args.frechet_samples)), flush=True)
    print("digits:", json.dumps(measure_digits_accuracy()), flush=True)
    if not args.skip_pr:
        print(
            "precision_recall:",
            json.dumps(measure_precision_recall(args.n, args.dim, args.block_size)),
            flush=True,
        )
        print("kid:", json.dumps(measure_kid(args.n, args.dim)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
