"""`fastgan convert`: NVIDIA StyleGAN2-ADA / StyleGAN3 pickles and rosinality stylegan2-pytorch
checkpoints into fastgan snapshots, and the reader that lets ``fastgan generate --ckpt`` and
``fastgan metrics --ckpt`` take those files directly.

A converted file is a fastgan snapshot (:func:`fastgan.utils.checkpoint.save_checkpoint`,
loadable with ``torch.load(weights_only=True)``): ``config`` (a `TrainConfig` that rebuilds the
generator: res, z_dim, w_dim, mapping_layers, channel_base, channel_max, conv_clamp, cond; for
StyleGAN3 also arch 'stylegan3-t' / 'stylegan3-r' and sg3_layers, the file refused when NVIDIA's
other options or its filters differ from what that configuration rebuilds),
``G_ema``, ``G`` and ``D`` state dicts (D only when the configuration rebuilds it exactly),
``img_channels``, ``c_dim``, ``class_names`` and ``converted_from``. It is written atomically:
on any error an existing output file is left as it was.

    fastgan convert network-snapshot.pkl --out model.pt
    fastgan convert 550000.pt --out model.pt
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Callable

import numpy as np
import torch

from fastgan.models._foreign import DEFAULT_FILTER, ForeignNetworkError, same_filter
from fastgan.models.nvidia_pickle import is_nvidia_pickle, load_nvidia_pickle
from fastgan.models.rosinality import is_rosinality_checkpoint, load_rosinality_checkpoint
from fastgan.models.stylegan3 import StyleGAN3Generator
from fastgan.utils.checkpoint import (
    CHECKPOINT_FORMAT,
    CheckpointError,
    load_checkpoint,
    save_checkpoint,
)

__all__ = ["add_parser", "convert", "file_kind", "read_snapshot", "snapshot_from_networks"]

KINDS = ("fastgan", "nvidia-pickle", "rosinality")


def file_kind(path: str | os.PathLike) -> str:
    """'nvidia-pickle' (a plain pickle), 'fastgan' (a fastgan snapshot) or 'rosinality' (a torch
    checkpoint with g_ema / g / d state dicts). CheckpointError for anything else."""
    name = os.fspath(path)
    if not os.path.isfile(name):
        raise CheckpointError(f"{name}: no such file")
    if is_nvidia_pickle(name):
        return "nvidia-pickle"
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            data = torch.load(name, map_location="meta", weights_only=True)
    except Exception as e:  # zip, pickle and EOF errors alike: the file is unusable
        text = str(e).strip().splitlines()[0][:200] if str(e).strip() else ""
        raise CheckpointError(
            f"{name}: neither an NVIDIA network pickle nor a readable torch checkpoint "
            f"(truncated or corrupt file, or objects that torch.load(weights_only=True) "
            f"refuses): {type(e).__name__}: {text}"
        ) from None
    if isinstance(data, dict) and data.get("format") == CHECKPOINT_FORMAT:
        return "fastgan"
    if is_rosinality_checkpoint(data):
        return "rosinality"
    keys = sorted(map(str, data))[:10] if isinstance(data, dict) else type(data).__name__
    raise CheckpointError(
        f"{name}: not a fastgan snapshot, NVIDIA StyleGAN2-ADA pickle or rosinality "
        f"stylegan2-pytorch checkpoint (holds {keys})"
    )


def _filter_of(module: torch.nn.Module) -> tuple[float, ...] | None:
    for m in module.modules():
        f = getattr(m, "resample_filter", None)
        if isinstance(f, torch.Tensor) and f.ndim == 2:
            from fastgan.models._foreign import filter_from_2d

            return filter_from_2d(f, "resample_filter")
    return None


def snapshot_from_networks(networks: dict[str, torch.nn.Module], source: str, kind: str) -> dict:
    """The fastgan snapshot dict of loaded networks (``G_ema`` or ``G`` required)."""
    from fastgan.train.config import TrainConfig
    from fastgan.train.setup import build_models

    G = networks.get("G_ema", networks.get("G"))
    if G is None:
        raise ForeignNetworkError(f"{source}: holds no generator (G_ema or G) to convert")
    f = _filter_of(G)
    if f is not None and not same_filter(f, DEFAULT_FILTER):
        raise ForeignNetworkError(
            f"{source}: the generator's resampling filter {list(f)} is not [1, 3, 3, 1], which "
            "a fastgan snapshot's configuration cannot record; use load_nvidia_pickle / "
            "load_rosinality_checkpoint directly"
        )
    D = networks.get("D")
    if isinstance(G, StyleGAN3Generator):
        config = _stylegan3_config(G, source, _mbstd_group(D))
    else:
        mapping, synthesis = G.mapping_network, G.synthesis_network
        blocks = synthesis.blocks
        clamps = {b.conv1.conv_clamp for b in blocks}
        config = TrainConfig(
            data=f"(converted from {os.path.basename(source)})",
            cfg="stylegan2",
            res=G.img_resolution,
            cond=G.c_dim > 0,
            z_dim=G.z_dim,
            w_dim=G.w_dim,
            mapping_layers=len(mapping.layers),
            channel_base=_channel_base(G),
            channel_max=max(b.out_channels for b in blocks),
            conv_clamp=clamps.pop() if len(clamps) == 1 else None,
            mbstd_group=_mbstd_group(D),
        )
    rebuilt_G, rebuilt_D = build_models(config, G.img_channels, G.c_dim)
    if isinstance(G, StyleGAN3Generator):
        _check_stylegan3_rebuild(G, rebuilt_G, source)
    snapshot = {
        "config": _config_dict(config),
        "img_channels": G.img_channels,
        "c_dim": G.c_dim,
        "class_names": [],
        "converted_from": {"file": os.path.basename(source), "kind": kind},
    }
    try:
        for key in ("G_ema", "G"):
            if key in networks:
                rebuilt_G.load_state_dict(networks[key].state_dict())
                snapshot[key] = networks[key].state_dict()
    except RuntimeError as e:
        raise ForeignNetworkError(
            f"{source}: the generator does not fit a fastgan configuration: {e}"
        ) from None
    if "G_ema" not in snapshot:
        snapshot["G_ema"] = snapshot["G"]
    if D is not None:
        f = _filter_of(D)
        try:
            if f is not None and not same_filter(f, DEFAULT_FILTER):
                raise RuntimeError("resampling filter")
            rebuilt_D.load_state_dict(D.state_dict())
            snapshot["D"] = D.state_dict()
        except RuntimeError:
            snapshot["converted_from"]["D"] = "left out: its layout differs from the config's"
    return snapshot


def _stylegan3_config(G: StyleGAN3Generator, source: str, mbstd_group: int):
    """The TrainConfig of a loaded StyleGAN3 generator (T: 3x3 convolutions, R: 1x1 and radial
    filters); what it cannot record is caught by :func:`_check_stylegan3_rebuild`."""
    from fastgan.train.config import TrainConfig

    radial = G.layers[0].conv_kernel == 1
    arch = "stylegan3-r" if radial else "stylegan3-t"
    channels = G.schedule["channels"][:-1]
    clamps = {layer.conv_clamp for layer in G.layers}
    # channels[i] = rint(min(channel_base / 2 / cutoff[i], channel_max)); the first layer's
    # cutoff is first_cutoff, so channel_base is recovered from the layers below channel_max.
    channel_max = int(channels.max())
    below = [
        (int(c), float(f))
        for c, f in zip(channels, G.schedule["cutoffs"][:-1], strict=True)
        if c < channel_max
    ]
    if below:
        channel_base = round(below[0][0] * 2 * below[0][1])
        # The nearest power of two when it reproduces the channels (NVIDIA's are 32768 / 65536).
        pow2 = 2 ** round(math.log2(channel_base))
        if all(round(min(pow2 / 2 / f, channel_max)) == c for c, f in below):
            channel_base = pow2
    else:
        top = channel_max * 2 * float(G.schedule["cutoffs"][:-1].max())
        channel_base = int(2 ** math.ceil(math.log2(top)))
    return TrainConfig(
        data=f"(converted from {os.path.basename(source)})",
        cfg=arch,
        arch=arch,
        res=G.img_resolution,
        cond=G.c_dim > 0,
        z_dim=G.z_dim,
        w_dim=G.w_dim,
        mapping_layers=len(G.mapping_network.layers),
        sg3_layers=G.num_layers,
        channel_base=channel_base,
        channel_max=channel_max,
        conv_clamp=clamps.pop() if len(clamps) == 1 else None,
        mbstd_group=mbstd_group,
    )


def _check_stylegan3_rebuild(G: StyleGAN3Generator, rebuilt: StyleGAN3Generator, source: str):
    """ForeignNetworkError unless the generator the snapshot's configuration rebuilds computes
    as G does: same schedule, layer geometry and filters (fastgan's filters are designed from
    the schedule, not stored, and NVIDIA's options beyond the config's keep their defaults)."""
    problems = []
    if len(rebuilt.layers) != len(G.layers):
        problems.append(f"{len(G.layers)} layers, rebuilt {len(rebuilt.layers)}")
    for key in ("sizes", "channels"):
        if not np.array_equal(G.schedule[key], rebuilt.schedule[key]):
            problems.append(f"{key} {G.schedule[key].tolist()}, rebuilt "
                            f"{rebuilt.schedule[key].tolist()}")  # fmt: skip
    if G.output_scale != rebuilt.output_scale:
        problems.append(f"output_scale {G.output_scale}")
    a, b = G.input, rebuilt.input
    if (a.size, a.sampling_rate, a.bandwidth) != (b.size, b.sampling_rate, b.bandwidth):
        problems.append("the input layer's grid")
    for i, (x, y) in enumerate(zip(G.layers, rebuilt.layers, strict=False)):
        attrs = ("in_size", "out_size", "up", "down", "padding", "conv_kernel", "conv_clamp",
                 "down_radial", "gain", "slope")  # fmt: skip
        diff = [n for n in attrs if getattr(x, n) != getattr(y, n)]
        for n in ("up_filter", "down_filter"):
            f, g = getattr(x, n), getattr(y, n)
            if (f is None) != (g is None) or (
                f is not None
                and (f.shape != g.shape or not torch.allclose(f, g, rtol=1e-4, atol=1e-6))
            ):
                diff.append(n)
        if diff:
            problems.append(f"layer {i}: {', '.join(diff)}")
    if problems:
        raise ForeignNetworkError(
            f"{source}: this StyleGAN3 generator has options a fastgan snapshot's configuration "
            f"cannot record ({'; '.join(problems[:4])}); use load_nvidia_pickle directly"
        )


def _mbstd_group(D) -> int:
    mbstd = None if D is None else D.epilogue.mbstd
    return 4 if mbstd is None else int(mbstd.group_size)


def _config_dict(config) -> dict:
    import json

    return json.loads(config.to_json())


def _channel_base(G) -> int:
    """The channel_base that rebuilds G's channels (the loaders fitted one)."""
    from fastgan.models._foreign import fit_channels

    channels = {b.resolution: b.out_channels for b in G.synthesis_network.blocks}
    return fit_channels(channels, "generator")[0]


def load_networks(
    path: str | os.PathLike, progress: Callable[[int, int], None] | None = None
) -> tuple[dict[str, torch.nn.Module], str]:
    """(fastgan modules, kind) of an NVIDIA pickle or a rosinality checkpoint."""
    kind = file_kind(path)
    if kind == "nvidia-pickle":
        return load_nvidia_pickle(path, progress=progress), kind
    if kind == "rosinality":
        return load_rosinality_checkpoint(path, progress=progress), kind
    raise CheckpointError(f"{os.fspath(path)}: already a fastgan snapshot; nothing to convert")


def read_snapshot(path: str | os.PathLike, progress: bool = False) -> dict:
    """A fastgan snapshot dict from a fastgan snapshot, an NVIDIA pickle or a rosinality
    checkpoint (converted in memory). CheckpointError (a ValueError) naming the file when it is
    none of them or cannot be used."""
    kind = file_kind(path)
    if kind == "fastgan":
        return load_checkpoint(path)
    with _progress_bar(path, progress) as callback:
        networks, kind = load_networks(path, progress=callback)
    return snapshot_from_networks(networks, os.fspath(path), kind)


class _progress_bar:
    """A context giving a `callback(done_bytes, total_bytes)` that draws a progress bar in MB
    on stderr (None when disabled)."""

    def __init__(self, path, enabled: bool) -> None:
        self.path, self.enabled, self.bar = os.fspath(path), enabled, None

    def __enter__(self):
        if not self.enabled:
            return None
        from fastgan.utils.progress import Progress

        total = max(os.path.getsize(self.path), 1) / 1e6
        self.bar = Progress(total, unit="MB", desc=f"reading {os.path.basename(self.path)}")

        def callback(done: int, _total: int) -> None:
            self.bar.update(done / 1e6 - self.bar.n)

        return callback

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.close()


def convert(source: str | os.PathLike, out: str | os.PathLike, progress: bool = True) -> dict:
    """Convert `source` (NVIDIA pickle or rosinality checkpoint) into a fastgan snapshot at
    `out` (written atomically; ``.pt`` only). Returns the snapshot dict."""
    out = os.fspath(out)
    if not out.endswith(".pt"):
        if out.endswith(".safetensors"):
            raise ValueError(
                f"--out {out!r}: safetensors output is not available (fastgan writes its "
                "snapshot format, a .pt file loadable with torch.load(weights_only=True)); "
                "use --out NAME.pt"
            )
        raise ValueError(f"--out: expected a path ending in .pt, got {out!r}")
    if os.path.abspath(out) == os.path.abspath(os.fspath(source)):
        raise ValueError(f"--out {out!r}: expected a new path, got the input file itself")
    directory = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(directory):
        raise ValueError(f"--out {out!r}: the directory {directory!r} does not exist")
    with _progress_bar(source, progress) as callback:
        networks, kind = load_networks(source, progress=callback)
    snapshot = snapshot_from_networks(networks, os.fspath(source), kind)
    save_checkpoint(out, snapshot)
    return snapshot


def cmd_convert(args: argparse.Namespace) -> int:
    try:
        snapshot = convert(args.source, args.out, progress=not args.quiet)
    except (ValueError, OSError) as e:
        print(f"fastgan convert: {e}", file=sys.stderr)
        return 1
    c = snapshot["config"]
    parts = [k for k in ("G_ema", "G", "D") if k in snapshot]
    cond = f", {snapshot['c_dim']} classes" if snapshot["c_dim"] else ""
    print(
        f"wrote {args.out} ({CHECKPOINT_FORMAT}: {', '.join(parts)}; {c['res']}x{c['res']}, "
        f"{snapshot['img_channels']} channels{cond}; from {snapshot['converted_from']['kind']})"
    )
    if "D" in snapshot["converted_from"]:
        print(f"note: D {snapshot['converted_from']['D']}")
    return 0


def add_parser(sub) -> argparse.ArgumentParser:
    """Registers `convert` on the `fastgan` command's subparsers."""
    parser = sub.add_parser(
        "convert",
        help="NVIDIA StyleGAN2-ADA .pkl or rosinality .pt -> fastgan snapshot",
        description=(
            "Converts an NVIDIA StyleGAN2-ADA network pickle (read without running its code) "
            "or a rosinality stylegan2-pytorch checkpoint into a fastgan snapshot (.pt) that "
            "fastgan generate / metrics --ckpt take. Written atomically."
        ),
    )
    parser.add_argument("source", help="network-snapshot-*.pkl or a rosinality checkpoint .pt")
    parser.add_argument("--out", required=True, help="the fastgan snapshot to write (.pt)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=cmd_convert)
    return parser
