"""Checkpoints of rosinality's ``stylegan2-pytorch`` (``train.py``'s ``{"g", "d", "g_ema",
"g_optim", "d_optim", "args", "ada_aug_p"}``, or ``convert_weight.py``'s ``{"g_ema",
"latent_avg"}``) into fastgan's StyleGAN2 models, read with ``torch.load(weights_only=True)``.

Its layout (state dict names): the generator's mapping ``style.1`` ... ``style.{n_mlp}`` (after a
pixel norm at ``style.0``; EqualLinear with lr_mul 0.01 and a fused leaky ReLU: lrelu(x + b, 0.2)
* √2), the constant ``input.input`` [1, C, 4, 4], ``conv1`` (4x4) and ``convs.{2i}``
(upsampling) / ``convs.{2i+1}``: ``conv.weight`` [1, out, in, 3, 3] scaled by 1/√(in·9),
``conv.modulation`` (EqualLinear, bias init 1), ``noise.weight`` (the noise strength),
``activate.bias``; ``to_rgb1`` / ``to_rgbs.{i}`` (``conv.weight`` [1, C_img, in, 1, 1], ``bias``
[1, C_img, 1, 1]); the constant noise buffers ``noises.noise_{k}`` [1, 1, r, r] in layer order;
``latent_avg`` (mean w) next to the state dicts. The upsampling convolution is a transposed
convolution with stride 2 (the weight applied as a true convolution) followed by a blur of
the outer product of ``[1, 3, 3, 1]`` with itself, times 4, padded (1, 1); the RGB skips are
upsampled by upfirdn2d with padding (2, 1). The discriminator: ``convs.0`` (1x1 fromRGB),
``convs.{i}`` residual blocks (``conv1``, ``conv2`` = blur (2, 2) then a stride-2 3x3 conv,
``skip`` = blur (1, 1) then a stride-2 1x1 conv without bias; sum / √2), minibatch stddev
(group 4, 1 channel),
``final_conv``, ``final_linear.0`` / ``.1``. Channels: 512 up to 32x32, then 256·m, 128·m, ...
at 64, 128, ... with m the ``channel_multiplier``. The generator is unconditional and has no
output clamp.

fastgan's layers compute the same maths: the upsampling weights are stored flipped (fastgan
correlates), the noise strengths and constant noises are copied, ``latent_avg`` becomes
``w_avg`` (when a checkpoint has none, w_avg is estimated as the mean w of 10 000 latents of a
fixed seed, as rosinality's ``mean_latent`` does with 4096).
"""

from __future__ import annotations

import argparse
import io
import os
import re
from collections.abc import Callable

import torch
from torch import nn

from fastgan.models._foreign import (
    ForeignNetworkError,
    UnsupportedNetworkError,
    check_filter_buffer,
    filter_from_2d,
    fit_channels,
    load_mapped,
)
from fastgan.models.stylegan2 import StyleGAN2Discriminator, StyleGAN2Generator

__all__ = [
    "is_rosinality_checkpoint",
    "load_rosinality_checkpoint",
    "read_rosinality_checkpoint",
]

NETWORK_KEYS = {"g_ema": "G_ema", "g": "G", "d": "D"}
W_AVG_SAMPLES = 10_000


def _where(path: str, key: str) -> str:
    return f"{path}: {key}"


class _ProgressFile(io.RawIOBase):
    """A seekable binary file that reports the furthest byte read to `callback(done)`."""

    def __init__(self, file, callback: Callable[[int], None] | None) -> None:
        self.file, self.callback, self.furthest = file, callback, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.file.seek(offset, whence)

    def tell(self) -> int:
        return self.file.tell()

    def readinto(self, buffer) -> int:
        n = self.file.readinto(buffer)
        position = self.file.tell()
        if position > self.furthest:
            self.furthest = position
            if self.callback is not None:
                self.callback(position)
        return n


def read_rosinality_checkpoint(
    path: str | os.PathLike, progress: Callable[[int, int], None] | None = None
) -> dict:
    """The checkpoint dict, read with ``torch.load(weights_only=True)`` (``argparse.Namespace``,
    which train.py stores as ``args``, allowed). ForeignNetworkError naming the file when it is
    missing, unreadable (truncated, corrupt, objects weights_only refuses) or holds no
    ``g_ema`` / ``g`` / ``d`` state dict."""
    name = os.fspath(path)
    if not os.path.isfile(name):
        raise ForeignNetworkError(f"{name}: no such file")
    total = os.path.getsize(name)
    callback = None if progress is None else (lambda done: progress(done, total))
    try:
        with open(name, "rb") as raw, torch.serialization.safe_globals([argparse.Namespace]):
            file = io.BufferedReader(_ProgressFile(raw, callback), buffer_size=1 << 20)
            data = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as e:  # zip, pickle and EOF errors alike: the file is unusable
        text = str(e).strip().splitlines()[0][:200] if str(e).strip() else ""
        raise ForeignNetworkError(
            f"{name}: not a readable torch checkpoint (truncated or corrupt file, or objects "
            f"that torch.load(weights_only=True) refuses): {type(e).__name__}: {text}"
        ) from None
    if not isinstance(data, dict) or not any(isinstance(data.get(k), dict) for k in NETWORK_KEYS):
        keys = sorted(map(str, data)) if isinstance(data, dict) else type(data).__name__
        raise ForeignNetworkError(
            f"{name}: not a rosinality stylegan2-pytorch checkpoint (expected g_ema, g or d "
            f"state dicts, got {keys})"
        )
    return data


def is_rosinality_checkpoint(data: object) -> bool:
    """Whether a loaded checkpoint dict looks like rosinality's (a ``g_ema``, ``g`` or ``d``
    state dict with its names)."""
    if not isinstance(data, dict):
        return False
    for key in NETWORK_KEYS:
        state = data.get(key)
        if isinstance(state, dict) and ("input.input" in state or "final_linear.0.weight" in state):
            return True
    return False


def _get(state: dict, name: str, where: str, ndim: int | None = None) -> torch.Tensor:
    t = state.get(name)
    if not isinstance(t, torch.Tensor):
        raise UnsupportedNetworkError(
            f"{where}: no tensor {name!r} where rosinality's StyleGAN2 has one "
            "(fastgan loads rosinality's 'stylegan2' architecture, not 'swagan')"
        )
    if ndim is not None and t.ndim != ndim:
        raise ForeignNetworkError(
            f"{where}: expected {name} with {ndim} dims, got shape {list(t.shape)}"
        )
    return t


def _filter(state: dict, names: list[str], where: str) -> tuple[float, ...]:
    names = [n for n in names if n in state]
    if not names:
        return (1.0, 3.0, 3.0, 1.0)
    f = filter_from_2d(state[names[0]], f"{where}.{names[0]}")
    for n in names[1:]:
        check_filter_buffer(state[n], f, f"{where}.{n}")
    return f


def _generator(state: dict, latent_avg: torch.Tensor | None, where: str) -> nn.Module:
    if any(k.startswith("dwt") or k.startswith("iwt") for k in state):
        raise UnsupportedNetworkError(
            f"{where}: a SWAGAN generator (wavelet layers); fastgan loads rosinality's "
            "'stylegan2' architecture"
        )
    style = sorted(
        int(m.group(1)) for k in state if (m := re.fullmatch(r"style\.(\d+)\.weight", k))
    )
    if not style or style != list(range(1, len(style) + 1)):
        raise UnsupportedNetworkError(f"{where}: mapping layers style.{style} (expected 1..n)")
    n_mlp = len(style)
    style_dim = _get(state, "style.1.weight", where, 2).shape[1]
    num_rgbs = len([k for k in state if re.fullmatch(r"to_rgbs\.\d+\.conv\.weight", k)])
    R = 4 * 2**num_rgbs
    const = _get(state, "input.input", where, 4)
    img_channels = _get(state, "to_rgb1.conv.weight", where, 5).shape[1]
    resolutions = [2**i for i in range(2, R.bit_length())]
    # Layer k of the network (0: conv1 at 4x4; 2i-1, 2i: convs.2i-2, convs.2i-1 at 2^(i+2)).
    layers = [("conv1", 4)]
    for i, r in enumerate(resolutions[1:]):
        layers += [(f"convs.{2 * i}", r), (f"convs.{2 * i + 1}", r)]
    channels = {4: const.shape[1]}
    for name, r in layers:
        channels[r] = _get(state, f"{name}.conv.weight", where, 5).shape[1]
    channel_base, channel_max = fit_channels(channels, where)
    blur = [f"convs.{2 * i}.conv.blur.kernel" for i in range(len(resolutions) - 1)]
    blur += [f"to_rgbs.{i}.upsample.kernel" for i in range(len(resolutions) - 1)]
    resample_filter = _filter(state, blur, where)
    G = StyleGAN2Generator(
        z_dim=style_dim,
        c_dim=0,
        w_dim=style_dim,
        img_resolution=R,
        img_channels=img_channels,
        channel_base=channel_base,
        channel_max=channel_max,
        mapping_layers=n_mlp,
        conv_clamp=None,
        resample_filter=resample_filter,
    )
    mapped: dict[str, tuple[str, torch.Tensor]] = {}

    def put(dst: str, src: str, t: torch.Tensor | None = None) -> None:
        mapped[dst] = (src, _get(state, src, where) if t is None else t)

    for i in style:
        put(f"mapping_network.layers.{i - 1}.weight", f"style.{i}.weight")
        put(f"mapping_network.layers.{i - 1}.bias", f"style.{i}.bias")
    put("synthesis_network.const", "input.input", const[0])
    for k, (name, r) in enumerate(layers):
        block = resolutions.index(r)
        conv = (
            "conv0" if name.startswith("convs.") and int(name.split(".")[1]) % 2 == 0 else "conv1"
        )
        d = f"synthesis_network.blocks.{block}.{conv}."
        weight = _get(state, f"{name}.conv.weight", where, 5)[0]
        if conv == "conv0":  # a transposed convolution: the weight acts as a true convolution
            weight = weight.flip([2, 3])
        put(d + "conv.weight", f"{name}.conv.weight", weight)
        put(d + "conv.affine.weight", f"{name}.conv.modulation.weight")
        put(d + "conv.affine.bias", f"{name}.conv.modulation.bias")
        put(d + "bias", f"{name}.activate.bias")
        put(
            d + "noise_strength",
            f"{name}.noise.weight",
            _get(state, f"{name}.noise.weight", where).reshape([]),
        )
        noise = _get(state, f"noises.noise_{k}", where, 4)
        put(d + "noise_const", f"noises.noise_{k}", noise[0, 0])
    for block, r in enumerate(resolutions):
        name = "to_rgb1" if r == 4 else f"to_rgbs.{block - 1}"
        d = f"synthesis_network.blocks.{block}.torgb."
        put(d + "conv.weight", f"{name}.conv.weight", _get(state, f"{name}.conv.weight", where)[0])
        put(d + "conv.affine.weight", f"{name}.conv.modulation.weight")
        put(d + "conv.affine.bias", f"{name}.conv.modulation.bias")
        put(d + "bias", f"{name}.bias", _get(state, f"{name}.bias", where).flatten())
    if latent_avg is None:
        w_avg = None
    else:
        if not isinstance(latent_avg, torch.Tensor) or latent_avg.numel() != style_dim:
            raise ForeignNetworkError(
                f"{where}: expected latent_avg of {style_dim} values, got "
                f"{list(latent_avg.shape) if isinstance(latent_avg, torch.Tensor) else latent_avg}"
            )
        w_avg = latent_avg.reshape(style_dim)
    mapped["mapping_network.w_avg"] = ("", torch.zeros(style_dim) if w_avg is None else w_avg)
    ignored = {"", *blur} | {k for k in state if k.endswith(".kernel")}
    G = load_mapped(G, state, mapped, ignored, where)
    if w_avg is None:  # rosinality's mean_latent: the mean w of many N(0, 1) latents
        gen = torch.Generator().manual_seed(0)
        with torch.no_grad():
            z = torch.randn(W_AVG_SAMPLES, style_dim, generator=gen)
            G.mapping_network.w_avg.copy_(G.mapping_network(z)[:, 0].mean(dim=0))
    return G


def _discriminator(state: dict, where: str) -> nn.Module:
    fromrgb = _get(state, "convs.0.0.weight", where, 4)
    img_channels = fromrgb.shape[1]
    blocks = sorted(
        {int(m.group(1)) for k in state if (m := re.fullmatch(r"convs\.(\d+)\.conv1\..*", k))}
    )
    if blocks != list(range(1, len(blocks) + 1)):
        raise UnsupportedNetworkError(f"{where}: residual blocks convs.{blocks} (expected 1..n)")
    R = 4 * 2 ** len(blocks)
    channels = {R: fromrgb.shape[0]}
    for i in blocks:
        r = R // 2 ** (i - 1)
        channels[r] = _get(state, f"convs.{i}.conv1.0.weight", where, 4).shape[0]
        channels[r // 2] = _get(state, f"convs.{i}.conv2.1.weight", where, 4).shape[0]
    final = _get(state, "final_conv.0.weight", where, 4)
    channels[4] = final.shape[0]
    mbstd_channels = final.shape[1] - channels[4]
    channel_base, channel_max = fit_channels(channels, where)
    blur = [f"convs.{i}.{n}.0.kernel" for i in blocks for n in ("conv2", "skip")]
    resample_filter = _filter(state, blur, where)
    D = StyleGAN2Discriminator(
        c_dim=0,
        img_resolution=R,
        img_channels=img_channels,
        channel_base=channel_base,
        channel_max=channel_max,
        mbstd_group_size=4,
        mbstd_num_channels=mbstd_channels,
        conv_clamp=None,
        resample_filter=resample_filter,
    )
    mapped = {
        "fromrgb.weight": ("convs.0.0.weight", fromrgb),
        "fromrgb.bias": ("convs.0.1.bias", _get(state, "convs.0.1.bias", where)),
    }
    for i in blocks:
        d, s = f"blocks.{i - 1}.", f"convs.{i}."
        for dst, src in (
            ("conv0.weight", "conv1.0.weight"),
            ("conv0.bias", "conv1.1.bias"),
            ("conv1.weight", "conv2.1.weight"),
            ("conv1.bias", "conv2.2.bias"),
            ("skip.weight", "skip.1.weight"),
        ):
            mapped[d + dst] = (s + src, _get(state, s + src, where))
    for dst, src in (
        ("conv.weight", "final_conv.0.weight"),
        ("conv.bias", "final_conv.1.bias"),
        ("fc.weight", "final_linear.0.weight"),
        ("fc.bias", "final_linear.0.bias"),
        ("out.weight", "final_linear.1.weight"),
        ("out.bias", "final_linear.1.bias"),
    ):
        mapped["epilogue." + dst] = (src, _get(state, src, where))
    ignored = {k for k in state if k.endswith(".kernel")}
    return load_mapped(D, state, mapped, ignored, where)


def networks_from_checkpoint(data: dict, where: str) -> dict[str, nn.Module]:
    """fastgan modules for the ``g_ema`` / ``g`` / ``d`` state dicts of a loaded checkpoint."""
    out = {}
    latent_avg = data.get("latent_avg")
    for key, name in NETWORK_KEYS.items():
        state = data.get(key)
        if state is None:
            continue
        if not isinstance(state, dict) or not all(
            isinstance(v, torch.Tensor) for v in state.values()
        ):
            raise ForeignNetworkError(f"{_where(where, key)}: expected a state dict of tensors")
        if key == "d":
            out[name] = _discriminator(state, _where(where, key))
        else:
            out[name] = _generator(state, latent_avg, _where(where, key))
    return out


def load_rosinality_checkpoint(
    path: str | os.PathLike,
    device: torch.device | str = "cpu",
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, nn.Module]:
    """fastgan modules for a rosinality ``stylegan2-pytorch`` checkpoint: ``{"G_ema", "G",
    "D"}`` (those it holds: ``g_ema``, ``g``, ``d``) as :class:`~fastgan.models.StyleGAN2Generator`
    / :class:`~fastgan.models.StyleGAN2Discriminator` in float32 and eval mode on `device`.

    Read with ``torch.load(weights_only=True)``. For the same w, the generator's images equal
    rosinality's with its constant noises (``randomize_noise=False``) and truncation
    ``latent_avg + psi (w - latent_avg)`` (fastgan's ``truncation_psi`` with
    ``noise_mode='const'``). ForeignNetworkError / UnsupportedNetworkError (ValueErrors naming
    the file) otherwise."""
    name = os.fspath(path)
    data = read_rosinality_checkpoint(name, progress=progress)
    return {k: v.to(device) for k, v in networks_from_checkpoint(data, name).items()}
