"""Benchmark cases per op: StyleGAN-sized inputs, forward and forward+backward."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator

import torch

from fastgan.bench.harness import Case, compile_reference, synchronize
from fastgan.nn import StyledConv, set_impl
from fastgan.ops import (
    bias_act,
    bias_act_ref,
    downsample2d,
    filter2d,
    filtered_lrelu,
    filtered_lrelu_ref,
    minibatch_discrimination,
    minibatch_discrimination_ref,
    minibatch_stddev,
    minibatch_stddev_ref,
    setup_filter,
    squared_norm,
    squared_norm_ref,
    styled_bias_act,
    styled_bias_act_ref,
    upsample2d,
)

# StyleGAN2's feature maps per resolution R: min(channel_max, channel_base / R) channels. The GPU
# runs the paper's 1024x1024 network (channel_base 32768, batch 32) from 4x4 to 1024x1024; the CPU
# its 256x256 configuration (channel_base 16384) at batch 4 from 4x4 to 128x128, so that
# `fastgan bench all` fits in minutes on a 2-core machine.
LADDERS = {
    "cpu": dict(batch=4, channel_base=16384, resolutions=(4, 8, 16, 32, 64, 128)),
    "cuda": dict(batch=32, channel_base=32768, resolutions=(4, 8, 16, 32, 64, 128, 256, 512, 1024)),
}
CHANNEL_MAX = 512


def ladder_shapes(device_type: str, min_resolution: int = 4) -> list[tuple[int, int, int, int]]:
    """[N, C, R, R] of a StyleGAN2 layer at every resolution R of the device's ladder."""
    ladder = LADDERS[device_type]
    return [
        (ladder["batch"], min(CHANNEL_MAX, ladder["channel_base"] // r), r, r)
        for r in ladder["resolutions"]
        if r >= min_resolution
    ]


DEFAULT_SHAPES = {device: ladder_shapes(device) for device in LADDERS}


def _grad_of(fn: Callable) -> Callable[[tuple], object]:
    """Forward and backward of fn on inputs (*tensors, upstream gradient): the gradients with
    respect to every tensor."""

    def run(inputs: tuple) -> object:
        tensors, grad = inputs[:-1], inputs[-1]
        return torch.autograd.grad(fn(*tensors), tensors, grad)

    return run


def bias_act_cases(
    device: torch.device, dtype: torch.dtype, shapes: list[tuple[int, ...]] | None = None
) -> Iterator[Case]:
    """lrelu with bias, the default gain (sqrt 2) and clamp 256, as in a StyleGAN2 layer."""
    kwargs = dict(act="lrelu", clamp=256.0)

    def fused(x, b):
        return bias_act(x, b, impl="native", **kwargs)

    def eager(x, b):
        return bias_act_ref(x, b, **kwargs)

    compiled = compile_reference(eager)
    for shape in shapes or DEFAULT_SHAPES[device.type]:
        numel = torch.Size(shape).numel()
        size = numel * torch.empty((), dtype=dtype).element_size()

        def inputs(requires_grad: bool, shape=shape) -> tuple:
            x = torch.randn(shape, device=device, dtype=dtype, requires_grad=requires_grad)
            b = torch.randn(shape[1], device=device, dtype=dtype, requires_grad=requires_grad)
            return (x, b, torch.randn_like(x)) if requires_grad else (x, b)

        yield Case(
            "bias_act",
            "fwd",
            shape,
            dtype,
            device,
            lambda inputs=inputs: inputs(False),
            {
                "fused": lambda i: fused(*i),
                "eager": lambda i: eager(*i),
                "compiled": lambda i: compiled(*i),
            },
            bytes_moved=2 * size,
            params="lrelu,bias,gain,clamp",
        )
        # Forward (read x, write y), backward (read grad and x, write grad_x), grad_b (read grad_x).
        yield Case(
            "bias_act",
            "fwd+bwd",
            shape,
            dtype,
            device,
            lambda inputs=inputs: inputs(True),
            {"fused": _grad_of(fused), "eager": _grad_of(eager), "compiled": _grad_of(compiled)},
            bytes_moved=6 * size,
            params="lrelu,bias,gain,clamp",
        )


def upfirdn2d_cases(
    device: torch.device, dtype: torch.dtype, shapes: list[tuple[int, ...]] | None = None
) -> Iterator[Case]:
    """2x upsampling, 2x downsampling and a same-size blur with the 4-tap [1, 3, 3, 1] filter
    (a 4x4 2-D filter after setup_filter), as in every StyleGAN2 block."""
    f = setup_filter([1, 3, 3, 1], device=device)
    element = torch.empty((), dtype=dtype).element_size()
    on_ladder = not shapes
    for shape in shapes or ladder_shapes(device.type, min_resolution=8):
        if len(shape) != 4:
            raise ValueError(f"upfirdn2d: expected a shape N x C x H x W, got {shape}")
        for name, resample in (("up2", upsample2d), ("down2", downsample2d), ("blur", filter2d)):
            # On the ladder each row is the layer of resolution R: upsampling into R (from R/2),
            # downsampling from R, blurring at R. A --shape is the input of all three.
            x_shape = shape
            if on_ladder and name == "up2":
                x_shape = (*shape[:2], shape[2] // 2, shape[3] // 2)

            def fused(x, resample=resample):
                return resample(x, f, impl="native")

            def eager(x, resample=resample):
                return resample(x, f, impl="ref")

            compiled = compile_reference(eager)
            scale = {"up2": 4, "down2": 0.25, "blur": 1}[name]
            size_in = torch.Size(x_shape).numel() * element
            size_out = int(size_in * scale)

            def inputs(requires_grad: bool, x_shape=x_shape, scale=scale) -> tuple:
                x = torch.randn(x_shape, device=device, dtype=dtype, requires_grad=requires_grad)
                if not requires_grad:
                    return (x,)
                side = scale**0.5
                out_shape = (*x_shape[:2], int(x_shape[2] * side), int(x_shape[3] * side))
                return (x, torch.randn(out_shape, device=device, dtype=dtype))

            params = f"{name},4-tap"
            yield Case(
                "upfirdn2d",
                "fwd",
                x_shape,
                dtype,
                device,
                lambda inputs=inputs: inputs(False),
                {
                    "fused": lambda i, fn=fused: fn(*i),
                    "eager": lambda i, fn=eager: fn(*i),
                    "compiled": lambda i, fn=compiled: fn(*i),
                },
                bytes_moved=size_in + size_out,
                params=params,
            )
            # Forward (read x, write y) and backward (read grad, write grad_x).
            yield Case(
                "upfirdn2d",
                "fwd+bwd",
                x_shape,
                dtype,
                device,
                lambda inputs=inputs: inputs(True),
                {
                    "fused": _grad_of(fused),
                    "eager": _grad_of(eager),
                    "compiled": _grad_of(compiled),
                },
                bytes_moved=2 * (size_in + size_out),
                params=params,
            )


# StyleGAN3 layers (N, C, H, W, up, down, up taps, down taps) on the CPU: a same-rate layer at 64x64
# (2x up, 2x down, 12-tap filters), one at 32x32 with 256 channels, and an upsampling layer from
# 32x32 to 64x64 (4x up with 24 taps, 2x down with 12).
FILTERED_LRELU_LAYERS = {
    "cpu": [
        (4, 128, 64, 64, 2, 2, 12, 12),
        (4, 256, 32, 32, 2, 2, 12, 12),
        (4, 128, 32, 32, 4, 2, 24, 12),
    ],
    "cuda": [
        (32, 128, 256, 256, 2, 2, 12, 12),
        (32, 512, 64, 64, 2, 2, 12, 12),
        (32, 256, 128, 128, 4, 2, 24, 12),
    ],
}


def filtered_lrelu_cases(
    device: torch.device, dtype: torch.dtype, shapes: list[tuple[int, ...]] | None = None
) -> Iterator[Case]:
    """StyleGAN3's filtered lrelu (bias, upsampling filter, lrelu with gain sqrt 2 and clamp 256,
    downsampling filter) with Kaiser-like lowpass filters; a --shape N x C x H x W runs the 2x
    up / 2x down layer with 12 taps."""
    layers = FILTERED_LRELU_LAYERS[device.type]
    if shapes:
        for shape in shapes:
            if len(shape) != 4:
                raise ValueError(f"filtered_lrelu: expected a shape N x C x H x W, got {shape}")
        layers = [(*shape, 2, 2, 12, 12) for shape in shapes]
    element = torch.empty((), dtype=dtype).element_size()
    for n, c, h, w, up, down, fu_taps, fd_taps in layers:
        # A windowed-sinc lowpass as StyleGAN3 designs them (symmetric, sums to 1).
        def lowpass(taps: int, rate: int) -> torch.Tensor:
            t = torch.arange(taps, dtype=torch.float64) - (taps - 1) / 2
            f = torch.sinc(t / rate) * torch.kaiser_window(taps, periodic=False, beta=6.0).double()
            return (f / f.sum()).float().to(device)

        fu, fd = lowpass(fu_taps, up), lowpass(fd_taps, down)
        # Padding that makes the output (h * up / down) x (w * up / down).
        out_h, out_w = h * up // down, w * up // down
        pad_y = (out_h - 1) * down + fd_taps + fu_taps - 1 - h * up
        pad_x = (out_w - 1) * down + fd_taps + fu_taps - 1 - w * up
        kwargs = dict(
            up=up,
            down=down,
            padding=[(pad_x + 1) // 2, pad_x // 2, (pad_y + 1) // 2, pad_y // 2],
            clamp=256.0,
        )

        def fused(x, b, fu=fu, fd=fd, kwargs=kwargs):
            return filtered_lrelu(x, fu, fd, b, impl="native", **kwargs)

        def eager(x, b, fu=fu, fd=fd, kwargs=kwargs):
            return filtered_lrelu_ref(x, fu, fd, b, **kwargs)

        compiled = compile_reference(eager)
        shape = (n, c, h, w)
        size_in = n * c * h * w * element
        size_out = n * c * out_h * out_w * element

        def inputs(requires_grad: bool, shape=shape, out_shape=(n, c, out_h, out_w)) -> tuple:
            x = torch.randn(shape, device=device, dtype=dtype, requires_grad=requires_grad)
            b = torch.randn(shape[1], device=device, dtype=dtype, requires_grad=requires_grad)
            if not requires_grad:
                return (x, b)
            return (x, b, torch.randn(out_shape, device=device, dtype=dtype))

        params = f"up{up},down{down},{fu_taps}/{fd_taps}-tap,clamp"
        yield Case(
            "filtered_lrelu",
            "fwd",
            shape,
            dtype,
            device,
            lambda inputs=inputs: inputs(False),
            {
                "fused": lambda i, fn=fused: fn(*i),
                "eager": lambda i, fn=eager: fn(*i),
                "compiled": lambda i, fn=compiled: fn(*i),
            },
            bytes_moved=size_in + size_out,
            params=params,
        )
        yield Case(
            "filtered_lrelu",
            "fwd+bwd",
            shape,
            dtype,
            device,
            lambda inputs=inputs: inputs(True),
            {"fused": _grad_of(fused), "eager": _grad_of(eager), "compiled": _grad_of(compiled)},
            bytes_moved=2 * (size_in + size_out),
            params=params,
        )


def styled_bias_act_cases(
    device: torch.device, dtype: torch.dtype, shapes: list[tuple[int, ...]] | None = None
) -> Iterator[Case]:
    """The epilogue of a StyleGAN2 layer: demodulation scale [N, C], noise [N, 1, H, W], bias,
    lrelu, the default gain (sqrt 2) and clamp 256."""
    kwargs = dict(act="lrelu", clamp=256.0)

    def fused(x, scale, noise, b):
        return styled_bias_act(x, scale, noise, b, impl="native", **kwargs)

    def eager(x, scale, noise, b):
        return styled_bias_act_ref(x, scale, noise, b, **kwargs)

    compiled = compile_reference(eager)
    element = torch.empty((), dtype=dtype).element_size()
    for shape in shapes or DEFAULT_SHAPES[device.type]:
        if len(shape) != 4:
            raise ValueError(f"styled_bias_act: expected a shape N x C x H x W, got {shape}")
        N, C, H, W = shape
        size = N * C * H * W * element
        noise_size = N * H * W * element

        def inputs(requires_grad: bool, shape=shape) -> tuple:
            N, C, H, W = shape
            make = dict(device=device, dtype=dtype, requires_grad=requires_grad)
            x = torch.randn(shape, **make)
            tensors = (
                x,
                torch.rand(N, C, **make),
                torch.randn(N, 1, H, W, **make),
                torch.randn(C, **make),
            )
            return (*tensors, torch.randn_like(x)) if requires_grad else tensors

        params = "scale,noise,bias,lrelu,clamp"
        yield Case(
            "styled_bias_act",
            "fwd",
            shape,
            dtype,
            device,
            lambda inputs=inputs: inputs(False),
            {
                "fused": lambda i: fused(*i),
                "eager": lambda i: eager(*i),
                "compiled": lambda i: compiled(*i),
            },
            bytes_moved=2 * size + noise_size,
            params=params,
        )
        # Forward; backward reads grad, x and noise and writes grad_z; then grad_x = grad_z *
        # scale and the reductions for scale, noise and bias (one pass each at best).
        yield Case(
            "styled_bias_act",
            "fwd+bwd",
            shape,
            dtype,
            device,
            lambda inputs=inputs: inputs(True),
            {"fused": _grad_of(fused), "eager": _grad_of(eager), "compiled": _grad_of(compiled)},
            bytes_moved=9 * size + 3 * noise_size,
            params=params,
        )


def styledconv_cases(
    device: torch.device, dtype: torch.dtype, shapes: list[tuple[int, ...]] | None = None
) -> Iterator[Case]:
    """The StyleGAN2 generator block in training mode (3x3 modulated conv by input scaling,
    noise (the layer's constant noise, so that the three outputs can be compared), bias, lrelu,
    clamp 256): the layer on fastgan's kernels, the same layer
    (same weights) on reference ops, and torch.compile of the latter. Channels_last on CUDA."""
    w_dim = 512
    fmt = torch.channels_last if device.type == "cuda" else torch.contiguous_format
    for shape in shapes or DEFAULT_SHAPES[device.type]:
        if len(shape) != 4 or shape[2] != shape[3]:
            raise ValueError(f"styledconv: expected a shape N x C x R x R, got {shape}")
        _, C, R, _ = shape
        layer = StyledConv(C, C, w_dim, R, conv_clamp=256.0)
        layer = layer.to(device=device, dtype=dtype, memory_format=fmt).train()
        with torch.no_grad():
            layer.noise_strength.fill_(0.1)
            layer.bias.normal_()
        reference = set_impl(copy.deepcopy(layer), "ref")
        compiled = compile_reference(reference)
        params = list(layer.parameters())
        ref_params = list(reference.parameters())

        def inputs(requires_grad: bool, shape=shape) -> tuple:
            x = torch.randn(shape, device=device, dtype=dtype).to(memory_format=fmt)
            w = torch.randn(shape[0], w_dim, device=device, dtype=dtype)
            x.requires_grad_(requires_grad)
            return (x, w)

        def grad_of(model, model_params):
            def run(i):
                y = model(i[0], i[1], noise_mode="const")
                return torch.autograd.grad(y.square().mean(), [i[0], *model_params])

            return run

        impls = {"fused": layer, "eager": reference, "compiled": compiled}
        yield Case(
            "styledconv",
            "fwd",
            shape,
            dtype,
            device,
            lambda inputs=inputs: inputs(False),
            {name: (lambda i, m=m: m(i[0], i[1], noise_mode="const")) for name, m in impls.items()},
            params="3x3,const-noise,lrelu,clamp",
        )
        yield Case(
            "styledconv",
            "fwd+bwd",
            shape,
            dtype,
            device,
            lambda inputs=inputs: inputs(True),
            {
                "fused": grad_of(layer, params),
                "eager": grad_of(reference, ref_params),
                "compiled": grad_of(compiled, ref_params),
            },
            params="3x3,const-noise,lrelu,clamp",
        )


# The discriminator's last block: 4x4 at 512 channels, batch 64.
MBSTD_SHAPES = {"cpu": [(64, 512, 4, 4)], "cuda": [(64, 512, 4, 4)]}


def minibatch_stddev_cases(
    device: torch.device, dtype: torch.dtype, shapes: list[tuple[int, ...]] | None = None
) -> Iterator[Case]:
    """StyleGAN2's discriminator epilogue: group size 4, one channel."""

    def fused(x):
        return minibatch_stddev(x, 4, 1, impl="native")

    def eager(x):
        return minibatch_stddev_ref(x, 4, 1)

    compiled = compile_reference(eager)
    element = torch.empty((), dtype=dtype).element_size()
    for shape in shapes or MBSTD_SHAPES[device.type]:
        if len(shape) != 4:
            raise ValueError(f"minibatch_stddev: expected a shape N x C x H x W, got {shape}")
        N, C, H, W = shape
        size_in = N * C * H * W * element
        size_out = N * (C + 1) * H * W * element

        def inputs(requires_grad: bool, shape=shape) -> tuple:
            N, C, H, W = shape
            x = torch.randn(shape, device=device, dtype=dtype, requires_grad=requires_grad)
            if not requires_grad:
                return (x,)
            return (x, torch.randn(N, C + 1, H, W, device=device, dtype=dtype))

        yield Case(
            "minibatch_stddev",
            "fwd",
            shape,
            dtype,
            device,
            lambda inputs=inputs: inputs(False),
            {
                "fused": lambda i: fused(*i),
                "eager": lambda i: eager(*i),
                "compiled": lambda i: compiled(*i),
            },
            bytes_moved=size_in + size_out,
            params="group 4,1 channel",
        )
        yield Case(
            "minibatch_stddev",
            "fwd+bwd",
            shape,
            dtype,
            device,
            lambda inputs=inputs: inputs(True),
            {"fused": _grad_of(fused), "eager": _grad_of(eager), "compiled": _grad_of(compiled)},
            bytes_moved=2 * (size_in + size_out),
            params="group 4,1 channel",
        )


# (N, A, B, D): Salimans et al.'s layer size (B = 64 kernels of D = 16) on 512 features, at
# batch 64; and at batch 512 on the CPU (and 1024 on the GPU), where the reference's
# [N, N, B, D] difference tensor alone takes 1 GiB (4 GiB) in float32.
MBDISC_SHAPES = {
    "cpu": [(64, 512, 64, 16), (512, 512, 64, 16)],
    "cuda": [(256, 512, 64, 16), (1024, 512, 64, 16)],
}


def minibatch_discrimination_cases(
    device: torch.device, dtype: torch.dtype, shapes: list[tuple[int, ...]] | None = None
) -> Iterator[Case]:
    """cat([x, o]) with o[i, b] = sum_j exp(-|M_ib - M_jb|_1), M = x @ T; with the peak memory
    of each implementation."""

    def fused(x, T):
        return minibatch_discrimination(x, T, impl="native")

    compiled = compile_reference(minibatch_discrimination_ref)
    impls = {"fused": fused, "eager": minibatch_discrimination_ref, "compiled": compiled}
    for shape in shapes or MBDISC_SHAPES[device.type]:
        if len(shape) != 4:
            raise ValueError(
                f"minibatch_discrimination: expected a shape N x A x B x D, got {shape}"
            )

        def inputs(requires_grad: bool, shape=shape) -> tuple:
            N, A, B, D = shape
            make = dict(device=device, dtype=dtype)
            x = torch.randn(N, A, **make).requires_grad_(requires_grad)
            # Unit-variance projections, scaled so that exp(-distance) does not underflow.
            T = (torch.randn(A, B, D, **make) / (A**0.5 * D)).requires_grad_(requires_grad)
            return (x, T, torch.randn(N, A + B, **make)) if requires_grad else (x, T)

        params = "x@T,L1 kernel"
        yield Case(
            "minibatch_discrimination",
            "fwd",
            shape,
            dtype,
            device,
            lambda inputs=inputs: inputs(False),
            {name: (lambda i, fn=fn: fn(*i)) for name, fn in impls.items()},
            params=params,
            measure_memory=True,
        )
        yield Case(
            "minibatch_discrimination",
            "fwd+bwd",
            shape,
            dtype,
            device,
            lambda inputs=inputs: inputs(True),
            {name: _grad_of(fn) for name, fn in impls.items()},
            params=params,
            measure_memory=True,
        )


# R1 on a batch of 32 real images (the training batch of every preset) at every resolution of the
# ladder from 16x16: [32, 3, R, R].
R1_SHAPES = {
    device: [(32, 3, r, r) for _, _, r, _ in ladder_shapes(device, min_resolution=16)]
    for device in LADDERS
}


def r1_cases(
    device: torch.device, dtype: torch.dtype, shapes: list[tuple[int, ...]] | None = None
) -> Iterator[Case]:
    """The fused part of the R1 / R2 / WGAN-GP penalties: the per-sample squared norm of the
    input gradient, and its backward (the penalty's second-order path)."""

    def fused(g):
        return squared_norm(g, impl="native")

    compiled = compile_reference(squared_norm_ref)
    element = torch.empty((), dtype=dtype).element_size()
    for shape in shapes or R1_SHAPES[device.type]:
        size = torch.Size(shape).numel() * element

        def inputs(requires_grad: bool, shape=shape) -> tuple:
            g = torch.randn(shape, device=device, dtype=dtype, requires_grad=requires_grad)
            if not requires_grad:
                return (g,)
            return (
                g,
                torch.randn(
                    shape[0], device=device, dtype=torch.promote_types(dtype, torch.float32)
                ),
            )

        impls = {"fused": fused, "eager": squared_norm_ref, "compiled": compiled}
        yield Case(
            "r1",
            "fwd",
            shape,
            dtype,
            device,
            lambda inputs=inputs: inputs(False),
            {name: (lambda i, fn=fn: fn(*i)) for name, fn in impls.items()},
            bytes_moved=size,
            params="squared norm",
        )
        yield Case(
            "r1",
            "fwd+bwd",
            shape,
            dtype,
            device,
            lambda inputs=inputs: inputs(True),
            {name: _grad_of(fn) for name, fn in impls.items()},
            bytes_moved=3 * size,
            params="squared norm",
        )


# Training iterations per resolution: (batch, channels, R, R). CPU: the default digits preset
# (`tiny`) at its 16x16 (`--shape 32x1x8x8` adds a resolution: each costs a compile of the
# reference model, 1.5-2 minutes on a 2-core CPU with an empty cache); GPU: StyleGAN2's
# 256x256 configuration (channel_base 16384, batch 32) on procedural shapes at 64x64 to 256x256.
TRAIN_SHAPES = {
    "cpu": [(32, 1, 16, 16)],
    "cuda": [(32, 3, 64, 64), (32, 3, 128, 128), (32, 3, 256, 256)],
}


def train_cases(
    device: torch.device, dtype: torch.dtype, shapes: list[tuple[int, ...]] | None = None
) -> Iterator[Case]:
    """Training iterations (G and D main phases, R1 every 16 and path length every 4 iterations,
    so a call of 16 iterations holds the amortised regularisation): the model on fastgan's
    kernels, the same model on reference ops, and the reference model with its main phases
    compiled (regularisation phases stay eager). Throughput in img/s and peak memory."""
    from fastgan.train import Trainer, make_config

    precision = {torch.float32: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[dtype]
    for shape in shapes or TRAIN_SHAPES[device.type]:
        if len(shape) != 4 or shape[2] != shape[3]:
            raise ValueError(f"train: expected a shape batch x C x R x R, got {shape}")
        batch, channels, res, _ = shape
        if device.type == "cuda" or res >= 64:
            cfg, data = "paper256", "shapes"
            extra = dict(channel_base=16384)
        else:
            cfg, data = "tiny", "digits" if channels == 1 else "shapes"
            extra = {}
        iterations = 16

        def trainer(
            impl: str,
            compile: bool,
            cfg=cfg,
            data=data,
            extra=extra,
            batch=batch,
            res=res,
            channels=channels,
        ):
            config = make_config(
                cfg,
                data=data,
                res=res,
                batch=batch,
                channels=channels,
                metrics=[],
                precision=precision,
                impl=impl,
                compile=compile,
                device=device.type,
                **extra,
            )
            return Trainer(config, progress=False)

        trainers = {
            "fused": trainer("native", False),
            "eager": trainer("ref", False),
            "compiled": trainer("ref", True),
        }

        def run(t, iterations=iterations):
            for _ in range(iterations):
                t.train_step()
            synchronize(device)

        yield Case(
            "train",
            "iteration",
            shape,
            dtype,
            device,
            lambda: (),
            {name: (lambda i, t=t: run(t)) for name, t in trainers.items()},
            params=f"{cfg},{iterations} it",
            measure_memory=True,
            check_output=False,
            items_per_call=batch * iterations,
            # The median of three timed calls of 16 iterations each, after one warm-up call for
            # the compiled column only (it compiles): a first call's extra cost is a few
            # milliseconds in seconds, and the median of three drops it.
            max_warmup=0,
            max_runs=3,
        )
    if not shapes:
        yield from other_models_train_cases(device, dtype)


def other_models_train_cases(device: torch.device, dtype: torch.dtype) -> Iterator[Case]:
    """Training iterations of `--cfg stylegan3-t` (StyleGAN3's generator, StyleGAN2's D, the
    blur of D's input), `--model progan` (at full resolution, WGAN-GP with the drift term) and
    `--model cyclegan` (both generators and discriminators, image pools) on the bundled data at
    16x16 with their default widths: fastgan's ops against the reference ops (no compiled
    column: ProGAN's growing graph and CycleGAN's pools are not compiled)."""
    from fastgan.train import Trainer, make_config
    from fastgan.train.cyclegan_loop import CycleGANTrainer

    precision = {torch.float32: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[dtype]
    for arch, cls, data, batch in (
        ("stylegan3-t", Trainer, "digits", 32),
        ("progan", Trainer, "digits", 32),
        ("cyclegan", CycleGANTrainer, "digits-colour", 8),
    ):
        iterations = 4

        def trainer(impl: str, arch=arch, cls=cls, data=data):
            config = make_config(
                "tiny",
                arch=arch,
                data=data,
                metrics=[],
                precision=precision,
                impl=impl,
                device=device.type,
            )
            t = cls(config, progress=False)
            if arch == "progan":  # past the growth: the full-resolution networks
                t.cur_nimg = int(config.kimg * 1000) // 2
            return t

        trainers = {"fused": trainer("native"), "eager": trainer("ref")}

        def run(t, iterations=iterations):
            nimg = t.cur_nimg
            for _ in range(iterations):
                t.train_step()
            t.cur_nimg = nimg  # ProGAN's schedule stays at the level measured
            synchronize(device)

        yield Case(
            f"train_{arch}",
            "iteration",
            (batch, 3 if arch == "cyclegan" else 1, 16, 16),
            dtype,
            device,
            lambda: (),
            {name: (lambda i, t=t: run(t)) for name, t in trainers.items()},
            params=f"{arch},{iterations} it",
            measure_memory=True,
            check_output=False,
            items_per_call=batch * iterations,
            max_warmup=1,
            max_runs=3,
        )


CASES: dict[str, Callable[..., Iterator[Case]]] = {
    "bias_act": bias_act_cases,
    "upfirdn2d": upfirdn2d_cases,
    "filtered_lrelu": filtered_lrelu_cases,
    "styled_bias_act": styled_bias_act_cases,
    "styledconv": styledconv_cases,
    "minibatch_stddev": minibatch_stddev_cases,
    "minibatch_discrimination": minibatch_discrimination_cases,
    "r1": r1_cases,
    "train": train_cases,
}
