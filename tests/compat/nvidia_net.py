"""A StyleGAN2-ADA generator and discriminator laid out the way NVIDIA's ``training/networks.py``
lays them out, as a test fixture for :mod:`fastgan.compat.nvidia`.

Written for fastgan from the StyleGAN2 / StyleGAN2-ADA papers and the documented structure of
NVIDIA's networks (module tree, attribute and buffer names, constructor arguments, parameter
storage, layer order); it contains no NVIDIA code. What it keeps from that layout:

- names: ``mapping.fc0.weight``, ``mapping.embed``, ``mapping.w_avg``, ``synthesis.b4.const``,
  ``synthesis.b4.conv1.affine.weight``, ``synthesis.b8.conv0.weight``, ``.noise_const``,
  ``.noise_strength``, ``.torgb``, ``synthesis.b8.resample_filter``; D's ``b16.fromrgb``,
  ``b16.conv0``, ``b16.conv1``, ``b16.skip``, ``b4.mbstd``, ``b4.conv``, ``b4.fc``, ``b4.out`` and
  ``mapping`` when conditional;
- storage: weights stored as N(0, 1) (divided by the lr multiplier in fully connected layers) and
  scaled at run time by ``weight_gain``; biases initialised to ``bias_init`` and scaled by the lr
  multiplier; ``resample_filter`` buffers from ``upfirdn2d.setup_filter([1, 3, 3, 1])``;
- maths: the mapping network's 2nd-moment normalisation, class embedding, lr multiplier 0.01 and
  ``w_avg`` tracking, truncation (with a cutoff), the modulated convolution (fused as a grouped
  convolution in eval mode, as scale / convolve / ``fma`` in training mode), per-pixel noise
  ('random', 'const', 'none'), ``conv_clamp``, the 2x upsampling convolution with
  ``flip_weight=False`` (the weight applied as a true convolution, as NVIDIA's does), the "skip"
  generator, the "resnet" discriminator with its minibatch-stddev epilogue and the projection onto
  ``cmap`` for conditional D.

Every op goes through the modules of :mod:`fastgan.compat.nvidia` (``bias_act``, ``upfirdn2d``,
``conv2d_resample``, ``fma``), with the ``impl`` that :func:`use_impl` sets (default 'cuda',
fastgan's native kernels), so one network with one set of weights runs on either::

    G = Generator(z_dim=32, c_dim=0, w_dim=32, img_resolution=16, img_channels=3)
    with use_impl("ref"):
        img_ref = G(z, None)
    img = G(z, None)
"""

from __future__ import annotations

import contextlib
import math

import numpy as np
import torch

from fastgan.compat.nvidia import bias_act, conv2d_resample, fma, upfirdn2d

__all__ = [
    "Conv2dLayer",
    "Discriminator",
    "DiscriminatorBlock",
    "DiscriminatorEpilogue",
    "FullyConnectedLayer",
    "Generator",
    "MappingNetwork",
    "MinibatchStdLayer",
    "SynthesisBlock",
    "SynthesisLayer",
    "SynthesisNetwork",
    "ToRGBLayer",
    "current_impl",
    "modulated_conv2d",
    "normalize_2nd_moment",
    "use_impl",
]

# ---- which implementation the ops run -----------------------------------------------------------

_IMPL = ["cuda"]


def current_impl() -> str:
    """The ``impl`` every op of these networks is called with now."""
    return _IMPL[0]


@contextlib.contextmanager
def use_impl(impl: str):
    """Run the networks' ops with ``impl`` ('cuda' or 'ref') inside the ``with`` block."""
    if impl not in ("cuda", "ref"):
        raise ValueError(f"use_impl: expected 'cuda' or 'ref', got {impl!r}")
    previous = _IMPL[0]
    _IMPL[0] = impl
    try:
        yield
    finally:
        _IMPL[0] = previous


def _check_shape(t: torch.Tensor, shape: list, what: str) -> None:
    """ValueError unless t has len(shape) dims and each entry that is not None matches."""
    ok = t.ndim == len(shape) and all(
        s is None or s == d for s, d in zip(shape, t.shape, strict=True)
    )
    if not ok:
        want = ["*" if s is None else s for s in shape]
        raise ValueError(f"{what}: expected shape {want}, got {list(t.shape)}")


def _fp_format(use_fp16: bool, channels_last: bool, force_fp32: bool):
    """The dtype and memory format a block computes in."""
    if force_fp32:
        return torch.float32, torch.contiguous_format
    dtype = torch.float16 if use_fp16 else torch.float32
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    return dtype, fmt


# ---- functions ----------------------------------------------------------------------------------


def normalize_2nd_moment(x: torch.Tensor, dim: int = 1, eps: float = 1e-8) -> torch.Tensor:
    """x divided by the root mean square of its entries along ``dim``."""
    return x * x.square().mean(dim=dim, keepdim=True).add(eps).rsqrt()


def modulated_conv2d(
    x,
    weight,
    styles,
    noise=None,
    up=1,
    down=1,
    padding=0,
    resample_filter=None,
    demodulate=True,
    flip_weight=True,
    fused_modconv=True,
):
    """StyleGAN2's modulated convolution: ``weight[o, i] * styles[n, i]``, demodulated per output
    channel by ``rsqrt(sum_{i,k} (weight * styles)^2 + 1e-8)``, plus noise.

    ``fused_modconv=True``: one grouped convolution with per-sample weights. False: the styles
    scale the input, the shared weight convolves it, and the demodulation scales the output
    (fused with the noise through ``fma``).
    """
    n = x.shape[0]
    out_ch, in_ch, kh, kw = weight.shape
    _check_shape(styles, [n, in_ch], "modulated_conv2d: styles")
    impl = current_impl()

    if x.dtype == torch.float16 and demodulate:
        # Keep float16 activations in range: bring both factors to a max-norm of about 1 first.
        weight = weight * (
            1 / math.sqrt(in_ch * kh * kw) / weight.norm(float("inf"), dim=[1, 2, 3], keepdim=True)
        )
        styles = styles / styles.norm(float("inf"), dim=1, keepdim=True)

    per_sample = None  # [n, out, in, kh, kw]
    dcoefs = None  # [n, out]
    if demodulate or fused_modconv:
        per_sample = weight[None] * styles.reshape(n, 1, in_ch, 1, 1)
    if demodulate:
        dcoefs = per_sample.square().sum(dim=[2, 3, 4]).add(1e-8).rsqrt()
    if demodulate and fused_modconv:
        per_sample = per_sample * dcoefs.reshape(n, out_ch, 1, 1, 1)

    if not fused_modconv:
        x = x * styles.to(x.dtype).reshape(n, in_ch, 1, 1)
        x = conv2d_resample.conv2d_resample(
            x=x,
            w=weight.to(x.dtype),
            f=resample_filter,
            up=up,
            down=down,
            padding=padding,
            flip_weight=flip_weight,
            impl=impl,
        )
        if demodulate and noise is not None:
            return fma.fma(x, dcoefs.to(x.dtype).reshape(n, out_ch, 1, 1), noise.to(x.dtype))
        if demodulate:
            return x * dcoefs.to(x.dtype).reshape(n, out_ch, 1, 1)
        if noise is not None:
            return x.add_(noise.to(x.dtype))
        return x

    # The batch becomes the groups of one convolution.
    x = x.reshape(1, n * in_ch, *x.shape[2:])
    x = conv2d_resample.conv2d_resample(
        x=x,
        w=per_sample.reshape(n * out_ch, in_ch, kh, kw).to(x.dtype),
        f=resample_filter,
        up=up,
        down=down,
        padding=padding,
        groups=n,
        flip_weight=flip_weight,
        impl=impl,
    )
    x = x.reshape(n, out_ch, *x.shape[2:])
    if noise is not None:
        x = x.add_(noise)
    return x


# ---- layers -------------------------------------------------------------------------------------


class FullyConnectedLayer(torch.nn.Module):
    """Equalised-lr linear layer: weight stored as N(0, 1) / lr_multiplier, used times
    ``lr_multiplier / sqrt(in_features)``; bias stored as ``bias_init``, used times
    ``lr_multiplier``."""

    def __init__(
        self,
        in_features,
        out_features,
        bias=True,
        activation="linear",
        lr_multiplier=1,
        bias_init=0,
    ):
        super().__init__()
        self.activation = activation
        self.weight = torch.nn.Parameter(torch.randn([out_features, in_features]) / lr_multiplier)
        self.bias = (
            torch.nn.Parameter(torch.full([out_features], np.float32(bias_init))) if bias else None
        )
        self.weight_gain = lr_multiplier / np.sqrt(in_features)
        self.bias_gain = lr_multiplier

    def forward(self, x):
        w = self.weight.to(x.dtype) * self.weight_gain
        b = None
        if self.bias is not None:
            b = self.bias.to(x.dtype)
            if self.bias_gain != 1:
                b = b * self.bias_gain
        if b is not None and self.activation == "linear":
            return torch.addmm(b.unsqueeze(0), x, w.t())
        x = x.matmul(w.t())
        return bias_act.bias_act(x, b, act=self.activation, impl=current_impl())


class Conv2dLayer(torch.nn.Module):
    """Equalised-lr convolution with optional 2x FIR up/downsampling, bias, activation, clamp."""

    def __init__(
        self,
        in_channels,
        out_channels,
        kernel_size,
        bias=True,
        activation="linear",
        up=1,
        down=1,
        resample_filter=(1, 3, 3, 1),
        conv_clamp=None,
        channels_last=False,
        trainable=True,
    ):
        super().__init__()
        self.activation = activation
        self.up = up
        self.down = down
        self.conv_clamp = conv_clamp
        self.register_buffer("resample_filter", upfirdn2d.setup_filter(list(resample_filter)))
        self.padding = kernel_size // 2
        self.weight_gain = 1 / np.sqrt(in_channels * kernel_size**2)
        self.act_gain = bias_act.activation_funcs[activation].def_gain
        fmt = torch.channels_last if channels_last else torch.contiguous_format
        weight = torch.randn([out_channels, in_channels, kernel_size, kernel_size])
        weight = weight.to(memory_format=fmt)
        bias_value = torch.zeros([out_channels]) if bias else None
        if trainable:
            self.weight = torch.nn.Parameter(weight)
            self.bias = torch.nn.Parameter(bias_value) if bias_value is not None else None
        else:
            self.register_buffer("weight", weight)
            if bias_value is not None:
                self.register_buffer("bias", bias_value)
            else:
                self.bias = None

    def forward(self, x, gain=1):
        w = self.weight * self.weight_gain
        b = self.bias.to(x.dtype) if self.bias is not None else None
        x = conv2d_resample.conv2d_resample(
            x=x,
            w=w.to(x.dtype),
            f=self.resample_filter,
            up=self.up,
            down=self.down,
            padding=self.padding,
            flip_weight=self.up == 1,  # the up=2 path applies the weight as a true convolution
            impl=current_impl(),
        )
        clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
        return bias_act.bias_act(
            x, b, act=self.activation, gain=self.act_gain * gain, clamp=clamp, impl=current_impl()
        )


class MappingNetwork(torch.nn.Module):
    """z (and the embedded class label c) -> w, broadcast to ``num_ws`` copies."""

    def __init__(
        self,
        z_dim,
        c_dim,
        w_dim,
        num_ws,
        num_layers=8,
        embed_features=None,
        layer_features=None,
        activation="lrelu",
        lr_multiplier=0.01,
        w_avg_beta=0.995,
    ):
        super().__init__()
        self.z_dim = z_dim
        self.c_dim = c_dim
        self.w_dim = w_dim
        self.num_ws = num_ws
        self.num_layers = num_layers
        self.w_avg_beta = w_avg_beta
        if embed_features is None:
            embed_features = w_dim
        if c_dim == 0:
            embed_features = 0
        if layer_features is None:
            layer_features = w_dim
        widths = [z_dim + embed_features] + [layer_features] * (num_layers - 1) + [w_dim]
        if c_dim > 0:
            self.embed = FullyConnectedLayer(c_dim, embed_features)
        for i in range(num_layers):
            layer = FullyConnectedLayer(
                widths[i], widths[i + 1], activation=activation, lr_multiplier=lr_multiplier
            )
            setattr(self, f"fc{i}", layer)
        if num_ws is not None and w_avg_beta is not None:
            self.register_buffer("w_avg", torch.zeros([w_dim]))

    def forward(self, z, c, truncation_psi=1, truncation_cutoff=None, skip_w_avg_update=False):
        parts = []
        if self.z_dim > 0:
            _check_shape(z, [None, self.z_dim], "MappingNetwork: z")
            parts.append(normalize_2nd_moment(z.to(torch.float32)))
        if self.c_dim > 0:
            _check_shape(c, [None, self.c_dim], "MappingNetwork: c")
            parts.append(normalize_2nd_moment(self.embed(c.to(torch.float32))))
        x = parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)
        for i in range(self.num_layers):
            x = getattr(self, f"fc{i}")(x)

        if self.w_avg_beta is not None and self.training and not skip_w_avg_update:
            # Moving average of w: w_avg <- mean(w) + beta * (w_avg - mean(w)).
            self.w_avg.copy_(x.detach().mean(dim=0).lerp(self.w_avg, self.w_avg_beta))
        if self.num_ws is not None:
            x = x.unsqueeze(1).repeat([1, self.num_ws, 1])
        if truncation_psi != 1:
            if self.w_avg_beta is None:
                raise ValueError("MappingNetwork: truncation needs w_avg (w_avg_beta is None)")
            if self.num_ws is None or truncation_cutoff is None:
                x = self.w_avg.lerp(x, truncation_psi)
            else:
                x[:, :truncation_cutoff] = self.w_avg.lerp(x[:, :truncation_cutoff], truncation_psi)
        return x


class SynthesisLayer(torch.nn.Module):
    """Modulated 3x3 convolution (2x upsampling when ``up=2``), noise, bias, lrelu, clamp."""

    def __init__(
        self,
        in_channels,
        out_channels,
        w_dim,
        resolution,
        kernel_size=3,
        up=1,
        use_noise=True,
        activation="lrelu",
        resample_filter=(1, 3, 3, 1),
        conv_clamp=None,
        channels_last=False,
    ):
        super().__init__()
        self.resolution = resolution
        self.up = up
        self.use_noise = use_noise
        self.activation = activation
        self.conv_clamp = conv_clamp
        self.register_buffer("resample_filter", upfirdn2d.setup_filter(list(resample_filter)))
        self.padding = kernel_size // 2
        self.act_gain = bias_act.activation_funcs[activation].def_gain
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        fmt = torch.channels_last if channels_last else torch.contiguous_format
        self.weight = torch.nn.Parameter(
            torch.randn([out_channels, in_channels, kernel_size, kernel_size]).to(memory_format=fmt)
        )
        if use_noise:
            self.register_buffer("noise_const", torch.randn([resolution, resolution]))
            self.noise_strength = torch.nn.Parameter(torch.zeros([]))
        self.bias = torch.nn.Parameter(torch.zeros([out_channels]))

    def forward(self, x, w, noise_mode="random", fused_modconv=True, gain=1):
        if noise_mode not in ("random", "const", "none"):
            raise ValueError(
                f"SynthesisLayer: expected noise_mode 'random', 'const' or 'none', "
                f"got {noise_mode!r}"
            )
        _check_shape(
            x,
            [None, self.weight.shape[1], self.resolution // self.up, self.resolution // self.up],
            "SynthesisLayer: x",
        )
        styles = self.affine(w)
        noise = None
        if self.use_noise and noise_mode == "random":
            shape = [x.shape[0], 1, self.resolution, self.resolution]
            noise = torch.randn(shape, device=x.device) * self.noise_strength
        elif self.use_noise and noise_mode == "const":
            noise = self.noise_const * self.noise_strength
        x = modulated_conv2d(
            x=x,
            weight=self.weight,
            styles=styles,
            noise=noise,
            up=self.up,
            padding=self.padding,
            resample_filter=self.resample_filter,
            flip_weight=self.up == 1,
            fused_modconv=fused_modconv,
        )
        clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
        return bias_act.bias_act(
            x,
            self.bias.to(x.dtype),
            act=self.activation,
            gain=self.act_gain * gain,
            clamp=clamp,
            impl=current_impl(),
        )


class ToRGBLayer(torch.nn.Module):
    """Modulated 1x1 convolution to image channels, without demodulation; bias; clamp."""

    def __init__(
        self, in_channels, out_channels, w_dim, kernel_size=1, conv_clamp=None, channels_last=False
    ):
        super().__init__()
        self.conv_clamp = conv_clamp
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        fmt = torch.channels_last if channels_last else torch.contiguous_format
        self.weight = torch.nn.Parameter(
            torch.randn([out_channels, in_channels, kernel_size, kernel_size]).to(memory_format=fmt)
        )
        self.bias = torch.nn.Parameter(torch.zeros([out_channels]))
        self.weight_gain = 1 / np.sqrt(in_channels * kernel_size**2)

    def forward(self, x, w, fused_modconv=True):
        styles = self.affine(w) * self.weight_gain
        x = modulated_conv2d(
            x=x, weight=self.weight, styles=styles, demodulate=False, fused_modconv=fused_modconv
        )
        return bias_act.bias_act(
            x, self.bias.to(x.dtype), clamp=self.conv_clamp, impl=current_impl()
        )


class SynthesisBlock(torch.nn.Module):
    """One resolution of the generator: (const or 2x-upsampling conv0), conv1, toRGB / skip."""

    def __init__(
        self,
        in_channels,
        out_channels,
        w_dim,
        resolution,
        img_channels,
        is_last,
        architecture="skip",
        resample_filter=(1, 3, 3, 1),
        conv_clamp=None,
        use_fp16=False,
        fp16_channels_last=False,
        **layer_kwargs,
    ):
        if architecture not in ("orig", "skip", "resnet"):
            raise ValueError(
                f"SynthesisBlock: expected architecture 'orig', 'skip' or 'resnet', "
                f"got {architecture!r}"
            )
        super().__init__()
        self.in_channels = in_channels
        self.w_dim = w_dim
        self.resolution = resolution
        self.img_channels = img_channels
        self.is_last = is_last
        self.architecture = architecture
        self.use_fp16 = use_fp16
        self.channels_last = use_fp16 and fp16_channels_last
        self.register_buffer("resample_filter", upfirdn2d.setup_filter(list(resample_filter)))
        self.num_conv = 0
        self.num_torgb = 0
        common = dict(w_dim=w_dim, resolution=resolution, conv_clamp=conv_clamp)
        common.update(channels_last=self.channels_last)

        if in_channels == 0:
            self.const = torch.nn.Parameter(torch.randn([out_channels, resolution, resolution]))
        else:
            self.conv0 = SynthesisLayer(
                in_channels,
                out_channels,
                up=2,
                resample_filter=resample_filter,
                **common,
                **layer_kwargs,
            )
            self.num_conv += 1
        self.conv1 = SynthesisLayer(out_channels, out_channels, **common, **layer_kwargs)
        self.num_conv += 1
        if is_last or architecture == "skip":
            self.torgb = ToRGBLayer(
                out_channels,
                img_channels,
                w_dim=w_dim,
                conv_clamp=conv_clamp,
                channels_last=self.channels_last,
            )
            self.num_torgb += 1
        if in_channels != 0 and architecture == "resnet":
            self.skip = Conv2dLayer(
                in_channels,
                out_channels,
                kernel_size=1,
                bias=False,
                up=2,
                resample_filter=resample_filter,
                channels_last=self.channels_last,
            )

    def forward(self, x, img, ws, force_fp32=False, fused_modconv=None, **layer_kwargs):
        _check_shape(ws, [None, self.num_conv + self.num_torgb, self.w_dim], "SynthesisBlock: ws")
        w_iter = iter(ws.unbind(dim=1))
        dtype, fmt = _fp_format(self.use_fp16, self.channels_last, force_fp32)
        if fused_modconv is None:
            # Grouped convolutions in eval mode; in training, scaling around one shared conv.
            fused_modconv = not self.training and (dtype == torch.float32 or int(x.shape[0]) == 1)

        if self.in_channels == 0:
            x = self.const.to(dtype=dtype, memory_format=fmt)
            x = x.unsqueeze(0).repeat([ws.shape[0], 1, 1, 1])
        else:
            half = self.resolution // 2
            _check_shape(x, [None, self.in_channels, half, half], "SynthesisBlock: x")
            x = x.to(dtype=dtype, memory_format=fmt)

        if self.in_channels == 0:
            x = self.conv1(x, next(w_iter), fused_modconv=fused_modconv, **layer_kwargs)
        elif self.architecture == "resnet":
            y = self.skip(x, gain=np.sqrt(0.5))
            x = self.conv0(x, next(w_iter), fused_modconv=fused_modconv, **layer_kwargs)
            x = self.conv1(
                x, next(w_iter), fused_modconv=fused_modconv, gain=np.sqrt(0.5), **layer_kwargs
            )
            x = y.add_(x)
        else:
            x = self.conv0(x, next(w_iter), fused_modconv=fused_modconv, **layer_kwargs)
            x = self.conv1(x, next(w_iter), fused_modconv=fused_modconv, **layer_kwargs)

        if img is not None:
            half = self.resolution // 2
            _check_shape(img, [None, self.img_channels, half, half], "SynthesisBlock: img")
            img = upfirdn2d.upsample2d(img, self.resample_filter, impl=current_impl())
        if self.is_last or self.architecture == "skip":
            y = self.torgb(x, next(w_iter), fused_modconv=fused_modconv)
            y = y.to(dtype=torch.float32, memory_format=torch.contiguous_format)
            img = y if img is None else img.add_(y)
        return x, img


class SynthesisNetwork(torch.nn.Module):
    """ws [N, num_ws, w_dim] -> image [N, img_channels, img_resolution, img_resolution]."""

    def __init__(
        self,
        w_dim,
        img_resolution,
        img_channels,
        channel_base=32768,
        channel_max=512,
        num_fp16_res=0,
        **block_kwargs,
    ):
        if img_resolution < 4 or img_resolution & (img_resolution - 1):
            raise ValueError(
                f"SynthesisNetwork: expected img_resolution a power of 2 >= 4, got {img_resolution}"
            )
        super().__init__()
        self.w_dim = w_dim
        self.img_resolution = img_resolution
        self.img_resolution_log2 = int(np.log2(img_resolution))
        self.img_channels = img_channels
        self.block_resolutions = [2**i for i in range(2, self.img_resolution_log2 + 1)]
        channels = {r: min(channel_base // r, channel_max) for r in self.block_resolutions}
        fp16_resolution = max(2 ** (self.img_resolution_log2 + 1 - num_fp16_res), 8)
        self.num_ws = 0
        for res in self.block_resolutions:
            is_last = res == self.img_resolution
            block = SynthesisBlock(
                channels[res // 2] if res > 4 else 0,
                channels[res],
                w_dim=w_dim,
                resolution=res,
                img_channels=img_channels,
                is_last=is_last,
                use_fp16=res >= fp16_resolution,
                **block_kwargs,
            )
            # Consecutive blocks share a w: a block's toRGB uses the next block's first w.
            self.num_ws += block.num_conv + (block.num_torgb if is_last else 0)
            setattr(self, f"b{res}", block)

    def forward(self, ws, **block_kwargs):
        _check_shape(ws, [None, self.num_ws, self.w_dim], "SynthesisNetwork: ws")
        ws = ws.to(torch.float32)
        per_block = []
        start = 0
        for res in self.block_resolutions:
            block = getattr(self, f"b{res}")
            per_block.append(ws.narrow(1, start, block.num_conv + block.num_torgb))
            start += block.num_conv
        x = img = None
        for res, block_ws in zip(self.block_resolutions, per_block, strict=True):
            x, img = getattr(self, f"b{res}")(x, img, block_ws, **block_kwargs)
        return img


class Generator(torch.nn.Module):
    """StyleGAN2 generator: mapping network then synthesis network."""

    def __init__(
        self,
        z_dim,
        c_dim,
        w_dim,
        img_resolution,
        img_channels,
        mapping_kwargs=None,
        synthesis_kwargs=None,
    ):
        super().__init__()
        self.z_dim = z_dim
        self.c_dim = c_dim
        self.w_dim = w_dim
        self.img_resolution = img_resolution
        self.img_channels = img_channels
        self.synthesis = SynthesisNetwork(
            w_dim=w_dim,
            img_resolution=img_resolution,
            img_channels=img_channels,
            **(synthesis_kwargs or {}),
        )
        self.num_ws = self.synthesis.num_ws
        self.mapping = MappingNetwork(
            z_dim=z_dim, c_dim=c_dim, w_dim=w_dim, num_ws=self.num_ws, **(mapping_kwargs or {})
        )

    def forward(self, z, c, truncation_psi=1, truncation_cutoff=None, **synthesis_kwargs):
        ws = self.mapping(z, c, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff)
        return self.synthesis(ws, **synthesis_kwargs)


# ---- discriminator ------------------------------------------------------------------------------


class DiscriminatorBlock(torch.nn.Module):
    """One resolution of the discriminator: (fromRGB), conv0, 2x-downsampling conv1, skip."""

    def __init__(
        self,
        in_channels,
        tmp_channels,
        out_channels,
        resolution,
        img_channels,
        first_layer_idx,
        architecture="resnet",
        activation="lrelu",
        resample_filter=(1, 3, 3, 1),
        conv_clamp=None,
        use_fp16=False,
        fp16_channels_last=False,
        freeze_layers=0,
    ):
        if in_channels not in (0, tmp_channels):
            raise ValueError(
                f"DiscriminatorBlock: expected in_channels 0 or {tmp_channels}, got {in_channels}"
            )
        if architecture not in ("orig", "skip", "resnet"):
            raise ValueError(
                f"DiscriminatorBlock: expected architecture 'orig', 'skip' or 'resnet', "
                f"got {architecture!r}"
            )
        super().__init__()
        self.in_channels = in_channels
        self.resolution = resolution
        self.img_channels = img_channels
        self.first_layer_idx = first_layer_idx
        self.architecture = architecture
        self.use_fp16 = use_fp16
        self.channels_last = use_fp16 and fp16_channels_last
        self.register_buffer("resample_filter", upfirdn2d.setup_filter(list(resample_filter)))
        self.num_layers = 0

        def next_trainable():
            # Layers below index freeze_layers (counted over the whole D) hold buffers.
            trainable = self.first_layer_idx + self.num_layers >= freeze_layers
            self.num_layers += 1
            return trainable

        cl = dict(channels_last=self.channels_last)
        if in_channels == 0 or architecture == "skip":
            self.fromrgb = Conv2dLayer(
                img_channels,
                tmp_channels,
                kernel_size=1,
                activation=activation,
                trainable=next_trainable(),
                conv_clamp=conv_clamp,
                **cl,
            )
        self.conv0 = Conv2dLayer(
            tmp_channels,
            tmp_channels,
            kernel_size=3,
            activation=activation,
            trainable=next_trainable(),
            conv_clamp=conv_clamp,
            **cl,
        )
        self.conv1 = Conv2dLayer(
            tmp_channels,
            out_channels,
            kernel_size=3,
            activation=activation,
            down=2,
            trainable=next_trainable(),
            resample_filter=resample_filter,
            conv_clamp=conv_clamp,
            **cl,
        )
        if architecture == "resnet":
            self.skip = Conv2dLayer(
                tmp_channels,
                out_channels,
                kernel_size=1,
                bias=False,
                down=2,
                trainable=next_trainable(),
                resample_filter=resample_filter,
                **cl,
            )

    def forward(self, x, img, force_fp32=False):
        dtype, fmt = _fp_format(self.use_fp16, self.channels_last, force_fp32)
        res = self.resolution
        if x is not None:
            _check_shape(x, [None, self.in_channels, res, res], "DiscriminatorBlock: x")
            x = x.to(dtype=dtype, memory_format=fmt)
        if self.in_channels == 0 or self.architecture == "skip":
            _check_shape(img, [None, self.img_channels, res, res], "DiscriminatorBlock: img")
            img = img.to(dtype=dtype, memory_format=fmt)
            y = self.fromrgb(img)
            x = y if x is None else x + y
            if self.architecture == "skip":
                img = upfirdn2d.downsample2d(img, self.resample_filter, impl=current_impl())
            else:
                img = None
        if self.architecture == "resnet":
            y = self.skip(x, gain=np.sqrt(0.5))
            x = self.conv0(x)
            x = self.conv1(x, gain=np.sqrt(0.5))
            x = y.add_(x)
        else:
            x = self.conv1(self.conv0(x))
        return x, img


class MinibatchStdLayer(torch.nn.Module):
    """Appends, per group of ``group_size`` samples, the mean standard deviation over the group
    of ``num_channels`` channel groups as extra feature maps."""

    def __init__(self, group_size, num_channels=1):
        super().__init__()
        self.group_size = group_size
        self.num_channels = num_channels

    def forward(self, x):
        n, c, h, w = x.shape
        g = n if self.group_size is None else min(self.group_size, n)
        f = self.num_channels
        y = x.reshape(g, -1, f, c // f, h, w)  # sample = group member * groups + group index
        y = (y - y.mean(dim=0)).square().mean(dim=0)  # variance over the group
        y = y.add(1e-8).sqrt().mean(dim=[2, 3, 4])  # mean stddev per channel group: [n/g, F]
        y = y.reshape(-1, f, 1, 1).repeat(g, 1, h, w)
        return torch.cat([x, y], dim=1)


class DiscriminatorEpilogue(torch.nn.Module):
    """The 4x4 end of D: minibatch stddev, conv, fc, out (projected onto cmap when
    conditional)."""

    def __init__(
        self,
        in_channels,
        cmap_dim,
        resolution,
        img_channels,
        architecture="resnet",
        mbstd_group_size=4,
        mbstd_num_channels=1,
        activation="lrelu",
        conv_clamp=None,
    ):
        if architecture not in ("orig", "skip", "resnet"):
            raise ValueError(
                f"DiscriminatorEpilogue: expected architecture 'orig', 'skip' or 'resnet', "
                f"got {architecture!r}"
            )
        super().__init__()
        self.in_channels = in_channels
        self.cmap_dim = cmap_dim
        self.resolution = resolution
        self.img_channels = img_channels
        self.architecture = architecture
        if architecture == "skip":
            self.fromrgb = Conv2dLayer(
                img_channels, in_channels, kernel_size=1, activation=activation
            )
        self.mbstd = (
            MinibatchStdLayer(group_size=mbstd_group_size, num_channels=mbstd_num_channels)
            if mbstd_num_channels > 0
            else None
        )
        self.conv = Conv2dLayer(
            in_channels + mbstd_num_channels,
            in_channels,
            kernel_size=3,
            activation=activation,
            conv_clamp=conv_clamp,
        )
        self.fc = FullyConnectedLayer(
            in_channels * resolution**2, in_channels, activation=activation
        )
        self.out = FullyConnectedLayer(in_channels, 1 if cmap_dim == 0 else cmap_dim)

    def forward(self, x, img, cmap, force_fp32=False):
        res = self.resolution
        _check_shape(x, [None, self.in_channels, res, res], "DiscriminatorEpilogue: x")
        x = x.to(dtype=torch.float32, memory_format=torch.contiguous_format)
        if self.architecture == "skip":
            _check_shape(img, [None, self.img_channels, res, res], "DiscriminatorEpilogue: img")
            img = img.to(dtype=torch.float32, memory_format=torch.contiguous_format)
            x = x + self.fromrgb(img)
        if self.mbstd is not None:
            x = self.mbstd(x)
        x = self.conv(x)
        x = self.fc(x.flatten(1))
        x = self.out(x)
        if self.cmap_dim > 0:
            _check_shape(cmap, [None, self.cmap_dim], "DiscriminatorEpilogue: cmap")
            # Projection discriminator: the score is <out, cmap> / sqrt(cmap_dim).
            x = (x * cmap).sum(dim=1, keepdim=True) * (1 / np.sqrt(self.cmap_dim))
        return x


class Discriminator(torch.nn.Module):
    """StyleGAN2 discriminator: blocks from img_resolution down to 8, then the 4x4 epilogue."""

    def __init__(
        self,
        c_dim,
        img_resolution,
        img_channels,
        architecture="resnet",
        channel_base=32768,
        channel_max=512,
        num_fp16_res=0,
        conv_clamp=None,
        cmap_dim=None,
        block_kwargs=None,
        mapping_kwargs=None,
        epilogue_kwargs=None,
    ):
        super().__init__()
        self.c_dim = c_dim
        self.img_resolution = img_resolution
        self.img_resolution_log2 = int(np.log2(img_resolution))
        self.img_channels = img_channels
        self.block_resolutions = [2**i for i in range(self.img_resolution_log2, 2, -1)]
        channels = {r: min(channel_base // r, channel_max) for r in [*self.block_resolutions, 4]}
        fp16_resolution = max(2 ** (self.img_resolution_log2 + 1 - num_fp16_res), 8)
        if cmap_dim is None:
            cmap_dim = channels[4]
        if c_dim == 0:
            cmap_dim = 0
        common = dict(img_channels=img_channels, architecture=architecture, conv_clamp=conv_clamp)
        layer_idx = 0
        for res in self.block_resolutions:
            block = DiscriminatorBlock(
                channels[res] if res < img_resolution else 0,
                channels[res],
                channels[res // 2],
                resolution=res,
                first_layer_idx=layer_idx,
                use_fp16=res >= fp16_resolution,
                **(block_kwargs or {}),
                **common,
            )
            setattr(self, f"b{res}", block)
            layer_idx += block.num_layers
        if c_dim > 0:
            self.mapping = MappingNetwork(
                z_dim=0,
                c_dim=c_dim,
                w_dim=cmap_dim,
                num_ws=None,
                w_avg_beta=None,
                **(mapping_kwargs or {}),
            )
        self.b4 = DiscriminatorEpilogue(
            channels[4], cmap_dim=cmap_dim, resolution=4, **(epilogue_kwargs or {}), **common
        )

    def forward(self, img, c, **block_kwargs):
        x = None
        for res in self.block_resolutions:
            x, img = getattr(self, f"b{res}")(x, img, **block_kwargs)
        cmap = self.mapping(None, c) if self.c_dim > 0 else None
        return self.b4(x, img, cmap)
