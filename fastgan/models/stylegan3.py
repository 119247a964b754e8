"""StyleGAN3 (Karras et al. 2021, "Alias-Free Generative Adversarial Networks"): the alias-free
generator, configurations T (translation equivariant: 3x3 convolutions, separable filters) and R
(rotation equivariant: 1x1 convolutions, radially symmetric down-sampling filters, channels
doubled by the caller).

Generator: a mapping network z (and label c) to w (as StyleGAN2's, usually 2 layers), then

- the input layer: ``channels[0]`` Fourier features ``sin(2π (f·p + φ))`` sampled on a grid of
  ``sizes[0]`` pixels at ``sampling_rates[0]`` (frequencies drawn in a disc of radius
  ``first_cutoff``, faded out towards the Nyquist frequency), rotated and translated by an affine
  layer of w (initialised to the identity) and by the user's ``transform`` buffer (3x3, to
  translate or rotate the output), then mixed by a learned ``[C, C]`` matrix;
- ``num_layers`` synthesis layers and a ToRGB layer: a modulated convolution (demodulated, its
  input scaled by the inverse RMS ``magnitude_ema`` tracked while training), then
  :func:`fastgan.ops.filtered_lrelu`: bias, upsampling by ``up`` with a low-pass filter, leaky
  ReLU (slope 0.2, gain √2, clamp ``conv_clamp``) at the higher rate, low-pass filter and
  downsampling by ``down``. The filters come from the layer's cutoff ``f_c``, stopband ``f_t``
  and sampling rate ``s``:

      f_c[i] = first_cutoff * (R / 2 / first_cutoff) ** e_i,
      f_t[i] = first_stopband * (R / 2 * last_stopband_rel / first_stopband) ** e_i,
      e_i = min(i / (num_layers - num_critical), 1),
      s[i] = 2 ** ceil(log2(min(2 f_t[i], R))),  f_h[i] = max(f_t[i], s[i] / 2) - f_c[i],

  each filter a Kaiser-windowed sinc (jinc for R's radial filters) of ``filter_size`` taps per
  factor, cutoff ``f_c`` and transition width ``2 f_h``. Layers work on ``s[i] + 2 margin_size``
  pixels, the last two on R; channels ``min(channel_base / 2 / f_c[i], channel_max)``.
- the output times ``output_scale``.

``impl='ref'`` builds it on the pure-PyTorch reference ops; :func:`fastgan.nn.set_impl` switches
a built one (every op call reads its layer's ``conv.impl``).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from fastgan.models._checks import check_impl, check_int, check_resolution, check_tensor
from fastgan.models._filters import design_lowpass_filter
from fastgan.models.stylegan2 import NOISE_MODES, StyleGAN2Generator, _check_clamp
from fastgan.nn import EqualLinear, MappingNetwork
from fastgan.nn.resample import Float32Buffers
from fastgan.nn.stylegan import ModulatedConv2d
from fastgan.ops.filtered_lrelu import MAX_FACTOR, MAX_TAPS, filtered_lrelu
from fastgan.ops.styled_bias_act import styled_bias_act

__all__ = ["StyleGAN3Generator", "SynthesisInput", "SynthesisLayer", "layer_schedule"]

_NAME = "StyleGAN3Generator"


def layer_schedule(
    img_resolution: int,
    img_channels: int,
    channel_base: int,
    channel_max: int,
    num_layers: int,
    num_critical: int,
    first_cutoff: float,
    first_stopband: float,
    last_stopband_rel: float,
    margin_size: int,
) -> dict[str, np.ndarray]:
    """Per layer i = 0 .. num_layers (the last is ToRGB; index 0 is also the input layer's):
    cutoffs, stopbands, sampling_rates, half_widths, sizes and channels (float64 / int64)."""
    last_cutoff = img_resolution / 2
    last_stopband = last_cutoff * last_stopband_rel
    e = np.minimum(np.arange(num_layers + 1) / (num_layers - num_critical), 1.0)
    cutoffs = first_cutoff * (last_cutoff / first_cutoff) ** e
    stopbands = first_stopband * (last_stopband / first_stopband) ** e
    rates = np.exp2(np.ceil(np.log2(np.minimum(stopbands * 2, img_resolution))))
    half_widths = np.maximum(stopbands, rates / 2) - cutoffs
    sizes = (rates + 2 * margin_size).astype(np.int64)
    sizes[-2:] = img_resolution
    channels = np.rint(np.minimum(channel_base / 2 / cutoffs, channel_max)).astype(np.int64)
    channels[-1] = img_channels
    return dict(
        cutoffs=cutoffs,
        stopbands=stopbands,
        sampling_rates=rates,
        half_widths=half_widths,
        sizes=sizes,
        channels=channels,
    )


class SynthesisInput(nn.Module):
    """Fourier features ``[N, channels, size, size]`` from w ``[N, w_dim]``.

    Pixel (i, j) sits at ``p = ((j + 0.5 - size / 2) / s, (i + 0.5 - size / 2) / s)`` (s the
    sampling rate, so the final image spans one unit). An affine layer of w gives (c, s, tx, ty);
    (c, s) normalised to a unit vector is a rotation, (tx, ty) a translation, and with the user's
    ``transform`` T the features are ``sin(2π (f·(A p) + φ))`` for ``A = R_(c,s) · T_(-t) · T``.
    Each feature fades out linearly as its transformed frequency goes from ``bandwidth`` to the
    Nyquist frequency s / 2, then a learned ``[C, C]`` matrix (scaled by 1/√C) mixes them.
    """

    transform: torch.Tensor
    freqs: torch.Tensor
    phases: torch.Tensor

    def __init__(
        self, w_dim: int, channels: int, size: int, sampling_rate: float, bandwidth: float
    ) -> None:
        super().__init__()
        self.w_dim, self.channels, self.size = w_dim, channels, size
        self.sampling_rate, self.bandwidth = float(sampling_rate), float(bandwidth)
        # Frequencies in a disc of radius `bandwidth`: a Gaussian direction and a radius mapped so
        # that the points spread over the disc, as the paper's input layer draws them.
        freqs = torch.randn(channels, 2)
        radii = freqs.square().sum(dim=1, keepdim=True).sqrt()
        freqs = freqs / (radii * radii.square().exp().pow(0.25)) * bandwidth
        self.register_buffer("freqs", freqs)
        self.register_buffer("phases", torch.rand(channels) - 0.5)
        self.register_buffer("transform", torch.eye(3))
        self.weight = nn.Parameter(torch.randn(channels, channels))
        # (c, s, tx, ty) = (1, 0, 0, 0) at first: no rotation or translation.
        self.affine = EqualLinear(w_dim, 4)
        with torch.no_grad():
            self.affine.weight.zero_()
            self.affine.bias.copy_(torch.tensor([1.0, 0.0, 0.0, 0.0]))

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        dtype = torch.promote_types(w.dtype, torch.float32)
        t = self.affine(w).to(dtype)  # [N, 4]
        N = t.shape[0]
        t = t / t[:, :2].norm(dim=1, keepdim=True)
        c, s, tx, ty = t.unbind(dim=1)
        zero, one = torch.zeros_like(c), torch.ones_like(c)
        rotation = torch.stack([c, -s, zero, s, c, zero, zero, zero, one], dim=1).view(N, 3, 3)
        translation = torch.stack([one, zero, -tx, zero, one, -ty, zero, zero, one], dim=1)
        transforms = rotation @ translation.view(N, 3, 3) @ self.transform.to(dtype)
        freqs, phases = self.freqs.to(dtype), self.phases.to(dtype)
        # f·(A p + a) = (Aᵀ f)·p + f·a for the linear part A and offset a of the transform.
        phases = phases[None] + transforms[:, :2, 2] @ freqs.t()  # [N, C]
        freqs = freqs @ transforms[:, :2, :2]  # [N, C, 2]
        amplitudes = (
            1 - (freqs.norm(dim=2) - self.bandwidth) / (self.sampling_rate / 2 - self.bandwidth)
        ).clamp(0, 1)  # [N, C]
        coords = (torch.arange(self.size, dtype=dtype, device=w.device) + 0.5 - self.size / 2) / (
            self.sampling_rate
        )
        # Argument [N, H, W, C]: fx * x_j + fy * y_i + phase.
        arg = (
            freqs[:, None, None, :, 0] * coords[None, None, :, None]
            + freqs[:, None, None, :, 1] * coords[None, :, None, None]
            + phases[:, None, None, :]
        )
        x = torch.sin(arg * (2 * math.pi)) * amplitudes[:, None, None, :]
        x = x @ (self.weight.to(dtype).t() / math.sqrt(self.channels))
        return x.permute(0, 3, 1, 2).contiguous()

    def extra_repr(self) -> str:
        return (
            f"w_dim={self.w_dim}, channels={self.channels}, size={self.size}, "
            f"sampling_rate={self.sampling_rate:g}, bandwidth={self.bandwidth:g}"
        )


class SynthesisLayer(Float32Buffers):
    """One alias-free layer: modulated convolution (``conv_kernel`` x ``conv_kernel``, padding
    ``conv_kernel - 1``; input scaled by ``magnitude_ema ** -0.5``), then
    :func:`fastgan.ops.filtered_lrelu` with the layer's filters, from ``in_size`` pixels at
    ``in_sampling_rate`` to ``out_size`` pixels at ``out_sampling_rate``. The ToRGB layer
    (``is_torgb``) has a 1x1 convolution without demodulation (styles scaled by 1/√fan-in), no
    resampling or activation (slope 1, gain 1), only bias and clamp."""

    magnitude_ema: torch.Tensor

    def __init__(
        self,
        w_dim: int,
        is_torgb: bool,
        is_critically_sampled: bool,
        use_fp16: bool,
        in_channels: int,
        out_channels: int,
        in_size: int,
        out_size: int,
        in_sampling_rate: float,
        out_sampling_rate: float,
        in_cutoff: float,
        out_cutoff: float,
        in_half_width: float,
        out_half_width: float,
        conv_kernel: int = 3,
        filter_size: int = 6,
        lrelu_upsampling: int = 2,
        use_radial_filters: bool = False,
        conv_clamp: float | None = 256,
        magnitude_ema_beta: float = 0.999,
        impl: str = "auto",
    ) -> None:
        super().__init__()
        self.is_torgb, self.is_critically_sampled = is_torgb, is_critically_sampled
        self.use_fp16 = use_fp16
        self.in_channels, self.out_channels = in_channels, out_channels
        self.in_size, self.out_size = int(in_size), int(out_size)
        self.in_sampling_rate, self.out_sampling_rate = in_sampling_rate, out_sampling_rate
        self.in_cutoff, self.out_cutoff = in_cutoff, out_cutoff
        self.conv_kernel = 1 if is_torgb else conv_kernel
        self.conv_clamp = conv_clamp
        self.magnitude_ema_beta = magnitude_ema_beta
        self.conv = ModulatedConv2d(
            in_channels, out_channels, self.conv_kernel, w_dim, demodulate=not is_torgb, impl=impl
        )
        self.conv.padding = self.conv_kernel - 1  # a full convolution: the filters crop later
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.register_buffer("magnitude_ema", torch.ones([]))

        # Resampling: up to the rate of the nonlinearity (lrelu_upsampling times the higher of the
        # two rates), then down to the output rate.
        tmp_rate = max(in_sampling_rate, out_sampling_rate) * (1 if is_torgb else lrelu_upsampling)
        self.tmp_sampling_rate = tmp_rate
        self.up = round(tmp_rate / in_sampling_rate)
        self.down = round(tmp_rate / out_sampling_rate)
        up_taps = filter_size * self.up if self.up > 1 and not is_torgb else 1
        down_taps = filter_size * self.down if self.down > 1 and not is_torgb else 1
        if max(self.up, self.down) > MAX_FACTOR or max(up_taps, down_taps) > MAX_TAPS:
            raise ValueError(
                f"resampling by up={self.up}, down={self.down} with {up_taps} and {down_taps} "
                f"taps; filtered_lrelu takes factors up to {MAX_FACTOR} and up to {MAX_TAPS} "
                "taps (lower filter_size or lrelu_upsampling)"
            )
        self.down_radial = use_radial_filters and not is_critically_sampled
        up_filter = design_lowpass_filter(up_taps, in_cutoff, in_half_width * 2, tmp_rate)
        down_filter = design_lowpass_filter(
            down_taps, out_cutoff, out_half_width * 2, tmp_rate, radial=self.down_radial
        )
        self.register_buffer("up_filter", up_filter, persistent=False)
        self.register_buffer("down_filter", down_filter, persistent=False)
        self.float32_buffers = tuple(
            n for n, f in (("up_filter", up_filter), ("down_filter", down_filter)) if f is not None
        )
        # Padding (in pixels of the upsampled image) so that the output has out_size pixels, the
        # samples placed symmetrically (pixel centres at half-integer positions at every rate).
        pad_total = (self.out_size - 1) * self.down + 1
        pad_total -= (self.in_size + self.conv_kernel - 1) * self.up
        pad_total += up_taps + down_taps - 2
        pad_lo = (pad_total + self.up) // 2
        pad_hi = pad_total - pad_lo
        self.padding = (pad_lo, pad_hi, pad_lo, pad_hi)
        self.gain = 1.0 if is_torgb else math.sqrt(2)
        self.slope = 1.0 if is_torgb else 0.2

    @property
    def impl(self) -> str:
        return self.conv.impl

    def forward(
        self,
        x: torch.Tensor,
        w: torch.Tensor,
        update_emas: bool = False,
        fused_modconv: bool | None = None,
        force_fp32: bool = False,
    ) -> torch.Tensor:
        if x.shape[1:] != (self.in_channels, self.in_size, self.in_size):
            raise ValueError(
                f"SynthesisLayer: expected input [N, {self.in_channels}, {self.in_size}, "
                f"{self.in_size}], got {list(x.shape)}"
            )
        if update_emas:
            magnitude = x.detach().float().square().mean()
            self.magnitude_ema.copy_(magnitude.lerp(self.magnitude_ema, self.magnitude_ema_beta))
        dtype = x.dtype
        if self.use_fp16 and not force_fp32 and dtype == torch.float32:
            dtype = torch.float16
        x = x.to(dtype)
        input_gain = self.magnitude_ema.rsqrt()
        styles = self.conv.styles(w)
        if self.is_torgb:
            # No demodulation: the input gain and 1/√fan-in go into the styles.
            styles = styles * (input_gain / math.sqrt(self.in_channels * self.conv_kernel**2))
            y, _ = self.conv.convolve(x, styles, fused_modconv)
        else:
            y, scale = self.conv.convolve(x, styles, fused_modconv)
            if scale is None:
                y = y * input_gain.to(y.dtype)
            else:
                scale = scale * input_gain.to(scale.dtype)
                y = styled_bias_act(y, scale.to(y.dtype), act="linear", gain=1.0, impl=self.impl)
        return filtered_lrelu(
            y,
            fu=self.up_filter,
            fd=self.down_filter,
            b=self.bias.to(y.dtype),
            up=self.up,
            down=self.down,
            padding=self.padding,
            gain=self.gain,
            slope=self.slope,
            clamp=self.conv_clamp,
            impl=self.impl,
        )

    def extra_repr(self) -> str:
        return (
            f"torgb={self.is_torgb}, critical={self.is_critically_sampled}, "
            f"channels={self.in_channels}->{self.out_channels}, "
            f"size={self.in_size}->{self.out_size}, "
            f"rate={self.in_sampling_rate:g}->{self.out_sampling_rate:g}, "
            f"cutoff={self.in_cutoff:.3g}->{self.out_cutoff:.3g}, up={self.up}, "
            f"down={self.down}, radial={self.down_radial}, fp16={self.use_fp16}"
        )


def _check_number(name: str, value: object, low: float, strict: bool = True) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if ok:
        ok = value > low if strict else value >= low
    if not ok:
        raise ValueError(
            f"{_NAME}: expected {name} to be a number {'>' if strict else '>='} {low}, "
            f"got {value!r}"
        )
    return float(value)


class StyleGAN3Generator(nn.Module):
    """StyleGAN3 generator: ``forward(z, c)`` = ``synthesis(mapping(z, c))``, images
    ``[N, img_channels, R, R]`` (float32, or float64 for a float64 model).

    Args:
        z_dim, c_dim, w_dim: latent, label (0: unconditional) and intermediate latent sizes.
        img_resolution: R, a power of two >= 8; img_channels: output channels.
        channel_base, channel_max: channels of layer i are ``min(channel_base / 2 / f_c[i],
            channel_max)`` (StyleGAN3-R doubles both).
        num_layers: synthesis layers (not counting the input and ToRGB layers);
            ``num_ws = num_layers + 2``.
        num_critical: how many of the last layers are critically sampled (cutoff at Nyquist).
        first_cutoff, first_stopband, last_stopband_rel: the filter schedule (see the module).
        margin_size: extra pixels on each side of the layers' canvas.
        output_scale: factor of the output image.
        num_fp16_res: layers whose sampling rate is among the highest ``num_fp16_res``
            resolutions compute in float16 (when the model is float32); 0: none.
        conv_kernel: 3 (StyleGAN3-T) or 1 (StyleGAN3-R).
        use_radial_filters: radially symmetric down-sampling filters (StyleGAN3-R) in the layers
            that are not critically sampled.
        conv_clamp: clamp of every layer's output; None: none.
        magnitude_ema_beta: decay of each layer's tracked input magnitude.
        filter_size: filter taps per resampling factor.
        lrelu_upsampling: oversampling of the nonlinearity.
        mapping_layers: depth of the mapping network (learning rate x0.01).
        w_avg_beta: decay of ``w_avg``, the running mean of w used for truncation.
        impl: 'auto', 'native' or 'ref' for every fastgan op inside.
    """

    def __init__(
        self,
        z_dim: int = 512,
        c_dim: int = 0,
        w_dim: int = 512,
        img_resolution: int = 256,
        img_channels: int = 3,
        channel_base: int = 32768,
        channel_max: int = 512,
        num_layers: int = 14,
        num_critical: int = 2,
        first_cutoff: float = 2,
        first_stopband: float = 2**2.1,
        last_stopband_rel: float = 2**0.3,
        margin_size: int = 10,
        output_scale: float = 0.25,
        num_fp16_res: int = 0,
        conv_kernel: int = 3,
        use_radial_filters: bool = False,
        conv_clamp: float | None = 256,
        magnitude_ema_beta: float = 0.999,
        filter_size: int = 6,
        lrelu_upsampling: int = 2,
        mapping_layers: int = 2,
        w_avg_beta: float = 0.998,
        impl: str = "auto",
    ) -> None:
        super().__init__()
        name = _NAME
        check_int(name, "z_dim", z_dim, 1)
        check_int(name, "c_dim", c_dim, 0)
        check_int(name, "w_dim", w_dim, 1)
        check_resolution(name, img_resolution, 8)
        check_int(name, "img_channels", img_channels, 1)
        check_int(name, "channel_base", channel_base, 1)
        check_int(name, "channel_max", channel_max, 1)
        check_int(name, "num_layers", num_layers, 1)
        check_int(name, "num_critical", num_critical, 0)
        if num_critical >= num_layers:
            raise ValueError(
                f"{name}: expected num_critical < num_layers ({num_layers}), got {num_critical}"
            )
        _check_number("first_cutoff", first_cutoff, 0)
        if not first_cutoff < img_resolution / 2:
            raise ValueError(
                f"{name}: expected first_cutoff < img_resolution / 2 = {img_resolution / 2}, "
                f"got {first_cutoff!r}"
            )
        _check_number("first_stopband", first_stopband, first_cutoff)
        _check_number("last_stopband_rel", last_stopband_rel, 1)
        check_int(name, "margin_size", margin_size, 0)
        _check_number("output_scale", output_scale, 0)
        check_int(name, "num_fp16_res", num_fp16_res, 0)
        check_int(name, "conv_kernel", conv_kernel, 1)
        if conv_kernel % 2 == 0:
            raise ValueError(f"{name}: expected an odd conv_kernel, got {conv_kernel}")
        if not isinstance(use_radial_filters, bool):
            raise TypeError(
                f"{name}: expected use_radial_filters to be a bool, got {use_radial_filters!r}"
            )
        _check_clamp(name, conv_clamp)
        _check_number("magnitude_ema_beta", magnitude_ema_beta, 0, strict=False)
        if not magnitude_ema_beta < 1:
            raise ValueError(
                f"{name}: expected magnitude_ema_beta in [0, 1), got {magnitude_ema_beta!r}"
            )
        check_int(name, "filter_size", filter_size, 1)
        check_int(name, "lrelu_upsampling", lrelu_upsampling, 1)
        check_int(name, "mapping_layers", mapping_layers, 1)
        check_impl(name, impl)
        if channel_base < img_resolution:
            raise ValueError(
                f"{name}: expected channel_base >= img_resolution ({img_resolution}) so that "
                f"every layer has at least one channel, got channel_base={channel_base}"
            )

        self.z_dim, self.c_dim, self.w_dim = z_dim, c_dim, w_dim
        self.img_resolution, self.img_channels = img_resolution, img_channels
        self.num_layers, self.num_ws = num_layers, num_layers + 2
        self.output_scale = float(output_scale)
        self.schedule = layer_schedule(
            img_resolution,
            img_channels,
            channel_base,
            channel_max,
            num_layers,
            num_critical,
            first_cutoff,
            first_stopband,
            last_stopband_rel,
            margin_size,
        )
        s = self.schedule
        self.input = SynthesisInput(
            w_dim,
            int(s["channels"][0]),
            int(s["sizes"][0]),
            float(s["sampling_rates"][0]),
            float(s["cutoffs"][0]),
        )
        layers = []
        for i in range(num_layers + 1):
            prev = max(i - 1, 0)
            try:
                layer = SynthesisLayer(
                    w_dim,
                    is_torgb=i == num_layers,
                    is_critically_sampled=i >= num_layers - num_critical,
                    use_fp16=bool(s["sampling_rates"][i] * 2**num_fp16_res > img_resolution),
                    in_channels=int(s["channels"][prev]),
                    out_channels=int(s["channels"][i]),
                    in_size=int(s["sizes"][prev]),
                    out_size=int(s["sizes"][i]),
                    in_sampling_rate=float(s["sampling_rates"][prev]),
                    out_sampling_rate=float(s["sampling_rates"][i]),
                    in_cutoff=float(s["cutoffs"][prev]),
                    out_cutoff=float(s["cutoffs"][i]),
                    in_half_width=float(s["half_widths"][prev]),
                    out_half_width=float(s["half_widths"][i]),
                    conv_kernel=conv_kernel,
                    filter_size=filter_size,
                    lrelu_upsampling=lrelu_upsampling,
                    use_radial_filters=use_radial_filters,
                    conv_clamp=conv_clamp,
                    magnitude_ema_beta=magnitude_ema_beta,
                    impl=impl,
                )
            except ValueError as e:
                raise ValueError(f"{name}: layer {i} cannot be built: {e}") from e
            layers.append(layer)
        self.layers = nn.ModuleList(layers)
        self.mapping_network = MappingNetwork(
            z_dim,
            c_dim,
            w_dim,
            self.num_ws,
            num_layers=mapping_layers,
            w_avg_beta=w_avg_beta,
            impl=impl,
        )

    # The mapping (z, c, truncation, style mixing, w_avg) is StyleGAN2's.
    w_avg = StyleGAN2Generator.w_avg
    mapping = StyleGAN2Generator.mapping

    def synthesis(
        self,
        ws: torch.Tensor,
        update_emas: bool | None = None,
        fused_modconv: bool | None = None,
        force_fp32: bool = False,
        noise_mode: str = "const",
    ) -> torch.Tensor:
        """ws ``[N, num_ws, w_dim]`` to images ``[N, img_channels, R, R]``. ``update_emas``
        (default: ``self.training``) moves each layer's ``magnitude_ema`` towards the mean square
        of its input. ``fused_modconv``: per-sample weights (True) or input scaling (False); None
        lets each layer choose. ``force_fp32`` keeps the float16 layers in float32.
        ``noise_mode`` is accepted for StyleGAN2's interface (StyleGAN3 has no noise inputs)."""
        check_tensor(_NAME, "ws", ws, ["N", self.num_ws, self.w_dim])
        if noise_mode not in NOISE_MODES:
            raise ValueError(f"{_NAME}: expected noise_mode in {NOISE_MODES}, got {noise_mode!r}")
        if update_emas is None:
            update_emas = self.training
        w = ws.unbind(dim=1)
        x = self.input(w[0])
        for layer, w_i in zip(self.layers, w[1:], strict=True):
            x = layer(
                x, w_i, update_emas=update_emas, fused_modconv=fused_modconv, force_fp32=force_fp32
            )
        x = x.to(torch.promote_types(ws.dtype, torch.float32))
        if self.output_scale != 1:
            x = x * self.output_scale
        return x

    def forward(
        self,
        z: torch.Tensor,
        c: torch.Tensor | None = None,
        truncation_psi: float = 1.0,
        truncation_cutoff: int | None = None,
        noise_mode: str = "const",
        style_mixing_prob: float = 0.0,
        update_emas: bool | None = None,
        fused_modconv: bool | None = None,
        force_fp32: bool = False,
    ) -> torch.Tensor:
        """Images ``[N, img_channels, R, R]`` from z ``[N, z_dim]`` and labels c ``[N, c_dim]``
        (None when c_dim = 0); see :meth:`mapping` and :meth:`synthesis` for the options."""
        ws = self.mapping(
            z,
            c,
            truncation_psi=truncation_psi,
            truncation_cutoff=truncation_cutoff,
            style_mixing_prob=style_mixing_prob,
            update_emas=update_emas,
        )
        return self.synthesis(
            ws,
            update_emas=update_emas,
            fused_modconv=fused_modconv,
            force_fp32=force_fp32,
            noise_mode=noise_mode,
        )

    def extra_repr(self) -> str:
        return (
            f"z_dim={self.z_dim}, c_dim={self.c_dim}, w_dim={self.w_dim}, "
            f"img_resolution={self.img_resolution}, img_channels={self.img_channels}, "
            f"num_ws={self.num_ws}"
        )
