"""The `fastgan` command: `fastgan info | bench | metrics | train | generate | profile |
convert`."""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Sequence

import torch


def collect_info() -> dict[str, object]:
    """Versions, how fastgan._C was built, and which ops have CPU and CUDA kernels."""
    from fastgan import __version__, _native
    from fastgan.ops import OPS

    return {
        "fastgan": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "cuda_available": torch.cuda.is_available(),
        "gpus": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())],
        "build": _native.build_info(),
        "ops": {
            op: {"cpu": _native.has_kernel(op, "cpu"), "cuda": _native.has_kernel(op, "cuda")}
            for op in OPS
        },
    }


def cmd_info(args: argparse.Namespace) -> int:
    info = collect_info()
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    build = info["build"]
    print(f"fastgan   {info['fastgan']}")
    print(f"python    {info['python']}")
    cuda = f"CUDA {info['torch_cuda']}" if info["torch_cuda"] else "CPU only"
    print(f"torch     {info['torch']} ({cuda})")
    print(f"GPUs      {', '.join(info['gpus']) or 'none visible'}")
    if build["loaded"] and build["cuda_emulation"]:
        print(f"_C        {build['path']}")
        print(
            f"          EMULATED CUDA ({build['cuda_emulation']}): the CUDA kernels' code, "
            "compiled for the CPU, runs as the CPU kernels (FASTGAN_CUDA_EMU)"
        )
    elif build["loaded"]:
        archs = ", ".join(build["cuda_archs"]) or "-"
        print(f"_C        {build['path']}")
        print(
            f"          built against torch {build['built_with_torch']}; "
            f"CUDA kernels: {'yes, for ' + archs if build['with_cuda'] else 'no'}"
        )
    else:
        print(f"_C        not loaded ({build['error']}): every op runs its PyTorch reference")
    width = max(map(len, info["ops"]), default=0) + 2
    print(f"{'ops':<{width + 2}} CPU   CUDA")
    for op, kernels in info["ops"].items():
        mark = {True: "yes", False: "no"}
        print(f"  {op:<{width}} {mark[kernels['cpu']]:<5} {mark[kernels['cuda']]}")
    return 0


def _dtype(name: str) -> torch.dtype:
    dtypes = {
        "float16": torch.float16,
        "bfloat16": torch.bfloat16,
        "float32": torch.float32,
        "float64": torch.float64,
    }
    if name not in dtypes:
        raise argparse.ArgumentTypeError(f"expected one of {', '.join(dtypes)}, got {name!r}")
    return dtypes[name]


def _shape(text: str) -> tuple[int, ...]:
    try:
        shape = tuple(int(n) for n in text.lower().split("x"))
    except ValueError:
        shape = ()
    if len(shape) < 2 or any(n <= 0 for n in shape):
        raise argparse.ArgumentTypeError(
            f"expected a shape of positive sizes like 32x512x32x32 (N x C x ...), got {text!r}"
        )
    return shape


def _write_atomically(path: str, text: str) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    with tempfile.NamedTemporaryFile("w", dir=directory, delete=False, suffix=".tmp") as f:
        f.write(text)
    os.replace(f.name, path)


def _copy_summary(env: dict) -> str:
    """The measured copy bandwidth of a run's environment, in words."""
    by_size = env.get("copy_bandwidth_gbps_by_bytes")
    if not by_size:
        return f"{env['copy_bandwidth_gbps']:.0f} GB/s"
    sizes = sorted(by_size, key=int)

    def at(size: str) -> str:
        n = int(size)
        unit, div = next(
            (u, d) for u, d in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10), ("B", 1)) if n >= d
        )
        return f"{by_size[size]:.0f} GB/s at {n / div:.0f} {unit}"

    fastest = max(sizes, key=lambda s: by_size[s])
    return f"{at(fastest)} (fastest) to {at(sizes[-1])} (largest) moved per copy"


def cmd_bench(args: argparse.Namespace) -> int:
    from fastgan.bench import CASES, copy_bandwidth_gbps, format_table, run_case
    from fastgan.bench.harness import copy_bandwidth_by_size, environment, row_to_dict

    ops = list(CASES) if not args.ops or args.ops == ["all"] else args.ops
    unknown = [op for op in ops if op not in CASES]
    if unknown:
        print(
            f"fastgan bench: unknown op(s) {', '.join(unknown)}; expected 'all' or any of "
            f"{', '.join(CASES)} (the subcommands {' and '.join(BENCH_SUBCOMMANDS)} come right "
            "after `bench`)",
            file=sys.stderr,
        )
        return 2
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("fastgan bench: --device cuda but no CUDA device is available", file=sys.stderr)
        return 2
    dtypes = args.dtype or (
        [torch.float32, torch.bfloat16] if device.type == "cuda" else [torch.float32]
    )
    # The hardware limit of a memory-bound kernel: one large copy on the GPU (the inputs are
    # rotated past L2); on the CPU a copy per size, from the caches to DRAM.
    copy_gbps = (
        copy_bandwidth_gbps(device) if device.type == "cuda" else copy_bandwidth_by_size(device)
    )
    env = environment(device, copy_gbps)
    print(
        f"# {env['device_name']} | torch {env['torch']} | fastgan {env['fastgan']} | "
        f"{env['date']} | copy {_copy_summary(env)}",
        file=sys.stderr,
    )
    rows = []
    for op in ops:
        for dtype in dtypes:
            for case in CASES[op](device, dtype, shapes=args.shape):
                label = f"{case.op} {case.mode} {'x'.join(map(str, case.shape))} {dtype}"
                print(f"  timing {label} ...", file=sys.stderr, flush=True)
                started = time.perf_counter()
                row = run_case(
                    case,
                    warmup=args.warmup,
                    runs=args.runs,
                    max_seconds=args.max_seconds,
                    copy_gbps=copy_gbps,
                )
                if row.rel_error_vs_eager is not None and not row.rel_error_vs_eager < 1e-2:
                    print(
                        f"  WARNING: {label}: the fused output differs from the eager reference "
                        f"by {row.rel_error_vs_eager:.3g} (relative norm); its timing is suspect",
                        file=sys.stderr,
                    )
                ratio = f", {row.speedup_vs_eager:.2f}x eager" if row.speedup_vs_eager else ""
                print(
                    f"    {time.perf_counter() - started:.1f} s{ratio}", file=sys.stderr, flush=True
                )
                rows.append(row)
    print(format_table(rows))
    if args.json:
        _write_atomically(
            args.json,
            json.dumps(
                {
                    "environment": env,
                    "command": " ".join(sys.argv),
                    "rows": [row_to_dict(r) for r in rows],
                },
                indent=2,
            )
            + "\n",
        )
    if args.markdown:
        threads = f" ({env['cpu_threads']} CPU threads)" if device.type == "cpu" else ""
        header = (
            f"Device: {env['device_name']}{threads}, measured copy bandwidth "
            f"{_copy_summary(env)} (read + write)"
        )
        _write_atomically(
            args.markdown,
            (
                f"{header}; torch {env['torch']}; fastgan {env['fastgan']}; {env['date']}\n\n"
                f"Command: `fastgan {' '.join(sys.argv[1:])}`\n\n"
                f"{format_table(rows, markdown=True)}\n"
            ),
        )
    return 0


def _int_at_least(least: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = least - 1
        if value < least:
            raise argparse.ArgumentTypeError(f"expected an integer >= {least}, got {text!r}")
        return value

    return parse


def cmd_profile(args: argparse.Namespace) -> int:
    from fastgan.bench.profile import format_summary, profile_training

    try:
        summary = profile_training(
            cfg=args.cfg,
            data=args.data,
            res=args.res,
            batch=args.batch,
            steps=args.steps,
            warmup=args.warmup,
            device=args.device,
            impl=args.impl,
            out=args.out,
            top=args.top,
            nvtx=args.nvtx,
        )
    except (OSError, ValueError) as e:
        # Settings are checked by the trainer's config ("train: expected --res ...").
        message = str(e).removeprefix("profile: ").removeprefix("train: ")
        print(f"fastgan profile: {message}", file=sys.stderr)
        return 2
    print(format_summary(summary))
    files = summary["files"]
    print(
        f"\nwrote {files['trace.json']} (open in https://ui.perfetto.dev or chrome://tracing), "
        f"{files['summary.json']}, {files['summary.md']}"
    )
    return 0


# `fastgan bench compare ...` and `fastgan bench plot ...` have parsers of their own: `bench`
# takes any number of op names, which a subparser would swallow.
BENCH_SUBCOMMANDS = ("compare", "plot")


def _bench_subcommand(name: str, argv: Sequence[str]) -> int:
    if name == "compare":
        from fastgan.bench.compare import main as compare_main

        return compare_main(argv)
    from fastgan.bench.plot import main as plot_main

    return plot_main(argv)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fastgan", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    info = sub.add_parser("info", help="versions, build and which ops have CPU / CUDA kernels")
    info.add_argument("--json", action="store_true", help="print JSON")
    info.set_defaults(func=cmd_info)

    bench = sub.add_parser(
        "bench",
        help="fused ops vs eager reference vs torch.compile(reference); compare and plot results",
        description=(
            "Times fused ops against their eager reference and torch.compile(reference). "
            "Also: `fastgan bench compare A.json B.json [--fail-if-slower PCT]` compares two "
            "--json results row by row, and `fastgan bench plot RESULTS.json [...] --out DIR` "
            "draws PNG charts of them (see their --help)."
        ),
    )
    bench.add_argument("ops", nargs="*", help="ops to time (default: all)")
    bench.add_argument(
        "--device", default="cuda" if torch.cuda.is_available() else "cpu", choices=["cpu", "cuda"]
    )
    bench.add_argument(
        "--dtype",
        type=_dtype,
        action="append",
        help="repeatable; default float32 (CPU), float32 and bfloat16 (CUDA)",
    )
    bench.add_argument(
        "--shape",
        type=_shape,
        action="append",
        help="input shape such as 32x512x32x32 (repeatable; default: StyleGAN-sized per device)",
    )
    bench.add_argument("--runs", type=int, default=50, help="timed calls per implementation")
    bench.add_argument("--warmup", type=int, default=5, help="untimed calls first")
    bench.add_argument(
        "--max-seconds",
        type=float,
        default=1.0,
        help="seconds of timed calls per implementation and row (the warm-up gets half as many)",
    )
    bench.add_argument("--json", metavar="FILE", help="write the results as JSON")
    bench.add_argument("--markdown", metavar="FILE", help="write the table as Markdown")
    bench.set_defaults(func=cmd_bench)

    from fastgan.train.config import PRESETS

    profile = sub.add_parser(
        "profile",
        help="torch.profiler over training steps: trace, top ops, time per fastgan op",
        description=(
            "Profiles training steps of a preset with torch.profiler (after warm-up steps) and "
            "writes OUT/trace.json (Chrome trace), OUT/summary.json and OUT/summary.md: the top "
            "ops (CPU) or kernels (CUDA) by self time, every fastgan:: op's calls and time, and "
            "the share of fastgan ops vs convolutions vs the rest."
        ),
    )
    profile.add_argument(
        "--cfg", default="tiny", choices=list(PRESETS), help="training preset (default tiny)"
    )
    profile.add_argument(
        "--data",
        help="digits, shapes, or a folder / .zip of images (default: digits for tiny, else shapes)",
    )
    profile.add_argument("--res", type=int, help="resolution, a power of two (default: preset's)")
    profile.add_argument(
        "--batch", type=_int_at_least(1), help="images per step (default: the preset's)"
    )
    profile.add_argument(
        "--steps",
        type=_int_at_least(1),
        default=16,
        help="profiled steps (default 16: one R1 interval, so lazy regularisation is included)",
    )
    profile.add_argument(
        "--warmup", type=_int_at_least(0), default=2, help="unprofiled steps first (default 2)"
    )
    profile.add_argument(
        "--device",
        default="auto",
        choices=["auto", "cpu", "cuda"],
        help="auto (default): cuda when available, else cpu",
    )
    profile.add_argument(
        "--impl",
        default="auto",
        choices=["auto", "native", "ref"],
        help="fastgan's kernels (auto, native) or the PyTorch reference ops (ref)",
    )
    profile.add_argument(
        "--out", default="profile", metavar="DIR", help="output folder (default profile/)"
    )
    profile.add_argument(
        "--top", type=_int_at_least(1), default=20, help="rows in the top-ops table (default 20)"
    )
    profile.add_argument(
        "--nvtx",
        action="store_true",
        help="CUDA: then run the steps again under emit_nvtx(), for NVTX ranges in nsys",
    )
    profile.set_defaults(func=cmd_profile)
    from fastgan.metrics.cli import add_parser as add_metrics_parser
    from fastgan.train.cli import add_parsers as add_train_parsers

    add_metrics_parser(sub)
    add_train_parsers(sub)
    from fastgan.convert import add_parser as add_convert_parser

    add_convert_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) >= 2 and argv[0] == "bench" and argv[1] in BENCH_SUBCOMMANDS:
        return _bench_subcommand(argv[1], argv[2:])
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
