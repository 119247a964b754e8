"""`fastgan metrics`: FID, KID, Inception Score, precision / recall (and for the digits extractor
the accuracy of conditional samples and mode coverage) of generated images against a real set.

    fastgan metrics --metrics fid,kid,is,pr --real digits|PATH --fake PATH
    fastgan metrics --real digits|PATH --ckpt PATH --num N

Prints a table, writes JSON with --json FILE. --ckpt draws the images from the G_ema of a
`fastgan train` snapshot (fresh latents, constant noise); for a conditional generator they are
asked for balanced classes and 'acc' becomes available.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys

import torch

from fastgan.metrics.extractors import EXTRACTORS
from fastgan.utils.atomic import write_text_atomically

__all__ = ["add_parser", "format_table", "run"]

_PAIRS = {"kid": "kid_std", "is": "is_std"}
_ROWS = (
    ("fid", "FID", "{:.4f}"),
    ("kid", "KID", "{:.6f}"),
    ("is", "Inception Score", "{:.4f}"),
    ("precision", "precision", "{:.4f}"),
    ("recall", "recall", "{:.4f}"),
    ("accuracy", "class accuracy", "{:.4f}"),
    ("modes_covered", "classes produced", "{:d}"),
    ("class_entropy", "class entropy (nats)", "{:.4f}"),
)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an int >= 1, got {text!r}")
    return value


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Adds the `metrics` subcommand to a parser's subparsers; returns its parser."""
    parser = subparsers.add_parser(
        "metrics",
        help="FID / KID / IS / precision-recall of generated images",
        description=__doc__.split("\n\n")[0],
    )
    parser.add_argument(
        "--metrics",
        default="fid,kid,is,pr",
        help="comma-separated, from fid, kid, is, pr, acc (needs labels), modes "
        "(default: fid,kid,is,pr)",
    )
    parser.add_argument(
        "--real",
        default="digits",
        help="'digits' (bundled), a folder of images, a .npz / .pt file of images, or a .npz with "
        "mu and sigma (FID only); default: digits",
    )
    fake = parser.add_mutually_exclusive_group(required=True)
    fake.add_argument(
        "--fake", metavar="PATH", help="generated images: a folder or a .npz / .pt file"
    )
    fake.add_argument(
        "--ckpt",
        metavar="PATH",
        help="a fastgan snapshot, NVIDIA StyleGAN2-ADA .pkl or rosinality .pt to draw images from",
    )
    parser.add_argument(
        "--num", type=_positive_int, default=50000, help="images to draw with --ckpt (50000)"
    )
    parser.add_argument("--extractor", choices=EXTRACTORS, default="inception")
    parser.add_argument(
        "--inception-weights",
        metavar="PATH",
        help="pt_inception-2015-12-05-6726825d.pth (default: $FASTGAN_INCEPTION_WEIGHTS)",
    )
    parser.add_argument("--batch", type=_positive_int, default=64, help="images per batch (64)")
    parser.add_argument("--json", metavar="FILE", help="write the results as JSON")
    parser.add_argument("--device", help="cpu, cuda, cuda:1, ... (default: cuda when available)")
    parser.add_argument(
        "--no-amp", action="store_true", help="float32 on CUDA instead of float16 autocast"
    )
    parser.add_argument(
        "--cache-dir",
        metavar="DIR",
        help="real statistics cache ($FASTGAN_CACHE, ~/.cache/fastgan)",
    )
    parser.add_argument("--no-cache", action="store_true", help="neither read nor write the cache")
    parser.add_argument("--kid-subsets", type=_positive_int, default=100)
    parser.add_argument("--kid-subset-size", type=_positive_int, default=1000)
    parser.add_argument("--is-splits", type=_positive_int, default=10)
    parser.add_argument("--pr-k", type=_positive_int, default=3)
    parser.add_argument("--pr-block-size", type=_positive_int, default=1024)
    parser.add_argument("--seed", type=int, default=0, help="KID subsets (0)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)
    return parser


def format_table(results: dict[str, object]) -> str:
    """The metrics of a results dict as an aligned two-column table."""
    rows = []
    for key, label, fmt in _ROWS:
        if key not in results:
            continue
        value = fmt.format(results[key])
        if key in _PAIRS:
            value += " ± " + fmt.format(results[_PAIRS[key]])
        rows.append((label, value))
    if "class_histogram" in results:
        rows.append(("class histogram", " ".join(map(str, results["class_histogram"]))))
    width = max(len(label) for label, _ in rows)
    return "\n".join(f"{label:<{width}}  {value}" for label, value in rows)


def _generator_from_checkpoint(path: str, device: torch.device | str | None):
    # The trainer sits above the metrics (it calls them); its snapshot reader is imported only
    # for --ckpt, at run time.
    from fastgan.train.generate import generate_fn_from_checkpoint

    if not os.path.isfile(path):
        raise FileNotFoundError(f"expected --ckpt to be a checkpoint file, got {path!r}")
    return generate_fn_from_checkpoint(path, device)


def run(args: argparse.Namespace) -> int:
    """Runs `fastgan metrics` with parsed arguments; returns the exit status (2: bad input)."""
    from fastgan import __version__
    from fastgan.metrics.evaluate import compute_metrics, evaluate_generator, parse_metrics

    options = dict(
        inception_weights=args.inception_weights,
        device=args.device,
        amp=False if args.no_amp else None,
        cache_dir=args.cache_dir,
        use_cache=not args.no_cache,
        progress=not args.quiet,
        kid_subsets=args.kid_subsets,
        kid_subset_size=args.kid_subset_size,
        is_splits=args.is_splits,
        pr_k=args.pr_k,
        pr_block_size=args.pr_block_size,
        seed=args.seed,
    )
    try:
        metrics = parse_metrics(args.metrics)
        if args.fake is not None:
            results = compute_metrics(
                args.fake, args.real, metrics, args.extractor, batch=args.batch, **options
            )
        else:
            generate_fn, num_classes = _generator_from_checkpoint(args.ckpt, args.device)
            results = evaluate_generator(
                generate_fn,
                args.num,
                args.real,
                metrics,
                args.extractor,
                args.batch,
                class_labels=num_classes,
                **options,
            )
    except (ValueError, TypeError, FileNotFoundError) as error:
        print(f"fastgan metrics: {error}", file=sys.stderr)
        return 2
    real = args.real
    fake = args.fake if args.fake is not None else f"{args.ckpt} ({args.num} generated)"
    print(
        f"# {results['num_fake']} fake images ({fake}) vs {results.get('num_real', '-')} real "
        f"({real}); extractor {results['extractor']}"
    )
    print(format_table(results))
    if args.json:
        document = {
            "metrics": {
                k: v for k, v in results.items() if k not in ("num_fake", "num_real", "extractor")
            },
            "num_fake": results["num_fake"],
            "num_real": results.get("num_real"),
            "extractor": results["extractor"],
            "real": real,
            "fake": fake,
            "command": "fastgan " + " ".join(sys.argv[1:]),
            "environment": {
                "fastgan": __version__,
                "torch": torch.__version__,
                "device": args.device or ("cuda" if torch.cuda.is_available() else "cpu"),
                "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            },
        }
        write_text_atomically(args.json, json.dumps(document, indent=2) + "\n")
    return 0
