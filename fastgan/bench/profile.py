"""`fastgan profile`: where the time of a training step goes, from torch.profiler.

Builds a Trainer from a preset the way `fastgan bench train` does (no run directory, no metrics),
runs a few warm-up steps, then profiles `steps` steps, each inside record_function("train_step").
Writes a Chrome trace (trace.json) and a summary (summary.json, summary.md, and the terminal):

- the top ops (CPU) or kernels (CUDA) by self time, with their share of the profiled time;
- every `fastgan::` op (custom ops appear in the profiler under their qualified names): calls and
  total time, children included;
- the split between fastgan ops, convolutions and the rest.

Shares use self times (an event's time minus its children's), so nested events are counted once:
on the CPU self CPU time, on CUDA self device time (kernels, attributed to the op that launched
them). For the split each event's self time goes to its outermost fastgan or convolution
ancestor (the aten::empty inside a fastgan op is fastgan time), else to the rest.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterable
from typing import Any

import torch

from fastgan.bench.harness import synchronize, text_table
from fastgan.utils.atomic import write_text_atomically

__all__ = ["format_summary", "op_category", "profile_training", "summarize"]

# Convolution ops and their autograd nodes: aten::conv2d, aten::convolution, aten::_convolution,
# aten::mkldnn_convolution, aten::cudnn_convolution, aten::convolution_backward,
# ConvolutionBackward0, ... -- but not aten::_convert_* or aten::convert_*.
_CONVOLUTION = re.compile(r"conv(?!ert)", re.IGNORECASE)
CATEGORIES = ("fastgan", "convolution", "other")
NAME_WIDTH = 72  # CUDA kernel names are long templates; the JSON keeps them whole


def op_category(name: str) -> str | None:
    """'fastgan' for a fastgan op or the autograd node of one (its backward, Python glue
    included), 'convolution' for a convolution op or kernel, None for anything else."""
    if name.startswith("fastgan::") or "GeneratedBackwardFor_fastgan_" in name:
        return "fastgan"
    if _CONVOLUTION.search(name):
        return "convolution"
    return None


def _outermost_categories(events: Iterable[Any]) -> dict[int, str | None]:
    """id(event) -> the category of its outermost categorised ancestor (itself included)."""
    found: dict[int, str | None] = {}
    for event in events:
        chain = []
        node = event
        while node is not None and id(node) not in found:
            chain.append(node)
            node = node.cpu_parent
        category = found[id(node)] if node is not None else None
        for node in reversed(chain):  # from the outermost down
            category = category or op_category(node.name)
            found[id(node)] = category
    return found


def _ms(us: float) -> float:
    return us / 1e3


def summarize(prof: torch.profiler.profile, device_type: str, top: int = 20) -> dict[str, Any]:
    """Top ops / kernels by self time, per-fastgan-op totals and the fastgan / convolution /
    other split of a finished profile, in milliseconds and fractions of the profiled time."""
    cpu = torch.autograd.DeviceType.CPU
    on_device = device_type == "cuda"
    averages = prof.key_averages()
    if on_device:
        basis = "self CUDA time"
        # Kernels, memcpys and memsets; record_function ranges mirrored on the GPU timeline
        # (user annotations) span kernels and would count them twice.
        timed = [
            e for e in averages if e.device_type != cpu and not getattr(e, "is_user_annotation", 0)
        ]

        def self_us(e: Any) -> float:
            return e.self_device_time_total

        def total_us(e: Any) -> float:
            return e.device_time_total
    else:
        basis = "self CPU time"
        timed = [e for e in averages if e.device_type == cpu]

        def self_us(e: Any) -> float:
            return e.self_cpu_time_total

        def total_us(e: Any) -> float:
            return e.cpu_time_total

    total = sum(self_us(e) for e in timed) or 1.0
    ranked = sorted(timed, key=self_us, reverse=True)[:top]
    top_rows = [
        {
            "name": e.key,
            "calls": e.count,
            "self_ms": _ms(self_us(e)),
            "share": self_us(e) / total,
            "category": op_category(e.key) or "other",
        }
        for e in ranked
    ]
    fastgan_ops = sorted(
        (e for e in averages if e.key.startswith("fastgan::") and e.device_type == cpu),
        key=total_us,
        reverse=True,
    )
    op_rows = [
        {
            "name": e.key,
            "calls": e.count,
            "total_ms": _ms(total_us(e)),
            "self_ms": _ms(self_us(e)),
            "ms_per_call": _ms(total_us(e)) / max(e.count, 1),
            "share": total_us(e) / total,
            "cpu_total_ms": _ms(e.cpu_time_total),
        }
        for e in fastgan_ops
    ]
    # The split: each CPU event's self time (its own kernels' time on CUDA) under the category
    # of its outermost categorised ancestor. On CUDA what no op launched stays in "other".
    events = [e for e in prof.events() if e.device_type == cpu and not e.is_async]
    category_of = _outermost_categories(events)
    split = dict.fromkeys(CATEGORIES, 0.0)
    for e in events:
        category = category_of[id(e)]
        if category is not None:
            split[category] += self_us(e)
    split["other"] = max(0.0, total - split["fastgan"] - split["convolution"])
    return {
        "basis": basis,
        "profiled_ms": _ms(total),
        "top": top_rows,
        "fastgan_ops": op_rows,
        "split": {k: {"ms": _ms(v), "share": v / total} for k, v in split.items()},
    }


def _short(name: str) -> str:
    return name if len(name) <= NAME_WIDTH else name[: NAME_WIDTH - 3] + "..."


def format_summary(summary: dict[str, Any], markdown: bool = False) -> str:
    """The summary as text tables (or Markdown): run, top ops, fastgan ops, split."""
    run, basis = summary["run"], summary["basis"]
    pct = "{:.1%}".format
    heading = "### " if markdown else ""
    lines = [
        f"{'## ' if markdown else ''}fastgan profile: {run['cfg']} on {run['data']}, "
        f"{run['res']}x{run['res']}, batch {run['batch']}, {run['device']}, impl {run['impl']}",
        "",
        f"{run['steps']} profiled steps after {run['warmup']} warm-up: "
        f"{run['ms_per_step']:.1f} ms per step (wall, profiler overhead included); "
        f"profiled {basis}: {summary['profiled_ms']:.1f} ms",
        "",
        f"{heading}Top {len(summary['top'])} {'kernels' if 'CUDA' in basis else 'ops'} by {basis}",
        "",
        text_table(
            ["name", "calls", "self ms", "share"],
            [
                [_short(r["name"]), str(r["calls"]), f"{r['self_ms']:.2f}", pct(r["share"])]
                for r in summary["top"]
            ],
            markdown=markdown,
        ),
        "",
        f"{heading}fastgan ops (total time, children included; share of the profiled {basis})",
        "",
    ]
    if summary["fastgan_ops"]:
        lines.append(
            text_table(
                ["op", "calls", "total ms", "ms/call", "share"],
                [
                    [
                        r["name"],
                        str(r["calls"]),
                        f"{r['total_ms']:.2f}",
                        f"{r['ms_per_call']:.3f}",
                        pct(r["share"]),
                    ]
                    for r in summary["fastgan_ops"]
                ],
                markdown=markdown,
            )
        )
    else:
        lines.append("no fastgan:: op ran (impl ref, or no kernel for this device)")
    names = {
        "fastgan": "fastgan ops (forward, backward and their autograd nodes)",
        "convolution": "convolutions (aten conv / mkldnn / cudnn)",
        "other": "everything else",
    }
    lines += [
        "",
        f"{heading}Where the {basis} goes (each event once, under its outermost fastgan or "
        "convolution op)",
        "",
        text_table(
            ["", "ms", "share"],
            [[names[k], f"{v['ms']:.1f}", pct(v["share"])] for k, v in summary["split"].items()],
            markdown=markdown,
        ),
    ]
    return "\n".join(lines)


def _check_count(name: str, value: int, least: int) -> None:
    if not isinstance(value, int) or value < least:
        raise ValueError(f"profile: expected --{name} an integer >= {least}, got {value!r}")


def profile_training(
    cfg: str = "tiny",
    data: str | None = None,
    res: int | None = None,
    batch: int | None = None,
    steps: int = 16,
    warmup: int = 2,
    device: str = "auto",
    impl: str = "auto",
    out: str | os.PathLike = "profile",
    top: int = 20,
    nvtx: bool = False,
) -> dict[str, Any]:
    """Profiles `steps` training steps of preset `cfg` after `warmup` steps; writes
    out/trace.json, out/summary.json and out/summary.md and returns the summary (see
    `summarize`, plus "run" and "files"). data: default digits for `tiny`, shapes otherwise;
    res and batch: default the preset's. Raises ValueError for bad settings."""
    from fastgan.train import Trainer, make_config

    _check_count("steps", steps, 1)
    _check_count("warmup", warmup, 0)
    _check_count("top", top, 1)
    if nvtx and device == "cpu":
        raise ValueError("profile: --nvtx needs --device cuda, got cpu")
    if data is None:
        data = "digits" if cfg == "tiny" else "shapes"
    config = make_config(cfg, data=data, res=res, batch=batch, metrics=[], device=device, impl=impl)
    trainer = Trainer(config, progress=False)
    on_cuda = trainer.device.type == "cuda"
    try:
        if nvtx and not on_cuda:
            raise ValueError(f"profile: --nvtx needs --device cuda, got {trainer.device.type}")
        os.makedirs(out, exist_ok=True)
        for _ in range(warmup):
            trainer.train_step()
        synchronize(trainer.device)
        activities = [torch.profiler.ProfilerActivity.CPU]
        if on_cuda:
            activities.append(torch.profiler.ProfilerActivity.CUDA)
        start = time.perf_counter()
        with torch.profiler.profile(activities=activities, record_shapes=False) as prof:
            for _ in range(steps):
                with torch.profiler.record_function("train_step"):
                    trainer.train_step()
            synchronize(trainer.device)
        wall = time.perf_counter() - start
        if nvtx:
            # After the torch.profiler run (the two cannot record at once): NVTX ranges per op
            # for Nsight Systems (nsys profile ... fastgan profile --nvtx).
            with torch.autograd.profiler.emit_nvtx():
                for _ in range(steps):
                    with torch.profiler.record_function("train_step"):
                        trainer.train_step()
                synchronize(trainer.device)
    finally:
        trainer.dist.close()
    files = {name: os.path.join(out, name) for name in ("trace.json", "summary.json", "summary.md")}
    prof.export_chrome_trace(files["trace.json"])
    summary = {
        "run": {
            "cfg": cfg,
            "data": data,
            "res": config.res,
            "batch": config.batch,
            "device": str(trainer.device),
            "impl": impl,
            "precision": str(trainer.amp_dtype or torch.float32).removeprefix("torch."),
            "steps": steps,
            "warmup": warmup,
            "wall_s": wall,
            "ms_per_step": 1e3 * wall / steps,
            "torch": torch.__version__,
        },
        **summarize(prof, trainer.device.type, top),
        "files": files,
    }
    write_text_atomically(files["summary.json"], json.dumps(summary, indent=2) + "\n")
    write_text_atomically(files["summary.md"], format_summary(summary, markdown=True) + "\n")
    return summary
