"""`fastgan train` and `fastgan generate`."""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

import torch

from fastgan.train.config import ARCHS, LOSSES, PRECISIONS, PRESETS, make_config

__all__ = ["add_parsers"]


def _seeds(text: str) -> list[int]:
    """'0-63', '1,5,9' or '0-3,10' as a list of ints."""
    seeds: list[int] = []
    for part in text.split(","):
        m = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", part)
        if not m:
            raise argparse.ArgumentTypeError(f"expected seeds such as 0-63 or 1,5,9, got {text!r}")
        first, last = int(m.group(1)), int(m.group(2) or m.group(1))
        if last < first:
            raise argparse.ArgumentTypeError(f"expected a range low-high, got {part!r}")
        seeds.extend(range(first, last + 1))
    return seeds


def _latest_snapshot(outdir: str) -> Path:
    """The newest snapshot of the newest run under outdir that has one."""
    from fastgan.utils.checkpoint import list_checkpoints

    runs = sorted((p for p in Path(outdir).glob("[0-9]*-*") if p.is_dir()), reverse=True)
    for run in runs:
        snapshots = list_checkpoints(run)
        if snapshots:
            return snapshots[-1]
    raise SystemExit(f"fastgan train: --resume latest, but no snapshot under {outdir!r}")


def cmd_train(args: argparse.Namespace) -> int:
    from fastgan.train.loop import Trainer, TrainingError
    from fastgan.utils.checkpoint import CheckpointError, load_checkpoint

    overrides = dict(
        data=args.data,
        outdir=args.outdir,
        res=args.res,
        batch=args.batch,
        kimg=args.kimg,
        loss=args.loss,
        gamma=args.gamma,
        precision=args.precision,
        snap=args.snap,
        tick=args.tick,
        seed=args.seed,
        compile=args.compile or None,
        diffaugment=args.diffaugment,
        arch=args.arch,
        lr_g=args.lr_g,
        lr_d=args.lr_d,
        style_mixing=args.style_mixing,
        pl_weight=args.pl_weight,
        ema_kimg=args.ema_kimg,
        mbdisc_kernels=args.mbdisc,
        xflip=args.mirror or None,
        workers=args.workers,
        skip_bad=args.skip_bad or None,
        device=args.device,
        keep=args.keep,
        metrics_num=args.metrics_num,
        inception_weights=args.inception_weights,
        impl=args.impl,
        data_a=args.data_a,
        data_b=args.data_b,
        progan_kimg=args.progan_kimg,
        width=args.width,
        gen_blocks=args.gen_blocks,
        resample=args.resample,
        pool_size=args.pool_size,
        cycle_weight=args.cycle_weight,
        identity_weight=args.identity_weight,
    )
    if args.cond is not None:
        overrides["cond"] = args.cond
    if args.metrics is not None:
        overrides["metrics"] = [m for m in args.metrics.split(",") if m and m != "none"]
    run_dir = None
    resume = None
    try:
        if args.resume:
            resume = _latest_snapshot(args.outdir) if args.resume == "latest" else Path(args.resume)
            stored = dict(load_checkpoint(resume).get("config", {}))
            # The snapshot's settings, then what was asked for on this command line.
            given = {k: v for k, v in overrides.items() if v is not None and _was_given(args, k)}
            if args.cond is not None:
                given["cond"] = args.cond
            config = make_config(stored.pop("cfg", args.cfg), **{**stored, **given})
            run_dir = resume.parent
        else:
            config = make_config(args.cfg, **overrides)
        if config.arch == "cyclegan":
            from fastgan.train.cyclegan_loop import CycleGANTrainer as Trainer
        trainer = Trainer(config, run_dir=run_dir, resume=resume, progress=not args.quiet)
        summary = trainer.run()
    except (CheckpointError, TrainingError, ValueError) as e:
        print(f"fastgan train: {e}", file=sys.stderr)
        return 1
    if trainer.dist.is_main:
        out = Path(summary["run_dir"])
        grids = sorted(out.glob("samples-*.png"), key=lambda p: p.stat().st_mtime)
        print(f"run directory   {out}")
        print(f"sample grids    {grids[-1] if grids else '-'} ({len(grids)} in all)")
        print(f"log             {out / 'log.jsonl'} (TensorBoard: tensorboard --logdir {out})")
        print(f"metrics         {out / 'metrics.jsonl'}")
        snaps = sorted(out.glob("snapshot-*.pt"))
        print(f"snapshot        {snaps[-1] if snaps else '-'}")
        if summary["metrics"]:
            shown = {k: v for k, v in summary["metrics"].items() if isinstance(v, float)}
            print("final metrics   " + ", ".join(f"{k} {v:.4g}" for k, v in shown.items()))
        if summary["stopped"]:
            print("stopped early on a signal; continue with --resume latest")
    trainer.dist.close()
    return 0


# The command-line destinations that differ from the config names.
_ARG_NAMES = {"mbdisc_kernels": "mbdisc", "xflip": "mirror"}


def _was_given(args: argparse.Namespace, key: str) -> bool:
    return key in args.given or _ARG_NAMES.get(key) in args.given


class _Record(argparse.Action):
    """Stores the value and remembers that the option was given (for --resume)."""

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, values)
        namespace.given = (*getattr(namespace, "given", ()), self.dest)


def cmd_generate(args: argparse.Namespace) -> int:
    from fastgan.train.generate import load_generator
    from fastgan.utils.checkpoint import CheckpointError
    from fastgan.utils.images import image_grid, save_png

    try:
        G, snapshot = load_generator(args.ckpt, args.device)
    except CheckpointError as e:
        print(f"fastgan generate: {e}", file=sys.stderr)
        return 1
    device = next(G.parameters()).device
    c_dim = int(snapshot["c_dim"])
    if c_dim and args.class_index is None:
        print(
            f"fastgan generate: the generator is conditional ({c_dim} classes): expected "
            f"--class K (0 <= K < {c_dim}) or --class all (one row per class)",
            file=sys.stderr,
        )
        return 1
    if not c_dim and args.class_index is not None:
        print(
            "fastgan generate: --class given, but the generator is unconditional", file=sys.stderr
        )
        return 1
    rows: list[int | None]
    if args.class_index == "all":
        rows = list(range(c_dim))
    elif args.class_index is not None:
        k = int(args.class_index)
        if not 0 <= k < c_dim:
            print(f"fastgan generate: expected --class in [0, {c_dim}), got {k}", file=sys.stderr)
            return 1
        rows = [k]
    else:
        rows = [None]
    images = []
    with torch.no_grad():
        for row in rows:
            for seed in args.seeds:
                z = torch.randn(1, G.z_dim, generator=torch.Generator().manual_seed(seed))
                c = None
                if row is not None:
                    c = torch.nn.functional.one_hot(torch.tensor([row]), c_dim).float().to(device)
                kwargs = {}
                if hasattr(G, "mapping"):
                    kwargs = dict(truncation_psi=args.trunc, noise_mode="const")
                images.append(G(z.to(device), c, **kwargs).float().cpu().clamp(-1, 1))
    images = torch.cat(images)
    columns = len(args.seeds) if len(rows) > 1 else args.columns or int(len(images) ** 0.5 + 0.999)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        save_png(args.out, image_grid(images, columns))
        print(f"wrote {args.out} ({len(images)} images)")
    if args.per_seed:
        os.makedirs(args.per_seed, exist_ok=True)
        for i, img in enumerate(images):
            row, seed = rows[i // len(args.seeds)], args.seeds[i % len(args.seeds)]
            name = f"seed{seed:04d}" + (f"-class{row}" if row is not None else "") + ".png"
            save_png(os.path.join(args.per_seed, name), image_grid(img[None], 1))
        print(f"wrote {len(images)} images to {args.per_seed}")
    return 0


def add_parsers(sub) -> None:
    """Registers `train` and `generate` on the `fastgan` command's subparsers."""
    train = sub.add_parser(
        "train",
        help="train a GAN (StyleGAN2 by default) on digits, shapes or your images",
        description=(
            "Trains a GAN. The defaults (--cfg tiny on --data digits, conditional) run on a CPU "
            "in minutes. Outputs go to OUTDIR/NNNNN-<data>-<cfg>[-cond]/: config.json, "
            "log.jsonl, metrics.jsonl, TensorBoard events, samples-*.png, snapshot-*.pt. "
            "Several processes: torchrun --nproc_per_node=K -m fastgan train ..."
        ),
    )
    train.set_defaults(given=())
    opt = dict(action=_Record)
    train.add_argument(
        "--data", default="digits", help="digits, shapes, or a folder / .zip of images", **opt
    )
    train.add_argument("--data-a", help="--model cyclegan: domain A's folder / .zip", **opt)
    train.add_argument("--data-b", help="--model cyclegan: domain B's folder / .zip", **opt)
    train.add_argument(
        "--progan-kimg", type=float, help="--model progan: kimg per growth phase (5)", **opt
    )
    train.add_argument("--width", type=int, help="--model cyclegan: base channels (16)", **opt)
    train.add_argument(
        "--gen-blocks",
        type=int,
        help="--model cyclegan: residual blocks (6; 9 in the paper)",
        **opt,
    )
    train.add_argument(
        "--resample",
        choices=["stride", "fir"],
        help="--model cyclegan: strided convolutions (stride) or anti-aliased FIR resampling",
        **opt,
    )
    train.add_argument("--pool-size", type=int, help="--model cyclegan: past fakes (50)", **opt)
    train.add_argument("--cycle-weight", type=float, help="--model cyclegan: lambda (10)", **opt)
    train.add_argument(
        "--identity-weight", type=float, help="--model cyclegan: x lambda (0.5)", **opt
    )
    train.add_argument("--outdir", default="runs", help="where run directories are created")
    train.add_argument("--cfg", default="tiny", choices=list(PRESETS), help="preset (default tiny)")
    train.add_argument(
        "--model",
        "--arch",
        dest="arch",
        choices=list(ARCHS),
        help="network (default stylegan2); stylegan3-t/-r, progan and cyclegan bring their own "
        "defaults",
        **opt,
    )
    train.add_argument("--res", type=int, help="training resolution, a power of two", **opt)
    train.add_argument("--batch", type=int, help="images per step, over all processes", **opt)
    train.add_argument(
        "--kimg", type=float, help="length of training in thousands of images", **opt
    )
    cond = train.add_mutually_exclusive_group()
    cond.add_argument(
        "--cond",
        dest="cond",
        action="store_true",
        default=None,
        help="condition on the dataset's labels (default for labelled data)",
    )
    cond.add_argument("--no-cond", dest="cond", action="store_false", help="unconditional")
    train.add_argument("--loss", choices=LOSSES, help="GAN loss (default logistic)", **opt)
    train.add_argument(
        "--gamma", type=float, help="R1 weight (WGAN-GP's lambda with --loss wgan-gp)", **opt
    )
    train.add_argument("--lr-g", type=float, help="generator learning rate", **opt)
    train.add_argument("--lr-d", type=float, help="discriminator learning rate", **opt)
    train.add_argument(
        "--style-mixing",
        type=float,
        help="probability of mixing two latents' styles in a generated image (StyleGAN2: 0.9)",
        **opt,
    )
    train.add_argument(
        "--pl-weight",
        type=float,
        help="path length regularisation weight (StyleGAN2: 2; 0 turns it off)",
        **opt,
    )
    train.add_argument(
        "--ema-kimg",
        type=float,
        help="half-life of the generator EMA in thousands of images",
        **opt,
    )
    train.add_argument("--diffaugment", help="e.g. translation,cutout,color", **opt)
    train.add_argument("--mirror", action="store_true", help="random x-flips of the data")
    train.add_argument("--mbdisc", type=int, help="minibatch discrimination kernels in D", **opt)
    train.add_argument("--compile", action="store_true", help="torch.compile the main phases")
    train.add_argument(
        "--precision",
        choices=PRECISIONS,
        help="auto: bfloat16 autocast on CUDA, float32 on CPU",
        **opt,
    )
    train.add_argument(
        "--snap", type=float, help="kimg between snapshots, grids and metrics", **opt
    )
    train.add_argument("--tick", type=float, help="kimg between log lines", **opt)
    train.add_argument("--keep", type=int, help="snapshots kept (default 3)", **opt)
    train.add_argument("--metrics", help="comma-separated: fid,kid,is,pr,acc,modes or none", **opt)
    train.add_argument("--metrics-num", type=int, help="generated images per evaluation", **opt)
    train.add_argument(
        "--inception-weights", help="InceptionV3 weights file (FID off digits)", **opt
    )
    train.add_argument("--resume", help="a snapshot path, or 'latest' (newest under --outdir)")
    train.add_argument("--seed", type=int, help="random seed (default 0)", **opt)
    train.add_argument("--workers", type=int, help="DataLoader worker processes", **opt)
    train.add_argument("--skip-bad", action="store_true", help="skip unreadable images")
    train.add_argument("--device", help="auto, cpu or cuda", **opt)
    train.add_argument(
        "--impl",
        choices=["auto", "native", "ref"],
        help="fused kernels (auto) or the reference ops",
        **opt,
    )
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.set_defaults(func=cmd_train)

    gen = sub.add_parser(
        "generate",
        help="images from a snapshot's G_ema",
        description="Writes a grid (--out) and/or one PNG per seed (--per-seed DIR).",
    )
    gen.add_argument("--ckpt", required=True, help="a snapshot-*.pt of fastgan train")
    gen.add_argument("--seeds", type=_seeds, default=_seeds("0-63"), help="e.g. 0-63 or 1,5,9")
    gen.add_argument("--trunc", type=float, default=1.0, help="truncation psi (StyleGAN2)")
    gen.add_argument("--class", dest="class_index", help="class K, or 'all' (one row per class)")
    gen.add_argument("--out", default="grid.png", help="the grid's PNG path ('' for none)")
    gen.add_argument("--columns", type=int, help="grid columns (default about sqrt of count)")
    gen.add_argument("--per-seed", metavar="DIR", help="also one PNG per image in DIR")
    gen.add_argument("--device", help="cpu or cuda (default: cuda when available)")
    gen.set_defaults(func=cmd_generate)

    tr = sub.add_parser(
        "translate",
        help="translate a folder of images with a CycleGAN snapshot",
        description="Writes <name>.png into --out for every image of --input.",
    )
    tr.add_argument(
        "--ckpt", required=True, help="a snapshot-*.pt of fastgan train --model cyclegan"
    )
    tr.add_argument("--input", required=True, help="a folder of PNG / JPEG / WebP images")
    tr.add_argument("--out", required=True, help="the output folder")
    tr.add_argument("--direction", choices=["a2b", "b2a"], default="a2b", help="default a2b")
    tr.add_argument("--device", help="cpu or cuda (default: cuda when available)")
    tr.set_defaults(func=cmd_translate)


def cmd_translate(args: argparse.Namespace) -> int:
    from fastgan.train.cyclegan_loop import translate_folder
    from fastgan.utils.checkpoint import CheckpointError

    try:
        written = translate_folder(args.ckpt, args.input, args.out, args.direction, args.device)
    except (CheckpointError, ValueError) as e:
        print(f"fastgan translate: {e}", file=sys.stderr)
        return 1
    print(f"wrote {len(written)} images to {args.out}")
    return 0
